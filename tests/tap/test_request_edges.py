"""TAP edges an attacker or a careless client reaches: slow upload URLs, and user text in the log."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tap.conftest import BASE, TestClient, release_settings
from tests.tap.test_routes import votable


@pytest.fixture
def dribbling_server() -> Iterator[str]:
    """An HTTP server on 127.0.0.1 that sends its headers, then one body byte every 0.2 s, forever."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 1000000\r\n\r\n")
                try:
                    while not stop.wait(0.2):
                        conn.sendall(b" ")
                except OSError:
                    pass  # the service gave up and closed the connection

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/slow.xml"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_an_upload_url_gets_one_deadline_for_the_whole_fetch(tmp_path: Path, ci_duckdb_path: Path,
                                                             dribbling_server: str) -> None:
    from skygate.app import create_app

    settings = release_settings(tmp_path, ci_duckdb_path, upload_allow_private=True, upload_timeout=1.0)
    with TestClient(create_app(settings), base_url=BASE) as client:
        started = time.monotonic()
        response = client.post("/tap/sync", data={"LANG": "ADQL", "QUERY": "SELECT * FROM TAP_UPLOAD.t",
                                                  "UPLOAD": f"t,{dribbling_server}"})
        elapsed = time.monotonic() - started
    assert response.status_code == 400
    _, statuses, _ = votable(response.content)
    assert "did not arrive within 1 s" in statuses[0][1]
    assert elapsed < 5.0


def test_user_text_with_line_breaks_is_logged_on_one_line(client: TestClient,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    query = 'SELECT * FROM "x\nCRITICAL forged record\r\nnext"'
    assert client.post("/tap/sync", data={"LANG": "ADQL", "QUERY": query}).status_code == 400
    job = client.post("/tap/async", data={"LANG": "ADQL", "QUERY": query, "PHASE": "RUN"}, follow_redirects=False)
    client.get(str(job.headers["location"]).removeprefix(BASE), params={"WAIT": "10"})
    ours = [r for r in caplog.records if r.name.split(".")[0] in {"tap", "uws", "dali"}]
    assert any("forged" in r.getMessage() for r in ours)
    for record in ours:
        assert "\n" not in record.getMessage() and "\r" not in record.getMessage(), record.getMessage()
