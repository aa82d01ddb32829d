"""The result-storage quota: what an owner's jobs' results keep, a job that would pass it ends in
ERROR with its results dropped, and at the quota new jobs are refused (429) until jobs are deleted."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from uws.config import JobConfig
from uws.models import Parameter, Phase
from uws.system import JobSystem, QuotaExceeded, open_job_system
from uws.testing import job_kinds


async def _finished(system: JobSystem, job_id: str) -> Phase:
    for _ in range(500):
        phase = await system.store.phase(job_id)
        if phase in (Phase.COMPLETED, Phase.ERROR):
            return phase
        await asyncio.sleep(0.01)
    raise AssertionError(f"job {job_id} did not finish")


async def test_results_beyond_the_owners_quota_are_dropped_and_new_jobs_wait(job_config: JobConfig) -> None:
    system = await open_job_system(replace(job_config, max_result_bytes_per_owner=250), job_kinds())
    try:
        kept = await system.create("uws-echo", [Parameter("message", "x" * 200)], owner="alice", run=True)
        assert await _finished(system, kept.job_id) is Phase.COMPLETED
        assert await system.store.result_bytes("alice") == 200
        assert await system.store.result_bytes("bob") == 0 and await system.store.result_bytes(None) == 0

        over = await system.create("uws-echo", [Parameter("message", "y" * 100)], owner="alice", run=True)
        assert await _finished(system, over.job_id) is Phase.ERROR
        job = await system.store.get(over.job_id)
        assert job is not None and job.results == ()
        assert job.error is not None and "over your quota of 250 bytes" in job.error.message
        assert not (system.job_dir(over.job_id) / "results").exists()  # the bytes are gone too
        assert await system.store.result_bytes("alice") == 200

        small = await system.create("uws-echo", [Parameter("message", "z" * 50)], owner="alice", run=True)
        assert await _finished(system, small.job_id) is Phase.COMPLETED  # 250: exactly the quota
        with pytest.raises(QuotaExceeded, match="your quota is 250"):
            await system.create("uws-echo", [Parameter("message", "z")], owner="alice", run=True)
        other = await system.create("uws-echo", [Parameter("message", "b" * 200)], owner="bob", run=True)
        assert await _finished(system, other.job_id) is Phase.COMPLETED  # each owner has their own

        await system.delete(kept.job_id)
        again = await system.create("uws-echo", [Parameter("message", "z")], owner="alice", run=True)
        assert await _finished(system, again.job_id) is Phase.COMPLETED
    finally:
        await system.close()
