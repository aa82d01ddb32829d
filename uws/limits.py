"""What the job system asks about an owner's share: ``OwnerLimits``, and the one-size ``SiteLimits``.

``JobSystem.use_limits`` installs an implementation (``skygate`` gives each user's quota, from
``auth.quotas``): admission (jobs queued or executing, result bytes kept) and the runner (jobs
executing at once, result bytes kept when a job completes) ask it. 0 means no limit.
Tests: tests/uws/test_fairness.py, tests/uws/test_result_quota.py.
"""

from __future__ import annotations

from typing import Protocol

from uws.config import JobConfig

__all__ = ["OwnerLimits", "SiteLimits"]


class OwnerLimits(Protocol):
    async def max_active_jobs(self, owner: str | None) -> int: ...

    async def max_running_jobs(self, owner: str | None) -> int: ...

    async def max_result_bytes(self, owner: str | None) -> int: ...


class SiteLimits:
    """The same limits for every owner, from the job configuration."""

    def __init__(self, config: JobConfig) -> None:
        self.config = config

    async def max_active_jobs(self, owner: str | None) -> int:
        return self.config.max_active_per_owner

    async def max_running_jobs(self, owner: str | None) -> int:
        return self.config.max_running_per_owner

    async def max_result_bytes(self, owner: str | None) -> int:
        return self.config.max_result_bytes_per_owner
