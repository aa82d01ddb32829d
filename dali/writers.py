"""Result tables as bytes: VOTable 1.4 (TABLEDATA, BINARY2), CSV, TSV, FITS and Parquet.

``write_table`` turns output ``Column``s and an async stream of Arrow record batches into an async
stream of byte chunks, enforcing MAXREC the DALI way (read at most maxrec+1 rows; when row
maxrec+1 arrives, stop reading, close the source and flag ``QUERY_STATUS=OVERFLOW`` after the
table). Encoding is vectorised per batch (Arrow compute for text, numpy for binary) and runs in a
thread for large batches. No HTTP and no database here: the caller streams the chunks to a socket
or a file. Tests: tests/dali/test_writers.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from html import escape
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pybase64

from dali.errors import SkygateError, UsageError
from dali.values import Column

__all__ = [
    "COOSYS_ID",
    "FORMATS",
    "Format",
    "Info",
    "OutputFormat",
    "TableWriter",
    "arrow_type",
    "coosys_element",
    "is_position",
    "resolve_format",
    "write_table",
]

# Batches at least this long are encoded in a worker thread so the event loop stays free.
_THREAD_ROWS = 4096
_T = TypeVar("_T")
_VOTABLE_NS = "http://www.ivoa.net/xml/VOTable/v1.3"


class OutputFormat(StrEnum):
    VOTABLE_TD = "votable/td"
    VOTABLE_B2 = "votable/b2"
    CSV = "csv"
    TSV = "tsv"
    FITS = "fits"
    PARQUET = "parquet"


@dataclass(frozen=True, slots=True)
class FormatSpec:
    """One supported output format as declared in TAPRegExt capabilities."""

    kind: OutputFormat
    mime: str
    aliases: tuple[str, ...]
    ivo_id: str | None = None


FORMATS: tuple[FormatSpec, ...] = (
    FormatSpec(OutputFormat.VOTABLE_TD, "application/x-votable+xml;serialization=tabledata",
               ("votable/td", "votable", "application/x-votable+xml", "text/xml", "votable/tabledata"),
               "ivo://ivoa.net/std/TAPRegExt#output-votable-td"),
    FormatSpec(OutputFormat.VOTABLE_B2, "application/x-votable+xml;serialization=binary2",
               ("votable/b2", "votable/binary2", "votableb2"),
               "ivo://ivoa.net/std/TAPRegExt#output-votable-binary2"),
    FormatSpec(OutputFormat.CSV, "text/csv;header=present", ("csv", "text/csv")),
    FormatSpec(OutputFormat.TSV, "text/tab-separated-values", ("tsv", "text/tab-separated-values", "text/tsv")),
    FormatSpec(OutputFormat.FITS, "application/fits", ("fits", "application/fits", "image/fits")),
    FormatSpec(OutputFormat.PARQUET, "application/vnd.apache.parquet",
               ("parquet", "application/x-parquet", "application/parquet")),
)


@dataclass(frozen=True, slots=True)
class Format:
    """A resolved RESPONSEFORMAT: the encoding and the Content-Type to answer with."""

    kind: OutputFormat
    media_type: str

    @property
    def is_votable(self) -> bool:
        return self.kind in (OutputFormat.VOTABLE_TD, OutputFormat.VOTABLE_B2)


@dataclass(frozen=True, slots=True)
class Info:
    """An ``<INFO name value>content</INFO>`` element written before the table."""

    name: str
    value: str
    content: str | None = None
    ucd: str | None = None


def _normalise_mime(text: str) -> str:
    parts = [p.strip() for p in text.split(";") if p.strip()]
    if not parts:
        return ""
    head, params = parts[0].lower(), sorted(p.replace(" ", "").lower() for p in parts[1:])
    return ";".join([head, *params])


def resolve_format(requested: str | None) -> Format:
    """The format for a RESPONSEFORMAT value (MIME type or short form); None means VOTable TABLEDATA.

    A full MIME type is echoed as the Content-Type (DALI §2.7.2); a short form answers with the
    canonical MIME type. Raises ``UsageError`` for formats we do not write.
    """
    if requested is None or not requested.strip():
        return Format(OutputFormat.VOTABLE_TD, "application/x-votable+xml")
    text = requested.strip()
    key = _normalise_mime(text)
    if key.startswith("application/x-votable+xml") and ";" in key:
        params = dict(p.split("=", 1) for p in key.split(";")[1:] if "=" in p)
        serialization = params.get("serialization", "tabledata")
        if serialization in ("tabledata", "td"):
            return Format(OutputFormat.VOTABLE_TD, text)
        if serialization == "binary2":
            return Format(OutputFormat.VOTABLE_B2, text)
        raise UsageError(f"VOTable serialization {serialization!r} is not supported",
                         param="RESPONSEFORMAT", hint="use tabledata or binary2")
    if key in ("text/csv;header=present", "text/csv;header=absent"):
        return Format(OutputFormat.CSV, "text/csv;header=present")
    for spec in FORMATS:
        if key == _normalise_mime(spec.mime) or key in spec.aliases:
            is_mime = "/" in key and key not in ("votable/td", "votable/b2", "votable/binary2",
                                                  "votable/tabledata")
            return Format(spec.kind, text if is_mime else spec.mime)
    names = ", ".join(spec.aliases[0] for spec in FORMATS)
    raise UsageError(f"response format {text[:60]!r} is not supported", param="RESPONSEFORMAT",
                     hint=f"use one of {names}")


# --------------------------------------------------------------------------- column preparation

_NUMPY_TYPES: dict[str, str] = {
    "unsignedByte": "u1", "short": "i2", "int": "i4", "long": "i8", "float": "f4", "double": "f8",
}
_ARROW_TYPES: dict[str, pa.DataType] = {
    "unsignedByte": pa.uint8(), "short": pa.int16(), "int": pa.int32(), "long": pa.int64(),
    "float": pa.float32(), "double": pa.float64(), "boolean": pa.bool_(),
}


def _shape(col: Column) -> tuple[str, str | None]:
    """(datatype, arraysize) with char always sized and scalar arraysize '1' dropped."""
    datatype, arraysize = col.datatype, col.arraysize
    if datatype not in _NUMPY_TYPES and datatype not in ("boolean", "char", "unicodeChar"):
        datatype = "char"
    if datatype in ("char", "unicodeChar") and not arraysize:
        arraysize = "*"
    if arraysize == "1":
        arraysize = None
    return datatype, arraysize


def _fixed_size(arraysize: str | None) -> int | None:
    """The fixed element count of an arraysize ('12' -> 12), None for variable ('*', '12*')."""
    if arraysize is None or arraysize.endswith("*"):
        return None
    return int(arraysize.split("x")[0]) if "x" not in arraysize else int(np.prod(
        [int(p) for p in arraysize.split("x")]))


def _max_size(arraysize: str | None) -> int | None:
    """The upper bound of a variable arraysize ('12*' -> 12), None when unbounded."""
    if arraysize and arraysize.endswith("*") and arraysize != "*":
        return int(arraysize[:-1].split("x")[-1])
    return None


def arrow_type(col: Column) -> pa.DataType:
    """The Arrow type a prepared column has (what Parquet receives and what FITS reads)."""
    datatype, arraysize = _shape(col)
    if datatype in ("char", "unicodeChar"):
        return pa.string()
    base = _ARROW_TYPES[datatype]
    return pa.list_(base) if arraysize else base


def _prepare(array: pa.Array | pa.ChunkedArray, col: Column) -> pa.Array:
    """Convert one result column to the Arrow type its declared VOTable datatype needs."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    datatype, arraysize = _shape(col)
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


def prepare_batch(batch: pa.RecordBatch, columns: Sequence[Column]) -> list[pa.Array]:
    """The batch's columns converted to their declared types (by position, like the SELECT list)."""
    if batch.num_columns != len(columns):
        raise SkygateError(f"result has {batch.num_columns} columns, metadata declares {len(columns)}")
    return [_prepare(batch.column(i), col) for i, col in enumerate(columns)]


# --------------------------------------------------------------------------- text cells

_XML_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"


def _float_text(values: pa.Array) -> pa.Array:
    """Floats as text; Arrow prints nan/inf, VOTable and DALI spell them NaN/+Inf/-Inf."""
    text = values.cast(pa.string())
    finite = pc.is_finite(values)
    if pc.all(finite).as_py() is not False:
        return text
    text = pc.if_else(pc.is_nan(values), "NaN", text)
    return pc.if_else(pc.and_(pc.is_inf(values), pc.greater(values, 0)), "+Inf",
                      pc.if_else(pc.is_inf(values), "-Inf", text))


def _text_cells(array: pa.Array, col: Column) -> pa.Array:
    """The column as strings (nulls stay null): numbers, booleans, space-separated arrays."""
    datatype, arraysize = _shape(col)
    if datatype in ("char", "unicodeChar"):
        return array
    if arraysize:
        flat = array.flatten()
        text = _float_text(flat) if datatype in ("float", "double") else flat.cast(pa.string())
        lists = pa.ListArray.from_arrays(_list_offsets(array), text, mask=array.is_null())
        return pc.binary_join(lists, " ")
    return _float_text(array) if datatype in ("float", "double") else array.cast(pa.string())


def _list_offsets(array: pa.Array) -> pa.Array:
    offsets = array.offsets
    first = offsets[0].as_py()
    if first:
        offsets = pc.subtract(offsets, first)
    return offsets


def _xml_cells(array: pa.Array, col: Column) -> pa.Array:
    text = _text_cells(array, col)
    datatype, arraysize = _shape(col)
    fixed = _fixed_size(arraysize)
    if fixed is not None and datatype in ("float", "double") and array.null_count:
        # An empty cell is not a valid fixed-size array (votlint); NaNs are the null array.
        text = pc.fill_null(text, " ".join(["NaN"] * fixed))
    if _shape(col)[0] in ("char", "unicodeChar"):
        text = pc.replace_substring_regex(text, _XML_CONTROL, "")
        text = pc.replace_substring(text, "&", "&amp;")
        text = pc.replace_substring(text, "<", "&lt;")
        text = pc.replace_substring(text, ">", "&gt;")
        limit = _fixed_size(_shape(col)[1]) or _max_size(_shape(col)[1])
        if limit is not None:
            text = pc.utf8_slice_codeunits(text, 0, limit)
    return pc.fill_null(text, "")


def _csv_cells(array: pa.Array, col: Column, sep: str) -> pa.Array:
    text = _text_cells(array, col)
    if _shape(col)[0] in ("char", "unicodeChar"):
        if sep == "\t":
            text = pc.replace_substring_regex(text, r"[\t\r\n]", " ")
        else:
            needs = pc.match_substring_regex(text, r'[",\r\n]')
            quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
            text = pc.if_else(needs, quoted, text)
    return pc.fill_null(text, "")


def _joined_bytes(rows: pa.Array) -> bytes:
    """The concatenated UTF-8 bytes of a string array (its data buffer between the first and last offset)."""
    if len(rows) == 0:
        return b""
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int32)[rows.offset: rows.offset + len(rows) + 1]
    data = rows.buffers()[2]
    return memoryview(data)[int(offsets[0]): int(offsets[-1])].tobytes()


def _text_rows(cells: list[pa.Array], sep: str, prefix: str, suffix: str) -> bytes:
    if not cells:
        return b""
    joined = pc.binary_join_element_wise(*cells, sep) if len(cells) > 1 else cells[0]
    rows = pc.binary_join_element_wise(prefix, joined, suffix, "")
    return _joined_bytes(rows.cast(pa.string()))


# --------------------------------------------------------------------------- binary cells

@dataclass(slots=True)
class _Fixed:
    """A fixed-width piece of every row: ``values[i]`` stored as ``wire`` is row i's bytes.

    ``values`` is (rows,) in any dtype that converts to ``wire`` by assignment (native numbers
    become big-endian ones while they are copied into place), or a (rows, width) uint8 matrix
    with ``wire`` a ``width``-byte array type (see ``_Fixed.of_bytes``).
    """

    values: np.ndarray
    wire: np.dtype

    @classmethod
    def of_bytes(cls, matrix: np.ndarray) -> _Fixed:
        return cls(matrix, np.dtype((np.uint8, (matrix.shape[1],))) if matrix.shape[1] else np.dtype("V0"))


@dataclass(slots=True)
class _Var:
    lengths: np.ndarray  # (rows,) int64 byte lengths
    data: np.ndarray  # flat uint8


def _string_bytes(array: pa.Array, unicode: bool) -> tuple[np.ndarray, np.ndarray]:
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


def _gather_fixed(lengths: np.ndarray, flat: np.ndarray, width: int, fill: int = 0) -> np.ndarray:
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
    code = _NUMPY_TYPES[datatype]
    if array.null_count:
        array = pc.fill_null(array, float("nan") if code.startswith("f") else 0)
    values: np.ndarray = array.to_numpy(zero_copy_only=False)
    return values


def _big_endian_bytes(values: np.ndarray, datatype: str) -> np.ndarray:
    code = _NUMPY_TYPES[datatype]
    return np.ascontiguousarray(values, dtype=">" + code if code != "u1" else "u1").view(np.uint8)


def _binary_parts(array: pa.Array, col: Column) -> list[_Fixed | _Var]:
    """The BINARY2 encoding of one column (null flags are written separately)."""
    datatype, arraysize = _shape(col)
    if datatype == "boolean":
        values = pc.fill_null(array, False).to_numpy(zero_copy_only=False)
        codes = np.where(values, ord("T"), ord("F")).astype(np.uint8)
        codes[array.is_null().to_numpy(zero_copy_only=False)] = ord("?")
        return [_Fixed(codes, np.dtype(np.uint8))]
    if datatype in ("char", "unicodeChar"):
        unicode = datatype == "unicodeChar"
        lengths, flat = _string_bytes(array, unicode)
        fixed = _fixed_size(arraysize)
        unit = 2 if unicode else 1
        if fixed is not None:
            return [_Fixed.of_bytes(_gather_fixed(lengths, flat, fixed * unit))]
        limit = _max_size(arraysize)
        if limit is not None and lengths.size and int(lengths.max()) > limit * unit:
            clipped = _gather_fixed(lengths, flat, limit * unit)
            lengths = np.minimum(lengths, limit * unit)
            mask = np.arange(limit * unit)[None, :] < lengths[:, None]
            flat = clipped[mask]
        return [_Fixed((lengths // unit).astype(np.uint32), np.dtype(">u4")), _Var(lengths, flat)]
    code = _NUMPY_TYPES[datatype]
    width = np.dtype(code).itemsize
    if not arraysize:
        return [_Fixed(_numeric_values(array, datatype), np.dtype(">" + code if code != "u1" else "u1"))]
    items = _big_endian_bytes(_numeric_values(array.flatten(), datatype), datatype)
    counts = pc.fill_null(pc.list_value_length(array), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    nbytes = counts * width
    fixed = _fixed_size(arraysize)
    if fixed is not None:
        matrix = _gather_fixed(nbytes, items, fixed * width)
        short = nbytes < fixed * width
        if short.any() and code.startswith("f"):
            pad = np.full(fixed, np.nan, dtype=">" + code).view(np.uint8)
            for r in np.nonzero(short)[0]:  # short arrays are rare (bad data); pad them with NaN
                matrix[r, nbytes[r]:] = pad[nbytes[r]:]
        return [_Fixed.of_bytes(matrix)]
    return [_Fixed(counts.astype(np.uint32), np.dtype(">u4")), _Var(nbytes, items)]


def _null_flags(arrays: Sequence[pa.Array]) -> np.ndarray:
    """BINARY2's leading null bits, most significant first: column i is bit 7 - i % 8 of byte i // 8."""
    rows = len(arrays[0]) if arrays else 0
    flags = np.zeros((rows, (len(arrays) + 7) // 8), dtype=np.uint8)
    for i, array in enumerate(arrays):
        if array.null_count:  # most columns have none: nothing to do for them
            nulls = array.is_null().to_numpy(zero_copy_only=False).view(np.uint8)
            flags[:, i // 8] |= nulls << np.uint8(7 - i % 8)
    return flags


def _assemble(parts: list[_Fixed | _Var], rows: int, lead: bytes = b"") -> np.ndarray:
    """Interleave per-column parts row by row into one flat uint8 array, after ``lead``."""
    groups: list[list[_Fixed] | _Var] = []
    for part in parts:
        if isinstance(part, _Var) and rows and part.data.size == rows * int(part.lengths[0]) \
                and bool((part.lengths == part.lengths[0]).all()):
            # Values of one length in this batch (tile names in a char(*) column, say): laid out
            # like a fixed-width column, which is several times faster than a row-by-row join.
            part = _Fixed.of_bytes(part.data.reshape(rows, int(part.lengths[0])))
        if isinstance(part, _Var):
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
    pieces = [_row_pieces(g, rows) if isinstance(g, _Var) else _fixed_pieces(g, rows) for g in groups]
    joined = pc.binary_join_element_wise(*pieces, pa.scalar(b"", pa.large_binary()))
    total = int(np.frombuffer(joined.buffers()[1], dtype=np.int64, count=rows + 1)[rows])
    data = np.frombuffer(joined.buffers()[2], dtype=np.uint8, count=total)
    return np.concatenate((np.frombuffer(lead, dtype=np.uint8), data)) if lead else data


def _scratch_bytes(size: int) -> np.ndarray:
    """A writable uint8 array from Arrow's memory pool, which keeps freed memory for the next
    batch; NumPy's malloc hands blocks this large back to the system and faults them in again."""
    return np.frombuffer(pa.allocate_buffer(size), dtype=np.uint8)


def _record_type(parts: list[_Fixed]) -> np.dtype:
    """A packed record with one field per part, in its wire type."""
    return np.dtype({"names": [f"f{i}" for i in range(len(parts))], "formats": [p.wire for p in parts],
                     "offsets": list(np.cumsum([0] + [p.wire.itemsize for p in parts[:-1]])),
                     "itemsize": sum(p.wire.itemsize for p in parts)})


def _fill_records(records: np.ndarray, parts: list[_Fixed]) -> None:
    for i, part in enumerate(parts):
        if part.wire.itemsize:
            records[f"f{i}"] = part.values


def _fixed_pieces(parts: list[_Fixed], rows: int) -> pa.Array:
    """Fixed-width parts as a binary array holding each row's bytes."""
    dtype = _record_type(parts)
    records = _scratch_bytes(rows * dtype.itemsize).view(dtype)
    _fill_records(records, parts)
    return _binary_array(np.arange(rows + 1, dtype=np.int64) * dtype.itemsize, records.view(np.uint8))


def _row_pieces(part: _Var, rows: int) -> pa.Array:
    """A variable-width part as a binary array holding each row's bytes (zero-copy)."""
    offsets = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(part.lengths, out=offsets[1:])
    return _binary_array(offsets, np.ascontiguousarray(part.data))


def _binary_array(offsets: np.ndarray, data: np.ndarray) -> pa.Array:
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(offsets) - 1,
                                            [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _binary2_rows(arrays: list[pa.Array], columns: Sequence[Column], lead: bytes = b"") -> np.ndarray:
    """The BINARY2 rows as flat bytes, after ``lead``."""
    rows = len(arrays[0]) if arrays else 0
    parts: list[_Fixed | _Var] = [_Fixed.of_bytes(_null_flags(arrays))]
    for array, col in zip(arrays, columns, strict=True):
        parts.extend(_binary_parts(array, col))
    return _assemble(parts, rows, lead)


# --------------------------------------------------------------------------- VOTable envelope

def _attr(value: str) -> str:
    return escape(value, quote=True)


# Every position the services publish or compute is ICRS (release.Position; ADQL geometry), so
# one COOSYS serves every positional column. ICRS takes no equinox (VOTable 1.4, COOSYS: the
# equinox is for FK4/FK5); the epoch of the positions is the survey's and is not stated here.
COOSYS_ID = "icrs"
_COOSYS = f'<COOSYS ID="{COOSYS_ID}" system="ICRS"/>\n'
_POSITION_UCDS = frozenset({"pos.eq.ra", "pos.eq.dec"})


def coosys_element() -> str:
    """The ``<COOSYS>`` that positional FIELDs refer to (``ref=COOSYS_ID``), for a RESOURCE after its INFOs."""
    return _COOSYS


def is_position(col: Column) -> bool:
    """Whether ``col`` holds an equatorial coordinate: its UCD's primary word is pos.eq.ra or pos.eq.dec."""
    return col.ucd is not None and col.ucd.split(";")[0].strip().lower() in _POSITION_UCDS


def votable_field(col: Column) -> str:
    """The ``<FIELD>`` element describing ``col``; a position refers to the ICRS ``COOSYS``."""
    datatype, arraysize = _shape(col)
    attrs = [f'name="{_attr(col.name)}"', f'datatype="{datatype}"']
    if is_position(col):
        attrs.append(f'ref="{COOSYS_ID}"')
    if arraysize:
        attrs.append(f'arraysize="{_attr(arraysize)}"')
    for key in ("unit", "ucd", "utype", "xtype"):
        value = getattr(col, key)
        if value:
            attrs.append(f'{key}="{_attr(value)}"')
    head = "<FIELD " + " ".join(attrs)
    if col.description:
        return f"{head}><DESCRIPTION>{escape(col.description, quote=False)}</DESCRIPTION></FIELD>\n"
    return head + "/>\n"


def _info(info: Info) -> str:
    attrs = f'name="{_attr(info.name)}" value="{_attr(info.value)}"'
    if info.ucd:
        attrs += f' ucd="{_attr(info.ucd)}"'
    if info.content:
        return f"<INFO {attrs}>{escape(info.content, quote=False)}</INFO>\n"
    return f"<INFO {attrs}/>\n"


def votable_head(infos: Sequence[Info] = (), *, coosys: bool = False) -> str:
    """The document up to the TABLE: QUERY_STATUS, ``infos``, and the ICRS ``COOSYS`` when ``coosys``
    (it follows the INFOs, as VOTable 1.4's RESOURCE content model orders them)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<VOTABLE version="1.4" xmlns="{_VOTABLE_NS}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        '<RESOURCE type="results">\n'
        '<INFO name="QUERY_STATUS" value="OK">Query successful</INFO>\n'
        + "".join(_info(i) for i in infos)
        + (_COOSYS if coosys else "")
    )


# --------------------------------------------------------------------------- writers

class _Encoder:
    """Per-format header, batch and footer encoding."""

    def __init__(self, columns: Sequence[Column], infos: Sequence[Info]) -> None:
        self.columns = tuple(columns)
        self.infos = tuple(infos)

    def head(self) -> bytes:
        return b""

    def encode(self, arrays: list[pa.Array]) -> bytes:
        raise NotImplementedError

    def tail(self, status: str | None, message: str | None) -> bytes:
        return b""


class _TableData(_Encoder):
    data_open = "<DATA><TABLEDATA>\n"
    data_close = "</TABLEDATA></DATA>\n"

    def head(self) -> bytes:
        fields = "".join(votable_field(c) for c in self.columns)
        coosys = any(is_position(c) for c in self.columns)
        return (votable_head(self.infos, coosys=coosys) + "<TABLE>\n" + fields + self.data_open).encode()

    def encode(self, arrays: list[pa.Array]) -> bytes:
        cells = [_xml_cells(a, c) for a, c in zip(arrays, self.columns, strict=True)]
        return _text_rows(cells, "</TD><TD>", "<TR><TD>", "</TD></TR>\n")

    def tail(self, status: str | None, message: str | None) -> bytes:
        text = self.data_close + "</TABLE>\n"
        if status:
            text += _info(Info("QUERY_STATUS", status, message))
        return (text + "</RESOURCE>\n</VOTABLE>\n").encode()


class _Binary2(_TableData):
    data_open = '<DATA><BINARY2><STREAM encoding="base64">\n'
    data_close = "</STREAM></BINARY2></DATA>\n"

    def __init__(self, columns: Sequence[Column], infos: Sequence[Info]) -> None:
        super().__init__(columns, infos)
        self._carry = b""
        self._line_open = False  # base64 was written since the last newline

    def encode(self, arrays: list[pa.Array]) -> bytes:
        # The bytes left over from the last batch (base64 takes three at a time) go in front of
        # this one's, so the rows are copied only into their place and then into base64. One long
        # line: a newline per batch would cost a copy of the whole chunk.
        raw = _binary2_rows(arrays, self.columns, lead=self._carry)
        cut = len(raw) - len(raw) % 3
        self._carry = raw[cut:].tobytes()
        if not cut:
            return b""
        self._line_open = True
        return pybase64.b64encode(raw[:cut].data)

    def tail(self, status: str | None, message: str | None) -> bytes:
        rest = pybase64.b64encode(self._carry) + b"\n" if self._carry or self._line_open else b""
        self._carry, self._line_open = b"", False
        return rest + super().tail(status, message)


class _Delimited(_Encoder):
    def __init__(self, columns: Sequence[Column], infos: Sequence[Info], sep: str) -> None:
        super().__init__(columns, infos)
        self.sep = sep

    def head(self) -> bytes:
        names = pa.array([c.name for c in self.columns], pa.string())
        cells = _csv_cells(names, Column("name", "char"), self.sep).to_pylist()
        return (self.sep.join(cells) + "\r\n" if self.sep == "," else self.sep.join(cells) + "\n").encode()

    def encode(self, arrays: list[pa.Array]) -> bytes:
        cells = [_csv_cells(a, c, self.sep) for a, c in zip(arrays, self.columns, strict=True)]
        return _text_rows(cells, self.sep, "", "\r\n" if self.sep == "," else "\n")


class _Parquet(_Encoder):
    def __init__(self, columns: Sequence[Column], infos: Sequence[Info]) -> None:
        import pyarrow.parquet as pq

        super().__init__(columns, infos)
        self._sink = _ChunkSink()
        fields = [pa.field(c.name, arrow_type(c), metadata=_field_metadata(c)) for c in columns]
        meta = {f"skygate.info.{i.name}": i.value for i in infos}
        self.schema = pa.schema(fields, metadata=meta or None)
        self._writer = pq.ParquetWriter(pa.PythonFile(self._sink, mode="w"), self.schema, compression="zstd")

    def encode(self, arrays: list[pa.Array]) -> bytes:
        self._writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
        return self._sink.drain()

    def tail(self, status: str | None, message: str | None) -> bytes:
        if status:
            self._writer.add_key_value_metadata({"QUERY_STATUS": status, "QUERY_STATUS_MESSAGE": message or ""})
        self._writer.close()
        return self._sink.drain()


def _field_metadata(col: Column) -> dict[str, str]:
    return {k: v for k in ("unit", "ucd", "utype", "xtype", "description")
            if (v := getattr(col, k))}


class _ChunkSink:
    """A write-only file object whose written bytes are drained chunk by chunk."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._pos = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self._pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def drain(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


class _Fits(_Encoder):
    """FITS BINTABLE: rows are spooled to an Arrow IPC file on disk (NAXIS2 and string widths must be
    known before the header), then written out batch by batch, so memory stays bounded."""

    def __init__(self, columns: Sequence[Column], infos: Sequence[Info]) -> None:
        super().__init__(columns, infos)
        self._spool = tempfile.TemporaryFile(prefix="skygate-fits-")  # noqa: SIM115 (closed in tail_chunks)
        self.schema = pa.schema([pa.field(c.name, arrow_type(c)) for c in columns])
        self._ipc = pa.ipc.new_stream(pa.PythonFile(self._spool, mode="w"), self.schema)
        self._rows = 0
        self._widths = [1] * len(columns)
        self._nulls = [False] * len(columns)

    def encode(self, arrays: list[pa.Array]) -> bytes:
        for i, (array, col) in enumerate(zip(arrays, self.columns, strict=True)):
            self._nulls[i] = self._nulls[i] or array.null_count > 0
            datatype, arraysize = _shape(col)
            if (datatype in ("char", "unicodeChar") or arraysize) and len(array):
                lengths = (pc.binary_length(array) if datatype in ("char", "unicodeChar")
                           else pc.list_value_length(array))
                self._widths[i] = max(self._widths[i], int(pc.max(lengths).as_py() or 0))
        self._ipc.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
        self._rows += len(arrays[0]) if arrays else 0
        return b""

    def tail_chunks(self, status: str | None, message: str | None) -> list[Callable[[], bytes]]:
        """Closures producing the file piece by piece (header, one per spooled batch, padding)."""
        self._ipc.close()
        self._spool.seek(0)
        reader = pa.ipc.open_stream(pa.PythonFile(self._spool, mode="r"))
        forms = [self._tform(i, c) for i, c in enumerate(self.columns)]
        row_bytes = sum(width for _, width in forms)
        written = [0]

        def header() -> bytes:
            return _fits_primary() + self._header(forms, row_bytes, status, message)

        def batch_bytes(batch: pa.RecordBatch) -> Callable[[], bytes]:
            def run() -> bytes:
                data = self._rows_bytes(batch)
                written[0] += len(data)
                return data
            return run

        def padding() -> bytes:
            reader_close()
            return b"\0" * (-written[0] % 2880)

        def reader_close() -> None:
            self._spool.close()

        return [header, *(batch_bytes(b) for b in reader), padding]

    def _tform(self, i: int, col: Column) -> tuple[str, int]:
        datatype, arraysize = _shape(col)
        codes = {"unsignedByte": ("B", 1), "short": ("I", 2), "int": ("J", 4), "long": ("K", 8),
                 "float": ("E", 4), "double": ("D", 8), "boolean": ("L", 1)}
        if datatype in ("char", "unicodeChar"):
            width = max(self._widths[i], 1)
            return f"{width}A", width
        code, size = codes[datatype]
        if arraysize:
            count = _fixed_size(arraysize) or max(self._widths[i], 1)
            return f"{count}{code}", count * size
        return code, size

    def _header(self, forms: list[tuple[str, int]], row_bytes: int, status: str | None,
                message: str | None) -> bytes:
        from astropy.io import fits

        cards = [fits.Card("XTENSION", "BINTABLE"), fits.Card("BITPIX", 8), fits.Card("NAXIS", 2),
                 fits.Card("NAXIS1", row_bytes), fits.Card("NAXIS2", self._rows), fits.Card("PCOUNT", 0),
                 fits.Card("GCOUNT", 1), fits.Card("TFIELDS", len(self.columns))]
        for n, (col, (tform, _)) in enumerate(zip(self.columns, forms, strict=True), start=1):
            cards.append(fits.Card(f"TTYPE{n}", _fits_text(col.name)))
            cards.append(fits.Card(f"TFORM{n}", tform))
            if col.unit:
                cards.append(fits.Card(f"TUNIT{n}", _fits_text(col.unit)))
            if col.ucd:
                cards.append(fits.Card(f"TUCD{n}", _fits_text(col.ucd)))
            datatype = _shape(col)[0]
            if self._nulls[n - 1] and datatype in ("short", "int", "long", "unsignedByte"):
                cards.append(fits.Card(f"TNULL{n}", _int_null(datatype)))
        for info in self.infos:
            if info.name in ("QUERY_STATUS",):
                continue
            cards.append(fits.Card("COMMENT", _fits_text(f"{info.name}={info.value}")[:72]))
        if status:
            cards.append(fits.Card("QUERYST", status, "QUERY_STATUS (DALI)"))
        text = "".join(str(c) for c in cards) + "END".ljust(80)
        return (text + " " * (-len(text) % 2880)).encode("ascii", errors="replace")

    def _rows_bytes(self, batch: pa.RecordBatch) -> bytes:
        rows = batch.num_rows
        parts: list[_Fixed | _Var] = []
        for i, col in enumerate(self.columns):
            array = batch.column(i)
            datatype, arraysize = _shape(col)
            if datatype in ("char", "unicodeChar"):
                lengths, flat = _string_bytes(array, unicode=False)
                parts.append(_Fixed.of_bytes(_gather_fixed(lengths, flat, max(self._widths[i], 1))))
            elif datatype == "boolean":
                values = pc.fill_null(array, False).to_numpy(zero_copy_only=False)
                codes = np.where(values, ord("T"), ord("F")).astype(np.uint8)
                codes[array.is_null().to_numpy(zero_copy_only=False)] = 0
                parts.append(_Fixed(codes, np.dtype(np.uint8)))
            elif arraysize:
                count = _fixed_size(arraysize) or max(self._widths[i], 1)
                sized = Column(col.name, datatype, str(count))
                parts.extend(_binary_parts(array, sized))
            elif datatype in ("short", "int", "long", "unsignedByte") and array.null_count:
                filled = pc.fill_null(array, _int_null(datatype))
                parts.extend(_binary_parts(filled, col))
            else:
                parts.extend(_binary_parts(array, col))
        return _assemble(parts, rows).tobytes() if parts else b""


def _int_null(datatype: str) -> int:
    return {"unsignedByte": 255, "short": -32768, "int": -(2**31), "long": -(2**63)}[datatype]


def _fits_primary() -> bytes:
    from astropy.io import fits

    cards = [fits.Card("SIMPLE", True), fits.Card("BITPIX", 8), fits.Card("NAXIS", 0), fits.Card("EXTEND", True)]
    text = "".join(str(c) for c in cards) + "END".ljust(80)
    return (text + " " * (-len(text) % 2880)).encode("ascii")


def _encoder(kind: OutputFormat, columns: Sequence[Column], infos: Sequence[Info]) -> _Encoder:
    if kind is OutputFormat.VOTABLE_TD:
        return _TableData(columns, infos)
    if kind is OutputFormat.VOTABLE_B2:
        return _Binary2(columns, infos)
    if kind is OutputFormat.CSV:
        return _Delimited(columns, infos, ",")
    if kind is OutputFormat.TSV:
        return _Delimited(columns, infos, "\t")
    if kind is OutputFormat.PARQUET:
        return _Parquet(columns, infos)
    return _Fits(columns, infos)


@dataclass(slots=True)
class TableWriter:
    """Streams one result; after ``chunks()`` is exhausted, ``rows``, ``overflow`` and ``error`` tell
    what happened. An error raised by the batch source after the header was sent is written into a
    VOTable as a trailing ``QUERY_STATUS=ERROR`` INFO (DALI §4.4) and kept in ``error``."""

    format: Format | OutputFormat
    columns: tuple[Column, ...]
    batches: AsyncIterator[pa.RecordBatch] | None
    maxrec: int | None = None
    infos: tuple[Info, ...] = ()
    rows: int = 0
    overflow: bool = False
    error: BaseException | None = None
    _closed: bool = field(default=False, repr=False)

    @property
    def kind(self) -> OutputFormat:
        return self.format.kind if isinstance(self.format, Format) else self.format

    async def chunks(self) -> AsyncIterator[bytes]:
        """The encoded document, chunk by chunk."""
        encoder = _encoder(self.kind, self.columns, self.infos)
        head = encoder.head()
        if head:
            yield head
        status: str | None = None
        message: str | None = None
        try:
            # The next chunks are encoded while this one is sent: sending waits for the client to
            # drain the socket, and the encoder would otherwise wait with it.
            async with contextlib.aclosing(_read_ahead(self._encoded(encoder))) as encoded:  # type: ignore[type-var]
                async for data in encoded:
                    yield data
            if self.overflow:
                status, message = "OVERFLOW", f"Result truncated to MAXREC={self.maxrec} rows"
        except SkygateError as exc:
            self.error = exc
            status, message = "ERROR", str(exc)
        except Exception as exc:  # noqa: BLE001 (reported in-band; the caller logs writer.error)
            self.error = exc
            status, message = "ERROR", "The query failed while its results were being sent"
        finally:
            await self._close_source()
        if self.error is not None and not isinstance(encoder, _TableData):
            raise self.error
        if isinstance(encoder, _Fits):
            for piece in encoder.tail_chunks(status, message):
                data = await _run(piece)
                if data:
                    yield data
            return
        tail = encoder.tail(status, message)
        if tail:
            yield tail

    async def _encoded(self, encoder: _Encoder) -> AsyncIterator[bytes]:
        # aclosing: the read-ahead task must be stopped before the source is closed in chunks().
        async with contextlib.aclosing(self._limited()) as limited:  # type: ignore[type-var]
            async for arrays in limited:
                data = await _run(encoder.encode, arrays)
                if data:
                    yield data

    async def _limited(self) -> AsyncIterator[list[pa.Array]]:
        if self.maxrec == 0:
            self.overflow = True
            return
        if self.batches is None:
            return
        async with contextlib.aclosing(_read_ahead(self.batches)) as batches:  # type: ignore[type-var]
            async for batch in batches:
                if not batch.num_rows:
                    continue
                if self.maxrec is not None and self.rows + batch.num_rows > self.maxrec:
                    keep = self.maxrec - self.rows
                    self.overflow = True
                    if keep:
                        self.rows += keep
                        yield await _run(prepare_batch, batch.slice(0, keep), self.columns)
                    return
                self.rows += batch.num_rows
                yield await _run(prepare_batch, batch, self.columns)

    async def _close_source(self) -> None:
        if self._closed or self.batches is None:
            return
        self._closed = True
        close = getattr(self.batches, "aclose", None)
        if close is not None:
            await close()


_END = object()


async def _read_ahead(source: AsyncIterator[_T], depth: int = 2) -> AsyncIterator[_T]:
    """Produce the next items while the current one is used, so that the database read, the
    encoding (both in threads) and the sending overlap. The pump task is cancelled and awaited
    when the consumer stops early; the batch source itself is then closed by
    ``TableWriter._close_source``."""
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=depth)

    async def pump() -> None:
        try:
            async for batch in source:
                await queue.put(batch)
        except Exception as exc:  # noqa: BLE001 (handed to the consumer, which raises it)
            await queue.put(exc)
            return
        await queue.put(_END)

    task = asyncio.create_task(pump())
    try:
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _run(func: Callable[..., Any], *args: Any) -> Any:
    """Call ``func`` in a thread when its input is large, inline otherwise."""
    size = 0
    for arg in args:
        if isinstance(arg, pa.RecordBatch):
            size = arg.num_rows
        elif isinstance(arg, list) and arg and isinstance(arg[0], pa.Array):
            size = len(arg[0])
    if size >= _THREAD_ROWS:
        return await asyncio.to_thread(func, *args)
    return func(*args)


def write_table(
    format: Format | OutputFormat,
    columns: Sequence[Column],
    batches: AsyncIterator[pa.RecordBatch] | None,
    *,
    maxrec: int | None = None,
    infos: Sequence[Info] = (),
) -> TableWriter:
    """A writer for one result table.

    Parameters
    ----------
    format
        The resolved RESPONSEFORMAT (``resolve_format``) or an ``OutputFormat``.
    columns
        Output column metadata, in SELECT order.
    batches
        The rows; at most ``maxrec + 1`` are read. None (or ``maxrec=0``) writes metadata only.
    maxrec
        Row limit; when more rows arrive the result holds exactly ``maxrec`` rows and is flagged
        OVERFLOW (VOTable: a second QUERY_STATUS INFO after the table; Parquet: footer metadata;
        FITS: the QUERYST keyword; CSV/TSV cannot say it in the document: TAP says
        it beside the document, see README).
    infos
        INFO elements written after ``QUERY_STATUS=OK`` (standardID, echoed parameters).

    Returns
    -------
    TableWriter
        Iterate ``writer.chunks()`` for the bytes.
    """
    return TableWriter(format, tuple(columns), batches, maxrec, tuple(infos))


_FITS_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


def _fits_text(value: str) -> str:
    """``value`` as FITS header text: printable ASCII only (FITS 4.0 §4.2.1); a query's line breaks
    become spaces and other characters ``?``, rather than failing the header mid-stream."""
    return _FITS_UNPRINTABLE.sub(lambda m: " " if m.group() in "\t\r\n" else "?", value)
