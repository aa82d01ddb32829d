"""Storage backends that run read-only SQL and stream Arrow record batches.

Two implementations of one ``Backend`` protocol: DuckDB (the embedded default, a file opened
read-only, every call in a worker thread) and PostgreSQL (the read-only role, read-only
transactions; binary COPY through ADBC, or asyncpg when there are uploads). Both enforce a
wall-clock timeout, stop the statement when the consumer closes the iterator, make uploaded Arrow
tables visible for one statement, and carry the public base URL as a session variable. The DuckDB
backend also serves a partitioned release (``release.partitioned``): views over HATS files, each
statement told which files its HEALPix ranges overlap.

This module runs SQL it is given; it never builds SQL from user text (the ADQL translator does)
and never writes to the release (``release.ingest`` does).
Tests: tests/release/test_backends.py, tests/release/test_cross_backend.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import decimal
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import duckdb
import pyarrow as pa

from dali.errors import FatalError, TransientError, UsageError
from release.db_errors import connection_error, duckdb_error, postgres_error, timeout_error
from release.pg_copy import SESSION_SETTINGS, CopyReader, session_settings
from release.sqlnames import is_postgres_url, postgres_type, quote_ident
from release.watchdog import DaemonThreads, Watch, Watchdog

if TYPE_CHECKING:
    from release.partitioned import Partitioned
    from release.spark import SparkBackend

__all__ = [
    "Backend",
    "DuckDBBackend",
    "MemoryLimits",
    "PostgresBackend",
    "open_backend",
    "reader_dsn",
]

_NO_UPLOADS: Mapping[str, pa.Table] = MappingProxyType({})
_log = logging.getLogger(__name__)
_T = TypeVar("_T")


class Backend(Protocol):
    """What the query engine and the services need from a database."""

    dialect: str

    def stream(
        self,
        sql: str,
        *,
        timeout: float,
        uploads: Mapping[str, pa.Table] = _NO_UPLOADS,
        batch_rows: int = 65536,
        started: float | None = None,
    ) -> AsyncIterator[pa.RecordBatch]:
        """Run one read-only statement and yield its rows.

        At least one batch is yielded (an empty one for an empty result), so the consumer always
        sees the Arrow schema. Closing the iterator early (``aclose``) stops the statement.
        ``timeout`` counts from ``started`` (a ``time.monotonic()`` value; default: now), so work
        before the statement (translation) is inside the limit.
        """
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class MemoryLimits:
    """What a backend's statements may use, in bytes.

    DuckDB: ``memory`` is the database's ``memory_limit`` (one per process, shared by its running
    statements; DuckDB's own default is 80 % of RAM), beyond which operators spill to ``temp_dir``
    up to ``temp`` bytes (``max_temp_directory_size``). PostgreSQL: ``work_mem`` per sort or hash
    of a statement is ``memory`` shared among ``statements`` statements of four such nodes each
    (PostgreSQL docs, Resource Consumption), between 4 MB (its default) and 1 GB.
    """

    memory: int
    temp: int = 0
    temp_dir: Path | None = None
    statements: int = 8

    def duckdb_config(self) -> dict[str, str]:
        config = {"memory_limit": f"{max(1, self.memory // 2**20)}MiB"}
        if self.temp_dir is not None:
            config["temp_directory"] = str(self.temp_dir)
            config["max_temp_directory_size"] = f"{max(1, self.temp // 2**20)}MiB"
        return config

    @property
    def work_mem_kb(self) -> int:
        return min(2**20, max(4096, self.memory // (4 * max(1, self.statements)) // 1024))


def open_backend(
    database_url: str, duckdb_path: Path, *, base_url: str, readonly_role: str, limits: MemoryLimits | None = None,
) -> DuckDBBackend | PostgresBackend | SparkBackend:
    """The backend the settings name: PostgreSQL or Spark (``sc://``) when ``database_url`` is one, else DuckDB.

    Parameters
    ----------
    database_url
        ``postgresql://...`` (the admin URL of ingest); empty for the embedded DuckDB file.
    duckdb_path
        The catalog file written by ingest (used when ``database_url`` is empty).
    base_url
        Public base URL, visible to SQL as ``current_setting('skygate.base_url')`` (PostgreSQL)
        or ``getvariable('skygate_base_url')`` (DuckDB).
    readonly_role
        PostgreSQL role the service connects as (created by ingest); its password, if any, comes
        from the usual libpq sources (``PGPASSWORD``, ``~/.pgpass``). Empty: connect as the URL says.
    limits
        Memory (and, for DuckDB, temporary disk) the statements may use; None: the database's defaults.

    Raises
    ------
    UsageError
        When ``database_url`` is neither empty nor PostgreSQL, or the DuckDB file is missing.
    """
    if is_postgres_url(database_url):
        return PostgresBackend(reader_dsn(database_url, readonly_role), base_url=base_url, limits=limits)
    if database_url.startswith("sc://"):
        from release.spark import SparkBackend  # pyspark loads only when Spark is named

        return SparkBackend(database_url, duckdb_path, base_url=base_url)
    if database_url:
        raise UsageError(
            "SKYGATE_DATABASE_URL must be a postgresql:// URL, an sc:// Spark Connect URL or empty",
            param="SKYGATE_DATABASE_URL",
            hint="leave it empty to use the embedded DuckDB catalog",
        )
    if not duckdb_path.is_file():
        raise UsageError(
            f"no release loaded: {duckdb_path} does not exist",
            param="SKYGATE_DATA_DIR",
            hint="run `skygate demo` or `skygate ingest catalog ...` first",
        )
    if limits is not None and limits.temp_dir is not None:
        limits.temp_dir.mkdir(parents=True, exist_ok=True)
    return DuckDBBackend(duckdb_path, base_url=base_url, limits=limits)


def reader_dsn(database_url: str, readonly_role: str) -> str:
    """``database_url`` with its user replaced by ``readonly_role`` (and its password dropped)."""
    if not readonly_role:
        return database_url
    parts = urlsplit(database_url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, f"{readonly_role}@{host}", parts.path, parts.query, parts.fragment))


# ---------------------------------------------------------------------------------------------
# DuckDB


class DuckDBBackend:
    """A DuckDB catalog file, opened read-only; each statement gets its own cursor in a thread.

    DuckDB allows one writing process per file, or any number of read-only ones (DuckDB docs,
    Concurrency), so ingest must run while no server has the file open.
    """

    dialect = "duckdb"

    def __init__(self, path: Path, *, base_url: str, max_statements: int = 8,
                 limits: MemoryLimits | None = None) -> None:
        self.path = path
        self._base_url = base_url
        self._max_statements = max_statements
        # Read-only, and no files outside the catalog: no COPY TO, ATTACH, read_csv or extension
        # installs, whatever SQL arrives (DuckDB docs, Securing DuckDB); locked against SET.
        # A partitioned release (release.partitioned) reads its HATS directories and nothing else:
        # allowed_directories must be set before external access is switched off, so these
        # settings are made one after another before any statement runs. Connections to one file
        # in one process share its database and settings (DuckDB's instance cache): a second
        # backend on the file finds them set and locked already.
        from release.partitioned import read_partitioned

        conn = _connect(path, {}, limits)
        try:
            self.partitioned = read_partitioned(conn)
            if not _setting(conn, "lock_configuration"):
                if self.partitioned.catalogs:
                    conn.execute("SET allowed_directories = ?", [self.partitioned.directories()])
                conn.execute("SET enable_external_access = false")
                conn.execute("SET lock_configuration = true")
            elif _setting(conn, "enable_external_access"):
                raise FatalError(f"{path} is open elsewhere in this process without the reader's restrictions")
        except BaseException:
            conn.close()
            raise
        self._conn: duckdb.DuckDBPyConnection | None = conn
        self.limits = limits
        # Stops statements at their deadline from its own thread: DuckDB checks its interrupt flag
        # while planning too (a 500-way join chain), and a busy event loop cannot delay the stop.
        self._watchdog = Watchdog(name="duckdb-watchdog")
        # Its own threads, so long DuckDB statements never starve asyncio.to_thread users (cutouts);
        # twice the statements, so statements abandoned while DuckDB plans do not block the others.
        self._threads = DaemonThreads(2 * max_statements, name="duckdb")
        self._abandoned_count = 0
        # Cursors that ran a statement to its end, kept for the next one: making a cursor and
        # setting its variables costs about a millisecond, a cone search about three.
        self._idle: list[duckdb.DuckDBPyConnection] = []

    async def stream(
        self,
        sql: str,
        *,
        timeout: float,
        uploads: Mapping[str, pa.Table] = _NO_UPLOADS,
        batch_rows: int = 65536,
        started: float | None = None,
    ) -> AsyncIterator[pa.RecordBatch]:
        started = time.monotonic() if started is None else started
        made: list[duckdb.DuckDBPyConnection] = []  # the statement's cursor, once it exists
        # The limit counts from ``started``: waiting for a thread (to make the cursor, to run) is inside it.
        watch = self._watchdog.watch(timeout - (time.monotonic() - started), functools.partial(_interrupt, made))
        loop = asyncio.get_running_loop()
        reused = self._reuse() if not uploads else None
        pending: asyncio.Future[Any]
        if reused is not None:
            pending = loop.create_future()
            pending.set_result(reused)
        else:
            pending = loop.run_in_executor(self._threads, self._cursor, uploads)
        cursor: duckdb.DuckDBPyConnection | None = None
        finished = False
        try:
            current: duckdb.DuckDBPyConnection = await _until_deadline(pending, watch, timeout)
            cursor = current
            made.append(current)
            pending = loop.run_in_executor(
                self._threads, functools.partial(_duckdb_start, current, sql, batch_rows, watch, self.partitioned))
            reader, ahead = await _until_deadline(pending, watch, timeout)
            sent = False
            while (batch := ahead.pop(0)) is not None:  # ahead is refilled below before it runs out
                if batch.num_rows or not sent:
                    sent = True
                    yield batch
                if not ahead:
                    pending = loop.run_in_executor(self._threads, _duckdb_next, reader)
                    ahead.append(await _until_deadline(pending, watch, timeout))
            if not sent:
                yield pa.RecordBatch.from_pylist([], schema=reader.schema)
            finished = True
        except (duckdb.Error, OSError) as exc:
            raise duckdb_error(exc, watch.fired, timeout, self._memory_limit()) from exc
        finally:
            if not pending.done():
                # Still in its thread: the consumer left, or the deadline passed before DuckDB
                # noticed (some optimizer passes never look at the interrupt flag). The watchdog
                # keeps interrupting it; the cursor is closed when the thread lets go of it.
                self._abandoned_count += 1
                self._watchdog.expire(watch)
                pending.add_done_callback(functools.partial(self._abandoned, cursor, watch))
            else:
                self._watchdog.end(watch)
                reusable = finished and not watch.fired and not uploads
                if cursor is not None and not (reusable and self._keep(cursor)):
                    # Stops a pipeline still running when the consumer left early; harmless otherwise.
                    # Not awaited: closing waits for the interrupted pipeline's tasks to wind down,
                    # which is no reason to hold back the error or the next statement.
                    cursor.interrupt()
                    with contextlib.suppress(RuntimeError):  # the backend was closed meanwhile
                        self._threads.submit(cursor.close)

    def _abandoned(self, cursor: duckdb.DuckDBPyConnection | None, watch: Watch, step: asyncio.Future[Any]) -> None:
        """(Callback) an abandoned step let go of its thread: close its cursor."""
        self._abandoned_count -= 1
        self._watchdog.end(watch)
        made = None if step.cancelled() or step.exception() is not None else step.result()
        if cursor is None and isinstance(made, duckdb.DuckDBPyConnection):
            cursor = made  # abandoned while its cursor was being made
        if cursor is not None:
            with contextlib.suppress(RuntimeError):  # the backend was closed meanwhile
                self._threads.submit(cursor.close)

    def _reuse(self) -> duckdb.DuckDBPyConnection | None:
        try:
            return self._idle.pop()
        except IndexError:
            return None

    def _keep(self, cursor: duckdb.DuckDBPyConnection) -> bool:
        """Keep a cursor whose statement ran to its end (never one that was interrupted)."""
        if self._conn is None or len(self._idle) >= self._max_statements:
            return False
        self._idle.append(cursor)
        return True

    def _cursor(self, uploads: Mapping[str, pa.Table]) -> duckdb.DuckDBPyConnection:
        if self._conn is None:
            raise FatalError("the DuckDB backend is closed")
        cursor = self._conn.cursor()
        cursor.execute("SET VARIABLE skygate_base_url = ?", [self._base_url])
        for name, table in uploads.items():
            cursor.register(name, table)
        return cursor

    async def _call(self, func: Callable[..., _T], *args: Any) -> _T:
        """Run blocking DuckDB work on this backend's own threads (never on the event loop)."""
        return await asyncio.get_running_loop().run_in_executor(self._threads, functools.partial(func, *args))

    def _memory_limit(self) -> int | None:
        return self.limits.memory if self.limits is not None else None

    def stop_all(self) -> int:
        """Interrupt every running statement (server shutdown); returns how many there were."""
        return self._watchdog.stop_all()

    async def close(self) -> None:
        if self._conn is not None:
            self.stop_all()
            conn, self._conn = self._conn, None
            idle, self._idle = self._idle, []
            for cursor in idle:
                await self._call(cursor.close)
            for _ in range(20):  # interrupted statements end within moments, unless DuckDB is planning
                if not self._abandoned_count:
                    break
                await asyncio.sleep(0.1)
            self._watchdog.close()
            if self._abandoned_count:
                # Closing would wait for them; the daemon threads end with the process instead.
                _log.warning("%d DuckDB statements ignored their interrupt; not waiting for them",
                             self._abandoned_count)
            else:
                await self._call(conn.close)
            self._threads.shutdown(wait=False)


_DuckConfig = dict[str, str | bool | int | float | list[str]]
# DuckDB shares one database per file and process and refuses a second opening with another
# configuration; the configuration each file was first opened with in this process.
_OPENED: dict[Path, _DuckConfig] = {}


def _connect(path: Path, config: _DuckConfig, limits: MemoryLimits | None) -> duckdb.DuckDBPyConnection:
    if limits is not None:
        config = {**config, **limits.duckdb_config()}
    key = path.resolve()
    first = _OPENED.setdefault(key, config)
    if first != config:
        # Only where one process serves the same file twice (tests, tools): the first opening's limits apply.
        _log.warning("%s is already open in this process; its first opening's limits apply", path)
    try:
        return duckdb.connect(str(path), read_only=True, config=first)
    except duckdb.ConnectionException:
        # Opened meanwhile by someone else in this process with yet another configuration.
        _OPENED[key] = config
        return duckdb.connect(str(path), read_only=True, config=config)


async def _until_deadline(start: asyncio.Future[_T], watch: Watch, timeout: float) -> _T:
    """The statement's start, or a timeout error shortly after its deadline even when DuckDB has
    not yet looked at its interrupt flag (the statement then goes on in its thread, interrupted)."""
    grace = min(0.5, 0.01 * timeout)  # for the interrupt's own error, which names the cause
    remaining = watch.deadline + grace - time.monotonic()
    try:
        return await asyncio.wait_for(asyncio.shield(start), max(0.0, remaining))
    except TimeoutError as exc:
        raise timeout_error(timeout) from exc


def _interrupt(made: list[duckdb.DuckDBPyConnection]) -> None:
    for cursor in made:
        cursor.interrupt()


def _setting(conn: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = conn.execute("SELECT current_setting(?)", [name]).fetchone()
    return bool(row and row[0])


def _duckdb_start(cursor: duckdb.DuckDBPyConnection, sql: str, batch_rows: int, watch: Watch,
                  partitioned: Partitioned
                  ) -> tuple[pa.RecordBatchReader, list[pa.RecordBatch | None]]:
    """Run ``sql`` and read its first batch, and its end when that batch is short: one trip to the
    thread for a small result. The batches come in order, None for the end."""
    if watch.fired:  # its time ran out while it waited for a thread
        raise duckdb.InterruptException("INTERRUPT Error: timed out before it started")
    # DuckDB runs every statement of a string; PostgreSQL's prepared statements take only one.
    statements = cursor.extract_statements(sql)
    if len(statements) != 1:
        raise UsageError("exactly one SQL statement may run at a time")
    if partitioned.catalogs:
        # The HATS directories are readable, and DuckDB's allowed_directories lets COPY TO write
        # there too: a partitioned release runs queries only.
        if statements[0].type != duckdb.StatementType.SELECT:
            raise UsageError("only queries may run on a partitioned release")
        for name, files in partitioned.variables(sql).items():
            cursor.execute(f"SET VARIABLE {quote_ident(name)} = ?", [files])
    reader = cursor.execute(sql).to_arrow_reader(batch_rows)
    first = _duckdb_next(reader)
    if first is None or first.num_rows >= batch_rows:
        return reader, [first]
    # DuckDB fills each batch unless the result ends, so after a short one this is the end (and
    # otherwise just the next batch, read a little early).
    return reader, [first, _duckdb_next(reader)]


def _duckdb_next(reader: pa.RecordBatchReader) -> pa.RecordBatch | None:
    try:
        return reader.read_next_batch()
    except StopIteration:
        return None


# ---------------------------------------------------------------------------------------------
# PostgreSQL


class PostgresBackend:
    """A PostgreSQL database, connected as a role that only has USAGE/SELECT on published schemas
    and TEMP on the database.

    Each statement runs in a read-only transaction (``SET TRANSACTION READ ONLY``) with a local
    ``statement_timeout``, streamed so memory stays flat whatever the result size. Plain reads go
    through ADBC's binary COPY (``release.pg_copy``); a statement with uploads goes through an
    asyncpg pool (created on first use, in its loop), which creates the temporary upload tables
    and reads through a server-side cursor.
    """

    dialect = "postgres"

    def __init__(self, dsn: str, *, base_url: str, max_size: int = 10, limits: MemoryLimits | None = None) -> None:
        self.dsn = dsn
        self._base_url = base_url
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()
        self._work_mem = limits.work_mem_kb if limits is not None else None
        self._copy = CopyReader(dsn, base_url=base_url, max_statements=max_size, work_mem_kb=self._work_mem)

    async def _get_pool(self) -> asyncpg.Pool:
        async with self._lock:
            if self._pool is None:
                try:
                    self._pool = await asyncpg.create_pool(
                        self.dsn, min_size=0, max_size=self._max_size, statement_cache_size=0,
                        server_settings={"application_name": "skygate"},
                    )
                except (OSError, asyncpg.PostgresError) as exc:
                    raise TransientError(
                        "the catalog database is not reachable", hint="try again later"
                    ) from exc
            return self._pool

    async def stream(
        self,
        sql: str,
        *,
        timeout: float,
        uploads: Mapping[str, pa.Table] = _NO_UPLOADS,
        batch_rows: int = 65536,
        started: float | None = None,
    ) -> AsyncIterator[pa.RecordBatch]:
        if not uploads:
            copy = self._copy.stream(sql, timeout=timeout, batch_rows=batch_rows, started=started)
            async with contextlib.aclosing(copy) as rows:
                async for batch in rows:
                    yield batch
            return
        deadline = (time.monotonic() if started is None else started) + timeout
        pool = await self._get_pool()
        try:
            async with pool.acquire(timeout=max(timeout, 1.0)) as conn, conn.transaction():
                # The reader role's sessions start read-only (ingest sets its default); temporary
                # upload tables need a writable start, before any query of the transaction.
                await conn.execute("SET TRANSACTION READ WRITE")
                await conn.execute(SESSION_SETTINGS, *session_settings(
                    self._base_url, max(0.001, deadline - time.monotonic()), self._work_mem))
                for name, table in uploads.items():
                    await _pg_upload(conn, name, table)
                # Going read-only is allowed at any point of a transaction (PostgreSQL docs, SET
                # TRANSACTION); uploads above are temporary tables, dropped at the end.
                await conn.execute("SET TRANSACTION READ ONLY")
                stmt = await _before(deadline, timeout, conn.prepare(sql))
                attributes = stmt.get_attributes()
                names = [a.name for a in attributes]
                types = [_arrow_type(a.type.name) for a in attributes]
                cursor = await _before(deadline, timeout, stmt.cursor())
                sent = False
                while True:
                    records = await _before(deadline, timeout, cursor.fetch(batch_rows))
                    if records or not sent:
                        sent = True
                        yield _records_to_batch(records, names, types)
                    if len(records) < batch_rows:
                        break
        except asyncpg.PostgresError as exc:
            raise postgres_error(exc.sqlstate, timeout, getattr(exc, "message", "") or str(exc)) from exc
        except (OSError, asyncpg.InterfaceError) as exc:
            raise connection_error() from exc

    def stop_all(self) -> int:
        """Cancel every running COPY statement (server shutdown; asyncpg ones end with their task)."""
        return self._copy.stop_all()

    async def close(self) -> None:
        await self._copy.close()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()


async def _before(deadline: float, timeout: float, awaitable: Any) -> Any:
    """Await ``awaitable`` until the deadline; asyncpg cancels the server statement on timeout."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise timeout_error(timeout)
    try:
        return await asyncio.wait_for(awaitable, remaining)
    except TimeoutError as exc:
        raise timeout_error(timeout) from exc


async def _pg_upload(conn: asyncpg.Connection, name: str, table: pa.Table) -> None:
    columns = ", ".join(f"{quote_ident(f.name)} {postgres_type(f.type)}" for f in table.schema)
    await conn.execute(f"CREATE TEMP TABLE {quote_ident(name)} ({columns}) ON COMMIT DROP")
    if table.num_rows:
        records = list(zip(*(col.to_pylist() for col in table.columns), strict=True))
        await conn.copy_records_to_table(name, records=records, columns=list(table.column_names))


_PG_ARROW: dict[str, pa.DataType] = {
    "bool": pa.bool_(),
    "int2": pa.int16(),
    "int4": pa.int32(),
    "int8": pa.int64(),
    "oid": pa.int64(),
    "float4": pa.float32(),
    "float8": pa.float64(),
    "numeric": pa.float64(),
    "text": pa.string(),
    "varchar": pa.string(),
    "bpchar": pa.string(),
    "name": pa.string(),
    "char": pa.string(),
    "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
    "bytea": pa.binary(),
}


def _arrow_type(pg_name: str) -> pa.DataType:
    if pg_name.endswith("[]") and pg_name[:-2] in _PG_ARROW:
        return pa.list_(_PG_ARROW[pg_name[:-2]])
    return _PG_ARROW.get(pg_name, pa.string())


def _records_to_batch(
    records: Sequence[asyncpg.Record], names: list[str], types: list[pa.DataType]
) -> pa.RecordBatch:
    # zip(*records) transposes in C; much faster than indexing every record per column.
    columns = list(zip(*records, strict=True)) if records else [() for _ in types]
    arrays = [_column_array(list(values), t) for values, t in zip(columns, types, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(list(zip(names, types, strict=True))))


def _column_array(values: list[Any], arrow_type: pa.DataType) -> pa.Array:
    if pa.types.is_floating(arrow_type):
        values = [float(v) if isinstance(v, decimal.Decimal) else v for v in values]
    elif pa.types.is_string(arrow_type):
        # uuid, json, interval and other types without an Arrow twin travel as their text form.
        values = [v if v is None or isinstance(v, str) else str(v) for v in values]
    return pa.array(values, type=arrow_type)
