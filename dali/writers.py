"""Result tables as bytes: VOTable 1.4 (TABLEDATA, BINARY2), CSV, TSV, FITS and Parquet.

``write_table`` turns output ``Column``s and an async stream of Arrow record batches into an async
stream of byte chunks, for every table any service returns (TAP, SIA, DataLink, SCS, anomaly),
enforcing MAXREC the DALI way (read at most maxrec+1 rows; when row maxrec+1 arrives, stop
reading, close the source and flag ``QUERY_STATUS=OVERFLOW`` after the table). VOTable documents
may carry FIELD IDs and service descriptors (``dali.descriptors``) after the results. The bytes
of each format come from its encoder in ``dali.formats`` (one ``Encoder`` protocol: head, one
piece per batch, tail), chosen by ``OutputFormat`` from one table; this module drives it,
reading ahead and encoding large batches in a thread so the event loop stays free. No HTTP and
no database here: the caller streams the chunks to a socket or a file. This is the public face
of ``dali.formats``: other packages import from here.
Tests: tests/dali/test_writers.py, tests/dali/test_votable.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pyarrow as pa

from dali.descriptors import ServiceDescriptor
from dali.errors import SkygateError
from dali.formats.columns import arrow_type, prepare_batch
from dali.formats.delimited import CsvEncoder, TsvEncoder
from dali.formats.encoder import Encoder, Envelope, Info
from dali.formats.fits import FitsEncoder
from dali.formats.parquet import ParquetEncoder
from dali.formats.response import FORMATS, Format, OutputFormat, resolve_format
from dali.formats.votable import COOSYS_ID, Binary2Encoder, TableDataEncoder, coosys_element, is_position
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

# The one place a format kind meets its encoder.
_ENCODERS: dict[OutputFormat, Callable[[Sequence[Column], Envelope], Encoder]] = {
    OutputFormat.VOTABLE_TD: TableDataEncoder,
    OutputFormat.VOTABLE_B2: Binary2Encoder,
    OutputFormat.CSV: CsvEncoder,
    OutputFormat.TSV: TsvEncoder,
    OutputFormat.FITS: FitsEncoder,
    OutputFormat.PARQUET: ParquetEncoder,
}


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
    field_ids: frozenset[str] = frozenset()
    descriptors: tuple[ServiceDescriptor, ...] = ()
    overflow_message: str | None = None
    rows: int = 0
    overflow: bool = False
    error: BaseException | None = None
    _closed: bool = field(default=False, repr=False)

    @property
    def kind(self) -> OutputFormat:
        return self.format.kind if isinstance(self.format, Format) else self.format

    async def chunks(self) -> AsyncIterator[bytes]:
        """The encoded document, chunk by chunk."""
        encoder = _ENCODERS[self.kind](self.columns, Envelope(self.infos, self.field_ids, self.descriptors))
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
                status = "OVERFLOW"
                message = self.overflow_message or f"Result truncated to MAXREC={self.maxrec} rows"
        except SkygateError as exc:
            self.error = exc
            status, message = "ERROR", str(exc)
        except Exception as exc:  # noqa: BLE001 (reported in-band; the caller logs writer.error)
            self.error = exc
            status, message = "ERROR", "The query failed while its results were being sent"
        finally:
            await self._close_source()
        if self.error is not None and not encoder.in_band_errors:
            raise self.error
        # closing: a tail that holds resources (FITS's spool) releases them if the consumer stops.
        with contextlib.closing(encoder.tail(status, message)) as tail:
            for data in tail:
                if data:
                    yield data

    async def _encoded(self, encoder: Encoder) -> AsyncIterator[bytes]:
        # aclosing: the read-ahead task must be stopped before the source is closed in chunks().
        async with contextlib.aclosing(self._limited()) as limited:  # type: ignore[type-var]
            async for batch in limited:
                # One trip to a thread per large batch for both steps: each trip costs the event loop.
                data = await _run(_prepare_and_encode, encoder, batch, self.columns)
                if data:
                    yield data

    async def _limited(self) -> AsyncIterator[pa.RecordBatch]:
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
                        yield batch.slice(0, keep)
                    return
                self.rows += batch.num_rows
                yield batch

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


def _prepare_and_encode(encoder: Encoder, batch: pa.RecordBatch, columns: Sequence[Column]) -> bytes:
    return encoder.encode(prepare_batch(batch, columns))


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
    field_ids: Iterable[str] = (),
    descriptors: Sequence[ServiceDescriptor] = (),
    overflow_message: str | None = None,
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
    field_ids
        Columns whose VOTable FIELD carries ``ID`` = its name, for the descriptors' ``ref``.
    descriptors
        Service descriptors (``dali.descriptors``) written after the VOTable results RESOURCE;
        other formats have no place for them.
    overflow_message
        What the OVERFLOW status says, when the truncation is not simply "MAXREC rows" (DataLink
        stops at a number of IDs).

    Returns
    -------
    TableWriter
        Iterate ``writer.chunks()`` for the bytes.
    """
    return TableWriter(format, tuple(columns), batches, maxrec, tuple(infos), frozenset(field_ids),
                       tuple(descriptors), overflow_message)
