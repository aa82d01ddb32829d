"""FITS results: an empty primary HDU and one BINTABLE extension (FITS 4.0 §7.3).

NAXIS2 and the string widths must be in the header, which comes before the rows, so the rows are
spooled to an Arrow IPC stream in a temporary file and written out batch by batch at the end:
memory stays bounded by a batch. Packed rows come from ``binary``; integer nulls use TNULL, the
final QUERY_STATUS the QUERYST keyword. Tests: tests/dali/test_writers.py.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Generator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dali.formats.binary import Fixed, Var, assemble, binary_parts, gather_fixed, string_bytes
from dali.formats.columns import arrow_type, fixed_size, shape
from dali.formats.encoder import Envelope
from dali.values import Column

__all__ = ["FitsEncoder"]

_FITS_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


class FitsEncoder:
    """FITS BINTABLE: rows are spooled to an Arrow IPC file on disk (NAXIS2 and string widths must be
    known before the header), then written out batch by batch, so memory stays bounded."""

    in_band_errors = False

    def __init__(self, columns: Sequence[Column], envelope: Envelope) -> None:
        self.columns = tuple(columns)
        self.infos = envelope.infos
        self._spool = tempfile.TemporaryFile(prefix="skygate-fits-")  # noqa: SIM115 (closed in tail)
        self.schema = pa.schema([pa.field(c.name, arrow_type(c)) for c in columns])
        self._ipc = pa.ipc.new_stream(pa.PythonFile(self._spool, mode="w"), self.schema)
        self._rows = 0
        self._widths = [1] * len(columns)
        self._nulls = [False] * len(columns)

    def encode(self, arrays: list[pa.Array]) -> bytes:
        for i, (array, col) in enumerate(zip(arrays, self.columns, strict=True)):
            self._nulls[i] = self._nulls[i] or array.null_count > 0
            datatype, arraysize = shape(col)
            if (datatype in ("char", "unicodeChar") or arraysize) and len(array):
                lengths = (pc.binary_length(array) if datatype in ("char", "unicodeChar")
                           else pc.list_value_length(array))
                self._widths[i] = max(self._widths[i], int(pc.max(lengths).as_py() or 0))
        self._ipc.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
        self._rows += len(arrays[0]) if arrays else 0
        return b""

    def head(self) -> bytes:
        return b""

    def tail(self, status: str | None, message: str | None) -> Generator[bytes, None, None]:
        """The whole file: primary HDU and BINTABLE header, one piece per spooled batch, padding."""
        self._ipc.close()
        written = 0
        try:
            self._spool.seek(0)
            reader = pa.ipc.open_stream(pa.PythonFile(self._spool, mode="r"))
            forms = [self._tform(i, c) for i, c in enumerate(self.columns)]
            row_bytes = sum(width for _, width in forms)
            yield _fits_primary() + self._header(forms, row_bytes, status, message)
            for batch in reader:
                data = self._rows_bytes(batch)
                written += len(data)
                yield data
        finally:
            self._spool.close()
        yield b"\0" * (-written % 2880)

    def _tform(self, i: int, col: Column) -> tuple[str, int]:
        datatype, arraysize = shape(col)
        codes = {"unsignedByte": ("B", 1), "short": ("I", 2), "int": ("J", 4), "long": ("K", 8),
                 "float": ("E", 4), "double": ("D", 8), "boolean": ("L", 1)}
        if datatype in ("char", "unicodeChar"):
            width = max(self._widths[i], 1)
            return f"{width}A", width
        code, size = codes[datatype]
        if arraysize:
            count = fixed_size(arraysize) or max(self._widths[i], 1)
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
            datatype = shape(col)[0]
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
        parts: list[Fixed | Var] = []
        for i, col in enumerate(self.columns):
            array = batch.column(i)
            datatype, arraysize = shape(col)
            if datatype in ("char", "unicodeChar"):
                lengths, flat = string_bytes(array, unicode=False)
                parts.append(Fixed.of_bytes(gather_fixed(lengths, flat, max(self._widths[i], 1))))
            elif datatype == "boolean":
                values = pc.fill_null(array, False).to_numpy(zero_copy_only=False)
                codes = np.where(values, ord("T"), ord("F")).astype(np.uint8)
                codes[array.is_null().to_numpy(zero_copy_only=False)] = 0
                parts.append(Fixed(codes, np.dtype(np.uint8)))
            elif arraysize:
                count = fixed_size(arraysize) or max(self._widths[i], 1)
                sized = Column(col.name, datatype, str(count))
                parts.extend(binary_parts(array, sized))
            elif datatype in ("short", "int", "long", "unsignedByte") and array.null_count:
                filled = pc.fill_null(array, _int_null(datatype))
                parts.extend(binary_parts(filled, col))
            else:
                parts.extend(binary_parts(array, col))
        return assemble(parts, rows).tobytes() if parts else b""


def _int_null(datatype: str) -> int:
    return {"unsignedByte": 255, "short": -32768, "int": -(2**31), "long": -(2**63)}[datatype]


def _fits_primary() -> bytes:
    from astropy.io import fits

    cards = [fits.Card("SIMPLE", True), fits.Card("BITPIX", 8), fits.Card("NAXIS", 0), fits.Card("EXTEND", True)]
    text = "".join(str(c) for c in cards) + "END".ljust(80)
    return (text + " " * (-len(text) % 2880)).encode("ascii")


def _fits_text(value: str) -> str:
    """``value`` as FITS header text: printable ASCII only (FITS 4.0 §4.2.1); a query's line breaks
    become spaces and other characters ``?``, rather than failing the header mid-stream."""
    return _FITS_UNPRINTABLE.sub(lambda m: " " if m.group() in "\t\r\n" else "?", value)
