"""PostgreSQL reads through ADBC's libpq driver: the server's binary COPY output decoded into Arrow in C.

asyncpg builds a Python object for every value, which caps a large result at about 0.4 M rows/s
on these machines; the ADBC driver runs the statement as ``COPY (...) TO STDOUT (FORMAT binary)``
and decodes it straight into Arrow at several times that (benchmarks/tap.py). Statements with
uploads stay on asyncpg (``release.backends``), which creates their temporary tables.

Each statement runs in its own read-only transaction with a local ``statement_timeout``, on a
pooled connection used by one thread call at a time; the transaction is rolled back afterwards.
A connection on which a cancel was sent is closed, never reused: a late cancel request would
otherwise stop the next statement. No SQL is built here from user text.
Tests: tests/release/test_backends.py, tests/release/test_cross_backend.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
import uuid
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import adbc_driver_manager
import adbc_driver_postgresql.dbapi as pg_dbapi
import pyarrow as pa
import pyarrow.compute as pc

from dali.errors import TransientError
from release.db_errors import postgres_error, postgres_stream_error, timeout_error
from release.watchdog import Watchdog

__all__ = ["SESSION_SETTINGS", "CopyReader", "session_settings"]

_T = TypeVar("_T")
_log = logging.getLogger(__name__)
Convert = Callable[[pa.Array], pa.Array]
# The driver's batches are cut by bytes (default 16 MB); 4 MB keeps first rows early and memory low.
_BATCH_BYTES = str(4 * 2**20)
# A first batch under this size is most likely the whole result: its end is read in the same trip.
_SMALL_BATCH_BYTES = 2**20
_BACKSTOP = 1.0  # seconds past the time limit
# The statement's transaction-local settings, shared with the asyncpg path of release.backends.
# work_mem bounds each sort and hash of the statement (PostgreSQL docs, Resource Consumption); an
# empty value keeps the server's. temp_file_limit would bound spilling too, but only a superuser
# may set it: set it on the server or the reader role.
SESSION_SETTINGS = ("SELECT set_config('skygate.base_url', $1, true), "
                    "set_config('statement_timeout', $2, true), "
                    "CASE WHEN $3 <> '' THEN set_config('work_mem', $3, true) END")
# The same, and the transaction read-only, in one round trip (SET TRANSACTION READ ONLY is this
# setting; making a transaction read-only is allowed at any point of it: PostgreSQL docs, SET TRANSACTION).
_READ_ONLY_SETTINGS = SESSION_SETTINGS.replace("SELECT ", "SELECT set_config('transaction_read_only', 'on', true), ", 1)


class _Connection:
    """One ADBC connection; ``lock`` orders the thread calls of the statement that holds it."""

    def __init__(self, dsn: str) -> None:
        self.dbapi = pg_dbapi.connect(dsn)  # autocommit off: every statement runs in a transaction
        self.lock = threading.Lock()
        self.cursor: Any = None
        self.reader: pa.RecordBatchReader | None = None
        self.cancelled = False

    def cancel(self) -> None:
        """Ask the server to stop the running statement (libpq's cancel is safe from any thread)."""
        self.cancelled = True
        cursor = self.cursor
        if cursor is not None:
            # The statement may have ended meanwhile; the connection is closed, not reused.
            with contextlib.suppress(adbc_driver_manager.Error, OSError):
                cursor.adbc_cancel()

    def close(self) -> None:
        # A broken connection closes with an error; it is gone either way.
        with self.lock, contextlib.suppress(adbc_driver_manager.Error, OSError):
            self.dbapi.close()


class CopyReader:
    """Streams a read-only statement's rows from PostgreSQL as Arrow record batches.

    Parameters
    ----------
    dsn
        ``postgresql://`` URL of the read-only role.
    base_url
        Visible to SQL as ``current_setting('skygate.base_url')``.
    max_statements
        Statements running at once (each holds one connection); more wait their turn.
    """

    def __init__(self, dsn: str, *, base_url: str, max_statements: int = 10, work_mem_kb: int | None = None) -> None:
        self.dsn = _with_application_name(dsn)
        self._base_url = base_url
        self._work_mem_kb = work_mem_kb
        self._max_statements = max_statements
        self._slots: asyncio.Semaphore | None = None
        self._threads = ThreadPoolExecutor(max_workers=max_statements, thread_name_prefix="pg-copy")
        self._idle: list[_Connection] = []
        self._pending: set[Future[None]] = set()  # connections being finished in a thread
        self._rolling_back: set[Future[None]] = set()  # those of them whose statement ended by itself
        self._closed = False
        self._watchdog = Watchdog(name="pg-watchdog")

    def stop_all(self) -> int:
        """Cancel every running statement (server shutdown); returns how many there were."""
        return self._watchdog.stop_all()

    async def stream(self, sql: str, *, timeout: float, batch_rows: int,
                     started: float | None = None) -> AsyncGenerator[pa.RecordBatch, None]:
        """Run ``sql`` and yield batches of at most ``batch_rows`` rows (at least one, maybe empty);
        ``timeout`` counts from ``started`` (``time.monotonic()``; default: now)."""
        deadline = (time.monotonic() if started is None else started) + timeout
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max_statements)
        # Waiting for a free connection counts against the limit too.
        if not await _acquire_until(self._slots, deadline - time.monotonic()):
            raise timeout_error(timeout)
        handed_back = False  # the slot goes back with the connection, once it is finished
        try:
            conn = await self._connection()
            # statement_timeout stops the statement on the server; this is the backstop for a silent network.
            remaining = max(0.001, deadline - time.monotonic())
            watch = self._watchdog.watch(remaining + _BACKSTOP, conn.cancel)
            ended = False  # the statement ran to its end or failed on the server: nothing to cancel
            try:
                settings = session_settings(self._base_url, remaining, self._work_mem_kb)
                schema, converts, ahead = await self._call(_start, conn, sql, settings)
                sent = False
                while (batch := ahead.pop(0) if ahead else await self._call(_next, conn)) is not None:
                    for start in range(0, batch.num_rows, batch_rows):
                        sent = True
                        yield _normalized(batch.slice(start, batch_rows), schema, converts)
                if not sent:
                    yield pa.RecordBatch.from_pylist([], schema=schema)
                ended = True
            except adbc_driver_manager.Error as exc:
                ended = True
                raise (timeout_error(timeout) if conn.cancelled
                       else postgres_error(exc.sqlstate, timeout, str(exc))) from exc
            except OSError as exc:  # an error reported mid-stream arrives as message text only
                ended = True
                raise (timeout_error(timeout) if conn.cancelled else postgres_stream_error(str(exc), timeout)) from exc
            finally:
                self._watchdog.end(watch)
                # A consumer that left early (or was cancelled) leaves a statement to stop on the
                # server. Not awaited: the rollback (or the stop) goes on in a thread while the
                # answer ends, and the slot comes back when the connection is pooled or closed, so
                # the next statement finds it idle rather than opening another.
                self._release(conn, cancel=not ended and not conn.cancelled).add_done_callback(self._released)
                handed_back = True
        finally:
            if not handed_back:
                self._slots.release()

    async def _connection(self) -> _Connection:
        if self._closed:
            raise TransientError("the catalog database connection is closed", hint="try again")
        # A connection whose statement ended is pooled as soon as its transaction is rolled back:
        # moments, so wait for it rather than open another (about 50 ms). Stopped ones take longer.
        while not self._idle and self._rolling_back:
            await asyncio.wait([asyncio.wrap_future(f) for f in self._rolling_back],
                               return_when=asyncio.FIRST_COMPLETED)
        if self._idle:
            return self._idle.pop()
        opening = self._threads.submit(_Connection, self.dsn)
        try:
            return await asyncio.wrap_future(opening)
        except (adbc_driver_manager.Error, OSError) as exc:
            raise TransientError("the catalog database is not reachable", hint="try again later") from exc
        except asyncio.CancelledError:
            opening.add_done_callback(_close_opened)  # the connection nobody will use
            raise

    def _release(self, conn: _Connection, *, cancel: bool) -> asyncio.Future[None]:
        future = self._threads.submit(self._finish, conn, cancel)
        for pending in (self._pending, self._rolling_back) if not cancel else (self._pending,):
            pending.add(future)
            future.add_done_callback(pending.discard)
        return asyncio.wrap_future(future)

    def _released(self, finished: asyncio.Future[None]) -> None:
        """(Callback) a connection was finished: its slot is free again."""
        assert self._slots is not None
        self._slots.release()
        if not finished.cancelled() and finished.exception() is not None:
            _log.warning("finishing a PostgreSQL statement failed", exc_info=finished.exception())

    def _finish(self, conn: _Connection, cancel: bool) -> None:
        """(In a thread) stop the statement if asked, roll its transaction back, and pool the
        connection or close it."""
        if cancel:
            conn.cancel()  # before _end, whose closing of the reader would otherwise read the rest
        if _end(conn) and not self._closed and len(self._idle) < self._max_statements:
            self._idle.append(conn)
        else:
            conn.close()

    async def _call(self, func: Callable[..., _T], *args: Any) -> _T:
        """Run blocking driver work on this reader's own threads (never on the event loop)."""
        return await asyncio.get_running_loop().run_in_executor(self._threads, functools.partial(func, *args))

    async def close(self) -> None:
        self._closed = True
        self.stop_all()
        self._watchdog.close()
        await asyncio.gather(*(asyncio.wrap_future(f) for f in list(self._pending)))
        idle, self._idle = self._idle, []
        for conn in idle:
            await self._call(conn.close)
        self._threads.shutdown(wait=False)


async def _acquire_until(slots: asyncio.Semaphore, seconds: float) -> bool:
    """Take a slot within ``seconds``; False when none came free. A slot taken by the waiter just as
    it gave up (or was cancelled) is handed back, never lost."""
    waiter = asyncio.ensure_future(slots.acquire())
    try:
        done, _ = await asyncio.wait({waiter}, timeout=max(0.0, seconds))
    except asyncio.CancelledError:
        _give_back(slots, waiter)
        raise
    if not done:
        _give_back(slots, waiter)
        return False
    return True


def _give_back(slots: asyncio.Semaphore, waiter: asyncio.Task[Any]) -> None:
    waiter.cancel()
    waiter.add_done_callback(lambda w: None if w.cancelled() else slots.release())


def session_settings(base_url: str, timeout: float, work_mem_kb: int | None = None) -> tuple[str, str, str]:
    """The parameters of ``SESSION_SETTINGS``: the base URL, the time limit in milliseconds and
    ``work_mem`` in kB (empty: the server's)."""
    return base_url, str(max(1, int(timeout * 1000))), f"{work_mem_kb}kB" if work_mem_kb else ""


def _close_opened(opening: Future[_Connection]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        opening.result().close()


def _start(conn: _Connection, sql: str, settings: tuple[str, str, str]
           ) -> tuple[pa.Schema, list[Convert | None], list[pa.RecordBatch | None]]:
    """Open a read-only transaction, run ``sql`` and read its first batch, and its end when that
    batch is small: one thread trip for a small result (the batches in order, None for the end)."""
    with conn.lock:
        cursor = conn.dbapi.cursor()
        conn.cursor = cursor
        cursor.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": _BATCH_BYTES})
        cursor.execute(_READ_ONLY_SETTINGS, parameters=settings)
        cursor.fetchall()
        cursor.execute(sql)
        conn.reader = cursor.fetch_record_batch()
        schema, converts = _conversions(conn.reader.schema)
        first = _read(conn.reader)
        if first is None or first.nbytes >= _SMALL_BATCH_BYTES:
            return schema, converts, [first]
        return schema, converts, [first, _read(conn.reader)]


def _next(conn: _Connection) -> pa.RecordBatch | None:
    with conn.lock:
        return _read(conn.reader) if conn.reader is not None else None


def _read(reader: pa.RecordBatchReader) -> pa.RecordBatch | None:
    try:
        return reader.read_next_batch()
    except StopIteration:
        return None


def _end(conn: _Connection) -> bool:
    """Close the statement and roll its transaction back; True when the connection can serve again."""
    with conn.lock:
        reader, conn.reader = conn.reader, None
        cursor, conn.cursor = conn.cursor, None
        steps = [reader.close if reader is not None else None, cursor.close if cursor is not None else None,
                 conn.dbapi.rollback]
        clean = True
        for step in steps:
            try:
                if step is not None:
                    step()
            except (adbc_driver_manager.Error, OSError):
                clean = False  # e.g. a stopped COPY reports its error again; each part still closes
        return clean and not conn.cancelled


# ---------------------------------------------------------------------------------------------
# Types: the Arrow types the asyncpg path gives (release.backends._PG_ARROW), without the driver's
# field metadata.


# 32-bit unsigned PostgreSQL types, which the driver hands over as int32.
_UNSIGNED_32 = frozenset({"oid", "xid", "cid", "regclass", "regproc", "regtype"})


def _conversions(schema: pa.Schema) -> tuple[pa.Schema, list[Convert | None]]:
    """The output schema and, per column, how the driver's array becomes it (None: as it is)."""
    plan = [_conversion(f) for f in schema]
    return pa.schema([pa.field(f.name, kind) for f, (kind, _) in zip(schema, plan, strict=True)]), [
        convert for _, convert in plan]


def _conversion(field: pa.Field) -> tuple[pa.DataType, Convert | None]:
    kind = field.type
    pg_type = (field.metadata or {}).get(b"POSTGRESQL:type", b"").decode()
    if pg_type in _UNSIGNED_32:
        return pa.int64(), lambda a: a.view(pa.uint32()).cast(pa.int64())
    if isinstance(kind, pa.BaseExtensionType):
        # numeric arrives as its text, tagged; uuid, json and types without an Arrow twin travel as text.
        if pg_type == "numeric":
            return pa.float64(), lambda a: pc.cast(a.storage, pa.float64())
        if pa.types.is_string(kind.storage_type) or pa.types.is_large_string(kind.storage_type):
            return pa.string(), lambda a: pc.cast(a.storage, pa.string())
        if pg_type == "uuid":
            return pa.string(), lambda a: _texts(a.storage, lambda b: str(uuid.UUID(bytes=b)))
        return pa.string(), lambda a: _texts(a.storage, bytes.hex)
    if pa.types.is_interval(kind) or (pa.types.is_list(kind) and isinstance(kind.value_type, pa.BaseExtensionType)):
        return pa.string(), lambda a: _texts(a, str)
    return kind, None


def _texts(array: pa.Array, text: Callable[[Any], str]) -> pa.Array:
    return pa.array([None if v is None else text(v) for v in array.to_pylist()], pa.string())


def _normalized(batch: pa.RecordBatch, schema: pa.Schema, converts: list[Convert | None]) -> pa.RecordBatch:
    columns = [c if convert is None else convert(c) for c, convert in zip(batch.columns, converts, strict=True)]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _with_application_name(dsn: str) -> str:
    """``dsn`` naming this service in ``pg_stat_activity`` unless it names something already."""
    parts = urlsplit(dsn)
    query = dict(parse_qsl(parts.query))
    query.setdefault("application_name", "skygate")
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))
