"""The job system an API process runs: create, run, abort, wait for, change and delete jobs.

It owns the store, the queue (Redis sender or in-process runner), the janitor (re-queues jobs whose
worker died and jobs a broker lost) and the destruction sweeper. Every phase change is a
compare-and-set on the store. HTTP lives in ``uws/routes.py``; this module knows no requests.
Tests: tests/uws/test_system.py, tests/uws/test_reliability.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dali.errors import SkygateError, TooLargeError, UsageError
from uws.config import JobConfig
from uws.kinds import JobKind
from uws.limits import OwnerLimits, SiteLimits
from uws.models import ErrorInfo, ErrorType, Job, Parameter, Parameters, Phase
from uws.queue import JobQueue, make_queue
from uws.runner import INTERNAL_ERROR, Runner
from uws.store import JobStore, open_store

__all__ = ["INLINE_MAX_BYTES", "JobNotFound", "JobSystem", "PhaseConflict", "QuotaExceeded", "jobs_unavailable",
           "open_job_system"]

log = logging.getLogger(__name__)

# Phases from which ABORT moves a job to ABORTED.
_ABORTABLE = frozenset({Phase.PENDING, Phase.QUEUED, Phase.EXECUTING, Phase.HELD, Phase.SUSPENDED})
_EPOCH = datetime.fromtimestamp(0, UTC)
# Inline (not uploaded) parameter text one job may keep in its job-store row: a long ADQL query
# (each field is at most 1 MiB, dali.form) and the rest. Three 100 MB fields once grew the job
# database to 333 MB (issue 13).
INLINE_MAX_BYTES = 2 * 1024 * 1024


class JobNotFound(LookupError):
    """No such job (or not of this kind): HTTP 404."""


class PhaseConflict(RuntimeError):
    """The request is not allowed in the job's current phase: HTTP 403 (UWS 1.1 §2.2.3)."""


class QuotaExceeded(RuntimeError):
    """The owner has as many active jobs as allowed: HTTP 429 with ``Retry-After``."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


async def open_job_system(
    config: JobConfig, kinds: Iterable[JobKind], *, background: bool = True
) -> JobSystem:
    """Open the store, start the queue and (with ``background``) the janitor and sweeper.

    Jobs left QUEUED by an earlier run are sent to the broker again at once.
    """
    system = JobSystem(config, kinds)
    await system.start(background=background)
    return system


async def jobs_unavailable(system: JobSystem | None) -> str | None:
    """Why a service's job lists cannot take jobs now (no job system, or its store or broker does
    not answer), or None: the VOSI availability check of every service with job lists."""
    if system is None:
        return "the job system is not running"
    return await system.unavailable_because()


class JobSystem:
    """What the UWS routes (and tests) call. Build it with ``open_job_system``.

    ``owner_of(request)`` names the caller (``None`` = anonymous) and ``is_admin(request)`` says
    whether it may act on every owner's jobs; the authentication layer in ``skygate`` replaces both,
    and ``use_limits`` installs each owner's quota.
    """

    def __init__(self, config: JobConfig, kinds: Iterable[JobKind], *, store: JobStore | None = None) -> None:
        self.config = config
        self.kinds: dict[str, JobKind] = {k.name: k for k in kinds}
        self.store = store or open_store(config.store_url)
        self.runner = Runner(self.store, self.kinds, config.results_dir,
                             heartbeat_interval=config.heartbeat_interval,
                             max_running_per_owner=config.max_running_per_owner,
                             limits=SiteLimits(config) if config.max_result_bytes_per_owner else None)
        self.queue: JobQueue = make_queue(config, self.runner)
        self.owner_of: Callable[[Any], str | None] = lambda request: None
        self.is_admin: Callable[[Any], bool] = lambda request: False
        self.limits: OwnerLimits = SiteLimits(config)
        self._waiters: dict[str, set[_Waiter]] = {}
        self._background: asyncio.Task[None] | None = None
        self.store.subscribe(self._on_change)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, *, background: bool = True) -> None:
        self.config.results_dir.mkdir(parents=True, exist_ok=True)
        await self.store.open()
        await self.queue.start()
        # Jobs whose worker died while this process was down (heartbeat silent for long enough;
        # a younger one may belong to a live worker, and the janitor looks again later), and
        # jobs still waiting in the queue, which a restarted broker may have forgotten.
        await self.recover_stale(datetime.now(UTC) - timedelta(seconds=self.config.heartbeat_timeout))
        await self.resend_waiting(datetime.now(UTC) + timedelta(days=1))
        if background and self.config.sweep_interval > 0:
            self._background = asyncio.create_task(self._maintain(), name="uws-janitor")

    async def close(self) -> None:
        if self._background is not None:
            self._background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._background
            self._background = None
        await self.queue.close()
        await self.store.close()

    async def unavailable_because(self) -> str | None:
        """Why jobs cannot be taken now (the job store or the broker does not answer), or None
        when they can: what VOSI availability reports for every service with job lists."""
        try:
            await self.store.phase("availability-check")  # a read that finds no job
        except Exception:
            log.warning("availability check of the job store failed", exc_info=True)
            return "the job store is not answering"
        try:
            await self.queue.ping()
        except Exception:
            log.warning("availability check of the job broker failed", exc_info=True)
            return "the job broker is not answering"
        return None

    def kind(self, name: str) -> JobKind:
        try:
            return self.kinds[name]
        except KeyError:
            raise JobNotFound(f"no job kind {name!r} is registered") from None

    def job_dir(self, job_id: str) -> Path:
        return self.config.results_dir / job_id

    @staticmethod
    def new_job_id() -> str:
        return secrets.token_hex(8)

    # -- reading ---------------------------------------------------------------------------

    async def get(self, job_id: str, *, kind: str | None = None, owner: str | None = None,
                  admin: bool = False) -> Job:
        """The job, checked against the kind and the caller (an administrator sees every job).

        Another owner's job is ``JobNotFound`` exactly like a missing one, so job ids cannot be
        probed.
        """
        job = await self.store.get(job_id)
        if job is None or (kind is not None and job.kind != kind):
            raise JobNotFound(job_id)
        if job.owner != owner and not admin:
            raise JobNotFound(job_id)
        return job

    async def list_jobs(
        self, kind: str, owner: str | None, *, phases: Collection[Phase] | None = None,
        after: datetime | None = None, last: int | None = None,
    ) -> list[Job]:
        return await self.store.list_jobs(kind=kind, owner=owner, phases=phases, after=after, last=last)

    # -- creating and running --------------------------------------------------------------

    async def create(
        self, kind: str, parameters: Sequence[Parameter], *, owner: str | None = None,
        execution_duration: int | None = None, destruction: datetime | None = None,
        run: bool = False, job_id: str | None = None,
    ) -> Job:
        """A new job: PENDING, or (``run``) QUEUED and sent, or ERROR when its kind's check fails.

        Raises
        ------
        UsageError
            A bad execution duration or destruction time.
        TooLargeError
            Parameters over what a job may store (``check_stored_size``).
        """
        job_kind = self.kind(kind)
        now = datetime.now(UTC)
        job_id = job_id or self.new_job_id()
        await self.check_stored_size(job_id, parameters)
        job = Job(
            job_id=job_id, kind=kind, phase=Phase.PENDING, owner=owner,
            run_id=_run_id(parameters), creation_time=now,
            execution_duration=self.execution_duration(execution_duration),
            destruction=self.destruction(destruction, now), parameters=tuple(parameters),
        )
        if not run:
            await self.store.create(job)
            return job
        error = await self._check(job_kind, job)
        if error is not None:
            job = replace(job, phase=Phase.ERROR, error=error, end_time=now)
            await self.store.create(job)
            return job
        await self._admit(owner)
        job = replace(job, phase=Phase.QUEUED)
        await self.store.create(job, enqueued_at=now)
        await self._send(job.job_id)
        return job

    async def run(self, job: Job) -> None:
        """PHASE=RUN: PENDING -> QUEUED before returning (pyvo needs it), or ERROR if the kind's
        check refuses the parameters. Already queued or running: nothing to do."""
        if job.phase in (Phase.QUEUED, Phase.EXECUTING):
            return
        if job.phase is not Phase.PENDING:
            raise PhaseConflict(f"a job in phase {job.phase} cannot be run again")
        now = datetime.now(UTC)
        error = await self._check(self.kind(job.kind), job)
        if error is not None:
            if not await self.store.transition(job.job_id, Phase.PENDING, Phase.ERROR, error=error, end_time=now):
                raise PhaseConflict("the job changed phase meanwhile")
            return
        await self._admit(job.owner)
        if not await self.store.transition(job.job_id, Phase.PENDING, Phase.QUEUED, enqueued_at=now):
            current = await self.store.phase(job.job_id)
            if current in (Phase.QUEUED, Phase.EXECUTING):
                return
            raise PhaseConflict("the job changed phase meanwhile")
        await self._send(job.job_id)

    def use_limits(self, limits: OwnerLimits) -> None:
        """Each owner's own limits from now on, at admission and in this process's runner."""
        self.limits = limits
        self.runner.limits = limits

    async def _admit(self, owner: str | None) -> None:
        """Refuse one more active job of an owner at their active-job limit, or whose jobs' results
        already fill their result quota (checked, then queued: two requests racing may both pass,
        which overshoots by at most the race)."""
        limit = await self.limits.max_active_jobs(owner)
        if limit > 0:
            active = await self.store.count_owned(owner, (Phase.QUEUED, Phase.EXECUTING))
            if active >= limit:
                raise QuotaExceeded(f"you have {active} jobs queued or executing; the limit is {limit} at a time",
                                    retry_after=max(1, int(self.config.defer_seconds * 10)))
        result_limit = await self.limits.max_result_bytes(owner)
        if result_limit > 0:
            kept = await self.store.result_bytes(owner)
            if kept >= result_limit:
                raise QuotaExceeded(f"your jobs' results keep {kept} bytes, your quota is {result_limit}: "
                                    "delete jobs whose results you no longer need", retry_after=60)

    async def _check(self, kind: JobKind, job: Job) -> ErrorInfo | None:
        if kind.check is None:
            return None
        params = Parameters(job.parameters, _inline_files(self.job_dir(job.job_id), job.parameters))
        try:
            # Called inline: checks are parameter parsing by contract (JobKind.check), cheaper
            # than the hop to a thread.
            kind.check(params)
        except SkygateError as exc:
            return ErrorInfo(ErrorType.TRANSIENT if exc.kind == "transient" else ErrorType.FATAL, str(exc))
        except Exception:
            log.exception("checking job %s (%s) failed", job.job_id, job.kind)
            return ErrorInfo(ErrorType.FATAL, INTERNAL_ERROR)
        return None

    async def _send(self, job_id: str) -> None:
        try:
            await self.queue.send(job_id)
        except Exception:
            # The job stays QUEUED in the store; the janitor sends it again when the broker is back.
            log.warning("could not send job %s to the broker; it will be re-sent", job_id, exc_info=True)
            with contextlib.suppress(Exception):
                await self.store.transition(job_id, Phase.QUEUED, Phase.QUEUED, enqueued_at=_EPOCH)

    # -- changing --------------------------------------------------------------------------

    async def abort(self, job_id: str) -> Phase | None:
        """PHASE=ABORT: compare-and-set from whatever active phase the job is in; a finished job
        stays as it is (an ABORT racing a completion loses cleanly). Returns the final phase."""
        for _ in range(10):
            phase = await self.store.phase(job_id)
            if phase is None or phase not in _ABORTABLE:
                return phase
            if await self.store.transition(job_id, phase, Phase.ABORTED, end_time=datetime.now(UTC)):
                return Phase.ABORTED
        return await self.store.phase(job_id)

    async def delete(self, job_id: str) -> None:
        """Remove the job and its files; a running job's worker stops at its next heartbeat."""
        await self.store.delete(job_id)
        await asyncio.to_thread(shutil.rmtree, self.job_dir(job_id), True)

    async def set_parameters(self, job: Job, new: Sequence[Parameter]) -> None:
        """POST {job}/parameters: only while PENDING; single-valued names are replaced,
        the kind's ``multi_valued`` ones accumulate."""
        if job.phase is not Phase.PENDING:
            raise PhaseConflict(f"parameters can only be changed while the job is PENDING, not {job.phase}")
        multi = self.kind(job.kind).multi_valued
        merged = list(job.parameters)
        for p in new:
            key = p.name.lower()
            if key not in multi:
                merged = [m for m in merged if m.name.lower() != key]
            merged.append(p)
        await self.check_stored_size(job.job_id, merged)
        if not await self.store.transition(job.job_id, Phase.PENDING, Phase.PENDING,
                                           parameters=merged, run_id=_run_id(merged)):
            raise PhaseConflict("parameters can only be changed while the job is PENDING")

    async def set_execution_duration(self, job: Job, seconds: int) -> None:
        value = self.execution_duration(seconds)
        if job.phase is not Phase.PENDING or not await self.store.transition(
            job.job_id, Phase.PENDING, Phase.PENDING, execution_duration=value
        ):
            raise PhaseConflict("the execution duration can only be changed while the job is PENDING")

    async def set_destruction(self, job: Job, when: datetime) -> None:
        await self.store.set_destruction(job.job_id, self.destruction(when, datetime.now(UTC)))

    def execution_duration(self, requested: int | None) -> int:
        """The duration the server grants: the default when not asked, at most the maximum
        (0, "unlimited", is replaced by the maximum when there is one)."""
        limit = self.config.execution_duration_max
        if requested is None:
            requested = self.config.execution_duration
        if requested < 0:
            raise UsageError("EXECUTIONDURATION must be 0 or a positive number of seconds",
                             param="EXECUTIONDURATION")
        if limit > 0 and (requested == 0 or requested > limit):
            return limit
        return requested

    def destruction(self, requested: datetime | None, now: datetime) -> datetime:
        latest = now + timedelta(days=self.config.destruction_days)
        if requested is None:
            return latest
        if requested <= now:
            raise UsageError("DESTRUCTION must be in the future", param="DESTRUCTION",
                             hint="an ISO 8601 UTC time such as 2030-01-01T00:00:00Z")
        return min(requested, latest)

    async def check_stored_size(self, job_id: str, parameters: Sequence[Parameter]) -> None:
        """Refuse parameters that would store more than the job may keep: ``INLINE_MAX_BYTES``
        of inline values (they live in the job store's row) and ``body_max_bytes`` of uploaded
        files (in the job's folder).

        Raises
        ------
        TooLargeError
            Over either limit (HTTP 413).
        """
        inline = sum(len(p.name.encode()) + len(p.value.encode()) for p in parameters if not p.by_reference)
        if inline > INLINE_MAX_BYTES:
            raise TooLargeError(f"the job's parameters hold more than {INLINE_MAX_BYTES} bytes of text",
                                hint="send long content (tables, position lists) as a file part")
        files = await asyncio.to_thread(_file_bytes, self.job_dir(job_id), parameters)
        if files > self.config.body_max_bytes:
            raise TooLargeError(f"the job's uploaded files hold more than {self.config.body_max_bytes} bytes",
                                param="UPLOAD", hint="upload fewer or smaller tables")

    # -- blocking WAIT ---------------------------------------------------------------------

    @contextlib.contextmanager
    def watch(self, job_id: str) -> Iterator[_Waiter]:
        """Register for the job's phase changes before reading it, then ``wait(..., waiter=)``:
        no change between the read and the wait is missed, and the wait needs no query."""
        waiter = _Waiter()
        self._waiters.setdefault(job_id, set()).add(waiter)
        try:
            yield waiter
        finally:
            waiters = self._waiters.get(job_id)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._waiters[job_id]

    async def wait(
        self, job_id: str, phase: Phase, timeout: float, *, waiter: _Waiter | None = None
    ) -> Phase | None:
        """Block until the job leaves ``phase`` (or disappears) or ``timeout`` seconds pass;
        returns the phase then (None: the job is gone).

        Local changes and (PostgreSQL) other processes' changes arrive as notifications carrying
        the new phase, so waking costs no query. Only another process's change on a store that
        cannot notify (SQLite shared by several API processes or workers) needs a poll: the phase
        is re-read after ``poll_interval``, then twice as long each time up to ``poll_max`` (at
        least 5 s on a notifying store, where the poll only covers a lost LISTEN connection).
        A constant 20 ms poll had 200 waiters burn 17.5 CPU-s in 25 s (issue 13);
        ``benchmarks/uws_wait.py`` measures both. With ``waiter`` (from ``watch``, registered
        before ``phase`` was read) the phase is not read again first.
        """
        if waiter is None:
            with self.watch(job_id) as own:
                now = await self.store.phase(job_id)  # after registering: nothing slips through
                if now != phase:
                    return now
                return await self.wait(job_id, phase, timeout, waiter=own)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        poll, poll_max = self.config.poll_interval, self.config.poll_max
        if self.store.notifies_across_processes:
            poll, poll_max = max(poll, 0.5), max(poll_max, 5.0)
        current: Phase | None = phase
        while current == phase:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(waiter.event.wait(), min(remaining, poll))
            except TimeoutError:
                current = await self.store.phase(job_id)
                poll = min(poll * 2, poll_max)
                continue
            waiter.event.clear()
            current = waiter.phase
        return current

    def _on_change(self, job_id: str, phase: Phase | None) -> None:
        for waiter in self._waiters.get(job_id, ()):
            waiter.phase = phase
            waiter.event.set()

    # -- janitor and sweeper ---------------------------------------------------------------

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(self.config.sweep_interval)
            try:
                await self.maintain_once()
            except Exception:
                log.warning("job maintenance failed; trying again later", exc_info=True)

    async def maintain_once(self, now: datetime | None = None) -> None:
        """One janitor and sweeper pass (run periodically; tests call it directly)."""
        now = now or datetime.now(UTC)
        await self.recover_stale(now - timedelta(seconds=self.config.heartbeat_timeout))
        await self.resend_waiting(now - timedelta(seconds=self.config.requeue_after))
        await self.sweep(now)

    async def recover_stale(self, heartbeat_before: datetime) -> list[str]:
        """EXECUTING jobs whose worker went silent: run again (up to ``max_attempts`` runs in all)
        or end in ERROR saying why. Returns the ids handled."""
        handled = []
        now = datetime.now(UTC)
        for job in await self.store.stale(heartbeat_before):
            if job.attempts < self.config.max_attempts:
                if await self.store.transition(job.job_id, Phase.EXECUTING, Phase.QUEUED, enqueued_at=now):
                    log.warning("job %s lost its worker; queued again (run %d)", job.job_id, job.attempts + 1)
                    await self._send(job.job_id)
                    handled.append(job.job_id)
                continue
            message = (f"The worker running this job stopped unexpectedly ({job.attempts} "
                       f"attempt{'s' if job.attempts != 1 else ''}); the job was given up. "
                       "Submit it again, with a smaller request if it is large.")
            if await self.store.transition(job.job_id, Phase.EXECUTING, Phase.ERROR, end_time=now,
                                           error=ErrorInfo(ErrorType.FATAL, message)):
                log.error("job %s lost its worker %d times; failed", job.job_id, job.attempts)
                handled.append(job.job_id)
        return handled

    async def resend_waiting(self, enqueued_before: datetime) -> list[str]:
        """Send QUEUED jobs again that were last sent before the cut-off (a restarted broker
        forgets its queue; the store does not)."""
        job_ids = await self.store.waiting(enqueued_before)
        for job_id in job_ids:
            if await self.store.transition(job_id, Phase.QUEUED, Phase.QUEUED, enqueued_at=datetime.now(UTC)):
                await self._send(job_id)
        if job_ids:
            log.info("sent %d queued job(s) to the broker again", len(job_ids))
        return job_ids

    async def sweep(self, now: datetime) -> list[str]:
        """Destroy jobs past their destruction time, with their files."""
        job_ids = await self.store.expired(now)
        for job_id in job_ids:
            await self.delete(job_id)
        return job_ids


class _Waiter:
    """One blocked WAIT: woken with the job's new phase."""

    __slots__ = ("event", "phase")

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.phase: Phase | None = None


def _run_id(parameters: Sequence[Parameter]) -> str | None:
    values = [p.value for p in parameters if p.name.lower() == "runid"]
    return values[-1] if values else None


def _file_bytes(job_dir: Path, parameters: Sequence[Parameter]) -> int:
    total = 0
    for p in parameters:
        if p.by_reference:
            with contextlib.suppress(OSError):
                total += (job_dir / "params" / p.value).stat().st_size
    return total


def _inline_files(job_dir: Path, parameters: Sequence[Parameter]) -> dict[str, Path]:
    return {p.name.lower(): job_dir / "params" / p.value for p in parameters if p.by_reference}

