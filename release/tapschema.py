"""TAP_SCHEMA (TAP 1.1 §4) as stored rows: the five tables describing every published table.

``tap_schema_tables()`` is the metadata of TAP_SCHEMA itself (it describes itself, foreign keys
included, as taplint E-TMS-TSLN asks); ``tap_schema_rows(...)`` turns a release's metadata into
the Arrow contents of the five tables plus the unpublished extras: position and row count in
``skygate_meta.tables``, declared null values (``Column.null``, which TAP_SCHEMA has no column for)
in ``skygate_meta.columns``. Pure values: ingest writes these rows, ``release.metadata`` reads them
back. Internal columns and tables (names starting with ``skygate_``) are never listed.
``with_footprint`` ends a table description with the URL of the table's footprint MOC (issue 17:
the MOCs are referenced from the table descriptions, in TAP_SCHEMA and so in /tap/tables alike).
Tests: tests/release/test_ingest.py (round trip through both backends),
tests/skygate/test_cli_release.py (footprint references).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from adql.features import RESERVED_WORDS
from dali.values import Column, ForeignKey, TableMeta

__all__ = [
    "META_COLUMNS",
    "META_SCHEMA",
    "META_TABLE",
    "NOT_NULL",
    "TAP_SCHEMA",
    "column_size",
    "is_internal",
    "plain_name",
    "query_name",
    "tap_schema_rows",
    "tap_schema_tables",
    "with_footprint",
]

TAP_SCHEMA = "tap_schema"
# Unpublished extras (Position, nrows): a schema of its own, absent from TAP_SCHEMA.
META_SCHEMA = "skygate_meta"
META_TABLE = f"{META_SCHEMA}.tables"
# Per-column extras: the declared null of the columns that have one.
META_COLUMNS = f"{META_SCHEMA}.columns"

_S = pa.string()
_I = pa.int32()
_FOOTPRINT = "Footprint (IVOA MOC 2.0): "


def _text(name: str, description: str, *, principal: bool = True, std: bool = True) -> Column:
    return Column(name=name, datatype="char", arraysize="*", description=description, principal=principal,
                  std=std)


def _int(name: str, description: str, *, principal: bool = True, std: bool = True) -> Column:
    return Column(name=name, datatype="int", description=description, principal=principal, std=std)


def tap_schema_tables() -> tuple[TableMeta, ...]:
    """The five TAP_SCHEMA tables, described in TAP_SCHEMA's own terms (TAP 1.1 §4)."""
    schemas = TableMeta(TAP_SCHEMA, "schemas", (
        _text("schema_name", "schema name, as used in queries"),
        _text("utype", "utype of the schema"),
        _text("description", "describes the schema"),
        _int("schema_index", "recommended sort order when listing schemas"),
    ), description="the schemas of this service")
    tables = TableMeta(TAP_SCHEMA, "tables", (
        _text("schema_name", "the schema holding the table"),
        _text("table_name", "the fully qualified table name, as used in queries"),
        _text("table_type", "one of: table, view"),
        _text("utype", "utype of the table"),
        _text("description", "describes the table"),
        _int("table_index", "recommended sort order when listing tables"),
    ), description="the tables of this service",
        foreign_keys=(ForeignKey("tap_schema.tables_schema", f"{TAP_SCHEMA}.schemas", ("schema_name",),
                                 ("schema_name",), "the schema of each table"),))
    columns = TableMeta(TAP_SCHEMA, "columns", (
        _text("table_name", "the table holding the column"),
        _text("column_name", "column name, as used in queries"),
        _text("datatype", "VOTable datatype"),
        _text("arraysize", "VOTable arraysize; NULL for scalars"),
        _text("xtype", "DALI/VOTable extended type"),
        _int("size", "length of fixed-size arrays (arraysize without *); deprecated"),
        _text("description", "describes the column"),
        _text("utype", "utype of the column"),
        _text("unit", "unit in VO standard format"),
        _text("ucd", "UCD 1+ of the column"),
        _int("indexed", "1 if the column is indexed, else 0"),
        _int("principal", "1 if the column is principal, else 0"),
        _int("std", "1 if the column is defined by a standard, else 0"),
        _int("column_index", "recommended sort order when listing columns"),
    ), description="the columns of every table",
        foreign_keys=(ForeignKey("tap_schema.columns_table", f"{TAP_SCHEMA}.tables", ("table_name",),
                                 ("table_name",), "the table of each column"),))
    keys = TableMeta(TAP_SCHEMA, "keys", (
        _text("key_id", "unique key identifier"),
        _text("from_table", "the table with the foreign key"),
        _text("target_table", "the table with the primary key"),
        _text("description", "describes the key"),
        _text("utype", "utype of the key"),
    ), description="foreign keys between tables",
        foreign_keys=(
            ForeignKey("tap_schema.keys_from", f"{TAP_SCHEMA}.tables", ("from_table",), ("table_name",),
                       "the table with the foreign key"),
            ForeignKey("tap_schema.keys_target", f"{TAP_SCHEMA}.tables", ("target_table",), ("table_name",),
                       "the table the key points to"),
        ))
    key_columns = TableMeta(TAP_SCHEMA, "key_columns", (
        _text("key_id", "the key this column pair belongs to"),
        _text("from_column", "column in the from_table"),
        _text("target_column", "column in the target_table"),
    ), description="the columns of each foreign key",
        foreign_keys=(ForeignKey("tap_schema.key_columns_key", f"{TAP_SCHEMA}.keys", ("key_id",), ("key_id",),
                                 "the key of each column pair"),))
    return schemas, tables, columns, keys, key_columns


def is_internal(name: str) -> bool:
    """True for internal table or column names (``skygate_*``), which TAP_SCHEMA never lists."""
    return name.rsplit(".", 1)[-1].startswith("skygate_")


def query_name(name: str) -> str:
    """A column name as written in ADQL: reserved words (``size``, ``count``) delimited, as TAP 1.1
    §4.3 asks of TAP_SCHEMA.columns.column_name (taplint E-TMS-CRSV)."""
    if name.upper() in RESERVED_WORDS:
        return '"' + name.replace('"', '""') + '"'
    return name


def plain_name(name: str) -> str:
    """The column name without ADQL delimiters (the physical name)."""
    if len(name) >= 2 and name.startswith('"') and name.endswith('"'):
        return name[1:-1].replace('""', '"')
    return name


def with_footprint(description: str | None, url: str | None) -> str | None:
    """``description`` ending in ``Footprint (IVOA MOC 2.0): {url}``, replacing an earlier such ending
    (removing it when ``url`` is None)."""
    if url is None and _FOOTPRINT not in (description or ""):
        return description
    text = (description or "").split(_FOOTPRINT, 1)[0].rstrip()
    if url is None:
        return text or None
    return f"{text} {_FOOTPRINT}{url}" if text else f"{_FOOTPRINT}{url}"


def column_size(arraysize: str | None) -> int | None:
    """TAP_SCHEMA ``"size"``: the arraysize without ``*``; NULL for scalars, ``*`` and multi-dim."""
    if not arraysize:
        return None
    digits = arraysize.rstrip("*")
    return int(digits) if digits.isdigit() else None


def tap_schema_rows(
    tables: Iterable[TableMeta], schema_descriptions: Mapping[str, str | None], *,
    schema_utypes: Mapping[str, str] | None = None,
) -> dict[str, pa.Table]:
    """The contents of the five TAP_SCHEMA tables, ``skygate_meta.tables`` and ``skygate_meta.columns``.

    Parameters
    ----------
    tables
        Every published table (TAP_SCHEMA's own tables are added here when missing).
    schema_descriptions
        Description per schema name (missing schemas get none).
    schema_utypes
        Utype per schema name (RegTAP's ``rr``: its data model's IVOID); missing schemas get none.

    Returns
    -------
    dict
        Qualified table name -> Arrow table with the stored columns, in TAP 1.1 order.
    """
    published = {t.qualified: t for t in tables if not is_internal(t.qualified)}
    for meta in tap_schema_tables():
        published.setdefault(meta.qualified, meta)
    ordered = sorted(published.values(), key=lambda t: (t.schema == TAP_SCHEMA, t.schema, t.name))
    schema_names = list(dict.fromkeys(t.schema for t in ordered))
    descriptions = dict(schema_descriptions)
    descriptions.setdefault(TAP_SCHEMA, "Metadata of the tables and columns served here (TAP 1.1)")

    schema_rows = [
        {"schema_name": s, "utype": (schema_utypes or {}).get(s), "description": descriptions.get(s), "schema_index": i}
        for i, s in enumerate(schema_names)
    ]
    table_rows = [
        {"schema_name": t.schema, "table_name": t.qualified, "table_type": t.table_type, "utype": t.utype,
         "description": t.description, "table_index": i}
        for i, t in enumerate(ordered)
    ]
    column_rows = [
        {"table_name": t.qualified, "column_name": query_name(c.name), "datatype": c.datatype,
         "arraysize": c.arraysize,
         "xtype": c.xtype, "size": column_size(c.arraysize), "description": c.description, "utype": c.utype,
         "unit": c.unit, "ucd": c.ucd, "indexed": int(c.indexed), "principal": int(c.principal),
         "std": int(c.std), "column_index": i}
        for t in ordered for i, c in enumerate(t.published_columns, start=1)
    ]
    key_rows = [
        {"key_id": k.key_id, "from_table": t.qualified, "target_table": k.target_table,
         "description": k.description, "utype": None}
        for t in ordered for k in t.foreign_keys
    ]
    key_column_rows = [
        {"key_id": k.key_id, "from_column": query_name(f), "target_column": query_name(g)}
        for t in ordered for k in t.foreign_keys
        for f, g in zip(k.from_columns, k.target_columns, strict=True)
    ]
    meta_rows = [
        {"table_name": t.qualified, "nrows": t.nrows,
         "pos_ra": t.position.ra if t.position else None,
         "pos_dec": t.position.dec if t.position else None,
         "pos_index_column": t.position.index_column if t.position else None,
         "pos_index_order": t.position.index_order if t.position else None,
         "pos_tolerance": t.position.tolerance if t.position else None}
        for t in ordered
    ]
    null_rows = [
        {"table_name": t.qualified, "column_name": c.name, "null_value": c.null}
        for t in ordered for c in t.published_columns if c.null is not None
    ]
    return {
        f"{TAP_SCHEMA}.schemas": _table(schema_rows, [("schema_name", _S), ("utype", _S), ("description", _S),
                                                      ("schema_index", _I)]),
        f"{TAP_SCHEMA}.tables": _table(table_rows, [("schema_name", _S), ("table_name", _S), ("table_type", _S),
                                                    ("utype", _S), ("description", _S), ("table_index", _I)]),
        f"{TAP_SCHEMA}.columns": _table(column_rows, [
            ("table_name", _S), ("column_name", _S), ("datatype", _S), ("arraysize", _S), ("xtype", _S),
            ("size", _I), ("description", _S), ("utype", _S), ("unit", _S), ("ucd", _S), ("indexed", _I),
            ("principal", _I), ("std", _I), ("column_index", _I)]),
        f"{TAP_SCHEMA}.keys": _table(key_rows, [("key_id", _S), ("from_table", _S), ("target_table", _S),
                                                ("description", _S), ("utype", _S)]),
        f"{TAP_SCHEMA}.key_columns": _table(key_column_rows, [("key_id", _S), ("from_column", _S),
                                                              ("target_column", _S)]),
        META_TABLE: _table(meta_rows, [("table_name", _S), ("nrows", pa.int64()), ("pos_ra", _S), ("pos_dec", _S),
                                       ("pos_index_column", _S), ("pos_index_order", _I),
                                       ("pos_tolerance", pa.float64())]),
        META_COLUMNS: _table(null_rows, [("table_name", _S), ("column_name", _S), ("null_value", _S)]),
    }


# Columns that must never be NULL (TAP 1.1 §4).
NOT_NULL = {
    f"{TAP_SCHEMA}.schemas": ("schema_name",),
    f"{TAP_SCHEMA}.tables": ("schema_name", "table_name", "table_type"),
    f"{TAP_SCHEMA}.columns": ("table_name", "column_name", "datatype", "indexed", "principal", "std"),
    f"{TAP_SCHEMA}.keys": ("key_id", "from_table", "target_table"),
    f"{TAP_SCHEMA}.key_columns": ("key_id", "from_column", "target_column"),
}


def _table(rows: Sequence[Mapping[str, Any]], fields: list[tuple[str, pa.DataType]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=pa.schema(fields))
