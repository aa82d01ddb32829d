"""Bounded memory and time per statement: DuckDB's memory limit, the watchdog, limits under load.

The DuckDB cases use a table ingested by the test; the PostgreSQL case (``postgres`` marker)
checks that ``work_mem`` reaches the statement's session.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pyarrow as pa
import pytest

from dali.errors import TransientError, UsageError
from release.backends import DuckDBBackend, MemoryLimits, PostgresBackend, open_backend
from release.ingest import ingest_arrow
from release.stores import open_store
from release.watchdog import DaemonThreads, Watchdog

BASE_URL = "http://example.org/skygate"
SMALL = 48 * 2**20


@pytest.fixture
async def catalog(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.duckdb"
    async with await open_store("", path, readonly_role="") as store:
        await ingest_arrow(store, "t.n", pa.table({"i": pa.array(range(300), pa.int64())}))
    return path


@pytest.fixture
async def limited(catalog: Path, tmp_path: Path) -> AsyncIterator[DuckDBBackend]:
    limits = MemoryLimits(memory=SMALL, temp=2**20, temp_dir=tmp_path / "spill")
    backend = open_backend("", catalog, base_url=BASE_URL, readonly_role="", limits=limits)
    assert isinstance(backend, DuckDBBackend)
    yield backend
    await backend.close()


async def collect(backend: DuckDBBackend | PostgresBackend, sql: str, timeout: float = 60) -> pa.Table:
    batches = [b async for b in backend.stream(sql, timeout=timeout)]
    return pa.Table.from_batches(batches)


async def test_the_memory_limit_reaches_duckdb(limited: DuckDBBackend, tmp_path: Path) -> None:
    table = await collect(limited, "SELECT current_setting('memory_limit') AS m, "
                                   "current_setting('max_temp_directory_size') AS t, "
                                   "current_setting('temp_directory') AS d")
    assert table.to_pylist() == [{"m": "48.0 MiB", "t": "1.0 MiB", "d": str(tmp_path / "spill")}]


async def test_a_query_over_the_memory_limit_fails_cleanly(limited: DuckDBBackend) -> None:
    # 90,000 rows of 1 kB, sorted: twice the limit, and the spill space is 1 MiB.
    greedy = "SELECT a.i, b.i AS j, repeat('x', 1000) || a.i AS s FROM t.n a, t.n b ORDER BY s DESC"
    with pytest.raises(UsageError, match=r"more memory than this service's limit of 0\.0469 GiB") as info:
        await collect(limited, greedy)
    assert info.value.hint is not None and "narrow" in info.value.hint
    table = await collect(limited, "SELECT count(*) AS n FROM t.n")  # the backend still answers
    assert table.column("n").to_pylist() == [300]


def _join_chain(tables: int) -> str:
    joins = " ".join(f"JOIN t.n t{k} ON t{k}.i = t{k - 1}.i" for k in range(1, tables))
    return f"SELECT count(*) AS n FROM t.n t0 {joins}"


async def test_the_time_limit_holds_while_duckdb_plans(limited: DuckDBBackend) -> None:
    """DuckDB's filter pushdown over a long join chain runs for minutes without looking at its
    interrupt flag: the caller still gets the timeout error at the limit."""
    start = time.monotonic()
    with pytest.raises(UsageError, match="time limit of 1 s"):
        await collect(limited, _join_chain(80), timeout=1.0)
    assert time.monotonic() - start < 1.5
    table = await collect(limited, "SELECT count(*) AS n FROM t.n")
    assert table.column("n").to_pylist() == [300]


SLOW = "SELECT count(*) AS n FROM t.n a, t.n b, t.n c, t.n d WHERE a.i + b.i + c.i + d.i = -1"


async def test_limits_fire_within_ten_percent_under_8_way_load(limited: DuckDBBackend) -> None:
    limit = 1.5

    async def timed() -> float:
        start = time.monotonic()
        with pytest.raises(UsageError, match="time limit"):
            await collect(limited, SLOW, timeout=limit)
        return time.monotonic() - start

    took = await asyncio.gather(*(timed() for _ in range(8)))
    assert max(took) < limit * 1.1, took
    assert min(took) >= limit * 0.95, took


async def test_stop_all_interrupts_running_statements(limited: DuckDBBackend) -> None:
    task = asyncio.create_task(collect(limited, SLOW, timeout=60))
    await asyncio.sleep(0.3)
    start = time.monotonic()
    assert limited.stop_all() == 1
    with pytest.raises(TransientError, match="interrupted"):
        await task
    assert time.monotonic() - start < 2


def test_the_watchdog_repeats_until_the_statement_ends() -> None:
    calls: list[float] = []
    dog = Watchdog(repeat=0.05)
    try:
        entry = dog.watch(0.1, lambda: calls.append(time.monotonic()))
        time.sleep(0.35)
        dog.end(entry)
        seen = len(calls)
        time.sleep(0.15)
        assert entry.fired and seen >= 3 and len(calls) == seen
        quiet = dog.watch(0.2, lambda: calls.append(-1.0))
        dog.end(quiet)
        time.sleep(0.3)
        assert -1.0 not in calls and not quiet.fired
    finally:
        dog.close()


def test_an_earlier_deadline_registered_later_still_fires_on_time() -> None:
    """The thread sleeps until the earliest deadline; a new earliest one must wake it."""
    fired: list[float] = []
    dog = Watchdog()
    try:
        late = dog.watch(30, lambda: None)
        start = time.monotonic()
        early = dog.watch(0.1, lambda: fired.append(time.monotonic() - start))
        time.sleep(0.4)
        dog.end(early)
        dog.end(late)
        assert fired and 0.1 <= fired[0] < 0.3 and not late.fired
    finally:
        dog.close()


def test_ended_statements_do_not_pile_up_in_the_watchdog() -> None:
    """Each registration stays until its deadline unless dropped: a day's statements would fill memory."""
    dog = Watchdog()
    try:
        for _ in range(20_000):
            dog.end(dog.watch(3600, lambda: None))
        running = [dog.watch(3600, lambda: None) for _ in range(3000)]
        for _ in range(20_000):
            dog.end(dog.watch(3600, lambda: None))
        assert len(dog._heap) <= 2 * 3000 + 2  # the running ones are kept, the ended ones dropped
        assert dog.stop_all() == len(running)
    finally:
        dog.close()


@pytest.mark.postgres
async def test_work_mem_reaches_the_postgres_session(postgres_admin_url: str) -> None:
    limits = MemoryLimits(memory=256 * 2**20, statements=4)
    backend = open_backend(postgres_admin_url, Path("unused"), base_url=BASE_URL, readonly_role="", limits=limits)
    try:
        table = await collect(backend, "SELECT current_setting('work_mem') AS w")
        assert table.column("w").to_pylist() == ["16MB"]
        uploads = {"u": pa.table({"x": [1]})}
        async with contextlib.aclosing(backend.stream("SELECT current_setting('work_mem') AS w FROM u", timeout=10,
                                                uploads=uploads)) as rows:
            got = [b async for b in rows]
        assert pa.Table.from_batches(got).column("w").to_pylist() == ["16MB"]
    finally:
        await backend.close()


def test_daemon_threads_run_work_and_never_hold_up_exit() -> None:
    pool = DaemonThreads(2, name="t")
    try:
        assert [pool.submit(pow, 2, k).result(timeout=5) for k in range(5)] == [1, 2, 4, 8, 16]
        with pytest.raises(ZeroDivisionError):
            pool.submit(divmod, 1, 0).result(timeout=5)
        busy = [pool.submit(time.sleep, 0.2) for _ in range(4)]  # more work than threads waits its turn
        assert all(f.result(timeout=5) is None for f in busy)
        assert all(t.daemon for t in pool._threads) and len(pool._threads) <= 2
    finally:
        pool.shutdown(wait=True)
    with pytest.raises(RuntimeError):
        pool.submit(pow, 2, 2)
