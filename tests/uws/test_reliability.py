"""No job is ever lost: real Redis, real ``skygate worker`` processes, PostgreSQL job store.

Workers are SIGKILLed mid-job, the API's job system is closed and reopened while jobs run, and a
private Redis is restarted (forgetting its queue). Each test stays under ~30 s.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest

from skygate.settings import Settings
from skygate.worker import WorkerResources
from skygate.worker import job_kinds as skygate_job_kinds
from tests.configs import job_config as configured
from tests.soda.tiles import TILES, write_tile
from uws.config import JobConfig
from uws.kinds import JobKind
from uws.models import Parameter, Phase
from uws.system import JobSystem, open_job_system
from uws.testing import job_kinds

from .workers import PrivateRedis, WorkerProcess

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
async def jobs_url(postgres_jobs_url: str) -> str:
    conn = await asyncpg.connect(postgres_jobs_url)
    try:
        await conn.execute("DROP SCHEMA IF EXISTS uws CASCADE")
    finally:
        await conn.close()
    return postgres_jobs_url


@pytest.fixture
def queue() -> str:
    return f"uws-test-{secrets.token_hex(4)}"


@pytest.fixture
def config(jobs_url: str, redis_url: str, tmp_path: Path, queue: str) -> JobConfig:
    return configured(
        store_url=jobs_url, results_dir=tmp_path / "results", broker_url=redis_url, queue_name=queue,
        heartbeat_timeout=2.0, sweep_interval=0.5, requeue_after=2.0, max_attempts=2, wait_max=30,
    )


StartWorker = Callable[..., WorkerProcess]


@pytest.fixture
def start_worker(config: JobConfig, tmp_path: Path, queue: str) -> Iterator[StartWorker]:
    """Start a ``skygate worker`` subprocess on the test's queue; all are stopped afterwards."""
    started: list[WorkerProcess] = []

    def start(name: str, broker_url: str | None = None) -> WorkerProcess:
        worker = WorkerProcess(broker_url=broker_url or config.broker_url, jobs_url=config.store_url,
                               data_dir=tmp_path, queue=queue, name=name)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


async def _submit(system: JobSystem, kind: str, **params: str) -> str:
    job = await system.create(kind, [Parameter(k, v) for k, v in params.items()], run=True)
    return job.job_id


async def _until(system: JobSystem, job_id: str, phases: set[Phase], timeout: float) -> Phase:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        phase = await system.store.phase(job_id)
        assert phase is not None
        if phase in phases or loop.time() > deadline:
            return phase
        await system.wait(job_id, phase, min(1.0, max(0.01, deadline - loop.time())))


@pytest.fixture
async def system(config: JobConfig) -> AsyncIterator[JobSystem]:
    system = await open_job_system(config, job_kinds())
    try:
        yield system
    finally:
        await system.close()


async def test_a_killed_worker_s_job_is_run_again_by_another_and_others_are_unaffected(
    system: JobSystem, start_worker: StartWorker
) -> None:
    first = start_worker("a")
    await asyncio.to_thread(first.wait_ready)
    victim = await _submit(system, "uws-sleep", SECONDS="60", RETRY_SECONDS="0.5")
    assert await _until(system, victim, {Phase.EXECUTING}, 10) is Phase.EXECUTING
    second = start_worker("b")
    await asyncio.to_thread(second.wait_ready)
    others = [await _submit(system, "uws-echo", MESSAGE=str(i)) for i in range(5)]
    assert await system.store.phase(victim) is Phase.EXECUTING  # the victim's worker is mid-job
    first.kill()
    more = [await _submit(system, "uws-echo", MESSAGE=f"after-{i}") for i in range(5)]
    assert await _until(system, victim, {Phase.COMPLETED, Phase.ERROR}, 20) is Phase.COMPLETED
    job = await system.store.get(victim)
    assert job is not None and job.attempts == 2
    assert (system.job_dir(victim) / "results" / "result").read_text() == "slept 0.5"
    for job_id in others + more:
        assert await _until(system, job_id, {Phase.COMPLETED, Phase.ERROR}, 10) is Phase.COMPLETED
    assert "Traceback" not in second.log.read_text()


async def test_a_job_whose_workers_keep_dying_ends_in_error_saying_why(
    config: JobConfig, start_worker: StartWorker
) -> None:
    system = await open_job_system(replace(config, max_attempts=1), job_kinds())
    try:
        worker = start_worker("a")
        await asyncio.to_thread(worker.wait_ready)
        victim = await _submit(system, "uws-sleep", SECONDS="20")
        assert await _until(system, victim, {Phase.EXECUTING}, 10) is Phase.EXECUTING
        worker.kill()
        assert await _until(system, victim, {Phase.ERROR, Phase.COMPLETED}, 10) is Phase.ERROR
        job = await system.store.get(victim)
        assert job is not None and job.error is not None
        assert "worker running this job stopped unexpectedly" in job.error.message
    finally:
        await system.close()


async def test_restarting_the_api_loses_no_job_and_no_result(config: JobConfig, start_worker: StartWorker) -> None:
    worker = start_worker("a")
    await asyncio.to_thread(worker.wait_ready)
    first = await open_job_system(config, job_kinds())
    job_ids = [await _submit(first, "uws-sleep", SECONDS="0.5") for _ in range(6)]
    await _until(first, job_ids[0], {Phase.EXECUTING}, 10)
    await first.close()  # the API goes away while jobs run and wait in the queue
    second = await open_job_system(config, job_kinds())
    try:
        for job_id in job_ids:
            assert await _until(second, job_id, {Phase.COMPLETED, Phase.ERROR}, 15) is Phase.COMPLETED
            job = await second.get(job_id)
            assert [r.id for r in job.results] == ["result"]
            assert (second.job_dir(job_id) / "results" / "result").read_text() == "slept 0.5"
    finally:
        await second.close()


async def test_queued_jobs_survive_a_redis_restart(config: JobConfig, start_worker: StartWorker) -> None:
    redis = PrivateRedis()
    redis.start()
    try:
        cfg = replace(config, broker_url=redis.url)
        system = await open_job_system(cfg, job_kinds())
        try:
            # no worker yet: the jobs wait in Redis, which then restarts without persistence
            queued = [await _submit(system, "uws-echo", MESSAGE=f"q{i}") for i in range(4)]
            redis.stop()
            # submitted while Redis is down: accepted, QUEUED in the store
            during = await _submit(system, "uws-echo", MESSAGE="down")
            assert await system.store.phase(during) is Phase.QUEUED
            redis.start()
            worker = start_worker("a", broker_url=redis.url)
            await asyncio.to_thread(worker.wait_ready)
            for job_id in [*queued, during]:
                assert await _until(system, job_id, {Phase.COMPLETED, Phase.ERROR}, 15) is Phase.COMPLETED
            assert (system.job_dir(during) / "results" / "result").read_text() == "down"
        finally:
            await system.close()
    finally:
        redis.stop()


# -- the service's own heavy job kinds: anomaly scoring and bulk cutouts ----------------------------

ANOMALY_QUERY = ("SELECT coadd_object_id, mag_auto_g, mag_auto_r, mag_auto_i, mag_auto_z FROM des_dr1.main")


@pytest.fixture
def service_data(tmp_path: Path, ci_duckdb_path: Path) -> Path:
    """The data directory the workers serve: the ``ci`` catalogue and two small coadd tiles."""
    shutil.copyfile(ci_duckdb_path, tmp_path / "catalog.duckdb")
    for band in ("g", "r"):
        write_tile(tmp_path / "release", "DES2134-0041", band)
    return tmp_path


def _service_kinds(data_dir: Path) -> list[JobKind]:
    # The API side only checks and queues these kinds; the workers run them with their release.
    return [*skygate_job_kinds(WorkerResources(Settings(data_dir=data_dir))), *job_kinds()]


def _positions(count: int) -> str:
    ra, dec = TILES["DES2134-0041"]
    rows = [f"{ra + 0.3 * math.cos(k):.5f},{dec + 0.3 * math.sin(k):.5f}" for k in range(count)]
    return "RA,DEC\n" + "\n".join(rows) + "\n"


async def _heavy_jobs(system: JobSystem) -> list[str]:
    return [await _submit(system, "anomaly.score", QUERY=ANOMALY_QUERY, NTREES="3000", RESPONSEFORMAT="parquet"),
            await _submit(system, "soda-bulk", POSITIONS=_positions(300), XSIZE="1", COLORS_FITS="gr")]


async def test_anomaly_and_bulk_jobs_end_completed_or_error_after_a_worker_kill(
    config: JobConfig, start_worker: StartWorker, service_data: Path
) -> None:
    system = await open_job_system(config, _service_kinds(service_data))
    try:
        first = start_worker("a")
        await asyncio.to_thread(first.wait_ready)
        job_ids = await _heavy_jobs(system)
        for job_id in job_ids:
            await _until(system, job_id, {Phase.EXECUTING, Phase.COMPLETED, Phase.ERROR}, 20)
        first.kill()  # mid-job: SIGKILL, as the OOM killer would
        second = start_worker("b")
        await asyncio.to_thread(second.wait_ready)
        for job_id in job_ids:
            assert await _until(system, job_id, {Phase.COMPLETED, Phase.ERROR}, 90) in (Phase.COMPLETED, Phase.ERROR)
        assert "Traceback" not in second.log.read_text()
    finally:
        await system.close()


async def test_anomaly_and_bulk_jobs_survive_a_redis_restart(
    config: JobConfig, start_worker: StartWorker, service_data: Path
) -> None:
    redis = PrivateRedis()
    redis.start()
    try:
        system = await open_job_system(replace(config, broker_url=redis.url), _service_kinds(service_data))
        try:
            job_ids = await _heavy_jobs(system)  # waiting in Redis, which restarts and forgets them
            redis.stop()
            redis.start()
            worker = start_worker("a", broker_url=redis.url)
            await asyncio.to_thread(worker.wait_ready)
            for job_id in job_ids:
                assert await _until(system, job_id, {Phase.COMPLETED, Phase.ERROR}, 90) is Phase.COMPLETED
        finally:
            await system.close()
    finally:
        redis.stop()
