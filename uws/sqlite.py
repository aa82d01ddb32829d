"""The embedded job store: one SQLite file, used from one thread (WAL mode, autocommit).

sqlite3 calls block, so they run on a private single-thread executor, never on the event loop.
Several processes may share the file (WAL + busy timeout), but other processes' phase changes
are only seen by polling. Tests: tests/uws/test_store.py.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from uws.sql import SqlJobStore

__all__ = ["SqliteStore"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS uws_jobs (
    job_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    phase TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT '',
    run_id TEXT,
    creation_time REAL NOT NULL,
    execution_duration INTEGER NOT NULL,
    destruction REAL,
    parameters TEXT NOT NULL,
    start_time REAL,
    end_time REAL,
    results TEXT NOT NULL DEFAULT '[]',
    error_type TEXT,
    error_message TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    heartbeat REAL,
    progress_done INTEGER,
    progress_total INTEGER,
    enqueued_at REAL
);
CREATE INDEX IF NOT EXISTS uws_jobs_list ON uws_jobs (kind, owner, creation_time);
CREATE INDEX IF NOT EXISTS uws_jobs_phase ON uws_jobs (phase);
CREATE INDEX IF NOT EXISTS uws_jobs_owner ON uws_jobs (owner, phase);
"""


class SqliteStore(SqlJobStore):
    """``JobStore`` on a SQLite file."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="uws-sqlite")
        await self._run(self._connect)

    def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
        self._conn = conn

    async def close(self) -> None:
        if self._executor is None:
            return
        if self._conn is not None:
            await self._run(self._conn.close)
        self._executor.shutdown(wait=True)
        self._executor = None
        self._conn = None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise RuntimeError("the job store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _execute(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        return await self._run(self._execute_now, sql, args)

    async def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[Sequence[Any]]:
        return await self._run(self._query_now, sql, args)

    def _execute_now(self, sql: str, args: tuple[Any, ...]) -> int:
        assert self._conn is not None
        return self._conn.execute(sql, args).rowcount

    def _query_now(self, sql: str, args: tuple[Any, ...]) -> list[Sequence[Any]]:
        assert self._conn is not None
        return list(self._conn.execute(sql, args).fetchall())
