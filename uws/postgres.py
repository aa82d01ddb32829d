"""The production job store: PostgreSQL through asyncpg, tables in schema ``uws``.

Phase changes also ``NOTIFY uws_jobs, '<job_id>'`` in the same statement, and the store LISTENs
when someone subscribed, so a blocking WAIT in one process wakes as soon as a worker on another
machine finishes the job. Tests: tests/uws/test_store.py (``postgres`` marker).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Sequence
from typing import Any

import asyncpg

from uws.models import Phase
from uws.sql import JOB_COLUMNS, Listener, SqlJobStore

__all__ = ["PostgresStore"]

CHANNEL = "uws_jobs"
LISTENER_NAME = "skygate-uws-listen"
_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS uws;
CREATE TABLE IF NOT EXISTS uws.jobs (
    job_id text PRIMARY KEY,
    kind text NOT NULL,
    phase text NOT NULL,
    owner text NOT NULL DEFAULT '',
    run_id text,
    creation_time double precision NOT NULL,
    execution_duration integer NOT NULL,
    destruction double precision,
    parameters text NOT NULL,
    start_time double precision,
    end_time double precision,
    results text NOT NULL DEFAULT '[]',
    error_type text,
    error_message text,
    attempts integer NOT NULL DEFAULT 0,
    heartbeat double precision,
    progress_done bigint,
    progress_total bigint,
    enqueued_at double precision
);
CREATE INDEX IF NOT EXISTS jobs_list ON uws.jobs (kind, owner, creation_time);
CREATE INDEX IF NOT EXISTS jobs_phase ON uws.jobs (phase);
CREATE INDEX IF NOT EXISTS jobs_owner ON uws.jobs (owner, phase);
"""
_PLACEHOLDER = re.compile(r"\?")
# Creating the schema from several processes at once can collide in the catalogs; one lock.
_SCHEMA_LOCK = 7_441_190_012


class PostgresStore(SqlJobStore):
    """``JobStore`` on PostgreSQL (``postgresql://`` URL)."""

    table = "uws.jobs"
    _result_bytes_sql = ("SELECT SUM((r ->> 'size')::bigint) FROM {table}, "
                         "jsonb_array_elements({table}.results::jsonb) AS r WHERE owner = ?")
    # Other processes' phase changes arrive by LISTEN/NOTIFY, so WAIT may poll slowly.
    notifies_across_processes = True

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10) -> None:
        super().__init__()
        self.url = url
        self._sizes = (min_size, max_size)
        self._pool: asyncpg.Pool | None = None
        self._listener: asyncpg.Connection | None = None
        self._listen_task: asyncio.Future[None] | None = None

    async def open(self) -> None:
        # Phase changes commit without waiting for the WAL flush: a commit that NOTIFYs holds a
        # global lock until it is flushed (PostgreSQL docs, NOTIFY), which would serialise every
        # job's start and end behind fsync. A PostgreSQL crash can forget the last instants of
        # such changes; the janitor then re-runs the job (a lost start or end) and nothing is
        # lost. Creating a job waits for the flush (``create``): an accepted job is durable.
        self._pool = await asyncpg.create_pool(
            self.url, min_size=self._sizes[0], max_size=self._sizes[1],
            server_settings={"synchronous_commit": "off", "application_name": "skygate-uws"})
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
            await conn.execute(_SCHEMA)
        if self._listeners:
            await self._listen()

    async def _listen(self) -> None:
        if self._listener is None:
            listener = await asyncpg.connect(self.url, server_settings={"application_name": LISTENER_NAME})
            await listener.add_listener(CHANNEL, self._on_notify)
            listener.add_termination_listener(self._on_listener_lost)
            self._listener = listener

    def _on_listener_lost(self, conn: object) -> None:
        """The LISTEN connection died (database restart): WAIT falls back to polling until a
        new one is up; keep trying in the background."""
        self._listener = None
        if self._pool is not None and (self._listen_task is None or self._listen_task.done()):
            self._listen_task = asyncio.ensure_future(self._relisten())

    async def _relisten(self) -> None:
        delay = 0.5
        while self._pool is not None and self._listener is None:
            try:
                await self._listen()
            except (OSError, asyncpg.PostgresError):
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    def subscribe(self, callback: Listener) -> None:
        super().subscribe(callback)
        if self._pool is not None and self._listener is None:
            self._listen_task = asyncio.ensure_future(self._listen())

    async def close(self) -> None:
        pool, self._pool = self._pool, None  # stops a reconnecting listener
        if self._listen_task is not None:
            self._listen_task.cancel()
            await asyncio.gather(self._listen_task, return_exceptions=True)
            self._listen_task = None
        self._pool = pool
        if self._listener is not None:
            self._listener.remove_termination_listener(self._on_listener_lost)
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                await self._listener.close()
            self._listener = None
        if self._pool is not None:
            try:
                # a connection someone never gives back must not hang the shutdown
                await asyncio.wait_for(self._pool.close(), 10)
            except TimeoutError:
                self._pool.terminate()
            self._pool = None

    def _on_notify(self, conn: object, pid: int, channel: str, payload: str) -> None:
        job_id, _, phase = payload.partition(" ")
        self._changed(job_id, Phase(phase) if phase in Phase.__members__ else None)

    def _pool_or_fail(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the job store is not open")
        return self._pool

    def _new_row(self, n: int) -> str:
        # Creating a job waits for the flush, in one round trip (BEGIN, SET LOCAL, INSERT, COMMIT
        # took four): the INSERT turns synchronous_commit on for its own implicit transaction.
        # The parameters take their types from the target columns.
        return f"SELECT {', '.join('?' * n)} FROM (SELECT set_config('synchronous_commit', 'on', true)) AS durable"

    async def _execute(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        status = await self._pool_or_fail().execute(_numbered(sql), *args)
        # asyncpg returns the command tag, e.g. "UPDATE 1"
        return int(status.rsplit(" ", 1)[-1]) if status[-1:].isdigit() else 0

    async def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[Sequence[Any]]:
        return list(await self._pool_or_fail().fetch(_numbered(sql), *args))

    async def _update_phase(self, sql: str, args: tuple[Any, ...], job_id: str, to: Phase | None) -> bool:
        # One round trip: change the row, and tell the other processes (payload "<job_id> <phase>",
        # the phase empty for a deletion) when it changed.
        wrapped = f"WITH changed AS ({sql} RETURNING job_id) SELECT pg_notify('{CHANNEL}', ?) FROM changed"
        rows = await self._query(wrapped, (*args, _payload(job_id, to)))
        if rows:
            self._changed(job_id, to)
        return bool(rows)

    async def _update_phase_returning(
        self, sql: str, args: tuple[Any, ...], job_id: str, to: Phase
    ) -> Sequence[Any] | None:
        columns = ", ".join(JOB_COLUMNS)
        wrapped = (f"WITH changed AS ({sql} RETURNING {columns}) "
                   f"SELECT {columns}, pg_notify('{CHANNEL}', ?) FROM changed")
        rows = await self._query(wrapped, (*args, _payload(job_id, to)))
        if rows:
            self._changed(job_id, to)
        return tuple(rows[0])[: len(JOB_COLUMNS)] if rows else None


def _payload(job_id: str, phase: Phase | None) -> str:
    return f"{job_id} {phase.value if phase is not None else ''}"


def _numbered(sql: str) -> str:
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)
