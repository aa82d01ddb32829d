"""Result columns converted to the Arrow types their declared VOTable datatypes need.

What every format starts from: a column's (datatype, arraysize) shape, its Arrow type, and each
batch's arrays cast to it (timestamps and dates as ISO text, lists as text or typed lists), with
Arrow compute, vectorised per batch; no bytes are written here.
Tests: tests/dali/test_writers.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dali.errors import SkygateError
from dali.values import Column

__all__ = ["NUMPY_TYPES", "arrow_type", "fixed_size", "max_size", "prepare_batch", "shape"]

NUMPY_TYPES: dict[str, str] = {
    "unsignedByte": "u1", "short": "i2", "int": "i4", "long": "i8", "float": "f4", "double": "f8",
}
_ARROW_TYPES: dict[str, pa.DataType] = {
    "unsignedByte": pa.uint8(), "short": pa.int16(), "int": pa.int32(), "long": pa.int64(),
    "float": pa.float32(), "double": pa.float64(), "boolean": pa.bool_(),
}


def shape(col: Column) -> tuple[str, str | None]:
    """(datatype, arraysize) with char always sized and scalar arraysize '1' dropped."""
    datatype, arraysize = col.datatype, col.arraysize
    if datatype not in NUMPY_TYPES and datatype not in ("boolean", "char", "unicodeChar"):
        datatype = "char"
    if datatype in ("char", "unicodeChar") and not arraysize:
        arraysize = "*"
    if arraysize == "1":
        arraysize = None
    return datatype, arraysize


def fixed_size(arraysize: str | None) -> int | None:
    """The fixed element count of an arraysize ('12' -> 12), None for variable ('*', '12*')."""
    if arraysize is None or arraysize.endswith("*"):
        return None
    return int(arraysize.split("x")[0]) if "x" not in arraysize else int(np.prod(
        [int(p) for p in arraysize.split("x")]))


def max_size(arraysize: str | None) -> int | None:
    """The upper bound of a variable arraysize ('12*' -> 12), None when unbounded."""
    if arraysize and arraysize.endswith("*") and arraysize != "*":
        return int(arraysize[:-1].split("x")[-1])
    return None


def arrow_type(col: Column) -> pa.DataType:
    """The Arrow type a prepared column has (what Parquet receives and what FITS reads)."""
    datatype, arraysize = shape(col)
    if datatype in ("char", "unicodeChar"):
        return pa.string()
    base = _ARROW_TYPES[datatype]
    return pa.list_(base) if arraysize else base


def prepare_batch(batch: pa.RecordBatch, columns: Sequence[Column]) -> list[pa.Array]:
    """The batch's columns converted to their declared types (by position, like the SELECT list)."""
    if batch.num_columns != len(columns):
        raise SkygateError(f"result has {batch.num_columns} columns, metadata declares {len(columns)}")
    return [_prepare(batch.column(i), col) for i, col in enumerate(columns)]


def _prepare(array: pa.Array | pa.ChunkedArray, col: Column) -> pa.Array:
    """Convert one result column to the Arrow type its declared VOTable datatype needs."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    datatype, arraysize = shape(col)
    target = arrow_type(col)
    atype = array.type
    if datatype in ("char", "unicodeChar"):
        if pa.types.is_timestamp(atype):
            if atype.tz is not None:
                array = array.cast(pa.timestamp(atype.unit))
            text = pc.strftime(array, format="%Y-%m-%dT%H:%M:%S")
            # Arrow prints the full sub-second precision; drop trailing zeros so values round-trip.
            text = pc.replace_substring_regex(text, r"(\.\d*?)0+$", r"\1")
            return pc.replace_substring_regex(text, r"\.$", "").cast(pa.string())
        if pa.types.is_date(atype):
            return pc.strftime(array, format="%Y-%m-%d").cast(pa.string())
        if pa.types.is_large_string(atype) or pa.types.is_string(atype):
            return array.cast(pa.string())
        if pa.types.is_binary(atype) or pa.types.is_large_binary(atype):
            return array.cast(pa.string(), safe=False)
        if pa.types.is_list(atype) or pa.types.is_fixed_size_list(atype) or pa.types.is_large_list(atype):
            return _join_list(array)
        return array.cast(pa.string())
    if arraysize:
        if pa.types.is_string(atype) or pa.types.is_large_string(atype):
            array = pc.split_pattern_regex(pc.utf8_trim_whitespace(array), r"\s+")
        if not pa.types.is_list(array.type):
            array = array.cast(pa.list_(array.type.value_type)) if hasattr(array.type, "value_type") \
                else array
        return array.cast(target, safe=False)
    if pa.types.is_decimal(atype) and datatype in ("float", "double"):
        return array.cast(target)
    return array.cast(target, safe=False)


def _join_list(array: pa.Array) -> pa.Array:
    if not pa.types.is_list(array.type):
        array = array.cast(pa.list_(array.type.value_type))
    return pc.binary_join(array.cast(pa.list_(pa.string())), " ")
