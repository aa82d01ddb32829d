"""No uploaded table can make the server read a local file or reach another host.

Every form of reference out of a VOTable (``STREAM href`` with file:, http:, ftp: or a relative
path; the FITS and PARQUET serializations; external and parameter entities; XInclude) is sent to
every endpoint that reads tables: ``/tap/sync`` and ``/tap/async`` (inline part and by URL) and
``/soda/bulk`` (the positions table). Each must be refused with a usage error, no byte of the
local file may come back, and the loopback listener standing in for an internal service must see
no connection.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from skygate.app import create_app
from skygate.settings import Settings
from tests.tap.conftest import BASE, TestClient, release_settings

SECRET = "SKYGATE-SECRET-7f3a"
ENVELOPE = """<?xml version="1.0" encoding="UTF-8"?>{prolog}
<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE><TABLE>
<FIELD name="ra" datatype="double"/><FIELD name="dec" datatype="double"/>
{data}
</TABLE></RESOURCE></VOTABLE>"""


class Listener:
    """A TCP listener on 127.0.0.1 that counts connections: an internal service an attacker aims at."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    target = Listener()
    yield target
    target.close()


@pytest.fixture(scope="module")
def secret_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("secret") / "credentials"
    # Base64 of these bytes and their plain text are both looked for in the answers.
    path.write_text(f"{SECRET}\n" * 64)
    return path


def _documents(secret: Path, port: int) -> dict[str, str]:
    def stream(kind: str, href: str) -> str:
        return ENVELOPE.format(prolog="", data=f'<DATA><{kind}><STREAM href="{href}"/></{kind}></DATA>')

    one_row = "<DATA><TABLEDATA><TR><TD>&x;</TD><TD>1</TD></TR></TABLEDATA></DATA>"
    return {
        "binary-file-url": stream("BINARY", f"file://{secret}"),
        "binary-file-path": stream("BINARY", f"file:{secret}"),
        "binary2-http": stream("BINARY2", f"http://127.0.0.1:{port}/rows"),
        "binary-ftp": stream("BINARY", f"ftp://127.0.0.1:{port}/rows"),
        "binary2-relative": stream("BINARY2", "../../etc/passwd"),
        "fits-file": stream("FITS", f"file://{secret}"),
        "parquet-http": stream("PARQUET", f"http://127.0.0.1:{port}/t.parquet"),
        "external-entity": ENVELOPE.format(
            prolog=f'<!DOCTYPE VOTABLE [<!ENTITY x SYSTEM "file://{secret}">]>', data=one_row),
        "parameter-entity": ENVELOPE.format(
            prolog=f'<!DOCTYPE VOTABLE [<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/dtd"> %p;]>',
            data=one_row.replace("&x;", "1")),
        "xinclude": ENVELOPE.format(prolog="", data=(
            f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file://{secret}" parse="text"/>'
            "<DATA><TABLEDATA><TR><TD>1</TD><TD>2</TD></TR></TABLEDATA></DATA>")),
    }


FORMS = sorted(_documents(Path("/x"), 1))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, ci_duckdb_path: Path) -> Iterator[TestClient]:
    settings = release_settings(tmp_path_factory.mktemp("refs"), ci_duckdb_path, upload_allow_private=True)
    with TestClient(create_app(settings), base_url=BASE) as test_client:
        yield test_client


def _assert_refused(status: int, body: bytes, secret: Path, listener: Listener, before: int) -> None:
    text = body.decode("utf-8", "replace")
    assert status == 400, text
    assert SECRET not in text and "U0tZR0FURS1TRUNSRVQ" not in text
    time.sleep(0.05)
    assert listener.connections == before


def _assert_refused_now_or_when_run(client: TestClient, created: httpx.Response, secret: Path,
                                    listener: Listener, before: int) -> None:
    """A job endpoint may refuse the table at creation (400) or accept the job, which must then end
    in ERROR with the refusal as its error summary."""
    if created.status_code == 400:
        _assert_refused(created.status_code, created.content, secret, listener, before)
        return
    assert created.status_code == 303, created.text
    job = created.headers["location"]
    phase = client.get(f"{job}/phase").text
    deadline = time.monotonic() + 30
    while phase not in ("COMPLETED", "ERROR", "ABORTED") and time.monotonic() < deadline:
        time.sleep(0.05)
        phase = client.get(f"{job}/phase").text
    assert phase == "ERROR"
    error = client.get(f"{job}/error").content + client.get(job).content
    _assert_refused(400, error, secret, listener, before)
    assert any(words in error for words in (b"only inline streams", b"not accepted", b"outside the document"))


@pytest.mark.parametrize("form", FORMS)
def test_tap_sync_refuses_references_in_inline_uploads(client: TestClient, form: str, secret_file: Path,
                                                        listener: Listener) -> None:
    document = _documents(secret_file, listener.port)[form]
    before = listener.connections
    response = client.post("/tap/sync", data={"LANG": "ADQL", "QUERY": "SELECT * FROM TAP_UPLOAD.t",
                                              "UPLOAD": "t,param:t"}, files={"t": ("t.xml", document.encode())})
    _assert_refused(response.status_code, response.content, secret_file, listener, before)
    assert b"UsageFault" in response.content


@pytest.mark.parametrize("form", FORMS)
def test_tap_async_refuses_references_in_inline_uploads(client: TestClient, form: str, secret_file: Path,
                                                         listener: Listener) -> None:
    document = _documents(secret_file, listener.port)[form]
    before = listener.connections
    created = client.post("/tap/async", data={"LANG": "ADQL", "QUERY": "SELECT * FROM TAP_UPLOAD.t",
                                              "UPLOAD": "t,param:t", "PHASE": "RUN"},
                          files={"t": ("t.xml", document.encode())}, follow_redirects=False)
    _assert_refused_now_or_when_run(client, created, secret_file, listener, before)


@pytest.mark.parametrize("form", FORMS)
def test_tap_url_uploads_refuse_references_inside_the_fetched_table(
        client: TestClient, form: str, secret_file: Path, listener: Listener) -> None:
    document = _documents(secret_file, listener.port)[form].encode()

    class Serve(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/x-votable+xml")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Serve)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        before = listener.connections
        url = f"http://127.0.0.1:{server.server_address[1]}/t.xml"
        response = client.post("/tap/sync", data={"LANG": "ADQL", "QUERY": "SELECT * FROM TAP_UPLOAD.t",
                                                  "UPLOAD": f"t,{url}"})
        _assert_refused(response.status_code, response.content, secret_file, listener, before)
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("form", FORMS)
def test_soda_bulk_refuses_references_in_position_tables(client: TestClient, form: str, secret_file: Path,
                                                         listener: Listener) -> None:
    document = _documents(secret_file, listener.port)[form]
    before = listener.connections
    created = client.post("/soda/bulk", data={"PHASE": "RUN"},
                          files={"positions": ("positions.xml", document.encode())}, follow_redirects=False)
    _assert_refused_now_or_when_run(client, created, secret_file, listener, before)


def test_inline_binary2_and_tabledata_uploads_still_work(client: TestClient) -> None:
    tabledata = ENVELOPE.format(prolog="", data=(
        "<DATA><TABLEDATA><TR><TD>10.5</TD><TD>-1</TD></TR><TR><TD>11</TD><TD>2</TD></TR></TABLEDATA></DATA>"))
    # BINARY2, inline: a null-flag byte then two big-endian doubles per row (10.5, -1).
    binary2 = ENVELOPE.format(prolog="", data=(
        '<DATA><BINARY2><STREAM encoding="base64">AEAlAAAAAAAAv/AAAAAAAAA=</STREAM></BINARY2></DATA>'))
    for document, count in ((tabledata, 2), (binary2, 1)):
        response = client.post("/tap/sync", data={"LANG": "ADQL", "QUERY": "SELECT COUNT(*) AS n FROM TAP_UPLOAD.t",
                                                  "UPLOAD": "t,param:t", "RESPONSEFORMAT": "csv"},
                               files={"t": ("t.xml", document.encode())})
        assert response.status_code == 200, response.text
        assert response.text.split() == ["n", str(count)]


def test_the_listener_counts_connections(listener: Listener) -> None:
    """The control for the assertions above: a real connection to the listener is counted."""
    before = listener.connections
    with socket.create_connection(("127.0.0.1", listener.port), timeout=1):
        pass
    for _ in range(50):
        if listener.connections > before:
            break
        time.sleep(0.02)
    assert listener.connections == before + 1


def test_settings_default_keeps_private_addresses_closed() -> None:
    assert Settings().upload_allow_private is False
