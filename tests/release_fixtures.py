"""Session fixtures for the ingested ``ci`` release: ``duckdb_backend``, ``postgres_backend``, ``ci_engine``.

Imported by tests/conftest.py so every test can use them. The ``ci`` files come from the demo
engineer's ``ci_release_dir``; they are ingested once into ``var/test-cache/ci-duckdb/catalog.duckdb``
and into the PostgreSQL database ``skygate_test_release_<checkout>`` (tests/isolation.py), and reused while
the release and the
ingest code are unchanged (a stamp: sha256 of the manifest and of the ingest sources). Parallel
runs are serialised with a file lock (DuckDB) and an advisory lock (PostgreSQL); the DuckDB file is
written beside and renamed into place, so a run reading the old file is never disturbed.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from dali.values import TableMeta
from release.backends import DuckDBBackend, PostgresBackend, open_backend
from release.engine import QueryEngine
from release.layout import ingest_release, ingested_stamp, release_stamp
from release.stores import open_store
from tests.isolation import per_checkout

ROOT = Path(__file__).resolve().parents[1]
TEST_CACHE = ROOT / "var" / "test-cache"
# Shared by the xdist workers of one run (ingested once under the advisory lock), never by two checkouts.
READER_ROLE = per_checkout("skygate_test_reader")
PG_DATABASE = per_checkout("skygate_test_release")
BASE_URL = "http://127.0.0.1:8000"
_CODE = ("release/ingest.py", "release/layout.py", "release/sources.py", "release/stores.py", "release/tapschema.py",
         "release/metadata.py", "release/obscore.py", "dali/sphere.py")


def ci_stamp(release_dir: Path) -> str:
    """Identity of an ingested release (``ci``, ``tour``): the release files plus the code that ingests them."""
    digest = hashlib.sha256((release_stamp(release_dir) or "").encode())
    for name in _CODE:
        path = ROOT / name
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="session")
def ci_duckdb_path(ci_release_dir: Path) -> Path:
    """The ``ci`` release ingested into a DuckDB file (built once, reused while up to date)."""
    return ingested_duckdb(ci_release_dir, TEST_CACHE / "ci-duckdb" / "catalog.duckdb")


@pytest.fixture(scope="session")
def tour_duckdb_path(tour_release_dir: Path) -> Path:
    """The ``tour`` release (the example notebooks') ingested into a DuckDB file."""
    return ingested_duckdb(tour_release_dir, TEST_CACHE / "tour-duckdb" / "catalog.duckdb")


def ingested_duckdb(release_dir: Path, target: Path) -> Path:
    """``release_dir`` ingested into the DuckDB file ``target``, unless it already holds it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    stamp = ci_stamp(release_dir)
    stamp_file = target.with_suffix(".stamp")
    with open(target.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (target.is_file() and stamp_file.is_file() and stamp_file.read_text() == stamp):
                scratch = target.with_name(f"catalog.{os.getpid()}.duckdb")
                scratch.unlink(missing_ok=True)
                asyncio.run(_ingest("", scratch, release_dir, stamp))
                os.replace(scratch, target)
                stamp_file.write_text(stamp)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target


@pytest.fixture(scope="session")
def duckdb_backend(ci_duckdb_path: Path) -> Iterator[DuckDBBackend]:
    """The ingested ``ci`` release, served read-only from DuckDB (shared by the whole session)."""
    backend = open_backend("", ci_duckdb_path, base_url=BASE_URL, readonly_role="")
    assert isinstance(backend, DuckDBBackend)
    yield backend
    asyncio.run(backend.close())


@pytest.fixture(scope="session")
def ci_metadata(duckdb_backend: DuckDBBackend) -> dict[str, TableMeta]:
    from release.metadata import load_metadata

    return asyncio.run(load_metadata(duckdb_backend))


@pytest.fixture(scope="session")
def ci_engine(duckdb_backend: DuckDBBackend, ci_metadata: dict[str, TableMeta]) -> QueryEngine:
    """A ``QueryEngine`` over the ``ci`` release in DuckDB, with the real ADQL translator."""
    return QueryEngine(duckdb_backend, ci_metadata)


@pytest.fixture(scope="session")
def ci_postgres_url(postgres_admin_url: str, ci_release_dir: Path) -> str:
    """Admin URL of ``PG_DATABASE`` holding the ``ci`` release (ingested once, reused)."""
    return asyncio.run(_postgres_release(postgres_admin_url, ci_release_dir))


@pytest.fixture
async def postgres_backend(ci_postgres_url: str) -> AsyncIterator[PostgresBackend]:
    """The ``ci`` release served from PostgreSQL as the read-only role (a pool per test: pools
    belong to one event loop)."""
    backend = open_backend(ci_postgres_url, Path("unused"), base_url=BASE_URL, readonly_role=READER_ROLE)
    assert isinstance(backend, PostgresBackend)
    yield backend
    await backend.close()


async def _ingest(database_url: str, duckdb_path: Path, release_dir: Path, stamp: str) -> None:
    async with await open_store(database_url, duckdb_path, readonly_role=READER_ROLE) as store:
        await ingest_release(store, release_dir, stamp=stamp)


async def _postgres_release(admin_url: str, release_dir: Path) -> str:
    url = admin_url.rsplit("/", 1)[0] + "/" + PG_DATABASE
    stamp = ci_stamp(release_dir)
    admin = await asyncpg.connect(admin_url)
    try:
        # One session at a time creates and fills the database; the others wait, then reuse it.
        await admin.execute("SELECT pg_advisory_lock(hashtext($1))", PG_DATABASE)
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", PG_DATABASE):
            await admin.execute(f"CREATE DATABASE {PG_DATABASE}")
        async with await open_store(url, Path("unused"), readonly_role=READER_ROLE) as store:
            current = await ingested_stamp(store)
        if current != stamp:
            await _ingest(url, Path("unused"), release_dir, stamp)
    finally:
        await admin.execute("SELECT pg_advisory_unlock(hashtext($1))", PG_DATABASE)
        await admin.close()
    return url
