"""Answer 408 when a request's body does not arrive within the deadline.

A client that sends its body a byte every few seconds would hold the request, what it has read so
far and a server slot for as long as it likes: neither uvicorn nor Starlette bounds the time a body
takes (issue 13). ``BodyDeadline`` bounds it once for every endpoint, whoever reads the body
(``dali.form``, its ``read_body``, or any other): while the body is not complete, ``receive`` waits
until ``seconds`` after the request arrived and no longer, then raises ``BodyTimeoutError``. That is
a ``UsageError``, so each service answers with its own error document (a DALI error VOTable, SODA or
UWS text), and this module sends that answer with status 408 and ``Connection: close`` (RFC 9110
§15.5.9: the server closes a connection whose request it stopped waiting for). A reader that lets the
error escape gets a DALI error VOTable from here. Once the body is complete, ``receive`` is not timed:
a handler waiting for the client to go away (``dali.disconnect``) waits as long as its work takes.
Plain ASGI: no framework. Tests: tests/dali/test_deadline.py, tests/skygate/test_body_deadline.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from dali.errors import UsageError
from dali.votable import ERROR_MEDIA_TYPE, error_document, error_message

__all__ = ["BodyDeadline", "BodyTimeoutError"]

_log = logging.getLogger(__name__)
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTimeoutError(UsageError):
    """A usage error of time: the request body did not arrive within the deadline (HTTP 408)."""


class BodyDeadline:
    """ASGI middleware: the body of each HTTP request arrives within ``seconds`` (0: no deadline)."""

    def __init__(self, app: App, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.seconds <= 0:
            await self.app(scope, receive, send)
            return
        request = _Request(receive, send, asyncio.get_running_loop().time() + self.seconds, self.seconds)
        try:
            await self.app(scope, request.receive, request.send)
        except BodyTimeoutError as exc:
            if request.started:  # the answer began before the body was given up on: nothing more to say
                _log.info("request body too slow after the answer started: %s", exc)
                return
            body = error_document(error_message(exc))
            await request.send({"type": "http.response.start", "status": 408,
                                "headers": [(b"content-type", ERROR_MEDIA_TYPE.encode()),
                                            (b"content-length", str(len(body)).encode())]})
            await request.send({"type": "http.response.body", "body": body})


class _Request:
    """One request's timed ``receive`` and the ``send`` that marks its answer 408 once it timed out."""

    def __init__(self, receive: Receive, send: Send, deadline: float, seconds: float) -> None:
        self._receive = receive
        self._send = send
        self.deadline = deadline
        self.seconds = seconds
        self.body_complete = False
        self.timed_out = False
        self.started = False

    async def receive(self) -> Message:
        if self.body_complete:
            return await self._receive()
        if self.timed_out:
            raise self._error()
        try:
            async with asyncio.timeout_at(self.deadline):
                message = await self._receive()
        except TimeoutError:
            self.timed_out = True
            raise self._error() from None
        if message.get("type") != "http.request" or not message.get("more_body", False):
            self.body_complete = True
        return message

    async def send(self, message: Message) -> None:
        if message.get("type") == "http.response.start":
            self.started = True
            if self.timed_out:
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "status": 408, "headers": [*headers, (b"connection", b"close")]}
        await self._send(message)

    def _error(self) -> BodyTimeoutError:
        return BodyTimeoutError(f"the request body did not arrive within {self.seconds:g} s",
                                hint="send the whole body at once; upload large tables by URL")
