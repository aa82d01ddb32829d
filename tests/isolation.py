"""Names of the server-side things a test run creates, unique per checkout, per run and per test process.

PostgreSQL databases and roles belong to the whole server, which every checkout on a machine, every
run in a checkout (an editor's test run beside a terminal's) and every pytest-xdist worker of a run
share. A name fixed in a test would let two runs (or two workers) drop each other's database or
alter the same role at once. So:

- ``per_worker(base)``: for what a test creates and drops itself (a fresh database, a role it
  grants): ``<base>_<checkout>_<run>_<worker>``, e.g. ``skygate_test_uws_3f2a91c0_a41c07_gw1``.
- ``per_checkout(base)``: for what the runs and workers share on purpose, under a lock (the
  ingested ``ci`` release): ``<base>_<checkout>``.

``<checkout>`` is a short hash of this checkout's absolute path, ``<run>`` the run's xdist id (the
same in all its workers) or the process id without xdist, ``<worker>`` the xdist worker id
(``gw0``, ``gw1``, ...) or ``main`` without xdist. Redis needs nothing here: queue names are random
per test and private Redis servers take a free port.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKOUT = hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]
RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")[:6] or f"p{os.getpid()}"


def worker_id() -> str:
    """The pytest-xdist worker id of this process, or ``main`` when tests run in one process."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def per_checkout(base: str) -> str:
    return f"{base}_{CHECKOUT}"


def per_worker(base: str) -> str:
    return f"{base}_{CHECKOUT}_{RUN}_{worker_id()}"


async def drop_worker_objects(admin_url: str) -> list[str]:
    """Drop the databases, then the roles, this process made with ``per_worker`` (best effort: an
    object still in use stays). Returns what was dropped. Another run's objects are never touched,
    even one that seems idle between two of its tests.

    Run at the end of a test session, so checkouts in fresh folders (CI clones) leave nothing behind.
    The ``per_checkout`` ingested release stays: the next run in this checkout reuses it.
    """
    import asyncpg

    suffix = f"\\_{CHECKOUT}\\_{RUN}\\_{worker_id()}"
    dropped: list[str] = []
    conn = await asyncpg.connect(admin_url)
    try:
        databases = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", f"%{suffix}")
        roles = await conn.fetch("SELECT rolname FROM pg_roles WHERE rolname LIKE $1", f"%{suffix}")
        for statement, name in ([("DROP DATABASE IF EXISTS {} WITH (FORCE)", r["datname"]) for r in databases]
                                + [("DROP ROLE IF EXISTS {}", r["rolname"]) for r in roles]):
            try:
                await conn.execute(statement.format(f'"{name}"'))
                dropped.append(name)
            except asyncpg.PostgresError:
                pass  # e.g. a role still granted something elsewhere: harmless, reused next time
    finally:
        await conn.close()
    return dropped
