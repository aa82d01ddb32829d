"""The per-checkout, per-worker names of tests/isolation.py are distinct and valid PostgreSQL names."""

from __future__ import annotations

import re

import pytest

from tests import isolation

IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")  # unquoted, and within NAMEDATALEN


def test_names_differ_per_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    names = set()
    for worker in ("gw0", "gw1", "gw15"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        names.add(isolation.per_worker("skygate_test_anomaly"))
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    names.add(isolation.per_worker("skygate_test_anomaly"))
    assert len(names) == 4
    assert all(IDENTIFIER.fullmatch(name) for name in names), names
    assert isolation.per_worker("x").endswith("_main")


def test_names_differ_per_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    here = isolation.per_checkout("skygate_test_release")
    assert IDENTIFIER.fullmatch(here) and isolation.CHECKOUT in here
    monkeypatch.setattr(isolation, "CHECKOUT", "0" * 8)
    assert isolation.per_checkout("skygate_test_release") != here


@pytest.mark.postgres
async def test_a_worker_drops_what_it_created(postgres_admin_url: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Only this worker's objects go: run as a worker id of its own, so the databases the session's
    other tests still use (same checkout, this worker) are left alone."""
    import asyncpg

    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gwdrop")
    database = isolation.per_worker("skygate_test_dropme")
    role = isolation.per_worker("skygate_test_dropme_r")
    kept = isolation.per_checkout("skygate_test_keepme")
    conn = await asyncpg.connect(postgres_admin_url)
    try:
        for name in (database, kept):
            await conn.execute(f"DROP DATABASE IF EXISTS {name}")
            await conn.execute(f"CREATE DATABASE {name}")
        await conn.execute(f"DROP ROLE IF EXISTS {role}")
        await conn.execute(f"CREATE ROLE {role}")
        dropped = await isolation.drop_worker_objects(postgres_admin_url)
        assert {database, role} <= set(dropped) and kept not in dropped
        assert not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        assert not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        assert await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", kept)
    finally:
        await conn.execute(f"DROP DATABASE IF EXISTS {kept}")
        await conn.close()
