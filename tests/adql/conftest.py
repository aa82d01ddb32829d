"""Fixtures for the ADQL tests: the test metadata, and the same rows in DuckDB and PostgreSQL.

``adql_duckdb`` is an in-memory DuckDB with the tables of tests/adql/tables.py; ``adql_pg`` runs SQL
on a PostgreSQL database ``skygate_test_adql_<checkout>_<worker>`` created (and dropped) here, with a btree index on
``dec`` so crossmatch plans can be checked. Both return rows as lists of tuples.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from dali.values import TableMeta
from tests.adql.tables import metadata, rows
from tests.isolation import per_worker

DATABASE = per_worker("skygate_test_adql")
Runner = Callable[[str], list[tuple[Any, ...]]]

_PG_TYPES = {"long": "BIGINT", "int": "INTEGER", "short": "SMALLINT", "double": "DOUBLE PRECISION",
             "float": "REAL", "char": "TEXT", "boolean": "BOOLEAN"}


@pytest.fixture(scope="session")
def adql_metadata() -> dict[str, TableMeta]:
    return metadata()


def _arrow(meta: TableMeta, data: dict[str, Any]) -> pa.Table:
    arrays = {}
    for col in meta.columns:
        values = data[col.name]
        if col.xtype in ("point", "polygon"):
            arrays[col.name] = pa.array(values, type=pa.list_(pa.float64()))
        elif col.datatype == "char":
            arrays[col.name] = pa.array(values, type=pa.string())
        else:
            arrays[col.name] = pa.array(np.asarray(values))
    return pa.table(arrays)


@pytest.fixture(scope="session")
def adql_duckdb(adql_metadata: dict[str, TableMeta]) -> Iterator[Runner]:
    con = duckdb.connect()
    data = rows()
    for key, meta in adql_metadata.items():
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{meta.schema}"')
        arrow = _arrow(meta, data[key])  # noqa: F841  (DuckDB reads the local variable)
        con.execute(f'CREATE TABLE "{meta.schema}"."{meta.name}" AS SELECT * FROM arrow')

    def run(sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in con.execute(sql).fetchall()]

    run.connection = con  # type: ignore[attr-defined]
    yield run
    con.close()


async def _pg_setup(admin_url: str, meta_all: dict[str, TableMeta]) -> str:
    import asyncpg

    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await admin.close()
    url = admin_url.rsplit("/", 1)[0] + f"/{DATABASE}"
    con = await asyncpg.connect(url)
    try:
        data = rows()
        for key, meta in meta_all.items():
            await con.execute(f'CREATE SCHEMA IF NOT EXISTS "{meta.schema}"')
            cols = []
            for c in meta.columns:
                sqltype = "DOUBLE PRECISION[]" if c.xtype in ("point", "polygon") else _PG_TYPES[c.datatype]
                cols.append(f'"{c.name}" {sqltype}')
            await con.execute(f'CREATE TABLE "{meta.schema}"."{meta.name}" ({", ".join(cols)})')
            table = data[key]
            n = len(next(iter(table.values())))
            records = []
            for i in range(n):
                record = []
                for c in meta.columns:
                    v = table[c.name][i]
                    record.append(v.item() if hasattr(v, "item") else v)
                records.append(tuple(record))
            await con.copy_records_to_table(meta.name, schema_name=meta.schema, records=records)
            if meta.position is not None:
                await con.execute(f'CREATE INDEX ON "{meta.schema}"."{meta.name}" ("{meta.position.dec}")')
                await con.execute(f'CREATE INDEX ON "{meta.schema}"."{meta.name}" ("{meta.position.index_column}")')
            await con.execute(f'ANALYZE "{meta.schema}"."{meta.name}"')
    finally:
        await con.close()
    return url


async def _pg_fetch(url: str, sql: str) -> list[tuple[Any, ...]]:
    import asyncpg

    con = await asyncpg.connect(url)
    try:
        return [tuple(r.values()) for r in await con.fetch(sql)]
    finally:
        await con.close()


async def _pg_drop(admin_url: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def adql_pg(postgres_admin_url: str, adql_metadata: dict[str, TableMeta]) -> Iterator[Runner]:
    url = asyncio.run(_pg_setup(postgres_admin_url, adql_metadata))

    def run(sql: str) -> list[tuple[Any, ...]]:
        return asyncio.run(_pg_fetch(url, sql))

    yield run
    asyncio.run(_pg_drop(postgres_admin_url))


def normalise(rows_: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows in a comparable form: floats rounded to 9 significant digits, arrays as tuples, sorted."""

    def norm(v: Any) -> Any:
        if isinstance(v, float):
            return float(f"{v:.9g}") if np.isfinite(v) else str(v)
        if isinstance(v, (list, tuple)):
            return tuple(norm(x) for x in v)
        return v

    out = [tuple(norm(v) for v in r) for r in rows_]
    return sorted(out, key=repr)


@pytest.fixture(scope="session")
def adql_spark(spark_server: tuple[str, Any], adql_metadata: dict[str, TableMeta]) -> Iterator[Runner]:
    """Spark SQL on the local Spark Connect server (tests/partitioned_fixtures.py), over the same rows as
    temporary views; it runs Spark SQL written for the qualified names (``schema.table``), as
    ``adql.spark.translate_spark`` writes it, and points them at the views (``rename_tables``)."""
    from pyspark.sql import SparkSession

    from adql.spark import rename_tables

    spark = SparkSession.builder.remote(spark_server[0]).create()
    data = rows()
    views = {}
    for key, meta in adql_metadata.items():
        view = f"{meta.schema}__{meta.name}"
        spark.createDataFrame(_arrow(meta, data[key])).createOrReplaceTempView(view)
        views[f"{meta.schema}.{meta.name}".lower()] = view

    def run(sql: str) -> list[tuple[Any, ...]]:
        table = spark.sql(rename_tables(sql, views)).toArrow()
        return [tuple(row.values()) for row in table.to_pylist()]

    yield run
    spark.stop()
