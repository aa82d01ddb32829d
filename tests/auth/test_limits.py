"""Failed-authentication throttling per source."""

from __future__ import annotations

from auth.limits import FailureLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_source_is_blocked_after_its_failures_until_the_window_ends() -> None:
    clock = Clock()
    limiter = FailureLimiter(3, 60.0, clock=clock)
    for _ in range(3):
        assert limiter.blocked("a") == 0
        limiter.failed("a")
    assert limiter.blocked("a") == 60.0
    assert limiter.blocked("b") == 0  # other sources are not affected
    clock.now += 45
    assert limiter.blocked("a") == 15.0
    clock.now += 15
    assert limiter.blocked("a") == 0


def test_tracked_sources_are_bounded() -> None:
    limiter = FailureLimiter(1, 60.0, max_sources=10, clock=Clock())
    for n in range(100):
        limiter.failed(f"10.0.0.{n}")
    assert limiter.blocked("10.0.0.99") > 0 and limiter.blocked("10.0.0.0") == 0
    assert len(limiter._windows) == 10
