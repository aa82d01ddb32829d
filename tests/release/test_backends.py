"""Backends: streaming, types, uploads, base URL, read-only enforcement, timeout and cancellation.

Every behaviour runs on DuckDB and, under the ``postgres`` marker, on PostgreSQL (the ``backend``
fixture is parametrized over both, on a small synthetic table ingested by the test itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pyarrow as pa
import pytest

from dali.errors import FatalError, UsageError
from release.backends import DuckDBBackend, PostgresBackend, open_backend, reader_dsn
from release.ingest import ingest_arrow
from release.stores import open_store
from tests.isolation import per_worker
from tests.release.pg_activity import running_statements

BASE_URL = "http://example.org/skygate"
ROLE = per_worker("skygate_test_reader")


def small_table() -> pa.Table:
    return pa.table({
        "id": pa.array([3_000_000_001, 3_000_000_002, 2**62, None], pa.int64()),
        "mag": pa.array([18.25, None, 21.5, 99.0], pa.float32()),
        "name": pa.array(["a", "", None, "DES2134-0041"], pa.string()),
        "flag": pa.array([0, 1, None, 4], pa.int16()),
    })


@pytest.fixture
async def duck(tmp_path: Path) -> AsyncIterator[DuckDBBackend]:
    path = tmp_path / "catalog.duckdb"
    async with await open_store("", path, readonly_role="") as store:
        await ingest_arrow(store, "t.small", small_table())
    backend = open_backend("", path, base_url=BASE_URL, readonly_role="")
    assert isinstance(backend, DuckDBBackend)
    yield backend
    await backend.close()


@pytest.fixture
async def pg(postgres_admin_url: str) -> AsyncIterator[PostgresBackend]:
    url = await _fresh_database(postgres_admin_url, per_worker("skygate_test_backends"))
    async with await open_store(url, Path("unused"), readonly_role=ROLE) as store:
        await ingest_arrow(store, "t.small", small_table())
    backend = open_backend(url, Path("unused"), base_url=BASE_URL, readonly_role=ROLE)
    assert isinstance(backend, PostgresBackend)
    yield backend
    await backend.close()


async def _fresh_database(admin_url: str, name: str) -> str:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return admin_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> DuckDBBackend | PostgresBackend:
    return request.getfixturevalue("duck" if request.param == "duckdb" else "pg")  # type: ignore[no-any-return]


async def collect(backend: DuckDBBackend | PostgresBackend, sql: str, **kw: object) -> pa.Table:
    batches = [b async for b in backend.stream(sql, timeout=kw.pop("timeout", 10.0), **kw)]  # type: ignore[arg-type]
    return pa.Table.from_batches(batches)


async def test_types_and_nulls_survive(backend: DuckDBBackend | PostgresBackend) -> None:
    table = await collect(backend, "SELECT id, mag, name, flag FROM t.small ORDER BY id NULLS LAST")
    assert table.schema.types == [pa.int64(), pa.float32(), pa.string(), pa.int16()]
    assert table.column("id").to_pylist() == [3_000_000_001, 3_000_000_002, 2**62, None]
    assert table.column("mag").to_pylist() == [18.25, None, 21.5, 99.0]
    assert table.column("name").to_pylist() == ["a", "", None, "DES2134-0041"]
    assert table.column("flag").to_pylist() == [0, 1, None, 4]


async def test_empty_result_still_has_a_schema(backend: DuckDBBackend | PostgresBackend) -> None:
    batches = [b async for b in backend.stream("SELECT id, name FROM t.small WHERE id < 0", timeout=10)]
    assert len(batches) == 1 and batches[0].num_rows == 0
    assert batches[0].schema.names == ["id", "name"]


async def test_batches_respect_batch_rows(backend: DuckDBBackend | PostgresBackend) -> None:
    sql = "SELECT a.id FROM t.small a, t.small b, t.small c, t.small d, t.small e"  # 4**5 = 1024 rows
    sizes = [b.num_rows async for b in backend.stream(sql, timeout=10, batch_rows=100)]
    assert sum(sizes) == 1024
    # DuckDB rounds batches to its vector size (2048); PostgreSQL fetches exactly batch_rows.
    assert max(sizes) <= (2048 if backend.dialect == "duckdb" else 100)


async def test_a_small_result_takes_one_trip_to_the_database_threads(backend: DuckDBBackend | PostgresBackend,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A cone's few rows and the end of its result come back together: each trip costs the event loop."""
    threads = backend._threads if isinstance(backend, DuckDBBackend) else backend._copy._threads
    await collect(backend, "SELECT id FROM t.small")  # a pooled connection or cursor to reuse
    trips: list[object] = []
    submit = threads.submit
    monkeypatch.setattr(threads, "submit", lambda fn, *args, **kw: trips.append(fn) or submit(fn, *args, **kw))
    assert (await collect(backend, "SELECT id FROM t.small")).num_rows == 4
    statement_trips = [fn for fn in trips if getattr(fn, "__name__", "") not in ("close", "_finish")]
    assert len(statement_trips) == 1, trips


async def test_upload_is_visible_for_one_statement(backend: DuckDBBackend | PostgresBackend) -> None:
    upload = pa.table({"id": pa.array([2**62, 5], pa.int64()), "Odd Name": ["x", "y"],
                       "pos": pa.array([[1.0, 2.0], None], pa.list_(pa.float64()))})
    sql = ('SELECT u.id, u."Odd Name", u.pos, s.mag FROM tap_upload_t1 AS u '
           "LEFT JOIN t.small AS s ON s.id = u.id ORDER BY u.id")
    table = await collect(backend, sql, uploads={"tap_upload_t1": upload})
    assert table.to_pylist() == [
        {"id": 5, "Odd Name": "y", "pos": None, "mag": None},
        {"id": 2**62, "Odd Name": "x", "pos": [1.0, 2.0], "mag": 21.5},
    ]
    with pytest.raises(FatalError):
        await collect(backend, "SELECT * FROM tap_upload_t1")


async def test_base_url_session_variable(backend: DuckDBBackend | PostgresBackend) -> None:
    sql = ("SELECT getvariable('skygate_base_url') AS u" if backend.dialect == "duckdb"
           else "SELECT current_setting('skygate.base_url') AS u")
    table = await collect(backend, sql)
    assert table.column("u").to_pylist() == [BASE_URL]


@pytest.mark.parametrize("sql", [
    "CREATE TABLE t.evil (a int)",
    "INSERT INTO t.small (id) VALUES (1)",
    "DELETE FROM t.small",
    "DROP TABLE t.small",
])
async def test_writes_are_refused(backend: DuckDBBackend | PostgresBackend, sql: str) -> None:
    with pytest.raises(UsageError, match="only read"):
        await collect(backend, sql)
    table = await collect(backend, "SELECT count(*) AS n FROM t.small")
    assert table.column("n").to_pylist() == [4]


@pytest.mark.parametrize("sql", [
    "COPY (SELECT 1) TO '{tmp}/evil.csv'",
    "ATTACH '{tmp}/evil.duckdb'",
    "SELECT * FROM read_csv('{tmp}/secret.csv')",
    "SELECT 1; SELECT 2",
])
async def test_duckdb_touches_no_other_file(duck: DuckDBBackend, tmp_path: Path, sql: str) -> None:
    (tmp_path / "secret.csv").write_text("a\n1\n")
    with pytest.raises(UsageError):
        await collect(duck, sql.format(tmp=tmp_path))
    assert not (tmp_path / "evil.csv").exists() and not (tmp_path / "evil.duckdb").exists()


@pytest.mark.postgres
async def test_reader_role_cannot_write_even_outside_our_transactions(pg: PostgresBackend) -> None:
    conn = await asyncpg.connect(pg.dsn)
    try:
        assert await conn.fetchval("SELECT current_user") == ROLE
        await conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("INSERT INTO t.small (id) VALUES (1)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE t.evil (a int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE public.evil (a int)")
    finally:
        await conn.close()


SLOW = {
    "duckdb": "SELECT count(*) AS n FROM range(200000) a, range(200000) b WHERE a.range * b.range % 7 = 3",
    "postgres": "SELECT count(*) AS n FROM generate_series(1, 200000) a, generate_series(1, 200000) b "
                "WHERE a * b % 7 = 3",
}


async def test_timeout_stops_a_long_query(backend: DuckDBBackend | PostgresBackend) -> None:
    start = time.monotonic()
    with pytest.raises(UsageError, match=r"time limit of 0\.5 s"):
        await collect(backend, SLOW[backend.dialect], timeout=0.5)
    assert time.monotonic() - start < 5
    table = await collect(backend, "SELECT count(*) AS n FROM t.small")  # the backend still works
    assert table.column("n").to_pylist() == [4]


BIG = {
    "duckdb": "SELECT range AS i FROM range(100000000)",
    # generate_series materialises its output, so two small ones are crossed to stream 10**8 rows.
    "postgres": "SELECT a * b AS i FROM generate_series(1, 10000) AS a, generate_series(1, 10001) AS b",
}


async def test_closing_the_iterator_stops_the_statement(backend: DuckDBBackend | PostgresBackend) -> None:
    stream = backend.stream(BIG[backend.dialect], timeout=60, batch_rows=1000)
    start = time.monotonic()
    first = await anext(stream)
    assert first.num_rows > 0
    await stream.aclose()  # type: ignore[attr-defined]
    assert time.monotonic() - start < 5
    if isinstance(backend, PostgresBackend):
        await asyncio.sleep(0.2)
        conn = await asyncpg.connect(backend.dsn)
        try:
            running = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%generate_series(1, 10001)%' "
                "AND state = 'active' AND pid <> pg_backend_pid()")
        finally:
            await conn.close()
        assert running == 0


async def test_cancelling_the_consumer_task_stops_the_statement(backend: DuckDBBackend | PostgresBackend) -> None:
    async def consume() -> None:
        async for _ in backend.stream(SLOW[backend.dialect], timeout=60):
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.3)
    task.cancel()
    start = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - start < 5
    table = await collect(backend, "SELECT count(*) AS n FROM t.small")
    assert table.column("n").to_pylist() == [4]


async def test_statements_after_stopped_ones_get_their_own_results(backend: DuckDBBackend | PostgresBackend) -> None:
    """Connections (DuckDB cursors) are reused only after a statement ran to its end, so neither a
    timed-out nor an abandoned statement leaks into the next ones, sequential or concurrent."""
    with pytest.raises(UsageError):
        await collect(backend, SLOW[backend.dialect], timeout=0.3)
    abandoned = backend.stream(BIG[backend.dialect], timeout=60, batch_rows=1000)
    await anext(abandoned)
    await abandoned.aclose()  # type: ignore[attr-defined]
    for i in range(20):
        table = await collect(backend, f"SELECT count(*) + {i} AS n FROM t.small")
        assert table.column("n").to_pylist() == [4 + i]
    tables = await asyncio.gather(*(collect(backend, f"SELECT id + {i} AS v FROM t.small WHERE id IS NOT NULL "
                                                     "ORDER BY id") for i in range(12)))
    assert [t.column("v").to_pylist()[0] for t in tables] == [3_000_000_001 + i for i in range(12)]


@pytest.mark.postgres
async def test_postgres_types_without_an_arrow_twin(pg: PostgresBackend) -> None:
    """numeric becomes double (as ADQL arithmetic expects); uuid, json and interval travel as text."""
    table = await collect(pg, "SELECT 1.5::numeric AS n, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u, "
                              "'{\"a\": 1}'::json AS j, interval '1 day' AS i, 7::oid AS o, NULL::numeric AS z")
    assert table.schema.types == [pa.float64(), pa.string(), pa.string(), pa.string(), pa.int64(), pa.float64()]
    row = table.to_pylist()[0]
    assert row["n"] == 1.5 and row["u"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11" and row["j"] == '{"a": 1}'
    assert row["i"] and row["o"] == 7 and row["z"] is None


@pytest.mark.postgres
async def test_an_error_in_the_middle_of_a_result_is_named(pg: PostgresBackend) -> None:
    """The division fails after more rows than the first batch holds, while rows are streaming."""
    sql = "SELECT 1 / (a - 2000000) AS x FROM generate_series(1, 3000000) AS a"
    seen = 0
    with pytest.raises(UsageError, match="divided by zero"):
        async for batch in pg.stream(sql, timeout=30, batch_rows=65536):
            seen += batch.num_rows
    assert seen > 0
    assert (await collect(pg, "SELECT count(*) AS n FROM t.small")).column("n").to_pylist() == [4]


async def _backend_pid(pg: PostgresBackend) -> int:
    return int((await collect(pg, "SELECT pg_backend_pid() AS p")).column("p")[0].as_py())


@pytest.mark.postgres
async def test_connections_are_reused_but_never_after_a_cancel(pg: PostgresBackend) -> None:
    """A cancel request can arrive late; on a reused connection it would stop the next statement."""
    pids = {await _backend_pid(pg) for _ in range(5)}
    assert len(pids) == 1
    abandoned = pg.stream("SELECT pg_backend_pid() AS p, a * b AS i FROM generate_series(1, 10000) AS a, "
                          "generate_series(1, 10001) AS b", timeout=60, batch_rows=1000)
    cancelled = (await anext(abandoned)).column("p")[0].as_py()
    await abandoned.aclose()  # type: ignore[attr-defined]
    assert cancelled in pids
    assert await _backend_pid(pg) != cancelled


@pytest.mark.postgres
async def test_a_consumer_in_a_cancelled_scope_still_stops_the_statement(pg: PostgresBackend,
                                                                          postgres_admin_url: str) -> None:
    """Starlette stops a response to a client that went away by cancelling an anyio scope, which
    cancels every await of the clean-up again: the statement must stop all the same."""
    import anyio

    sql = BIG["postgres"]
    with anyio.move_on_after(0.5):
        async with contextlib.aclosing(pg.stream(sql, timeout=60, batch_rows=1000)) as stream:
            async for _ in stream:
                await anyio.sleep(0.01)
    assert await running_statements(postgres_admin_url, "generate_series(1, 10001)", settle=5) == 0
    assert (await collect(pg, "SELECT count(*) AS n FROM t.small")).column("n").to_pylist() == [4]


def test_missing_duckdb_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no release loaded") as info:
        open_backend("", tmp_path / "none.duckdb", base_url=BASE_URL, readonly_role="")
    assert "skygate demo" in (info.value.hint or "")


def test_unknown_database_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="postgresql://"):
        open_backend("mysql://x", tmp_path / "none.duckdb", base_url=BASE_URL, readonly_role="")


@pytest.mark.parametrize(("url", "role", "expected"), [
    ("postgresql://postgres:secret@db:5432/sky", "reader", "postgresql://reader@db:5432/sky"),
    ("postgresql://db/sky", "reader", "postgresql://reader@db/sky"),
    ("postgresql://me@db/sky", "", "postgresql://me@db/sky"),
])
def test_reader_dsn(url: str, role: str, expected: str) -> None:
    assert reader_dsn(url, role) == expected


MANY = {
    "duckdb": "SELECT range AS i, range * 0.5 AS x, 'row ' || range AS s FROM range(3000000)",
    "postgres": "SELECT a * 1000 + b AS i, (a * 1000 + b) * 0.5::float8 AS x, 'row ' || b AS s "
                "FROM generate_series(0, 2999) AS a, generate_series(0, 999) AS b",
}


async def test_memory_stays_flat_while_streaming(backend: DuckDBBackend | PostgresBackend) -> None:
    """3 M rows (~85 MB as Arrow) pass through while about one batch is alive: measured in Arrow's
    pool and the Python heap, and as the process's resident memory, which also sees what the
    database drivers allocate themselves."""
    import tracemalloc

    import psutil

    process = psutil.Process()
    rss_base = process.memory_info().rss
    arrow_base = pa.total_allocated_bytes()
    arrow_peak, rss_peak, total = 0, 0, 0
    tracemalloc.start()
    try:
        async for batch in backend.stream(MANY[backend.dialect], timeout=120, batch_rows=65536):
            total += batch.num_rows
            arrow_peak = max(arrow_peak, pa.total_allocated_bytes() - arrow_base)
            rss_peak = max(rss_peak, process.memory_info().rss - rss_base)
            del batch
        _, python_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 3_000_000
    assert arrow_peak < 16 * 2**20
    assert python_peak < 16 * 2**20
    assert rss_peak < 48 * 2**20, rss_peak
