"""gzip content coding for large result documents (RFC 9110 §8.4.1.3 and §12.5.3; RFC 1952).

A service compresses a result (``gzip_wanted``) when the client accepts gzip (``accepts_gzip``) and
is not on this machine (on loopback there is no bandwidth to save, and compressing costs more time
than it saves), the format is one that compresses well and fast (``COMPRESSED_KINDS``: the text
formats), and the document turns out longer than ``GZIP_MIN_BYTES``: the caller holds the first
bytes back, and ``gzip_stream`` then compresses those and the rest as they come. Level 1: on this
project's results it keeps most of level 6's reduction at two to six times its speed.
Large chunks are compressed in a thread (zlib releases the GIL), so the event loop stays free.
No HTTP here: the caller sets ``Content-Encoding`` and ``Vary``.
Tests: tests/dali/test_compression.py.
"""

from __future__ import annotations

import asyncio
import ipaddress
import zlib
from collections.abc import AsyncIterator, Iterable

from dali.formats.response import OutputFormat

__all__ = ["COMPRESSED_KINDS", "GZIP_LEVEL", "GZIP_MIN_BYTES", "accepts_gzip", "gzip_stream", "gzip_wanted"]

# Documents shorter than this go as they are: compressing them saves less than it costs.
GZIP_MIN_BYTES = 1_000_000
GZIP_LEVEL = 1
# Text compresses to a quarter or a third, about as fast as it is written. BINARY2 (base64 of
# binary numbers), FITS and Parquet compress less and slower than loopback or a LAN carries them.
COMPRESSED_KINDS = frozenset({OutputFormat.VOTABLE_TD, OutputFormat.CSV, OutputFormat.TSV})
_THREAD_BYTES = 256 * 1024  # chunks at least this long are compressed in a thread
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # a gzip header and trailer around the deflate stream


def gzip_wanted(kind: OutputFormat, accept_encoding: str | None, client_host: str | None, *,
                loopback: bool = False) -> bool:
    """Whether a long result of ``kind`` goes gzipped to this client (``loopback``: to local ones too)."""
    return kind in COMPRESSED_KINDS and accepts_gzip(accept_encoding) and (loopback or not _is_loopback(client_host))


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name, not an address (test clients)
        return host == "localhost"


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an ``Accept-Encoding`` value allows gzip: listed (or ``*`` is) with a q-value above 0."""
    if not accept_encoding:
        return False
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[coding.strip().lower()] = weight
    for coding in ("gzip", "x-gzip"):
        if coding in weights:
            return weights[coding] > 0
    return weights.get("*", 0.0) > 0


async def gzip_stream(held: Iterable[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The gzip member of the ``held`` chunks followed by ``rest``, chunk by chunk."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, _GZIP_WBITS)
    for chunk in held:
        if data := await _compress(compressor, chunk):
            yield data
    async for chunk in rest:
        if data := await _compress(compressor, chunk):
            yield data
    yield compressor.flush()


async def _compress(compressor: zlib._Compress, chunk: bytes) -> bytes:
    if len(chunk) >= _THREAD_BYTES:
        return await asyncio.to_thread(compressor.compress, chunk)
    return compressor.compress(chunk)
