"""The job system without HTTP: restart recovery, the janitor, limits, deletion while running."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from dali.errors import UsageError
from uws.config import JobConfig
from uws.context import JobContext
from uws.kinds import JobKind
from uws.models import Job, Parameter, Parameters, Phase, Result
from uws.system import JobNotFound, JobSystem, PhaseConflict, open_job_system
from uws.testing import job_kinds


async def _until(system: JobSystem, job_id: str, phases: set[Phase], timeout: float = 10) -> Phase | None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        phase = await system.store.phase(job_id)
        if phase is None or phase in phases or loop.time() > deadline:
            return phase
        await system.wait(job_id, phase, 0.5)


async def test_restarting_the_embedded_system_reruns_the_job_it_was_running(job_config: JobConfig) -> None:
    first = await open_job_system(job_config, job_kinds())
    job = await first.create("uws-sleep", [Parameter("SECONDS", "1")], run=True)
    assert await _until(first, job.job_id, {Phase.EXECUTING}) is Phase.EXECUTING
    await first.close()  # the process stops mid-job
    await asyncio.sleep(job_config.heartbeat_timeout)  # down long enough for the heartbeat to go stale
    second = await open_job_system(job_config, job_kinds())
    try:
        assert await _until(second, job.job_id, {Phase.COMPLETED, Phase.ERROR}) is Phase.COMPLETED
        finished = await second.get(job.job_id)
        assert finished.attempts == 2
        assert (second.job_dir(job.job_id) / "results" / "result").read_text() == "slept 1.0"
    finally:
        await second.close()


async def _stale_job(system: JobSystem, attempts: int) -> Job:
    old = datetime.now(UTC) - timedelta(minutes=10)
    job = Job(job_id=system.new_job_id(), kind="uws-echo", phase=Phase.EXECUTING, owner=None, run_id=None,
              creation_time=old, execution_duration=60, destruction=old + timedelta(days=1),
              parameters=(Parameter("MESSAGE", "again"),), start_time=old, heartbeat=old, attempts=attempts)
    await system.store.create(job)
    return job


async def test_the_janitor_requeues_a_job_whose_worker_went_silent(system: JobSystem) -> None:
    job = await _stale_job(system, attempts=1)
    await system.maintain_once()
    assert await _until(system, job.job_id, {Phase.COMPLETED, Phase.ERROR}) is Phase.COMPLETED
    assert (await system.get(job.job_id)).attempts == 2


async def test_the_janitor_fails_a_job_after_its_last_attempt(system: JobSystem) -> None:
    job = await _stale_job(system, attempts=system.config.max_attempts)
    await system.maintain_once()
    failed = await system.get(job.job_id)
    assert failed.phase is Phase.ERROR and failed.error is not None
    assert "stopped unexpectedly (2 attempts)" in failed.error.message


async def test_queued_jobs_are_sent_again_when_the_system_starts(job_config: JobConfig) -> None:
    # a job QUEUED in the store but never delivered (the broker lost it, the API died)
    first = await open_job_system(replace(job_config, local_workers=1), job_kinds())
    now = datetime.now(UTC)
    job = Job(job_id="lost-in-broker", kind="uws-echo", phase=Phase.QUEUED, owner=None, run_id=None,
              creation_time=now, execution_duration=60, destruction=now + timedelta(days=1))
    await first.store.create(job, enqueued_at=now)
    await first.close()
    second = await open_job_system(job_config, job_kinds())
    try:
        assert await _until(second, job.job_id, {Phase.COMPLETED, Phase.ERROR}) is Phase.COMPLETED
    finally:
        await second.close()


async def test_deleting_a_running_job_stops_it_and_removes_its_files(system: JobSystem) -> None:
    job = await system.create("uws-sleep", [Parameter("SECONDS", "30")], run=True)
    assert await _until(system, job.job_id, {Phase.EXECUTING}) is Phase.EXECUTING
    await system.delete(job.job_id)
    await asyncio.sleep(0.5)  # a few heartbeats
    assert await system.store.phase(job.job_id) is None
    assert not system.job_dir(job.job_id).exists()


@pytest.mark.parametrize(("asked", "granted"), [(None, 60), (10, 10), (0, 600), (5000, 600)])
def test_execution_duration_granted(system: JobSystem, asked: int | None, granted: int) -> None:
    assert system.execution_duration(asked) == granted


def test_negative_execution_duration_and_past_destruction_are_usage_errors(system: JobSystem) -> None:
    with pytest.raises(UsageError):
        system.execution_duration(-1)
    now = datetime.now(UTC)
    with pytest.raises(UsageError):
        system.destruction(now - timedelta(seconds=1), now)
    assert system.destruction(now + timedelta(days=30), now) == now + timedelta(days=7)


async def test_run_is_refused_once_a_job_has_finished(system: JobSystem) -> None:
    job = await system.create("uws-echo", [], run=True)
    assert await _until(system, job.job_id, {Phase.COMPLETED}) is Phase.COMPLETED
    with pytest.raises(PhaseConflict):
        await system.run(await system.get(job.job_id))
    assert await system.abort(job.job_id) is Phase.COMPLETED  # ABORT loses to a finished job


async def test_jobs_belong_to_their_owner(system: JobSystem) -> None:
    job = await system.create("uws-echo", [], owner="alice")
    for stranger in ("bob", None):
        with pytest.raises(JobNotFound):  # the same answer as for a job that does not exist
            await system.get(job.job_id, owner=stranger)
    assert (await system.get(job.job_id, owner="alice")).owner == "alice"
    assert (await system.get(job.job_id, owner="root", admin=True)).owner == "alice"
    assert await system.list_jobs("uws-echo", None) == []


@pytest.mark.postgres
async def test_abort_cancels_a_running_database_statement(job_config: JobConfig, postgres_jobs_url: str) -> None:
    import asyncpg

    from uws.kinds import JobKind

    marker = f"uws-abort-{id(job_config)}"

    async def slow_query(params, ctx):  # type: ignore[no-untyped-def]
        conn = await asyncpg.connect(postgres_jobs_url, server_settings={"application_name": marker})
        try:
            await conn.execute("SELECT pg_sleep(30)")
        finally:
            await conn.close()

    async def running() -> int:
        conn = await asyncpg.connect(postgres_jobs_url)
        try:
            return int(await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'", marker))
        finally:
            await conn.close()

    system = await open_job_system(job_config, [JobKind("slow-sql", slow_query)])
    try:
        job = await system.create("slow-sql", [], run=True)
        for _ in range(100):
            if await running():
                break
            await asyncio.sleep(0.05)
        assert await running() == 1
        assert await system.abort(job.job_id) is Phase.ABORTED
        for _ in range(60):
            if not await running():
                break
            await asyncio.sleep(0.05)
        assert await running() == 0  # the statement was cancelled, not left to finish
    finally:
        await system.close()


async def test_a_blocked_wait_backs_off_instead_of_polling_every_20_ms(system: JobSystem) -> None:
    job = await system.create("uws-echo", [Parameter("MESSAGE", "x")])
    reads = 0
    phase = system.store.phase

    async def counted(job_id: str) -> Phase | None:
        nonlocal reads
        reads += 1
        return await phase(job_id)

    system.store.phase = counted  # type: ignore[method-assign]
    assert await system.wait(job.job_id, Phase.PENDING, 1.5) is Phase.PENDING
    assert reads <= 8  # 20, 40, 80, ... ms, not 75 reads at 20 ms
    # a local change still wakes the waiter at once, without waiting for a poll
    waiter = asyncio.create_task(system.wait(job.job_id, Phase.PENDING, 10))
    await asyncio.sleep(0.3)
    started = asyncio.get_running_loop().time()
    await system.abort(job.job_id)
    assert await waiter is Phase.ABORTED
    assert asyncio.get_running_loop().time() - started < 0.2
def _counted(params: Parameters, ctx: JobContext) -> list[Result]:
    for done in range(0, 392_292, 50_000):
        ctx.progress(done, 392_291)
    ctx.progress(392_291, 392_291)  # the last report, with no heartbeat after it
    return [ctx.add_result("result", b"done", "text/plain")]


async def test_a_completed_job_keeps_its_final_progress(job_config: JobConfig) -> None:
    config = replace(job_config, heartbeat_interval=60.0)  # no beat while the job runs
    system = await open_job_system(config, [JobKind("uws-counted", _counted)])
    try:
        job = await system.create("uws-counted", [], run=True)
        assert await _until(system, job.job_id, {Phase.COMPLETED, Phase.ERROR}) is Phase.COMPLETED
        assert (await system.get(job.job_id)).progress == (392_291, 392_291)
    finally:
        await system.close()
