"""Stop a request's work when its client goes away before the answer starts.

An ASGI server tells an application that the client left only through ``receive`` (an
``http.disconnect`` message); frameworks look at it once the response streams, not while a handler
still waits for its database. ``unless_disconnected`` races the handler's work against that
message and cancels the work (and with it the database statement) when the client has gone.
Plain ASGI: no framework. Tests: tests/dali/test_disconnect.py, tests/tap/test_disconnect.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

__all__ = ["ClientDisconnected", "unless_disconnected"]

_T = TypeVar("_T")
Receive = Callable[[], Awaitable[Mapping[str, Any]]]


class ClientDisconnected(Exception):
    """The client closed the connection before the answer was ready; nobody will read it."""


async def unless_disconnected(receive: Receive, work: Awaitable[_T]) -> _T:
    """Await ``work``; cancel it and raise ``ClientDisconnected`` if the client leaves first.

    Call it after the request body was read (or when there is none): messages still carrying
    body bytes are read and dropped while waiting for the disconnect.
    """
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnect(receive))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        if not watcher.done():
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
    if task.done():
        return task.result()
    task.cancel()
    # The work's own clean-up (interrupting the statement, closing cursors) runs before we return.
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    raise ClientDisconnected()


async def _disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect":
            return
