"""Table cells as text, and text rows as one chunk of bytes: what TABLEDATA and CSV/TSV share.

Numbers, booleans and arrays become strings with Arrow compute (NaN and infinities spelled as
VOTable and DALI spell them); a row is its cells joined in C++, and a batch's rows are copied
out of the joined array's data buffer once. Escaping belongs to each format (``votable``, ``delimited``).
Tests: tests/dali/test_writers.py.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dali.formats.columns import shape
from dali.values import Column

__all__ = ["text_cells", "text_rows"]


def text_cells(array: pa.Array, col: Column) -> pa.Array:
    """The column as strings (nulls stay null): numbers, booleans, space-separated arrays."""
    datatype, arraysize = shape(col)
    if datatype in ("char", "unicodeChar"):
        return array
    if arraysize:
        flat = array.flatten()
        text = _float_text(flat) if datatype in ("float", "double") else flat.cast(pa.string())
        lists = pa.ListArray.from_arrays(_list_offsets(array), text, mask=array.is_null())
        return pc.binary_join(lists, " ")
    return _float_text(array) if datatype in ("float", "double") else array.cast(pa.string())


def text_rows(cells: list[pa.Array], sep: str, prefix: str, suffix: str) -> bytes:
    """Each row as ``prefix``, its cells joined by ``sep``, ``suffix``; all rows as UTF-8 bytes."""
    if not cells:
        return b""
    joined = pc.binary_join_element_wise(*cells, sep) if len(cells) > 1 else cells[0]
    rows = pc.binary_join_element_wise(prefix, joined, suffix, "")
    return _joined_bytes(rows.cast(pa.string()))


def _float_text(values: pa.Array) -> pa.Array:
    """Floats as text; Arrow prints nan/inf, VOTable and DALI spell them NaN/+Inf/-Inf."""
    text = values.cast(pa.string())
    finite = pc.is_finite(values)
    if pc.all(finite).as_py() is not False:
        return text
    text = pc.if_else(pc.is_nan(values), "NaN", text)
    return pc.if_else(pc.and_(pc.is_inf(values), pc.greater(values, 0)), "+Inf",
                      pc.if_else(pc.is_inf(values), "-Inf", text))


def _list_offsets(array: pa.Array) -> pa.Array:
    offsets = array.offsets
    first = offsets[0].as_py()
    if first:
        offsets = pc.subtract(offsets, first)
    return offsets


def _joined_bytes(rows: pa.Array) -> bytes:
    """The concatenated UTF-8 bytes of a string array (its data buffer between the first and last offset)."""
    if len(rows) == 0:
        return b""
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int32)[rows.offset: rows.offset + len(rows) + 1]
    data = rows.buffers()[2]
    return memoryview(data)[int(offsets[0]): int(offsets[-1])].tobytes()
