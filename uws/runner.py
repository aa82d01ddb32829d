"""Run one job by id: claim it, call its kind's function, watch for abort and deadline, record the end.

The same code runs in ``skygate worker`` processes (called from the dramatiq actor) and in the
API process (embedded default). It talks to the store only; it never enqueues. Claiming is the
compare-and-set QUEUED -> EXECUTING, so a job delivered twice runs once. Tests:
tests/uws/test_routes.py (abort, deadline, errors), tests/uws/test_system.py, test_reliability.py.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import shutil
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from dali.errors import FatalError, SkygateError, TransientError, UsageError, escaped
from uws.context import JobAborted, JobContext, JobStopped, JobTimedOut
from uws.kinds import JobKind
from uws.limits import OwnerLimits
from uws.models import ErrorInfo, ErrorType, Job, Parameters, Phase, Result
from uws.store import JobStore

__all__ = ["INTERNAL_ERROR", "Runner"]

log = logging.getLogger(__name__)

INTERNAL_ERROR = "The job failed because of an internal error; it has been logged for the operators."
# How long a stopped job function may take to reach its next checkpoint before we move on.
STOP_GRACE = 10.0


class Runner:
    """Executes jobs from ``store`` with the functions in ``kinds``.

    Parameters
    ----------
    store
        An opened job store.
    kinds
        Job kinds by name.
    results_dir
        Root of the job directories (``<results_dir>/<job_id>``).
    heartbeat_interval
        Seconds between heartbeats (which also notice ABORT and deletion).
    max_running_per_owner
        Jobs of one owner that may execute at once (0: no limit); see ``should_defer``.
    limits
        Each owner's limits (``uws.limits``; ``skygate`` gives the owners' quotas); None: the
        ``max_running_per_owner`` for everybody and no limit on result bytes.
    """

    def __init__(
        self, store: JobStore, kinds: Mapping[str, JobKind], results_dir: Path, *,
        heartbeat_interval: float = 1.0, max_running_per_owner: int = 0,
        limits: OwnerLimits | None = None,
    ) -> None:
        self.store = store
        self.kinds = kinds
        self.results_dir = results_dir
        self.heartbeat_interval = heartbeat_interval
        self.max_running_per_owner = max_running_per_owner
        self.limits = limits

    async def should_defer(self, job_id: str) -> bool:
        """Whether a QUEUED job's owner already has ``max_running_per_owner`` jobs executing; the
        queue then offers the job again later and takes the next message (fair share between
        owners on a first-in first-out broker). Approximate: two workers checking at once may
        both start a job."""
        if self.limits is None and self.max_running_per_owner <= 0:
            return False
        job = await self.store.get(job_id)
        if job is None or job.phase is not Phase.QUEUED:
            return False
        limit = self.max_running_per_owner if self.limits is None else await self.limits.max_running_jobs(job.owner)
        return limit > 0 and await self.store.count_owned(job.owner, (Phase.EXECUTING,)) >= limit

    async def execute(self, job_id: str) -> Phase | None:
        """Run the job if it is QUEUED; returns the phase it ended in (None if not run)."""
        job = await self.store.claim(job_id, _now())
        if job is None:
            return None  # not QUEUED: a duplicate message, or aborted or deleted meanwhile
        kind = self.kinds.get(job.kind)
        if kind is None:
            error = ErrorInfo(ErrorType.FATAL, f"This server has no job kind {job.kind!r}.")
            await self.store.transition(job_id, Phase.EXECUTING, Phase.ERROR, end_time=_now(), error=error)
            return Phase.ERROR
        job_dir = self.results_dir / job_id
        if job.attempts > 1:  # an earlier run died: drop its partial outputs
            await asyncio.to_thread(_clear_outputs, job_dir)
        ctx = _context(job, kind, job_dir)
        return await self._supervise(job, kind, ctx)

    async def _supervise(self, job: Job, kind: JobKind, ctx: JobContext) -> Phase | None:
        params = ctx.parameters
        is_async = inspect.iscoroutinefunction(kind.run)
        if is_async:
            task: asyncio.Future[object] = asyncio.ensure_future(kind.run(params, ctx))  # type: ignore[arg-type]
        else:
            task = asyncio.ensure_future(asyncio.to_thread(kind.run, params, ctx))
        stop: type[JobStopped] | None = None
        try:
            stop = await self._watch(job, ctx, task)
        except asyncio.CancelledError:
            # This worker is shutting down: stop the function too. The job stays EXECUTING
            # and its silent heartbeat lets the janitor queue it again.
            ctx.stop(JobAborted)
            task.cancel()
            raise
        if stop is not None:
            return await self._stop(job, ctx, task, stop, cancel=is_async)
        return await self._finish(job, ctx, task)

    async def _watch(self, job: Job, ctx: JobContext, task: asyncio.Future[object]) -> type[JobStopped] | None:
        """Heartbeat until the function ends, runs out of time, or the job is aborted/deleted."""
        while not task.done():
            wait = self.heartbeat_interval
            if ctx.deadline is not None:
                wait = max(0.0, min(wait, ctx.deadline - time.monotonic()))
            await asyncio.wait({task}, timeout=wait)
            if task.done():
                return None
            if ctx.deadline is not None and time.monotonic() >= ctx.deadline:
                return JobTimedOut
            if await self._heartbeat(job.job_id, ctx) is not Phase.EXECUTING:
                return JobAborted
        return None

    async def _heartbeat(self, job_id: str, ctx: JobContext) -> Phase | None:
        try:
            return await self.store.heartbeat(job_id, ctx.last_progress, attempt=ctx.attempt)
        except Exception:  # a store blip must not kill a running job; the next beat retries
            log.warning("heartbeat for job %s failed", job_id, exc_info=True)
            return Phase.EXECUTING

    async def _stop(
        self, job: Job, ctx: JobContext, task: asyncio.Future[object], reason: type[JobStopped], *, cancel: bool
    ) -> Phase | None:
        ctx.stop(reason)
        if cancel:
            task.cancel()
        # A thread cannot be killed: give it until its next checkpoint.
        await asyncio.wait({task}, timeout=STOP_GRACE)
        if task.done() and not task.cancelled():
            task.exception()  # retrieved, so asyncio does not log it
        if reason is JobTimedOut:
            return await self._timed_out(job)
        await self._discard(job.job_id, job.attempts)
        return await self.store.phase(job.job_id)

    async def _finish(self, job: Job, ctx: JobContext, task: asyncio.Future[object]) -> Phase | None:
        job_id = job.job_id
        try:
            returned = task.result()
        except JobTimedOut:
            return await self._timed_out(job)
        except (JobAborted, asyncio.CancelledError):
            await self._discard(job_id, job.attempts)
            return await self.store.phase(job_id)
        except UsageError as exc:
            log.info("job %s (%s) refused: %s", job_id, job.kind, escaped(exc))
            return await self._fail(job, ErrorInfo(ErrorType.FATAL, str(exc)))
        except TransientError as exc:
            log.warning("job %s (%s) failed, transient: %s", job_id, job.kind, escaped(exc))
            return await self._fail(job, ErrorInfo(ErrorType.TRANSIENT, str(exc)))
        except (FatalError, SkygateError) as exc:
            log.error("job %s (%s) failed", job_id, job.kind, exc_info=exc)
            return await self._fail(job, ErrorInfo(ErrorType.FATAL, str(exc)))
        except Exception as exc:
            log.error("job %s (%s) crashed", job_id, job.kind, exc_info=exc)
            return await self._fail(job, ErrorInfo(ErrorType.FATAL, INTERNAL_ERROR))
        try:
            results = _checked_results(returned, ctx)
        except FatalError as exc:
            log.error("job %s (%s): %s", job_id, job.kind, escaped(exc))
            return await self._fail(job, ErrorInfo(ErrorType.FATAL, INTERNAL_ERROR))
        over = await self._over_result_quota(job, results)
        if over is not None:
            await asyncio.to_thread(_clear_outputs, ctx.job_dir)
            return await self._fail(job, ErrorInfo(ErrorType.FATAL, over))
        # The last progress report, which a heartbeat may not have stored yet: a COMPLETED job's
        # progress is its final one, not the one of the last beat.
        final = {"progress": ctx.last_progress} if ctx.last_progress is not None else {}
        if await self.store.transition(job_id, Phase.EXECUTING, Phase.COMPLETED, attempt=ctx.attempt,
                                       end_time=_now(), results=results, **final):
            return Phase.COMPLETED
        await self._discard(job_id, job.attempts)  # aborted or deleted meanwhile: the abort won
        return await self.store.phase(job_id)

    async def _over_result_quota(self, job: Job, results: Sequence[Result]) -> str | None:
        """Why the job's results cannot be kept (its owner's results would pass their limit), or None."""
        limit = await self.limits.max_result_bytes(job.owner) if self.limits is not None else 0
        if limit <= 0:
            return None
        size = sum(r.size for r in results)
        kept = await self.store.result_bytes(job.owner)
        if kept + size <= limit:
            return None
        return (f"The job's results take {size} bytes; with the {kept} bytes your other jobs' results keep, "
                f"that is over your quota of {limit} bytes, so they were dropped. Delete jobs whose results you "
                "no longer need and run it again.")

    async def _fail(self, job: Job, error: ErrorInfo) -> Phase | None:
        if await self.store.transition(job.job_id, Phase.EXECUTING, Phase.ERROR, attempt=job.attempts,
                                       end_time=_now(), error=error):
            return Phase.ERROR
        await self._discard(job.job_id, job.attempts)
        return await self.store.phase(job.job_id)

    async def _timed_out(self, job: Job) -> Phase | None:
        message = (f"The job ran out of time: it may run for {job.execution_duration} s "
                   "(its execution duration) and was stopped.")
        return await self._fail(job, ErrorInfo(ErrorType.FATAL, message))

    async def _discard(self, job_id: str, attempt: int) -> None:
        """Drop the files of a run that was aborted or deleted while it ran (not those of a
        later run that took the job over)."""
        job = await self.store.get(job_id)
        job_dir = self.results_dir / job_id
        if job is None:
            await asyncio.to_thread(shutil.rmtree, job_dir, True)
        elif job.attempts == attempt and job.phase is not Phase.COMPLETED:
            await asyncio.to_thread(_clear_outputs, job_dir)


def _context(job: Job, kind: JobKind, job_dir: Path) -> JobContext:
    files = {p.name.lower(): job_dir / "params" / p.value for p in job.parameters if p.by_reference}
    deadline = time.monotonic() + job.execution_duration if job.execution_duration > 0 else None
    return JobContext(
        job_id=job.job_id, kind=job.kind, parameters=Parameters(job.parameters, files), job_dir=job_dir,
        run_id=job.run_id, owner=job.owner, deadline=deadline, resources=kind.resources, attempt=job.attempts,
    )


def _checked_results(returned: object, ctx: JobContext) -> list[Result]:
    if returned is None:
        return ctx.results
    if not isinstance(returned, Sequence) or not all(isinstance(r, Result) for r in returned):
        raise FatalError("the job function returned something other than a list of Result")
    for r in returned:
        if not (ctx.results_dir / r.id).is_file():
            raise FatalError(f"result {r.id!r} was not written with ctx.add_result")
    return sorted(returned, key=lambda r: r.id != "result")


def _clear_outputs(job_dir: Path) -> None:
    """Remove results and scratch files of an earlier attempt; keep the inline parameters."""
    for sub in ("results", "scratch"):
        shutil.rmtree(job_dir / sub, ignore_errors=True)


def _now() -> datetime:
    return datetime.now(UTC)

