"""Chunked anomaly scoring on real ``skygate worker`` processes (Redis broker, PostgreSQL job store),
one of them SIGKILLed mid-job: the job still completes with every row scored once and the scores a
single process computes."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import asyncpg
import numpy as np
import pyarrow.parquet as pq
import pytest

from anomaly import forest, model
from anomaly.jobs import CHUNK_KIND, SCORE_KIND
from release.runtime import open_release
from skygate.settings import Settings
from skygate.worker import WorkerResources, job_config, job_kinds
from tests.isolation import per_worker
from uws import Parameter, Phase
from uws.system import JobSystem, open_job_system

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]

PG_DATABASE = per_worker("skygate_test_anomaly")
ROOT = Path(__file__).resolve().parents[2]
QUERY = ("SELECT coadd_object_id, mag_auto_g, mag_auto_r, mag_auto_i, mag_auto_z, mag_auto_g - mag_auto_r AS g_r "
         "FROM des_dr1.main WHERE tilename = 'DES2134-0041'")


@pytest.fixture
def jobs_url(postgres_admin_url: str) -> Iterator[str]:
    async def recreate(drop_only: bool = False) -> None:
        conn = await asyncpg.connect(postgres_admin_url)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
            if not drop_only:
                await conn.execute(f"CREATE DATABASE {PG_DATABASE}")
        finally:
            await conn.close()

    asyncio.run(recreate())
    yield postgres_admin_url.rsplit("/", 1)[0] + f"/{PG_DATABASE}"
    asyncio.run(recreate(drop_only=True))


@pytest.fixture
def settings(tmp_path: Path, ci_duckdb_path: Path, jobs_url: str, redis_url: str) -> Settings:
    (tmp_path / "catalog.duckdb").symlink_to(ci_duckdb_path)
    return Settings(data_dir=tmp_path, jobs_url=jobs_url, broker_url=redis_url, anomaly_chunk_rows=2500)


class _Worker:
    def __init__(self, settings: Settings, queue: str, name: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SKYGATE_")}
        env.update(SKYGATE_BROKER_URL=settings.broker_url, SKYGATE_JOBS_URL=settings.jobs_url,
                   SKYGATE_DATA_DIR=str(settings.data_dir), SKYGATE_ANOMALY_CHUNK_ROWS=str(settings.anomaly_chunk_rows))
        self.log = settings.data_dir / f"worker-{name}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).with_name("skygate")), "worker", "--processes", "1", "--threads", "2",
                 "--queue", queue], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while "worker consuming queue" not in self.log.read_text(errors="replace"):
            assert self.process.poll() is None and time.monotonic() < deadline, self.log.read_text(errors="replace")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[tuple[JobSystem, str, list[_Worker]]]:
    queue = f"anomaly-test-{secrets.token_hex(4)}"
    config = replace(job_config(settings, queue_name=queue), heartbeat_timeout=3.0, sweep_interval=0.5,
                     requeue_after=3.0)
    release = await open_release("", settings.duckdb_path, base_url=settings.base_url, readonly_role="")
    resources = WorkerResources(settings, release)
    system = await open_job_system(config, job_kinds(resources))
    resources.jobs = system
    workers = [_Worker(settings, queue, name) for name in ("a", "b")]
    try:
        for worker in workers:
            await asyncio.to_thread(worker.wait_ready)
        yield system, queue, workers
    finally:
        for worker in workers:
            await asyncio.to_thread(worker.stop)
        await system.close()
        await release.close()


async def test_chunks_spread_over_workers_survive_a_killed_worker(
    api: tuple[JobSystem, str, list[_Worker]],
) -> None:
    system, _, workers = api
    job = await system.create(SCORE_KIND, [Parameter("QUERY", QUERY), Parameter("NTREES", "150"),
                                           Parameter("RESPONSEFORMAT", "parquet")], run=True)
    # Kill one worker as soon as chunk jobs exist: it holds the parent or a chunk (or is idle).
    for _ in range(3000):
        if await system.store.list_jobs(kind=CHUNK_KIND, owner=None):
            break
        await asyncio.sleep(0.02)
    await asyncio.to_thread(workers[0].stop, signal.SIGKILL)
    phase = await system.store.phase(job.job_id)
    for _ in range(600):
        phase = await system.store.phase(job.job_id)
        if phase in (Phase.COMPLETED, Phase.ERROR, Phase.ABORTED):
            break
        await system.wait(job.job_id, phase or Phase.EXECUTING, 1.0)
    done = await system.store.get(job.job_id)
    assert done is not None and done.phase is Phase.COMPLETED, (done, workers[1].log.read_text()[-3000:])
    results = system.job_dir(job.job_id) / "results"
    table = pq.read_table(results / "result")
    ids = table.column("coadd_object_id").to_numpy()
    assert len(ids) == len(np.unique(ids)) > 10_000
    fitted = model.load(results / "model")
    features = np.column_stack([table.column(n).to_numpy().astype(np.float64) for n in fitted.features])
    assert np.array_equal(table.column("score").to_numpy(), forest.score(fitted.forest, fitted.transform(features)))
