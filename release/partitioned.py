"""A release whose positional tables are HATS catalogues beside the DuckDB file, read in place.

Ingest side: ``PartitionedStore`` wraps the DuckDB ``Store`` of ``release.stores``. A table with a
position (the ingest sorts it by ``skygate_hpx``) is written as a HATS catalogue
(``release.hats``) under ``<root>/<schema>/<table>`` instead of being copied into the file; the file
gets a view over the Parquet files and a row in ``skygate_meta.partitioned``; other tables and
TAP_SCHEMA go into the file as usual. The catalogue's ``properties`` (which name ra and dec) are
written when the table is published, because ``Store.load`` is not told the position columns.

Serving side: the view reads ``getvariable('skygate_files:<schema>.<table>')`` when it is set,
else every file. ``Partitioned.variables(sql)`` gives, for each partitioned table, the files a
statement needs (``adql.coverage`` finds the statement's HEALPix ranges), and the DuckDB backend
sets them on the statement's cursor, so a cone opens only the partitions it overlaps.
Tests: tests/release/test_partitioned.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from dali.errors import FatalError, UsageError
from release.hats import DEFAULT_MAX_ROWS, HatsCatalog, read_catalog, write_catalog, write_properties
from release.ingest import HPX_COLUMN, HPX_ORDER
from release.sqlnames import quote_ident
from release.stores import Store
from release.tapschema import META_SCHEMA, META_TABLE

__all__ = ["PARTITIONED_TABLE", "Partitioned", "PartitionedStore", "files_variable", "read_partitioned"]

PARTITIONED_TABLE = f"{META_SCHEMA}.partitioned"
_log = logging.getLogger(__name__)


def files_variable(qualified: str) -> str:
    """The DuckDB variable that, when set, lists the files the view of ``qualified`` reads."""
    return f"skygate_files:{qualified}"


class PartitionedStore:
    """A DuckDB ``Store`` that writes positional tables as HATS catalogues under ``root``."""

    def __init__(self, inner: Store, root: Path, *, max_rows: int = DEFAULT_MAX_ROWS) -> None:
        if inner.dialect != "duckdb":
            raise UsageError("--partitioned needs the embedded DuckDB catalog", param="--partitioned",
                             hint="leave SKYGATE_DATABASE_URL empty")
        if max_rows < 1:
            raise UsageError("the partition size must be at least one row", param="--max-rows")
        self.dialect = inner.dialect
        self._inner = inner
        self._root = root.resolve()
        self._max_rows = max_rows
        self._written: dict[str, HatsCatalog] = {}

    async def load(self, qualified: str, schema: pa.Schema, batches: Iterator[pa.RecordBatch], *,
                   sort_by: str | None, indexes: Sequence[str]) -> int:
        if sort_by != HPX_COLUMN:
            return await self._inner.load(qualified, schema, batches, sort_by=sort_by, indexes=indexes)
        schema_name, table_name = qualified.split(".")
        catalog = await asyncio.to_thread(write_catalog, self._root / schema_name / table_name, schema, batches,
                                          index_column=HPX_COLUMN, index_order=HPX_ORDER, max_rows=self._max_rows)
        await self._inner.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema_name)}")
        kind = await self._inner.fetch(
            "SELECT table_type FROM information_schema.tables "
            f"WHERE table_schema = '{schema_name}' AND table_name = '{table_name}'")
        if kind.num_rows:
            what = "VIEW" if kind.column(0)[0].as_py() == "VIEW" else "TABLE"
            await self._inner.execute(f"DROP {what} {_qname(qualified)}")
        await self._inner.execute(_view_sql(qualified, catalog))
        await self._record(qualified, catalog)
        self._written[qualified] = catalog
        return catalog.nrows

    async def _record(self, qualified: str, catalog: HatsCatalog) -> None:
        try:
            rows = (await self._inner.fetch(f"SELECT * FROM {PARTITIONED_TABLE}")).to_pylist()
        except FatalError:
            rows = []  # the first partitioned table of this file
        rows = [r for r in rows if r["table_name"] != qualified]
        rows.append({"table_name": qualified, "root": str(catalog.root), "index_column": catalog.index_column,
                     "index_order": catalog.index_order})
        table = pa.Table.from_pylist(rows, schema=pa.schema([
            ("table_name", pa.string()), ("root", pa.string()), ("index_column", pa.string()),
            ("index_order", pa.int32())]))
        await self._inner.replace_small_tables({PARTITIONED_TABLE: table})

    async def replace_small_tables(self, tables: Mapping[str, pa.Table]) -> None:
        await self._inner.replace_small_tables(tables)
        meta = tables.get(META_TABLE)
        if meta is None:
            return
        for row in meta.to_pylist():
            catalog = self._written.get(row["table_name"])
            if catalog is not None and row.get("pos_ra") and row.get("pos_dec"):
                await asyncio.to_thread(write_properties, catalog, name=row["table_name"].replace(".", "_"),
                                        ra=row["pos_ra"], dec=row["pos_dec"], max_rows=self._max_rows)

    async def execute(self, sql: str) -> None:
        await self._inner.execute(sql)

    async def fetch(self, sql: str) -> pa.Table:
        return await self._inner.fetch(sql)

    async def grant(self, schemas: Iterable[str]) -> None:
        await self._inner.grant(schemas)

    async def close(self) -> None:
        await self._inner.close()


def _qname(qualified: str) -> str:
    return ".".join(quote_ident(p) for p in qualified.split("."))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _view_sql(qualified: str, catalog: HatsCatalog) -> str:
    # hive_partitioning off: DuckDB would otherwise add Norder and Dir columns from the paths.
    every = _literal(str(catalog.dataset / "Norder=*" / "Dir=*" / "Npix=*.parquet"))
    return (f"CREATE VIEW {_qname(qualified)} AS SELECT * FROM read_parquet("
            f"coalesce(CAST(getvariable({_literal(files_variable(qualified))}) AS VARCHAR[]), [{every}]), "
            "hive_partitioning = false)")


@dataclass(frozen=True, slots=True)
class Partitioned:
    """The partitioned tables of a DuckDB catalog file, by qualified name."""

    catalogs: Mapping[str, HatsCatalog] = field(default_factory=dict)

    def directories(self) -> list[str]:
        """The directories the backend must be allowed to read (each catalogue's ``dataset/``)."""
        return [str(c.dataset) + "/" for c in self.catalogs.values()]

    def variables(self, sql: str) -> dict[str, list[str]]:
        """For every partitioned table: the files ``sql`` (DuckDB dialect) needs of it, in index order.

        A table the statement reads whole, or does not name, gets every file (a stale list from an
        earlier statement on the same cursor must never stay). When its ranges meet no partition it
        still gets one file, which the range predicate then empties: ``read_parquet`` needs a file.
        """
        # sqlglot loads only when a partitioned release is served
        from adql.coverage import index_ranges, sqlglot_errors

        try:
            found = index_ranges(sql, "duckdb", {name: c.index_column for name, c in self.catalogs.items()})
        except sqlglot_errors() as exc:
            # SQL sqlglot cannot read (DuckDB's own syntax): no pruning, every file, same rows.
            _log.info("no partition pruning for a statement sqlglot cannot parse: %s", type(exc).__name__)
            found = {}
        out: dict[str, list[str]] = {}
        for name, catalog in self.catalogs.items():
            ranges = found.get(name)
            chosen = catalog.partitions if ranges is None else catalog.overlapping(ranges)
            out[files_variable(name)] = catalog.files(chosen or catalog.partitions[:1])
        return out


def read_partitioned(conn: duckdb.DuckDBPyConnection) -> Partitioned:
    """The partitioned tables recorded in an open catalog file (none when it has no such record).

    Raises
    ------
    UsageError
        When a recorded catalogue is missing or unreadable.
    """
    try:
        rows = conn.execute(
            f"SELECT p.table_name, p.root, p.index_column, p.index_order FROM {PARTITIONED_TABLE} p "
            "JOIN information_schema.tables t ON t.table_schema || '.' || t.table_name = p.table_name "
            "WHERE t.table_type = 'VIEW'").fetchall()
    except duckdb.CatalogException:
        return Partitioned()
    catalogs = {str(name): read_catalog(Path(root), index_column=str(column), index_order=int(order))
                for name, root, column, order in rows}
    return Partitioned({name: c for name, c in catalogs.items() if c.partitions})
