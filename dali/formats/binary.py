"""Rows as packed big-endian bytes: the layout BINARY2 streams and FITS BINTABLE stores.

Each column becomes fixed-width parts (numbers, booleans, fixed arrays and strings) or a length
prefix plus variable bytes; ``assemble`` interleaves them row by row. This is the hot path of a
large BINARY2 result, so it does no per-row Python work: when every part has a fixed width, each
value is copied once, by NumPy, straight into a packed record in memory from Arrow's pool;
variable parts are joined per row by Arrow in C++. No XML, no base64, no FITS header here.
Tests: tests/dali/test_writers.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dali.formats.columns import NUMPY_TYPES, fixed_size, max_size, shape
from dali.values import Column

__all__ = ["Fixed", "Var", "assemble", "binary2_rows", "binary_parts", "gather_fixed", "string_bytes"]


@dataclass(slots=True)
class Fixed:
    """A fixed-width piece of every row: ``values[i]`` stored as ``wire`` is row i's bytes.

    ``values`` is (rows,) in any dtype that converts to ``wire`` by assignment (native numbers
    become big-endian ones while they are copied into place), or a (rows, width) uint8 matrix
    with ``wire`` a ``width``-byte array type (see ``Fixed.of_bytes``).
    """

    values: np.ndarray
    wire: np.dtype

    @classmethod
    def of_bytes(cls, matrix: np.ndarray) -> Fixed:
        return cls(matrix, np.dtype((np.uint8, (matrix.shape[1],))) if matrix.shape[1] else np.dtype("V0"))


@dataclass(slots=True)
class Var:
    lengths: np.ndarray  # (rows,) int64 byte lengths
    data: np.ndarray  # flat uint8


def string_bytes(array: pa.Array, unicode: bool) -> tuple[np.ndarray, np.ndarray]:
    """(byte lengths, flat bytes) of a string array, nulls as empty; UCS-2 big-endian for unicodeChar."""
    if array.null_count:
        array = pc.fill_null(array, "")
    if unicode:
        encoded = [s.encode("utf-16-be") for s in array.to_pylist()]
        lengths = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=len(encoded))
        return lengths, np.frombuffer(b"".join(encoded), dtype=np.uint8)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[array.offset: array.offset + len(array) + 1]
    data = array.buffers()[2]
    start, end = int(offsets[0]), int(offsets[-1])
    flat = np.frombuffer(data, dtype=np.uint8)[start:end] if data is not None and end > start \
        else np.zeros(0, dtype=np.uint8)
    return np.diff(offsets).astype(np.int64), flat


def gather_fixed(lengths: np.ndarray, flat: np.ndarray, width: int, fill: int = 0) -> np.ndarray:
    """Place variable-length byte strings into a (rows, width) matrix, truncated or padded."""
    rows = len(lengths)
    if rows and flat.size == rows * width and bool((lengths == width).all()):
        return flat.reshape(rows, width)  # every value has the full width (e.g. tile names)
    out = np.full((rows, width), fill, dtype=np.uint8)
    if width == 0 or flat.size == 0:
        return out
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    kept = np.minimum(lengths, width)
    total = int(kept.sum())
    if total == 0:
        return out
    row_of = np.repeat(np.arange(rows), kept)
    inner = np.arange(total) - np.repeat(np.cumsum(kept) - kept, kept)
    out[row_of, inner] = flat[np.repeat(starts, kept) + inner]
    return out


def _numeric_values(array: pa.Array, datatype: str) -> np.ndarray:
    """The values in native byte order, nulls as NaN or 0; no copy when there are no nulls."""
    code = NUMPY_TYPES[datatype]
    if array.null_count:
        array = pc.fill_null(array, float("nan") if code.startswith("f") else 0)
    values: np.ndarray = array.to_numpy(zero_copy_only=False)
    return values


def _big_endian_bytes(values: np.ndarray, datatype: str) -> np.ndarray:
    code = NUMPY_TYPES[datatype]
    return np.ascontiguousarray(values, dtype=">" + code if code != "u1" else "u1").view(np.uint8)


def binary_parts(array: pa.Array, col: Column) -> list[Fixed | Var]:
    """The BINARY2 encoding of one column (null flags are written separately)."""
    datatype, arraysize = shape(col)
    if datatype == "boolean":
        values = pc.fill_null(array, False).to_numpy(zero_copy_only=False)
        codes = np.where(values, ord("T"), ord("F")).astype(np.uint8)
        codes[array.is_null().to_numpy(zero_copy_only=False)] = ord("?")
        return [Fixed(codes, np.dtype(np.uint8))]
    if datatype in ("char", "unicodeChar"):
        unicode = datatype == "unicodeChar"
        lengths, flat = string_bytes(array, unicode)
        fixed = fixed_size(arraysize)
        unit = 2 if unicode else 1
        if fixed is not None:
            return [Fixed.of_bytes(gather_fixed(lengths, flat, fixed * unit))]
        limit = max_size(arraysize)
        if limit is not None and lengths.size and int(lengths.max()) > limit * unit:
            clipped = gather_fixed(lengths, flat, limit * unit)
            lengths = np.minimum(lengths, limit * unit)
            mask = np.arange(limit * unit)[None, :] < lengths[:, None]
            flat = clipped[mask]
        return [Fixed((lengths // unit).astype(np.uint32), np.dtype(">u4")), Var(lengths, flat)]
    code = NUMPY_TYPES[datatype]
    width = np.dtype(code).itemsize
    if not arraysize:
        return [Fixed(_numeric_values(array, datatype), np.dtype(">" + code if code != "u1" else "u1"))]
    items = _big_endian_bytes(_numeric_values(array.flatten(), datatype), datatype)
    counts = pc.fill_null(pc.list_value_length(array), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    nbytes = counts * width
    fixed = fixed_size(arraysize)
    if fixed is not None:
        matrix = gather_fixed(nbytes, items, fixed * width)
        short = nbytes < fixed * width
        if short.any() and code.startswith("f"):
            pad = np.full(fixed, np.nan, dtype=">" + code).view(np.uint8)
            for r in np.nonzero(short)[0]:  # short arrays are rare (bad data); pad them with NaN
                matrix[r, nbytes[r]:] = pad[nbytes[r]:]
        return [Fixed.of_bytes(matrix)]
    return [Fixed(counts.astype(np.uint32), np.dtype(">u4")), Var(nbytes, items)]


def _null_flags(arrays: Sequence[pa.Array]) -> np.ndarray:
    """BINARY2's leading null bits, most significant first: column i is bit 7 - i % 8 of byte i // 8."""
    rows = len(arrays[0]) if arrays else 0
    flags = np.zeros((rows, (len(arrays) + 7) // 8), dtype=np.uint8)
    for i, array in enumerate(arrays):
        if array.null_count:  # most columns have none: nothing to do for them
            nulls = array.is_null().to_numpy(zero_copy_only=False).view(np.uint8)
            flags[:, i // 8] |= nulls << np.uint8(7 - i % 8)
    return flags


def assemble(parts: list[Fixed | Var], rows: int, lead: bytes = b"") -> np.ndarray:
    """Interleave per-column parts row by row into one flat uint8 array, after ``lead``."""
    groups: list[list[Fixed] | Var] = []
    for part in parts:
        if isinstance(part, Var) and rows and part.data.size == rows * int(part.lengths[0]) \
                and bool((part.lengths == part.lengths[0]).all()):
            # Values of one length in this batch (tile names in a char(*) column, say): laid out
            # like a fixed-width column, which is several times faster than a row-by-row join.
            part = Fixed.of_bytes(part.data.reshape(rows, int(part.lengths[0])))
        if isinstance(part, Var):
            groups.append(part)
        elif groups and isinstance(groups[-1], list):
            groups[-1].append(part)  # consecutive fixed-width parts are laid out together
        else:
            groups.append([part])
    if len(groups) == 1 and isinstance(groups[0], list):
        # Every column has a fixed width: each value is copied once, straight into its place.
        dtype = _record_type(groups[0])
        out = _scratch_bytes(len(lead) + rows * dtype.itemsize)
        out[:len(lead)] = np.frombuffer(lead, dtype=np.uint8)
        if dtype.itemsize:
            _fill_records(out[len(lead):].view(dtype), groups[0])
        return out
    if rows == 0:
        return np.frombuffer(lead, dtype=np.uint8)
    # Arrow's element-wise join lays each row's pieces back to back in C++; a NumPy scatter would
    # need an index per output byte, eight times the output's size.
    pieces = [_row_pieces(g, rows) if isinstance(g, Var) else _fixed_pieces(g, rows) for g in groups]
    joined = pc.binary_join_element_wise(*pieces, pa.scalar(b"", pa.large_binary()))
    total = int(np.frombuffer(joined.buffers()[1], dtype=np.int64, count=rows + 1)[rows])
    data = np.frombuffer(joined.buffers()[2], dtype=np.uint8, count=total)
    return np.concatenate((np.frombuffer(lead, dtype=np.uint8), data)) if lead else data


def _scratch_bytes(size: int) -> np.ndarray:
    """A writable uint8 array from Arrow's memory pool, which keeps freed memory for the next
    batch; NumPy's malloc hands blocks this large back to the system and faults them in again."""
    return np.frombuffer(pa.allocate_buffer(size), dtype=np.uint8)


def _record_type(parts: list[Fixed]) -> np.dtype:
    """A packed record with one field per part, in its wire type."""
    return np.dtype({"names": [f"f{i}" for i in range(len(parts))], "formats": [p.wire for p in parts],
                     "offsets": list(np.cumsum([0] + [p.wire.itemsize for p in parts[:-1]])),
                     "itemsize": sum(p.wire.itemsize for p in parts)})


def _fill_records(records: np.ndarray, parts: list[Fixed]) -> None:
    for i, part in enumerate(parts):
        if part.wire.itemsize:
            records[f"f{i}"] = part.values


def _fixed_pieces(parts: list[Fixed], rows: int) -> pa.Array:
    """Fixed-width parts as a binary array holding each row's bytes."""
    dtype = _record_type(parts)
    records = _scratch_bytes(rows * dtype.itemsize).view(dtype)
    _fill_records(records, parts)
    return _binary_array(np.arange(rows + 1, dtype=np.int64) * dtype.itemsize, records.view(np.uint8))


def _row_pieces(part: Var, rows: int) -> pa.Array:
    """A variable-width part as a binary array holding each row's bytes (zero-copy)."""
    offsets = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(part.lengths, out=offsets[1:])
    return _binary_array(offsets, np.ascontiguousarray(part.data))


def _binary_array(offsets: np.ndarray, data: np.ndarray) -> pa.Array:
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(offsets) - 1,
                                            [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def binary2_rows(arrays: list[pa.Array], columns: Sequence[Column], lead: bytes = b"") -> np.ndarray:
    """The BINARY2 rows as flat bytes, after ``lead``."""
    rows = len(arrays[0]) if arrays else 0
    parts: list[Fixed | Var] = [Fixed.of_bytes(_null_flags(arrays))]
    for array, col in zip(arrays, columns, strict=True):
        parts.extend(binary_parts(array, col))
    return assemble(parts, rows, lead)
