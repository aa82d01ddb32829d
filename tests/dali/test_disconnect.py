"""``unless_disconnected``: the work's result, or its cancellation when the client leaves first."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dali.disconnect import ClientDisconnected, unless_disconnected


def _receiver(*messages: dict[str, Any], then_wait: bool = True) -> Any:
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        if queue:
            return queue.pop(0)
        await asyncio.sleep(3600 if then_wait else 0)
        return {"type": "http.disconnect"}

    return receive


async def test_the_work_result_when_the_client_stays() -> None:
    async def work() -> int:
        await asyncio.sleep(0.01)
        return 42

    assert await unless_disconnected(_receiver({"type": "http.request", "body": b""}), work()) == 42


async def test_the_work_error_when_the_client_stays() -> None:
    async def work() -> int:
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        await unless_disconnected(_receiver(), work())


async def test_a_disconnect_cancels_the_work_and_waits_for_its_clean_up() -> None:
    cleaned = asyncio.Event()

    async def work() -> int:
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(0.01)
            cleaned.set()
        return 0

    receive = _receiver({"type": "http.request", "body": b"x", "more_body": True},
                        {"type": "http.request", "body": b"", "more_body": False}, {"type": "http.disconnect"})
    with pytest.raises(ClientDisconnected):
        await asyncio.wait_for(unless_disconnected(receive, work()), 5)
    assert cleaned.is_set()
