"""Quotas and fair shares between owners: one owner's many jobs never starve another's one.

``max_active_per_owner`` refuses one more QUEUED/EXECUTING job (429 with Retry-After);
``max_running_per_owner`` makes workers put an owner's extra jobs back, on the in-process queue and
on Redis with real ``skygate worker`` processes.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from tests.configs import job_config as configured
from uws.config import JobConfig
from uws.models import Parameter, Phase
from uws.routes import job_routes
from uws.system import JobSystem, QuotaExceeded, open_job_system
from uws.testing import job_kinds

from .workers import WorkerProcess

FINAL = {Phase.COMPLETED, Phase.ERROR, Phase.ABORTED}


async def _wait_final(system: JobSystem, job_ids: list[str], timeout: float = 60) -> dict[str, float]:
    """When (monotonic seconds) each job reached a final phase."""
    done: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(done) < len(job_ids):
        assert time.monotonic() < deadline, f"{len(job_ids) - len(done)} jobs did not finish"
        for job_id in job_ids:
            if job_id not in done and await system.store.phase(job_id) in FINAL:
                done[job_id] = time.monotonic()
        await asyncio.sleep(0.02)
    return done


async def test_active_jobs_per_owner_are_capped(job_config: JobConfig) -> None:
    system = await open_job_system(replace(job_config, max_active_per_owner=2, local_workers=4), job_kinds())
    try:
        slow = [Parameter("seconds", "2")]
        for _ in range(2):
            await system.create("uws-sleep", slow, owner="alice", run=True)
        with pytest.raises(QuotaExceeded, match="limit is 2") as caught:
            await system.create("uws-sleep", slow, owner="alice", run=True)
        assert caught.value.retry_after > 0
        pending = await system.create("uws-sleep", slow, owner="alice")  # PENDING jobs do not count
        with pytest.raises(QuotaExceeded):
            await system.run(pending)
        assert (await system.store.get(pending.job_id)).phase is Phase.PENDING  # type: ignore[union-attr]
        other = await system.create("uws-sleep", slow, owner="bob", run=True)  # others are not affected
        assert other.phase is Phase.QUEUED

        app = Starlette(routes=[Mount("/sleep", routes=job_routes("uws-sleep", SimpleNamespace(jobs=system)))])
        system.owner_of = lambda request: "alice"
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            refused = await client.post("/sleep/async", data={"SECONDS": "1", "PHASE": "RUN"})
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
        assert "limit is 2" in refused.text
    finally:
        await system.close()


async def test_one_owner_cannot_starve_another_on_the_local_queue(job_config: JobConfig) -> None:
    config = replace(job_config, local_workers=2, max_running_per_owner=1, defer_seconds=0.2)
    system = await open_job_system(config, job_kinds())
    try:
        many = [(await system.create("uws-sleep", [Parameter("seconds", "0.4")], owner="alice", run=True)).job_id
                for _ in range(12)]
        started = time.monotonic()
        one = (await system.create("uws-sleep", [Parameter("seconds", "0.1")], owner="bob", run=True)).job_id
        done = await _wait_final(system, [*many, one])
        # Unfair FIFO would run bob's job after alice's twelve (~2.4 s on two workers).
        assert done[one] - started < 1.5
        assert sum(t < done[one] for job, t in done.items() if job in many) <= 6
    finally:
        await system.close()


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.slow
async def test_one_owner_cannot_starve_another_on_redis_workers(
        postgres_jobs_url: str, redis_url: str, tmp_path: Path) -> None:
    import asyncpg

    conn = await asyncpg.connect(postgres_jobs_url)
    try:
        await conn.execute("DROP SCHEMA IF EXISTS uws CASCADE")
    finally:
        await conn.close()
    queue = f"uws-fair-{secrets.token_hex(4)}"
    config = configured(store_url=postgres_jobs_url, results_dir=tmp_path / "results", broker_url=redis_url,
                       queue_name=queue, sweep_interval=0, max_running_per_owner=1)
    worker = WorkerProcess(broker_url=redis_url, jobs_url=postgres_jobs_url, data_dir=tmp_path, queue=queue,
                           threads=2, settings={"SKYGATE_USER_MAX_RUNNING_JOBS": "1"})
    system = await open_job_system(config, job_kinds())
    try:
        worker.wait_ready()
        many = [(await system.create("uws-sleep", [Parameter("seconds", "0.4")], owner="alice", run=True)).job_id
                for _ in range(20)]
        started = time.monotonic()
        one = (await system.create("uws-sleep", [Parameter("seconds", "0.1")], owner="bob", run=True)).job_id
        done = await _wait_final(system, [*many, one], timeout=90)
        assert {await system.store.phase(j) for j in [*many, one]} == {Phase.COMPLETED}
        # Unfair FIFO would run bob's job after alice's twenty (~4 s on two threads, all 20 before it).
        assert done[one] - started < 2.5, done[one] - started
        assert sum(t < done[one] for job, t in done.items() if job in many) <= 10
    finally:
        await system.close()
        worker.stop()


class Limits:
    """Per-owner limits, as ``skygate`` installs them from users' quotas (``uws.limits.OwnerLimits``)."""

    def __init__(self, active: dict[str, int], running: dict[str, int]) -> None:
        self.active = active
        self.running = running

    async def max_active_jobs(self, owner: str | None) -> int:
        return self.active.get(owner or "", 0)

    async def max_running_jobs(self, owner: str | None) -> int:
        return self.running.get(owner or "", 0)

    async def max_result_bytes(self, owner: str | None) -> int:
        return 0


async def test_each_owner_has_their_own_limits(job_config: JobConfig) -> None:
    system = await open_job_system(replace(job_config, local_workers=4, defer_seconds=0.1), job_kinds())
    limits = Limits(active={"alice": 1, "bob": 3}, running={"alice": 1})
    system.use_limits(limits)
    try:
        alices = await system.create("uws-sleep", [Parameter("seconds", "0.6")], owner="alice", run=True)
        with pytest.raises(QuotaExceeded, match="limit is 1"):
            await system.create("uws-sleep", [Parameter("seconds", "0.6")], owner="alice", run=True)
        started = time.monotonic()
        bobs = [(await system.create("uws-sleep", [Parameter("seconds", "0.6")], owner="bob", run=True)).job_id
                for _ in range(3)]
        with pytest.raises(QuotaExceeded, match="limit is 3"):
            await system.create("uws-sleep", [Parameter("seconds", "0.6")], owner="bob", run=True)
        done = await _wait_final(system, bobs)
        assert max(done.values()) - started < 1.1  # bob's three ran side by side (no running limit)

        limits.active["alice"] = 2
        await _wait_final(system, [alices.job_id])
        first = await system.create("uws-sleep", [Parameter("seconds", "0.5")], owner="alice", run=True)
        second = await system.create("uws-sleep", [Parameter("seconds", "0.5")], owner="alice", run=True)
        started = time.monotonic()
        done = await _wait_final(system, [first.job_id, second.job_id])
        assert max(done.values()) - started >= 0.9  # one at a time: alice may run one job at once
    finally:
        await system.close()
