"""Failed-authentication throttling per source, and requests per caller per minute."""

from __future__ import annotations

from auth.limits import FailureLimiter, RequestLimiter


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


def test_a_credential_refused_again_is_counted_once() -> None:
    """Java's HttpURLConnection (STILTS) resends a refused Basic credential up to 20 times."""
    limiter = FailureLimiter(3, 60.0, clock=Clock())
    for _ in range(21):
        limiter.failed("a", "Basic YWxpY2U6d3Jvbmc=")
    assert limiter.blocked("a") == 0
    limiter.failed("a", "Bearer sgt_guess1")
    limiter.failed("a", "Bearer sgt_guess2")  # a third distinct credential: blocked
    assert limiter.blocked("a") == 60.0
    assert limiter._windows["a"][1] == 3


def test_tracked_sources_are_bounded() -> None:
    limiter = FailureLimiter(1, 60.0, max_sources=10, clock=Clock())
    for n in range(100):
        limiter.failed(f"10.0.0.{n}")
    assert limiter.blocked("10.0.0.99") > 0 and limiter.blocked("10.0.0.0") == 0
    assert len(limiter._windows) == 10


def test_requests_over_a_callers_limit_wait_for_the_window_to_end() -> None:
    clock = Clock()
    limiter = RequestLimiter(60.0, clock=clock)
    assert [limiter.admit("alice", 3) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.admit("alice", 3) == 60.0
    assert limiter.admit("bob", 3) == 0.0  # each caller has their own count
    assert limiter.admit("alice", 5) == 0.0  # a larger limit (another quota) admits more
    clock.now += 50
    assert limiter.admit("alice", 4) == 10.0
    clock.now += 10
    assert limiter.admit("alice", 4) == 0.0  # a new window
    assert all(limiter.admit("carol", 0) == 0.0 for _ in range(1000))  # 0: no limit, nothing tracked
    assert "carol" not in limiter._windows
