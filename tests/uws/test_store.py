"""The job stores (SQLite and PostgreSQL): round trips, compare-and-set, queries, notifications."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from uws.models import ErrorInfo, ErrorType, Job, Parameter, Phase, Result
from uws.store import JobStore, open_store

NOW = datetime(2030, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)


def _job(job_id: str, *, phase: Phase = Phase.PENDING, kind: str = "k", owner: str | None = None,
         created: datetime = NOW, **extra: object) -> Job:
    return Job(job_id=job_id, kind=kind, phase=phase, owner=owner, run_id=None, creation_time=created,
               execution_duration=60, destruction=created + timedelta(days=1), **extra)  # type: ignore[arg-type]


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[JobStore]:
    store = open_store(store_url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def test_a_job_round_trips_with_every_field(store: JobStore) -> None:
    job = _job(
        "j1", phase=Phase.ERROR, owner="alice",
        parameters=(Parameter("QUERY", "SELECT 'é' <"), Parameter("t1", "abc-t1", by_reference=True)),
        start_time=NOW, end_time=NOW + timedelta(seconds=3), results=(Result("result", "text/plain", 12),),
        error=ErrorInfo(ErrorType.TRANSIENT, "try later"), attempts=2, heartbeat=NOW, progress=(3, 10),
    )
    await store.create(job)
    assert await store.get("j1") == job
    assert await store.phase("j1") is Phase.ERROR
    assert await store.get("nope") is None and await store.phase("nope") is None


async def test_only_one_of_racing_transitions_wins(store: JobStore) -> None:
    for i in range(15):
        await store.create(_job(f"r{i}", phase=Phase.EXECUTING))
        done, aborted = await asyncio.gather(
            store.transition(f"r{i}", Phase.EXECUTING, Phase.COMPLETED, end_time=NOW),
            store.transition(f"r{i}", [Phase.QUEUED, Phase.EXECUTING], Phase.ABORTED),
        )
        assert done != aborted
        assert await store.phase(f"r{i}") is (Phase.COMPLETED if done else Phase.ABORTED)


async def test_a_job_is_claimed_once(store: JobStore) -> None:
    await store.create(_job("c", phase=Phase.QUEUED))
    claims = await asyncio.gather(*(store.claim("c", NOW) for _ in range(4)))
    won = [c for c in claims if c is not None]
    assert len(won) == 1
    assert won[0].phase is Phase.EXECUTING and won[0].attempts == 1 and won[0].start_time == NOW
    assert await store.claim("missing", NOW) is None


async def test_list_filters_by_kind_owner_phase_after_and_last(store: JobStore) -> None:
    for i, phase in enumerate([Phase.PENDING, Phase.COMPLETED, Phase.PENDING, Phase.ARCHIVED]):
        await store.create(_job(f"l{i}", phase=phase, created=NOW + timedelta(seconds=i)))
    await store.create(_job("other-kind", kind="x"))
    await store.create(_job("bobs", owner="bob"))

    async def ids(**filters: object) -> list[str]:
        return [j.job_id for j in await store.list_jobs(kind="k", owner=None, **filters)]  # type: ignore[arg-type]

    assert await ids() == ["l2", "l1", "l0"]  # newest first; ARCHIVED only when asked
    assert await ids(phases=[Phase.ARCHIVED]) == ["l3"]
    assert await ids(phases=[Phase.PENDING], last=1) == ["l2"]
    assert await ids(after=NOW + timedelta(milliseconds=500)) == ["l2", "l1"]
    assert [j.job_id for j in await store.list_jobs(kind="k", owner="bob")] == ["bobs"]


async def test_stale_waiting_and_expired(store: JobStore) -> None:
    old = NOW - timedelta(minutes=5)
    await store.create(_job("silent", phase=Phase.EXECUTING, heartbeat=old))
    await store.create(_job("alive", phase=Phase.EXECUTING, heartbeat=NOW))
    await store.create(_job("lost", phase=Phase.QUEUED), enqueued_at=old)
    await store.create(_job("fresh", phase=Phase.QUEUED), enqueued_at=NOW)
    await store.create(_job("never", phase=Phase.QUEUED))
    assert [j.job_id for j in await store.stale(NOW - timedelta(minutes=1))] == ["silent"]
    assert sorted(await store.waiting(NOW - timedelta(minutes=1))) == ["lost", "never"]
    assert sorted(await store.expired(NOW + timedelta(days=2))) == ["alive", "fresh", "lost", "never", "silent"]
    assert await store.heartbeat("alive", (1, 2)) is Phase.EXECUTING
    assert (await store.get("alive")).progress == (1, 2)  # type: ignore[union-attr]
    assert await store.heartbeat("lost", None) is Phase.QUEUED  # not executing: no beat, phase told
    assert await store.heartbeat("gone", None) is None
    assert await store.delete("silent") and not await store.delete("silent")


async def test_parameters_change_only_while_pending(store: JobStore) -> None:
    await store.create(_job("p"))
    new = [Parameter("A", "1")]
    assert await store.transition("p", Phase.PENDING, Phase.PENDING, parameters=new, run_id="r")
    job = await store.get("p")
    assert job is not None and job.parameters == tuple(new) and job.run_id == "r"
    await store.transition("p", Phase.PENDING, Phase.QUEUED)
    assert not await store.transition("p", Phase.PENDING, Phase.PENDING, parameters=[])


async def test_another_process_s_change_is_seen_within_50_ms(store_url: str, store: JobStore) -> None:
    """What a blocking WAIT relies on: LISTEN/NOTIFY (PostgreSQL) or a 20 ms poll (SQLite)."""
    from tests.configs import job_config
    from uws.system import JobSystem

    other = open_store(store_url)  # its own connections, as another process would have
    await other.open()
    system = JobSystem(job_config(store_url=store_url, results_dir=__import__("pathlib").Path("/nonexistent")),
                       [], store=store)
    try:
        await store.create(_job("w", phase=Phase.EXECUTING))
        changed_at: list[float] = []

        async def change() -> None:
            await asyncio.sleep(0.3)
            await other.transition("w", Phase.EXECUTING, Phase.COMPLETED)
            changed_at.append(time.monotonic())

        task = asyncio.create_task(change())
        assert await system.wait("w", Phase.EXECUTING, 5) is Phase.COMPLETED
        returned = time.monotonic()
        await task
        assert returned - changed_at[0] < 0.05 + 0.03  # the change, plus scheduling slack
    finally:
        await other.close()


async def test_a_run_that_was_taken_over_can_neither_beat_nor_finish(store: JobStore) -> None:
    await store.create(_job("t", phase=Phase.QUEUED))
    first = await store.claim("t", NOW)
    assert first is not None and first.attempts == 1
    # the janitor gave the job to another worker (run 2) while run 1 was silent
    assert await store.transition("t", Phase.EXECUTING, Phase.QUEUED)
    assert (await store.claim("t", NOW)).attempts == 2  # type: ignore[union-attr]
    assert await store.heartbeat("t", None, attempt=1) is Phase.QUEUED  # "not yours any more"
    assert not await store.transition("t", Phase.EXECUTING, Phase.COMPLETED, attempt=1)
    assert await store.heartbeat("t", None, attempt=2) is Phase.EXECUTING
    assert await store.transition("t", Phase.EXECUTING, Phase.COMPLETED, attempt=2)


@pytest.mark.postgres
async def test_the_listen_connection_comes_back_after_it_is_killed(postgres_jobs_url: str) -> None:
    import asyncpg

    from uws.postgres import LISTENER_NAME

    seen: list[tuple[str, Phase | None]] = []
    store = open_store(postgres_jobs_url)
    store.subscribe(lambda job_id, phase: seen.append((job_id, phase)))
    await store.open()
    other = open_store(postgres_jobs_url)
    await other.open()
    admin = await asyncpg.connect(postgres_jobs_url)
    try:
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1 "
            "AND datname = current_database()", LISTENER_NAME)
        assert killed >= 1
        await other.delete("after-kill")
        await other.create(_job("after-kill", phase=Phase.QUEUED))
        for _ in range(100):  # reconnects within a few seconds
            await asyncio.sleep(0.05)
            await other.transition("after-kill", Phase.QUEUED, Phase.QUEUED)
            if ("after-kill", Phase.QUEUED) in seen:
                break
        assert ("after-kill", Phase.QUEUED) in seen
    finally:
        await admin.close()
        await other.close()
        await store.close()
