"""Failed-authentication throttling: a fixed window of failures per source address.

Pure bookkeeping with an injectable clock; the middleware in ``skygate`` asks ``blocked`` before
it checks credentials and calls ``failed`` after a failure. Memory is bounded: at most
``max_sources`` addresses are tracked; the oldest windows go first.
Tests: tests/auth/test_limits.py.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["FailureLimiter"]


class FailureLimiter:
    """At most ``max_failures`` failed attempts per ``window`` seconds from one source."""

    def __init__(self, max_failures: int = 20, window: float = 60.0, *, max_sources: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window
        self.max_sources = max_sources
        self._clock = clock
        self._windows: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def blocked(self, source: str) -> float:
        """Seconds until ``source`` may try again (0: it may try now)."""
        entry = self._current(source)
        if entry is None or entry[1] < self.max_failures:
            return 0.0
        return max(0.0, entry[0] + self.window - self._clock())

    def failed(self, source: str) -> None:
        entry = self._current(source)
        start, count = entry if entry is not None else (self._clock(), 0)
        self._windows[source] = (start, count + 1)
        self._windows.move_to_end(source)
        while len(self._windows) > self.max_sources:
            self._windows.popitem(last=False)

    def _current(self, source: str) -> tuple[float, int] | None:
        entry = self._windows.get(source)
        if entry is not None and self._clock() - entry[0] >= self.window:
            del self._windows[source]
            return None
        return entry
