"""Read catalog files as Arrow batches, with the metadata each column is published with.

Reads FITS binary tables (astropy; ``TUNITn``/``TUCDn``/``TCOMMn``; ``TNULLn`` values become NULL),
Parquet (pyarrow; field metadata keys ``unit``, ``ucd``, ``description``, also ``utype``,
``arraysize``, ``xtype``, ``principal`` and ``null``) and CSV (pyarrow.csv) in batches, so memory
stays bounded whatever the size, and turns an Arrow field and its metadata into the published
``Column`` (VOTable datatype). ``null`` declares the value that stands for a missing one (VOTable
``VALUES null``, e.g. ``-9999``): it is kept as it is in the rows, and published with the column.
Reading only: no database, no names checked (``release.ingest`` plans the stored table).
Tests: tests/release/test_ingest.py, tests/release/test_progress.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from dali.errors import UsageError
from dali.values import Column

__all__ = ["BATCH_ROWS", "Source", "arrow_column", "field_meta", "open_source"]

BATCH_ROWS = 65536


@dataclass
class Source:
    """A table being read: its Arrow schema (with per-field metadata) and its batches, lazily."""

    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
    description: str | None = None
    rows: int | None = None  # when the file says (for a progress total)


def open_source(path: Path, *, batch_rows: int = BATCH_ROWS) -> Source:
    """A streaming reader for a FITS, Parquet or CSV catalog, chosen by the file name.

    Raises
    ------
    UsageError
        When the file is missing or its format is not one of those.
    """
    if not path.is_file():
        raise UsageError(f"catalog file {path} does not exist", param="PATH")
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return _parquet_source(path, batch_rows)
    if name.endswith((".fits", ".fit", ".fits.gz", ".fits.fz")):
        return _fits_source(path, batch_rows)
    if name.endswith((".csv", ".csv.gz")):
        return _csv_source(path, batch_rows)
    raise UsageError(f"cannot read {path.name}", param="PATH", hint="use a .parquet, .fits or .csv file")


def arrow_column(name: str, arrow: pa.DataType, meta: Mapping[str, Any] | None = None) -> Column:
    """The published ``Column`` for an Arrow field: VOTable datatype plus the given metadata."""
    meta = dict(meta or {})
    datatype, arraysize, xtype = _votable_type(arrow)

    def text(key: str) -> str | None:
        value = meta.get(key)
        return str(value) if value not in (None, "") else None

    datatype = text("datatype") or datatype
    return Column(
        name=name, datatype=datatype, arraysize=text("arraysize") or arraysize,
        xtype=text("xtype") or xtype, unit=text("unit"), ucd=text("ucd"), utype=text("utype"),
        description=text("description"), principal=_flag(meta.get("principal")),
        indexed=_flag(meta.get("indexed")), std=_flag(meta.get("std")), null=_null(name, text("null"), datatype),
    )


def field_meta(fld: pa.Field) -> dict[str, str]:
    """An Arrow field's metadata as text keys and values."""
    return {k.decode(): v.decode() for k, v in (fld.metadata or {}).items()}


def _parquet_source(path: Path, batch_rows: int) -> Source:
    parquet = pq.ParquetFile(path)
    schema = parquet.schema_arrow
    meta = schema.metadata or {}
    description = meta.get(b"description", b"").decode() or None
    return Source(schema=schema, batches=parquet.iter_batches(batch_size=batch_rows), description=description,
                  rows=parquet.metadata.num_rows)


def _csv_source(path: Path, batch_rows: int) -> Source:
    reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 22))
    return Source(schema=reader.schema, batches=iter(reader))


def _fits_source(path: Path, batch_rows: int) -> Source:
    from astropy.io import fits  # heavy import kept out of module import

    hdul = fits.open(path, memmap=True)
    hdu = next((h for h in hdul if isinstance(h, fits.BinTableHDU)), None)
    if hdu is None:
        hdul.close()
        raise UsageError(f"{path.name} holds no binary table", param="PATH")
    header = hdu.header
    fields = []
    for i, col in enumerate(hdu.columns, start=1):
        meta = {k: v for k, v in {"unit": col.unit, "ucd": header.get(f"TUCD{i}"),
                                  "description": header.get(f"TCOMM{i}")}.items() if v}
        arrow = _fits_arrow_type(hdu.data.dtype[i - 1])
        fields.append(pa.field(col.name, arrow, metadata=meta or None))
    schema = pa.schema(fields)
    nulls = {col.name: col.null for col in hdu.columns if col.null is not None}

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            data = hdu.data
            for start in range(0, len(data), batch_rows):
                chunk = data[start:start + batch_rows]
                arrays = [_fits_array(chunk[f.name], f.type, nulls.get(f.name)) for f in schema]
                yield pa.RecordBatch.from_arrays(arrays, schema=schema)
        finally:
            hdul.close()

    return Source(schema=schema, batches=batches(), description=None, rows=int(header.get("NAXIS2", 0)))


def _fits_arrow_type(dtype: np.dtype[Any]) -> pa.DataType:
    if dtype.kind in "SU":
        return pa.string()
    if dtype.shape:
        return pa.list_(pa.from_numpy_dtype(dtype.base.newbyteorder("=")))
    return pa.from_numpy_dtype(dtype.newbyteorder("="))


def _fits_array(values: np.ndarray[Any, Any], arrow: pa.DataType, null: object) -> pa.Array:
    if pa.types.is_string(arrow):
        texts = [v.decode("ascii", "replace").rstrip() if isinstance(v, bytes) else str(v).rstrip()
                 for v in values]
        return pa.array(texts, type=arrow)
    native = np.asarray(values).astype(np.asarray(values).dtype.newbyteorder("="), copy=False)
    if pa.types.is_list(arrow):
        return pa.array(list(native), type=arrow)
    mask = native == null if null is not None and native.dtype.kind in "iu" else None
    return pa.array(native, type=arrow, mask=mask)


_INTEGERS = frozenset({"unsignedByte", "short", "int", "long"})
_REALS = frozenset({"float", "double"})


def _null(name: str, value: str | None, datatype: str) -> str | None:
    """A declared null as VOTable writes it: a whole number for integer columns, a number for
    floating-point ones (``-9999.0`` of an integer column is ``-9999``).

    Raises
    ------
    UsageError
        A null that is not a value of the column's type.
    """
    if value is None or datatype not in _INTEGERS | _REALS:
        return value
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if datatype in _INTEGERS and number.is_integer():
        return str(int(number))
    if datatype in _REALS and number == number:  # not NaN: NaN is missing already
        return value.strip()
    raise UsageError(f"the null value of column {name} must be a {'whole ' if datatype in _INTEGERS else ''}"
                     f"number ({datatype}), not {value[:40]!r}", param="null",
                     hint="declare the number that stands for a missing value, e.g. null = -9999")


def _flag(value: object) -> bool:
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes"}
    return bool(value)


def _votable_type(arrow: pa.DataType) -> tuple[str, str | None, str | None]:
    if pa.types.is_boolean(arrow):
        return "boolean", None, None
    if pa.types.is_uint8(arrow):
        return "unsignedByte", None, None
    if pa.types.is_int8(arrow) or pa.types.is_int16(arrow):
        return "short", None, None
    if pa.types.is_int32(arrow) or pa.types.is_uint16(arrow):
        return "int", None, None
    if pa.types.is_integer(arrow):
        return "long", None, None
    if pa.types.is_float16(arrow) or pa.types.is_float32(arrow):
        return "float", None, None
    if pa.types.is_floating(arrow) or pa.types.is_decimal(arrow):
        return "double", None, None
    if pa.types.is_timestamp(arrow) or pa.types.is_date(arrow):
        return "char", "*", "timestamp"
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow) or pa.types.is_fixed_size_list(arrow):
        inner, _, _ = _votable_type(arrow.value_type)
        size = str(arrow.list_size) if pa.types.is_fixed_size_list(arrow) else "*"
        return inner, size, None
    return "char", "*", None
