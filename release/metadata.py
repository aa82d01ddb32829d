"""Read a release's table metadata back from the backend (TAP_SCHEMA plus ``skygate_meta``).

Ingest stores the metadata in a real ``tap_schema`` schema (TAP 1.1 §4) and the unpublished
extras in ``skygate_meta``: sky position and row count in ``tables``, the columns' declared null
values (``Column.null``) in ``columns``; this module turns those rows into ``TableMeta`` values keyed
by lower-case ``"schema.table"``. It only reads, through whatever runs
SQL (a ``Backend`` while serving, ingest's own connection while writing).
Tests: tests/release/test_ingest.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from dali.errors import TransientError, UsageError
from dali.values import Column, ForeignKey, Position, TableMeta
from release.tapschema import META_COLUMNS, META_TABLE, TAP_SCHEMA, plain_name

if TYPE_CHECKING:  # for annotations only: the backends import what ingest imports
    from release.backends import Backend

__all__ = ["Catalog", "Fetch", "load_catalog", "load_metadata", "read_catalog"]

Fetch = Callable[[str], Awaitable[pa.Table]]
_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class Catalog:
    """Everything stored about a release: its tables and the descriptions of its schemas."""

    tables: dict[str, TableMeta]
    schema_descriptions: dict[str, str | None]


async def load_metadata(backend: Backend) -> dict[str, TableMeta]:
    """Every published table of the release, TAP_SCHEMA's own tables included.

    Raises
    ------
    UsageError
        When the backend holds no TAP_SCHEMA (nothing was ingested).
    """
    return (await load_catalog(backend)).tables


async def load_catalog(backend: Backend) -> Catalog:
    """The release's tables and schema descriptions, read through ``backend`` (raises as ``load_metadata``)."""

    async def fetch(sql: str) -> pa.Table:
        batches = [b async for b in backend.stream(sql, timeout=_TIMEOUT)]
        return pa.Table.from_batches(batches)

    return await read_catalog(fetch)


async def read_catalog(fetch: Fetch) -> Catalog:
    """The stored catalog, read with ``fetch`` (SQL text -> Arrow table)."""
    try:
        schemas = (await fetch(f"SELECT schema_name, description FROM {TAP_SCHEMA}.schemas")).to_pylist()
    except (UsageError, TransientError):
        raise
    except Exception as exc:
        raise UsageError(
            "no release loaded: the database has no TAP_SCHEMA",
            hint="run `skygate demo` or `skygate ingest catalog ...` first",
        ) from exc
    tables = (await fetch(
        f"SELECT schema_name, table_name, table_type, utype, description FROM {TAP_SCHEMA}.tables "
        "ORDER BY table_index, table_name")).to_pylist()
    columns = (await fetch(
        'SELECT table_name, column_name, datatype, arraysize, xtype, unit, ucd, utype, description, '
        f'indexed, principal, std FROM {TAP_SCHEMA}.columns ORDER BY table_name, column_index')).to_pylist()
    keys = (await fetch(
        f"SELECT key_id, from_table, target_table, description FROM {TAP_SCHEMA}.keys ORDER BY key_id")).to_pylist()
    key_columns = (await fetch(
        f"SELECT key_id, from_column, target_column FROM {TAP_SCHEMA}.key_columns ORDER BY key_id")).to_pylist()
    extras = {row["table_name"]: row for row in (await fetch(
        "SELECT table_name, nrows, pos_ra, pos_dec, pos_index_column, pos_index_order, pos_tolerance "
        f"FROM {META_TABLE}")).to_pylist()}
    nulls = await _declared_nulls(fetch)

    by_table: dict[str, list[Column]] = {}
    for row in columns:
        name = plain_name(row["column_name"])
        by_table.setdefault(row["table_name"], []).append(Column(
            name=name, datatype=row["datatype"], arraysize=row["arraysize"],
            xtype=row["xtype"], unit=row["unit"], ucd=row["ucd"], utype=row["utype"], description=row["description"],
            indexed=bool(row["indexed"]), principal=bool(row["principal"]), std=bool(row["std"]),
            null=nulls.get((row["table_name"], name))))
    pairs: dict[str, list[tuple[str, str]]] = {}
    for row in key_columns:
        pairs.setdefault(row["key_id"], []).append((plain_name(row["from_column"]), plain_name(row["target_column"])))
    fks: dict[str, list[ForeignKey]] = {}
    for row in keys:
        cols = pairs.get(row["key_id"], [])
        fks.setdefault(row["from_table"], []).append(ForeignKey(
            key_id=row["key_id"], target_table=row["target_table"], from_columns=tuple(f for f, _ in cols),
            target_columns=tuple(t for _, t in cols), description=row["description"]))

    result: dict[str, TableMeta] = {}
    for row in tables:
        qualified = row["table_name"].lower()
        extra = extras.get(row["table_name"], {})
        position = _position(extra)
        table_columns = list(by_table.get(row["table_name"], []))
        if position is not None and all(c.name != position.index_column for c in table_columns):
            table_columns.append(Column(name=position.index_column, datatype="long", indexed=True,
                               description=f"HEALPix NESTED index at order {position.index_order} (internal)"))
        result[qualified] = TableMeta(
            schema=row["schema_name"].lower(), name=qualified.split(".", 1)[1], columns=tuple(table_columns),
            description=row["description"], utype=row["utype"], table_type=row["table_type"],
            nrows=extra.get("nrows"), position=position, foreign_keys=tuple(fks.get(row["table_name"], ())))
    return Catalog(tables=result, schema_descriptions={r["schema_name"]: r["description"] for r in schemas})


async def _declared_nulls(fetch: Fetch) -> dict[tuple[str, str], str]:
    """(qualified table, column) -> the column's declared null value."""
    try:
        rows = (await fetch(f"SELECT table_name, column_name, null_value FROM {META_COLUMNS}")).to_pylist()
    except TransientError:
        raise
    except Exception:  # noqa: BLE001 - a release ingested before nulls were declared has no such table
        return {}
    return {(row["table_name"], row["column_name"]): row["null_value"] for row in rows}


def _position(extra: Mapping[str, object]) -> Position | None:
    if not extra.get("pos_ra"):
        return None
    return Position(ra=str(extra["pos_ra"]), dec=str(extra["pos_dec"]), index_column=str(extra["pos_index_column"]),
                    index_order=int(extra["pos_index_order"]),  # type: ignore[call-overload]
                    tolerance=float(extra["pos_tolerance"] or 0.0))  # type: ignore[arg-type]
