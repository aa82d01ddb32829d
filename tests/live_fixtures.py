"""The live server fixtures (TAP engineer): the whole application under uvicorn on 127.0.0.1.

``live_server`` serves the ingested ``ci`` release from DuckDB; ``live_server_postgres`` serves the
same release from PostgreSQL (read-only role). Both run in a thread of the test process on a free
port, with ``base_url`` set to the live URL so every link the service writes works, and a job
store of their own (SQLite) so no other test's jobs are seen. Imported by tests/conftest.py.

``pyvo_session`` is the HTTP session every pyvo object in a test must be given: pyvo otherwise
opens one per service, and leaves streamed responses, to the garbage collector, whose
ResourceWarning then fails whichever later test happens to be running.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from skygate.settings import Settings
from tests.release_fixtures import READER_ROLE


@dataclass(frozen=True)
class LiveServer:
    """A running server: ``url`` is the base URL (no trailing slash), ``tap_url`` the TAP base."""

    url: str
    settings: Settings

    @property
    def tap_url(self) -> str:
        return f"{self.url}/tap"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(settings: Settings) -> Iterator[LiveServer]:
    """Run the application for ``settings`` (base_url replaced by the live URL) until the generator ends."""
    from skygate.app import create_app
    from skygate.serve import proxy_options

    port = free_port()
    settings = settings.with_(base_url=f"http://127.0.0.1:{port}")
    yield from run_asgi(create_app(settings), port, settings, **proxy_options(settings))


def run_asgi(app: object, port: int, settings: Settings, **options: object) -> Iterator[LiveServer]:
    """Serve ``app`` with uvicorn on 127.0.0.1:``port`` in a thread until the generator ends."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",  # type: ignore[arg-type]
                            lifespan="on", server_header=False, **options)  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"live-server-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(settings.base_url, settings)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _data_dir(root: Path, duckdb_path: Path | None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    if duckdb_path is not None:
        (root / "catalog.duckdb").symlink_to(duckdb_path)
    return root


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory, ci_duckdb_path: Path) -> Iterator[LiveServer]:
    """The application serving the ``ci`` release from DuckDB on http://127.0.0.1:<free port>."""
    data_dir = _data_dir(tmp_path_factory.mktemp("live-duckdb"), ci_duckdb_path)
    yield from serve(Settings(data_dir=data_dir, maxrec_default=1000, maxrec_hard=100_000))


@pytest.fixture(scope="session")
def live_server_postgres(tmp_path_factory: pytest.TempPathFactory, ci_postgres_url: str) -> Iterator[LiveServer]:
    """The same application serving the ``ci`` release from PostgreSQL (jobs kept in SQLite)."""
    data_dir = _data_dir(tmp_path_factory.mktemp("live-postgres"), None)
    settings = Settings(data_dir=data_dir, database_url=ci_postgres_url, readonly_role=READER_ROLE,
                        jobs_url=f"sqlite:///{(data_dir / 'jobs.sqlite').resolve()}",
                        maxrec_default=1000, maxrec_hard=100_000)
    yield from serve(settings)


@pytest.fixture
def pyvo_session() -> Iterator[requests.Session]:
    """A pyvo HTTP session whose every response is closed when the test ends (pass it as ``session=``
    to every pyvo object)."""
    from pyvo.utils.http import create_session

    # pyvo reads several documents (capabilities, job phases) from a streamed response it never closes,
    # in a reference cycle the collector may reach in the middle of a later test. Holding each response
    # here and closing it at teardown releases the connection at a known point instead.
    responses: list[requests.Response] = []

    def keep(response: requests.Response, *args: object, **kwargs: object) -> None:
        responses.append(response)

    with create_session() as session:
        session.hooks["response"].append(keep)
        yield session
        for response in responses:
            response.close()
