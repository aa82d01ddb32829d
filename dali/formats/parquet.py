"""Parquet results: the rows through pyarrow's ParquetWriter (zstd), written batch by batch.

Column metadata (unit, UCD, utype, xtype, description) goes in each field's metadata, the INFOs
in the schema's, and the final QUERY_STATUS in the footer's key-value metadata. The file is
written to an in-memory sink that is drained after each batch, so it streams like the others.
Tests: tests/dali/test_writers.py.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence

import pyarrow as pa

from dali.formats.columns import arrow_type
from dali.formats.encoder import Envelope
from dali.values import Column

__all__ = ["ParquetEncoder"]


class ParquetEncoder:
    """A Parquet file, chunk by chunk as pyarrow writes it."""

    in_band_errors = False

    def __init__(self, columns: Sequence[Column], envelope: Envelope) -> None:
        import pyarrow.parquet as pq

        self.columns = tuple(columns)
        self.infos = envelope.infos
        self._sink = _ChunkSink()
        fields = [pa.field(c.name, arrow_type(c), metadata=_field_metadata(c)) for c in columns]
        meta = {f"skygate.info.{i.name}": i.value for i in self.infos}
        self.schema = pa.schema(fields, metadata=meta or None)
        self._writer = pq.ParquetWriter(pa.PythonFile(self._sink, mode="w"), self.schema, compression="zstd")

    def head(self) -> bytes:
        return b""

    def encode(self, arrays: list[pa.Array]) -> bytes:
        self._writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
        return self._sink.drain()

    def tail(self, status: str | None, message: str | None) -> Generator[bytes, None, None]:
        if status:
            self._writer.add_key_value_metadata({"QUERY_STATUS": status, "QUERY_STATUS_MESSAGE": message or ""})
        self._writer.close()
        yield self._sink.drain()


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

