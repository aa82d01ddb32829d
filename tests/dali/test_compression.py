"""gzip content coding of large results (dali/compression.py)."""

from __future__ import annotations

import asyncio
import gzip
import os
from collections.abc import AsyncIterator

import pytest

from dali.compression import accepts_gzip, gzip_stream, gzip_wanted
from dali.formats.response import OutputFormat


@pytest.mark.parametrize(("header", "accepted"), [
    ("gzip", True),
    ("gzip, deflate, br", True),  # python-requests and pyvo
    ("deflate;q=1.0, GZIP;q=0.5", True),
    ("x-gzip", True),
    ("*", True),
    ("br, *;q=0.1", True),
    ("gzip;q=0", False),
    ("gzip;q=0.000, *", False),  # an explicit refusal wins over the wildcard
    ("identity", False),
    ("deflate, br", False),
    ("gzip;q=nonsense", False),
    ("", False),
    (None, False),
])
def test_accept_encoding_is_read_with_its_q_values(header: str | None, accepted: bool) -> None:
    assert accepts_gzip(header) is accepted


def test_the_stream_is_one_gzip_member_of_everything_in_order() -> None:
    held = [b"<VOTABLE>", b"<TR><TD>1</TD></TR>\n" * 10]
    rest = [os.urandom(300_000).hex().encode(), b"", b"<TR><TD>2</TD></TR>\n", b"</VOTABLE>\n"]  # one large chunk

    async def source() -> AsyncIterator[bytes]:
        for chunk in rest:
            yield chunk

    async def compressed() -> bytes:
        return b"".join([chunk async for chunk in gzip_stream(held, source())])

    data = asyncio.run(compressed())
    assert data[:2] == b"\x1f\x8b"  # the gzip magic
    assert gzip.decompress(data) == b"".join(held + rest)
    assert len(data) < len(b"".join(held + rest))


@pytest.mark.parametrize(("kind", "host", "loopback", "wanted"), [
    (OutputFormat.VOTABLE_TD, "192.0.2.7", False, True),
    (OutputFormat.CSV, "2001:db8::1", False, True),
    (OutputFormat.TSV, "testclient", False, True),
    (OutputFormat.VOTABLE_TD, "127.0.0.1", False, False),  # nothing to save on loopback
    (OutputFormat.CSV, "::1", False, False),
    (OutputFormat.CSV, "localhost", False, False),
    (OutputFormat.CSV, "127.0.0.1", True, True),  # SKYGATE_GZIP_LOOPBACK
    (OutputFormat.VOTABLE_B2, "192.0.2.7", False, False),
    (OutputFormat.PARQUET, "192.0.2.7", True, False),
    (OutputFormat.FITS, None, False, False),
])
def test_gzip_goes_to_clients_elsewhere_for_text_formats(kind: OutputFormat, host: str | None, loopback: bool,
                                                         wanted: bool) -> None:
    assert gzip_wanted(kind, "gzip", host, loopback=loopback) is wanted
    assert not gzip_wanted(kind, "identity", host, loopback=loopback)
