"""Random requests to every endpoint that reads parameters (hypothesis): never a 5xx, never a traceback.

Bodies are urlencoded, multipart (with and without a boundary, well-formed or not) or bytes under
a random Content-Type; names and values include control characters, NUL, invalid UTF-8 and the
parameter names the services know. The application serves the ``ci`` release (TAP, SIA); SODA
has no images, so its IDs are unknown (404). Every answer comes within 10 s.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.tap.conftest import BASE, TestClient, release_settings

POSTS = ["/tap/sync", "/tap/async", "/sia/query", "/soda/sync", "/soda/links", "/soda/async", "/soda/bulk",
         "/anomaly/async"]
JOB_RESOURCES = ["", "/parameters", "/phase", "/executionduration", "/destruction"]
NAMES = ["QUERY", "LANG", "MAXREC", "UPLOAD", "RESPONSEFORMAT", "FORMAT", "RUNID", "POS", "CIRCLE", "POLYGON",
         "BAND", "ID", "TARGET", "TIME", "CALIB", "PHASE", "WAIT", "EXECUTIONDURATION", "DESTRUCTION", "ACTION",
         "XSIZE", "RGB_STRETCH", "COLORS_FITS", "positions", "t"]
VALUES = ["SELECT 1", "ADQL", "-1", "0", "1e400", "nan", "CIRCLE 323 -0.8 0.1", "POLYGON 1 2 3", "t,param:t",
          "t,http://127.0.0.1:9/x", "RUN", "ABORT", "DELETE", "2030-01-01T00:00:00Z", "csv", "\x00", "\r\n", "é"]

names = st.one_of(st.sampled_from(NAMES), st.text(max_size=12))
values = st.one_of(st.sampled_from(VALUES), st.text(max_size=40))
fields = st.lists(st.tuples(names, values), max_size=8)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, ci_duckdb_path: Path) -> Iterator[TestClient]:
    from skygate.app import create_app

    settings_ = release_settings(tmp_path_factory.mktemp("fuzz"), ci_duckdb_path, body_max_bytes=100_000)
    with TestClient(create_app(settings_), base_url=BASE) as test_client:
        yield test_client


def _urlencoded(pairs: list[tuple[str, str]]) -> bytes:
    return urllib.parse.urlencode(pairs).encode()


def _multipart(pairs: list[tuple[str, str]], boundary: str, close: bool, file_part: bytes | None) -> bytes:
    out = b""
    for name, value in pairs:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n".encode("utf-8", "replace")
                + value.encode("utf-8", "surrogatepass") + b"\r\n")
    if file_part is not None:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"t\"; filename=\"t.xml\"\r\n"
                "Content-Type: text/xml\r\n\r\n").encode() + file_part + b"\r\n"
    return out + (f"--{boundary}--\r\n".encode() if close else b"")


bodies = st.one_of(
    fields.map(lambda p: ("application/x-www-form-urlencoded", _urlencoded(p))),
    st.tuples(fields, st.sampled_from(["b", "xyz", "a" * 70]), st.booleans(),
              st.one_of(st.none(), st.binary(max_size=200), st.just(b"<VOTABLE/>"))).map(
        lambda t: (f"multipart/form-data; boundary={t[1]}", _multipart(t[0], t[1], t[2], t[3]))),
    st.tuples(st.sampled_from(["multipart/form-data", "application/x-www-form-urlencoded",
                               "application/x-www-form-urlencoded; charset=latin-1", "text/plain",
                               "multipart/form-data; boundary=", "multipart/form-data; boundary=\"q\""]),
              st.binary(max_size=300)),
)


def _check(send: Callable[[], Any]) -> None:
    """Send a request: an answer within 10 s, never a 5xx, never a traceback."""
    started = time.monotonic()
    response = send()
    assert time.monotonic() - started < 10.0
    assert response.status_code < 500, (response.status_code, response.text[:300])
    assert "Traceback" not in response.text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(POSTS), query=fields, body=bodies)
def test_random_posts_to_every_service(client: TestClient, path: str, query: list[tuple[str, str]],
                                       body: tuple[str, bytes]) -> None:
    content_type, content = body
    url = f"{path}?{urllib.parse.urlencode(query)}" if query else path
    _check(lambda: client.post(url, content=content, headers={"content-type": content_type}, follow_redirects=False))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["/tap/async", "/soda/async", "/soda/bulk", "/anomaly/async"]),
       resource=st.sampled_from(JOB_RESOURCES), query=fields, body=bodies)
def test_random_posts_and_gets_to_job_resources(client: TestClient, kind: str, resource: str,
                                                query: list[tuple[str, str]], body: tuple[str, bytes]) -> None:
    created = client.post(kind, data={"RUNID": "fuzz"}, follow_redirects=False)
    assert created.status_code == 303
    job = str(created.headers["location"]).removeprefix(BASE)
    content_type, content = body
    url = f"{job}{resource}?{urllib.parse.urlencode(query)}" if query else f"{job}{resource}"
    _check(lambda: client.post(url, content=content, headers={"content-type": content_type}, follow_redirects=False))
    if not any(name.upper() == "WAIT" for name, _ in query):  # a valid WAIT would block up to wait_max
        _check(lambda: client.get(url, follow_redirects=False))
