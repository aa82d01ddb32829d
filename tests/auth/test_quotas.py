"""``QuotaBook``: the site's defaults, per-user overrides, cached lookups, and a store that is down."""

from __future__ import annotations

import pytest

from auth.quotas import Quota, QuotaBook

DEFAULTS = Quota(max_active_jobs=10, max_running_jobs=2, table_bytes=1000, requests_per_minute=60)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_overrides_replace_only_the_limits_they_name() -> None:
    overrides = {"alice": Quota(max_active_jobs=1, requests_per_minute=0)}

    async def lookup(name: str) -> Quota | None:
        return overrides.get(name)

    book = QuotaBook(DEFAULTS, lookup)
    assert await book.of("alice") == Quota(1, 2, 1000, 0)  # 0: no limit, not "the default"
    assert await book.of("bob") == DEFAULTS
    assert await book.of(None) == DEFAULTS  # anonymous callers
    assert await book.max_active_jobs("alice") == 1 and await book.max_running_jobs("alice") == 2


async def test_lookups_are_cached_for_the_ttl() -> None:
    calls: list[str] = []
    current = {"alice": Quota(max_active_jobs=1)}

    async def lookup(name: str) -> Quota | None:
        calls.append(name)
        return current.get(name)

    clock = Clock()
    book = QuotaBook(DEFAULTS, lookup, ttl=10.0, clock=clock)
    assert (await book.of("alice")).max_active_jobs == 1
    current["alice"] = Quota(max_active_jobs=5)
    clock.now = 9.0
    assert (await book.of("alice")).max_active_jobs == 1 and calls == ["alice"]
    clock.now = 10.5
    assert (await book.of("alice")).max_active_jobs == 5 and calls == ["alice", "alice"]


async def test_a_store_that_is_down_means_the_defaults(caplog: pytest.LogCaptureFixture) -> None:
    async def lookup(name: str) -> Quota | None:
        raise ConnectionError("down")

    assert await QuotaBook(DEFAULTS, lookup).of("alice") == DEFAULTS
    assert "could not read the quota of alice" in caplog.text
