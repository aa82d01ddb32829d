"""``BodyDeadline``: a body that does not arrive in time is answered 408; one that does is untouched."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
from astropy.io.votable import parse

from dali.deadline import BodyDeadline, BodyTimeoutError
from dali.errors import UsageError

SCOPE = {"type": "http", "method": "POST", "path": "/x", "headers": []}


def _client(*chunks: bytes, every: float = 0.0, then: str = "wait") -> Any:
    """A receive giving ``chunks`` (the last ends the body) ``every`` seconds; after them it waits
    (``then="wait"``, a client that never finishes) or reports the client gone."""
    queue = list(chunks)

    async def receive() -> dict[str, Any]:
        if queue:
            await asyncio.sleep(every)
            chunk = queue.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(queue) or then == "wait"}
        await asyncio.sleep(3600 if then == "wait" else 0.3)
        return {"type": "http.disconnect"}

    return receive


async def _read_all(receive: Any) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body


async def _answer(send: Any, status: int, text: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": text})


async def _handling_app(scope: Any, receive: Any, send: Any) -> None:
    """Reads the body and answers a usage error in its own form (400 text), as every service does."""
    try:
        body = await _read_all(receive)
    except UsageError as exc:
        await _answer(send, 400, f"UsageError: {exc}\n".encode())
        return
    await _answer(send, 200, body)


async def _careless_app(scope: Any, receive: Any, send: Any) -> None:
    await _answer(send, 200, await _read_all(receive))


async def _run(app: Any, receive: Any, seconds: float = 0.2) -> tuple[dict[str, Any], bytes]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(BodyDeadline(app, seconds)(SCOPE, receive, send), 5)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


async def test_a_slow_body_is_answered_408_in_the_services_form() -> None:
    start, body = await _run(_handling_app, _client(b"a", b"b", b"c", every=0.15))
    assert start["status"] == 408
    assert (b"connection", b"close") in start["headers"]
    assert body == b"UsageError: the request body did not arrive within 0.2 s (send the whole body at once; " \
                   b"upload large tables by URL)\n"


async def test_a_body_that_never_ends_is_answered_408() -> None:
    start, _ = await _run(_handling_app, _client(b"QUERY=SELECT"))
    assert start["status"] == 408


async def test_an_escaped_error_becomes_a_dali_error_votable() -> None:
    start, body = await _run(_careless_app, _client(b"a", every=0.3))
    assert start["status"] == 408 and (b"content-type", b"application/x-votable+xml") in start["headers"]
    infos = [i for i in parse(io.BytesIO(body)).resources[0].infos if i.name == "QUERY_STATUS"]
    assert infos[0].value == "ERROR" and str(infos[0].content).startswith("UsageFault: the request body did not")


async def test_a_body_in_time_is_untouched_and_later_waits_are_not_timed() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = await _read_all(receive)
        # What dali.disconnect does while a query runs: wait for the client to leave, past the deadline.
        assert (await receive())["type"] == "http.disconnect"
        await _answer(send, 200, body)

    start, body = await _run(app, _client(b"a=", b"1", every=0.05, then="leave"))
    assert (start["status"], body) == (200, b"a=1")
    assert (b"connection", b"close") not in start["headers"]


@pytest.mark.parametrize("scope_type", ["http", "websocket"])
async def test_no_deadline_when_off_or_not_http(scope_type: str) -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(receive)

    receive = _client(b"a")
    await BodyDeadline(app, 0 if scope_type == "http" else 1)({**SCOPE, "type": scope_type}, receive, None)  # type: ignore[arg-type]
    assert seen == [receive]


def test_the_error_is_a_usage_error() -> None:
    assert issubclass(BodyTimeoutError, UsageError)
