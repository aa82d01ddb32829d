"""Fixtures for the UWS tests: a job store of each kind, a job system, and an ASGI client.

``store_url`` is parametrized over SQLite and PostgreSQL (database ``skygate_test_uws_<checkout>_<worker>``), so
every test that uses it runs against both stores.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import asyncpg
import httpx
import pytest
from lxml import etree
from starlette.applications import Starlette
from starlette.routing import Mount

from tests.configs import job_config as configured
from tests.dali import xmlschema
from tests.isolation import per_worker
from uws.config import JobConfig
from uws.routes import job_routes
from uws.system import JobSystem, open_job_system
from uws.testing import job_kinds

PG_DATABASE = per_worker("skygate_test_uws")


@pytest.fixture(scope="session")
def uws_schema() -> etree.XMLSchema:
    """UWS.xsd, with the xlink import resolved from the same folder."""
    return xmlschema.uws_schema()


@pytest.fixture(scope="session")
def postgres_jobs_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh database for the UWS tests, dropped afterwards."""

    async def recreate(drop_only: bool = False) -> None:
        conn = await asyncpg.connect(postgres_admin_url)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
            if not drop_only:
                await conn.execute(f"CREATE DATABASE {PG_DATABASE}")
        finally:
            await conn.close()

    # requested from inside async fixtures, so run on a thread with its own loop
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, recreate()).result()
        yield postgres_admin_url.rsplit("/", 1)[0] + f"/{PG_DATABASE}"
        pool.submit(asyncio.run, recreate(drop_only=True)).result()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    url: str = request.getfixturevalue("postgres_jobs_url")
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP SCHEMA IF EXISTS uws CASCADE")
    finally:
        await conn.close()
    return url


@pytest.fixture
def job_config(store_url: str, tmp_path: Path) -> JobConfig:
    return configured(
        store_url=store_url, results_dir=tmp_path / "results", execution_duration=60,
        execution_duration_max=600, destruction_days=7, wait_max=5, heartbeat_interval=0.1,
        heartbeat_timeout=1.0, requeue_after=1.0, sweep_interval=0,
    )


@pytest.fixture
async def system(job_config: JobConfig) -> AsyncIterator[JobSystem]:
    system = await open_job_system(job_config, job_kinds())
    try:
        yield system
    finally:
        await system.close()


@pytest.fixture
async def client(system: JobSystem) -> AsyncIterator[httpx.AsyncClient]:
    """The UWS routes of the test kinds, mounted as a service would: ``/echo/async`` etc."""
    runtime = SimpleNamespace(jobs=system)
    routes = [
        Mount("/echo", routes=job_routes("uws-echo", runtime)),
        Mount("/sleep", routes=job_routes("uws-sleep", runtime)),
        Mount("/asleep", routes=job_routes("uws-async-sleep", runtime)),
    ]
    app = Starlette(routes=routes)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
