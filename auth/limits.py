"""Throttling: failed authentications per source address, and requests per caller per minute.

Pure bookkeeping with an injectable clock. ``FailureLimiter``: the middleware in ``skygate`` asks
``blocked`` before it checks credentials and calls ``failed`` with the refused credential after a
failure; a credential already refused in the window is not counted again. ``RequestLimiter``:
``admit(key, limit)`` counts a request of a caller (a user, or an anonymous caller's address) in a
window of a minute and says how long to wait when it is one too many. Memory is bounded: at most
``max_sources`` keys are tracked each; the oldest windows go first.
Tests: tests/auth/test_limits.py.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["FailureLimiter", "RequestLimiter"]


class FailureLimiter:
    """At most ``max_failures`` failed attempts per ``window`` seconds from one source.

    An attempt repeating a credential that already failed from the source in the window is not
    counted: it guesses nothing new, and Java's ``HttpURLConnection`` (as STILTS uses it) answers each
    401 by sending the same Basic credential again, up to ``http.maxRedirects`` (20) times, so one
    mistyped token would otherwise block its address (and everyone behind the same NAT) at once.
    """

    def __init__(self, max_failures: int = 20, window: float = 60.0, *, max_sources: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window
        self.max_sources = max_sources
        self._clock = clock
        # source -> (window start, failures counted, digests of the credentials that failed)
        self._windows: OrderedDict[str, tuple[float, int, frozenset[bytes]]] = OrderedDict()

    def blocked(self, source: str) -> float:
        """Seconds until ``source`` may try again (0: it may try now)."""
        entry = self._current(source)
        if entry is None or entry[1] < self.max_failures:
            return 0.0
        return max(0.0, entry[0] + self.window - self._clock())

    def failed(self, source: str, credential: str | None = None) -> None:
        """Count a failure of ``source``; ``credential`` (the refused ``Authorization`` value) is
        counted once per window, None (unknown) every time."""
        entry = self._current(source)
        start, count, seen = entry if entry is not None else (self._clock(), 0, frozenset[bytes]())
        if credential is not None:
            # A digest, so the credential itself is not kept; the set holds at most max_failures
            # entries because a blocked source is refused before its credentials are checked.
            digest = hashlib.blake2b(credential.encode(), digest_size=16).digest()
            if digest in seen:
                return
            seen = seen | {digest} if len(seen) < self.max_failures else seen
        self._windows[source] = (start, count + 1, seen)
        self._windows.move_to_end(source)
        while len(self._windows) > self.max_sources:
            self._windows.popitem(last=False)

    def _current(self, source: str) -> tuple[float, int, frozenset[bytes]] | None:
        entry = self._windows.get(source)
        if entry is not None and self._clock() - entry[0] >= self.window:
            del self._windows[source]
            return None
        return entry


class RequestLimiter:
    """At most ``limit`` requests per key per ``window`` seconds (the limit given with each request,
    since each caller may have their own)."""

    def __init__(self, window: float = 60.0, *, max_sources: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.max_sources = max_sources
        self._clock = clock
        self._windows: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def admit(self, key: str, limit: int) -> float:
        """Count one request of ``key``; 0 when it is within ``limit`` (0: no limit), else the
        seconds until its window ends (the request is then not counted)."""
        if limit <= 0:
            return 0.0
        now = self._clock()
        start, count = self._windows.get(key, (now, 0))
        if now - start >= self.window:
            start, count = now, 0
        if count >= limit:
            return max(0.001, start + self.window - now)
        self._windows[key] = (start, count + 1)
        self._windows.move_to_end(key)
        while len(self._windows) > self.max_sources:
            self._windows.popitem(last=False)
        return 0.0
