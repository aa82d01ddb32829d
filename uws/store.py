"""The job store: where jobs live, shared by API processes and workers.

The ``JobStore`` protocol and ``open_store(url)`` choosing SQLite (embedded default,
``sqlite:///path``) or PostgreSQL (``postgresql://``, tables in schema ``uws``); the SQL both share
is ``uws.sql``. Phases change only through ``transition``, a compare-and-set that reports whether
it won. No HTTP and no queue here. Tests: tests/uws/test_store.py (run against both stores).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, Protocol

from uws.models import Job, Phase
from uws.sql import Listener

__all__ = ["JobStore", "open_store"]


class JobStore(Protocol):
    """Jobs, shared between processes. Times are aware UTC datetimes."""

    async def open(self) -> None:
        """Connect and create the tables when missing."""

    async def close(self) -> None: ...

    async def create(self, job: Job, *, enqueued_at: datetime | None = None) -> None: ...

    async def get(self, job_id: str) -> Job | None: ...

    async def phase(self, job_id: str) -> Phase | None: ...

    async def list_jobs(
        self, *, kind: str, owner: str | None, phases: Collection[Phase] | None = None,
        after: datetime | None = None, last: int | None = None,
    ) -> list[Job]:
        """The owner's jobs of one kind, newest first, filters combined with AND."""

    async def count_owned(self, owner: str | None, phases: Collection[Phase]) -> int:
        """How many jobs of any kind ``owner`` has in ``phases``."""

    async def result_bytes(self, owner: str | None) -> int:
        """The bytes the results of ``owner``'s jobs keep."""

    async def transition(
        self, job_id: str, from_: Phase | Collection[Phase], to: Phase, *, attempt: int | None = None,
        **changes: Any,
    ) -> bool:
        """Set ``phase = to`` (plus ``changes``, keys of ``CHANGE_COLUMNS``) only if the phase is
        ``from_`` (or one of them), and (``attempt``) the job is still in that run; True when
        this call won."""

    async def claim(self, job_id: str, now: datetime) -> Job | None:
        """QUEUED -> EXECUTING for a worker (start time, heartbeat, one more attempt), in one
        statement; the job as claimed, or None when it was not QUEUED (duplicate message,
        aborted, deleted)."""

    async def set_destruction(self, job_id: str, when: datetime | None) -> bool: ...

    async def heartbeat(
        self, job_id: str, progress: tuple[int, int] | None, *, attempt: int | None = None
    ) -> Phase | None:
        """Record that the worker of an EXECUTING job (in run ``attempt``) is alive; returns the
        current phase (``None`` when the job is gone; not EXECUTING when another run took it
        over) so the worker notices ABORT, deletion and hand-over."""

    async def delete(self, job_id: str) -> bool: ...

    async def stale(self, heartbeat_before: datetime) -> list[Job]:
        """EXECUTING jobs whose last heartbeat is older than the cut-off."""

    async def waiting(self, enqueued_before: datetime) -> list[str]:
        """QUEUED jobs last sent to the broker before the cut-off (or never)."""

    async def expired(self, now: datetime) -> list[str]:
        """Jobs whose destruction time has passed."""

    notifies_across_processes: bool
    """True when ``subscribe`` callbacks also fire for other processes' changes."""

    def subscribe(self, callback: Listener) -> None:
        """Call ``callback(job_id, phase)`` (on the event loop) after each phase change this store
        sees (``phase`` None: the job was deleted): local ones always, other processes' ones where
        the database can tell (PostgreSQL)."""


def open_store(url: str) -> JobStore:
    """The store for ``url``: ``sqlite:///<path>`` or ``postgresql://...`` (not yet opened)."""
    if url.startswith("sqlite:///"):
        from uws.sqlite import SqliteStore

        store: JobStore = SqliteStore(url.removeprefix("sqlite:///"))
        return store
    if url.startswith(("postgresql://", "postgres://")):
        from uws.postgres import PostgresStore

        store = PostgresStore(url)
        return store
    raise ValueError(f"job store URL must start with sqlite:/// or postgresql://, not {url.split(':')[0]}:")


# -- row encoding shared by both stores (times as float seconds since the epoch) --------------
