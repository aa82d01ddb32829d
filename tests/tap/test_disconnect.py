"""A client that goes away mid-result closes the batch stream (which cancels the database statement)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
from starlette.applications import Starlette

from dali.values import Column
from skygate.assembly import Runtime
from tap.routes import tap_routes
from tests.configs import tap_config


@dataclass
class EndlessEngine:
    """Yields 1000-row batches forever and records when its stream is closed."""

    metadata: dict[str, Any] = field(default_factory=dict)
    read: int = 0
    closed: bool = False

    async def execute(self, adql_text: str, **kwargs: Any) -> Any:
        async def batches() -> AsyncIterator[pa.RecordBatch]:
            try:
                while True:
                    self.read += 1
                    yield pa.record_batch([pa.array(range(1000), pa.int64())], names=["n"])
                    await asyncio.sleep(0)
            finally:
                self.closed = True

        return SimpleNamespace(columns=(Column("n", "long"),), batches=batches())


async def test_disconnect_closes_the_stream() -> None:
    engine = EndlessEngine()
    release = SimpleNamespace(engine=engine, problem=None, metadata={})
    app = Starlette(routes=tap_routes(tap_config(maxrec_default=10**9, maxrec_hard=10**9), Runtime(release=release)))
    body = b"LANG=ADQL&QUERY=SELECT+n+FROM+endless"
    sent: list[dict[str, Any]] = []
    first_chunk = asyncio.Event()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": body, "more_body": False}
        await first_chunk.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and message.get("body"):
            first_chunk.set()

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/tap/sync", "raw_path": b"/tap/sync", "root_path": "", "query_string": b"",
             "headers": [(b"content-type", b"application/x-www-form-urlencoded"),
                         (b"content-length", str(len(body)).encode())],
             "server": ("testserver", 80), "client": ("127.0.0.1", 1)}
    await asyncio.wait_for(app(scope, receive, send), timeout=30)
    assert sent[0]["status"] == 200
    assert engine.closed and engine.read < 10_000


@dataclass
class HangingEngine:
    """Never produces a first row (a statement still planning or running); records its cancellation."""

    metadata: dict[str, Any] = field(default_factory=dict)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: bool = False

    async def execute(self, adql_text: str, **kwargs: Any) -> Any:
        self.started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.cancelled = True
            raise


async def test_disconnect_before_the_first_row_cancels_the_query() -> None:
    engine = HangingEngine()
    release = SimpleNamespace(engine=engine, problem=None, metadata={})
    app = Starlette(routes=tap_routes(tap_config(), Runtime(release=release)))
    sent: list[dict[str, Any]] = []
    received = 0

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += 1
        if received == 1:  # a GET: the (empty) body first, then the client hangs up
            return {"type": "http.request", "body": b"", "more_body": False}
        await engine.started.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    query = b"LANG=ADQL&QUERY=SELECT+n+FROM+slow"
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/tap/sync", "raw_path": b"/tap/sync", "root_path": "", "query_string": query, "headers": [],
             "server": ("testserver", 80), "client": ("127.0.0.1", 1)}
    await asyncio.wait_for(app(scope, receive, send), timeout=10)
    assert engine.cancelled
    assert sent[0]["status"] == 499
