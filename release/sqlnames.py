"""SQL names and types shared by the release's readers and writers (backends, stores, user tables).

The rules the same in PostgreSQL and DuckDB: delimited identifiers, and which database URL is
PostgreSQL; the PostgreSQL column type that holds an Arrow type. No connections here.
Tests: tests/release/test_backends.py.
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["is_postgres_url", "postgres_type", "quote_ident"]


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def quote_ident(name: str) -> str:
    """A delimited SQL identifier (the same rule in PostgreSQL and DuckDB)."""
    return '"' + name.replace('"', '""') + '"'


def postgres_type(arrow_type: pa.DataType) -> str:
    """The PostgreSQL column type that holds ``arrow_type`` without loss."""
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_int8(arrow_type) or pa.types.is_int16(arrow_type) or pa.types.is_uint8(arrow_type):
        return "smallint"
    if pa.types.is_int32(arrow_type) or pa.types.is_uint16(arrow_type):
        return "integer"
    if pa.types.is_integer(arrow_type):
        return "bigint"
    if pa.types.is_float16(arrow_type) or pa.types.is_float32(arrow_type):
        return "real"
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "double precision"
    if pa.types.is_timestamp(arrow_type):
        return "timestamptz" if arrow_type.tz else "timestamp"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return "bytea"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or pa.types.is_fixed_size_list(
        arrow_type
    ):
        return postgres_type(arrow_type.value_type) + "[]"
    return "text"
