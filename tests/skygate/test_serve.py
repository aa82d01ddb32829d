"""``skygate serve`` starts from a clean checkout and answers ``/``: the real CLI in a subprocess."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(data_dir: Path, banner: list[str] | None = None) -> Iterator[str]:
    for base, _ in _serve_process(data_dir, banner):
        yield base


def _serve_process(data_dir: Path, banner: list[str] | None = None
                   ) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYGATE_")}
    env.update(SKYGATE_DATA_DIR=str(data_dir), SKYGATE_BASE_URL=f"http://127.0.0.1:{port}")
    skygate = Path(sys.executable).with_name("skygate")
    proc = subprocess.Popen([str(skygate), "serve", "--host", "127.0.0.1", "--port", str(port)], cwd=data_dir.parent,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/", timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    output = proc.stdout.read().decode() if proc.stdout else ""
                    pytest.fail(f"skygate serve did not start:\n{output}")
                time.sleep(0.3)
        if banner is not None and proc.stdout is not None:
            for _ in range(20):  # uvicorn's log lines come first
                line = proc.stdout.readline().decode()
                if line.startswith("Skygate is") or not line:
                    break
            banner.append(line)
            banner.extend(proc.stdout.readline().decode() for _ in range(3))
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


BANNER: list[str] = []


@pytest.fixture
def empty_server(tmp_path: Path) -> Iterator[str]:
    BANNER.clear()
    yield from _serve(tmp_path / "var", BANNER)


@pytest.fixture
def loaded_server(tmp_path: Path, ci_duckdb_path: Path) -> Iterator[str]:
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    shutil.copyfile(ci_duckdb_path, data_dir / "catalog.duckdb")
    yield from _serve(data_dir)


def test_serve_without_a_release_says_how_to_load_one(empty_server: str) -> None:
    response = httpx.get(empty_server + "/", timeout=10)
    assert response.status_code == 200
    assert "no release loaded" in response.text and "skygate demo" in response.text
    # Once it answers, it says where it is and how to reach it from TOPCAT and pyvo.
    assert BANNER[0].startswith(f"Skygate is ready at {empty_server} ")
    assert f"{empty_server}/tap" in BANNER[2] and "TOPCAT" in BANNER[2]
    assert f"pyvo.dal.TAPService('{empty_server}/tap')" in BANNER[3]


def test_serve_lists_the_release_tables(loaded_server: str) -> None:
    response = httpx.get(loaded_server + "/", timeout=10)
    assert response.status_code == 200
    for table in ("des_dr1.main", "des_dr1.tile_info", "ivoa.obscore", "tap_schema.columns"):
        assert table in response.text
    assert "no release loaded" not in response.text


SLOW_QUERY = ("SELECT COUNT(*) FROM des_dr1.main AS a, des_dr1.main AS b, des_dr1.main AS c "
              "WHERE a.ra + b.ra + c.ra < -1")


def test_sigterm_stops_the_server_during_a_slow_query(tmp_path: Path, ci_duckdb_path: Path) -> None:
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    shutil.copyfile(ci_duckdb_path, data_dir / "catalog.duckdb")
    server = _serve_process(data_dir)
    base, proc = next(server)
    try:
        _stop_during_a_slow_query(base, proc)
    finally:
        server.close()


def _stop_during_a_slow_query(base: str, proc: subprocess.Popen[bytes]) -> None:
    answers: list[httpx.Response | Exception] = []

    def ask() -> None:
        try:
            answers.append(httpx.post(base + "/tap/sync", data={"LANG": "ADQL", "QUERY": SLOW_QUERY},
                                      timeout=60))
        except httpx.HTTPError as exc:
            answers.append(exc)

    client = threading.Thread(target=ask)
    client.start()
    time.sleep(1.5)  # the query is running (the ci release has thousands of rows: 10**10 triples)
    assert not answers
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=15)
    took = time.monotonic() - start
    client.join(timeout=10)
    assert took < 5, f"the server took {took:.1f} s to stop"
    assert proc.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has stopped
    # The interrupted query ended with a DALI error document (503: try again).
    assert answers and not isinstance(answers[0], Exception), answers
    assert answers[0].status_code == 503 and "interrupted" in answers[0].text


def test_a_public_service_refuses_the_placeholder_authority(tmp_path: Path) -> None:
    """Published at a public address, the placeholder authority would put records nobody owns in the
    Registry: ``skygate serve`` stops before listening and says what to set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYGATE_")}
    env.update(SKYGATE_DATA_DIR=str(tmp_path), SKYGATE_BASE_URL="https://data.example.org/skygate")
    skygate = Path(sys.executable).with_name("skygate")
    refused = subprocess.run([str(skygate), "serve", "--port", str(_free_port())], env=env, capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode == 2
    assert "SKYGATE_AUTHORITY is the placeholder skygate.example" in refused.stderr
    assert "https://data.example.org/skygate" in refused.stderr


@pytest.mark.parametrize(("authority", "base_url", "refused"), [
    ("skygate.example", "http://127.0.0.1:8000", False),
    ("skygate.example", "http://localhost:8000", False),
    ("skygate.example", "http://[::1]:8000", False),
    ("skygate.example", "http://10.0.0.5:8000", True),  # a site on a private network publishes too
    ("skygate.example", "https://data.example.org", True),
    ("data.example.org", "https://data.example.org", False),
])
def test_which_sites_may_keep_the_placeholder(authority: str, base_url: str, refused: bool) -> None:
    from dali.errors import UsageError
    from registry.curation import check_public_authority

    if refused:
        with pytest.raises(UsageError, match="placeholder"):
            check_public_authority(authority, base_url)
    else:
        check_public_authority(authority, base_url)
