"""Per-user limits: the site's defaults, overridden per user (``skygate user quota``).

``Quota`` holds the limits a user can be given (jobs queued or executing, jobs executing, bytes of
their own tables, requests per minute, bytes their jobs' results keep, bytes and rows of one
uploaded table); in an override None means "the site default",
and in every limit 0 means "no limit". ``QuotaBook.of(owner)`` gives a caller's effective limits:
the defaults for anonymous callers, else the defaults overridden by the user's row in the account
store, looked up at most once per ``ttl`` seconds per user (a change applies within that time).
Tests: tests/auth/test_quotas.py.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields, replace

__all__ = ["QUOTA_FIELDS", "Quota", "QuotaBook"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Quota:
    """Per-user limits (None in an override: the site default; 0: no limit)."""

    max_active_jobs: int | None = None
    max_running_jobs: int | None = None
    table_bytes: int | None = None
    requests_per_minute: int | None = None
    result_bytes: int | None = None
    upload_bytes: int | None = None
    upload_rows: int | None = None

    def over(self, defaults: Quota) -> Quota:
        """These overrides applied to ``defaults``."""
        return replace(defaults, **{f: getattr(self, f) for f in QUOTA_FIELDS if getattr(self, f) is not None})


QUOTA_FIELDS = tuple(f.name for f in fields(Quota))
Lookup = Callable[[str], Awaitable[Quota | None]]


class QuotaBook:
    """Effective limits per caller (see the module docstring); ``lookup`` None: defaults for everyone.
    Its ``max_*`` methods are what the job system asks (``uws.limits.OwnerLimits``)."""

    def __init__(self, defaults: Quota, lookup: Lookup | None = None, *, ttl: float = 10.0,
                 max_users: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.defaults = defaults
        self._lookup = lookup
        self._ttl = ttl
        self._max_users = max_users
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, Quota]] = OrderedDict()

    async def of(self, owner: str | None) -> Quota:
        """``owner``'s effective limits (anonymous callers: the defaults)."""
        if owner is None or self._lookup is None:
            return self.defaults
        cached = self._cache.get(owner)
        now = self._clock()
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        try:
            override = await self._lookup(owner)
        except Exception:  # noqa: BLE001 (the account store is down: serve the defaults, say so in the log)
            _log.warning("could not read the quota of %s; using the defaults", owner, exc_info=True)
            return self.defaults
        quota = override.over(self.defaults) if override is not None else self.defaults
        self._cache[owner] = (now, quota)
        self._cache.move_to_end(owner)
        while len(self._cache) > self._max_users:
            self._cache.popitem(last=False)
        return quota

    async def max_active_jobs(self, owner: str | None) -> int:
        return (await self.of(owner)).max_active_jobs or 0

    async def max_running_jobs(self, owner: str | None) -> int:
        return (await self.of(owner)).max_running_jobs or 0

    async def max_result_bytes(self, owner: str | None) -> int:
        return (await self.of(owner)).result_bytes or 0
