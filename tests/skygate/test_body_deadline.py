"""A request body trickled slower than ``SKYGATE_BODY_TIMEOUT`` allows, through uvicorn and a raw socket:
408 in the endpoint's own error form, and the connection closed (issue 13, slow POST bodies).

No release is loaded: the deadline applies before any parameter reaches a service.
"""

from __future__ import annotations

import contextlib
import io
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from astropy.io.votable import parse

from skygate.settings import Settings
from tests.live_fixtures import LiveServer, serve

TIMEOUT = 1.0
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data; boundary=b"
# (path, content type, error form): every family, each reading its body its own way before this
# change (dali.form; Starlette's request.form() for the registry and the login).
ENDPOINTS = [
    ("/tap/sync", FORM, "votable"),
    ("/tap/sync", MULTIPART, "votable"),
    ("/tap/async", MULTIPART, "text"),
    ("/soda/sync", FORM, "soda"),
    ("/soda/links", FORM, "votable"),
    ("/sia/query", FORM, "votable"),
    ("/anomaly/async", FORM, "text"),
    ("/registry/oai", FORM, "text"),
    ("/auth/login", FORM, "votable"),
]
# What comes before the trickled bytes: a body that is well-formed so far, so nothing refuses it early.
PREFIX = {FORM: b"QUERY=", MULTIPART: b'--b\r\nContent-Disposition: form-data; name="QUERY"\r\n\r\n'}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from serve(Settings(data_dir=tmp_path_factory.mktemp("deadline"), body_timeout=TIMEOUT))


def _trickle(server: LiveServer, path: str, content_type: str) -> tuple[bytes, float]:
    """POST 1000 bytes announced, the form's start then a byte every 0.25 s; the whole answer (read
    until the server closes the connection) and the seconds it took."""
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        start = time.monotonic()
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {address.netloc}\r\nContent-Type: {content_type}\r\n"
                     "Content-Length: 1000\r\n\r\n".encode() + PREFIX[content_type])
        sock.setblocking(False)
        answer = b""
        while time.monotonic() - start < 8:
            with contextlib.suppress(OSError):  # closed by the server: what it said is all read below
                sock.send(b"x")
            time.sleep(0.25)
            try:
                while chunk := sock.recv(65536):
                    answer += chunk
                return answer, time.monotonic() - start  # b"": the server closed the connection
            except BlockingIOError:
                continue
            except ConnectionResetError:
                return answer, time.monotonic() - start
        raise AssertionError(f"no end within 8 s: {answer[:300]!r}")


@pytest.mark.parametrize(("path", "content_type", "form"), ENDPOINTS)
def test_a_trickled_body_is_408_and_closed(server: LiveServer, path: str, content_type: str, form: str) -> None:
    answer, seconds = _trickle(server, path, content_type)
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    assert lines[0].startswith("HTTP/1.1 408 "), answer[:400]
    assert headers.get("connection") == "close"
    assert TIMEOUT <= seconds < TIMEOUT + 3
    text = body.decode("utf-8", "replace")
    assert "Traceback" not in text
    if form == "votable":
        assert headers["content-type"].startswith("application/x-votable+xml")
        infos = [i for i in parse(io.BytesIO(body)).resources[0].infos if i.name == "QUERY_STATUS"]
        assert infos and infos[-1].value == "ERROR"
        assert "did not arrive within 1 s" in str(infos[-1].content)
    else:
        assert headers["content-type"].startswith("text/plain")
        assert text.startswith("UsageError: the request body" if form == "soda" else "the request body")
        assert "did not arrive within 1 s" in text
