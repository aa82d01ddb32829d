"""Owner isolation on the production stack: the release in PostgreSQL (read-only role), jobs and
accounts in PostgreSQL, Redis with a real ``skygate worker`` process running the jobs.

The same matrix as tests/skygate/test_identity.py (two users and anonymous x every job endpoint of
every job kind x every verb), MODEL reuse through the worker, and user tables seen by the worker's
queries (DESTINATION, and a query of the owner's table) but by nobody else's.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from skygate.app import create_app
from skygate.settings import Settings
from tests.accounts import bearer
from tests.release_fixtures import READER_ROLE
from tests.skygate.test_identity import (
    JOB_KINDS,
    _make_tokens,
    check_model_reuse,
    check_no_job_crosses,
)
from tests.tap.conftest import BASE, TestClient, final_phase
from tests.tap.test_user_tables import VOTABLE, _votable

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
JOBS_DATABASE = f"skygate_test_identity_{secrets.token_hex(4)}"


def _recreate(admin_url: str, *, drop_only: bool = False) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {JOBS_DATABASE} WITH (FORCE)")
            if not drop_only:
                await conn.execute(f"CREATE DATABASE {JOBS_DATABASE}")
        finally:
            await conn.close()

    asyncio.run(run())


class _Worker:
    """``skygate worker`` with the same settings as the API, as an operator would start it."""

    def __init__(self, settings: Settings) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SKYGATE_")}
        env.update(SKYGATE_DATA_DIR=str(settings.data_dir), SKYGATE_DATABASE_URL=settings.database_url,
                   SKYGATE_READONLY_ROLE=settings.readonly_role, SKYGATE_JOBS_URL=settings.jobs_url,
                   SKYGATE_BROKER_URL=settings.broker_url, SKYGATE_QUEUE_NAME=settings.queue_name,
                   SKYGATE_AUTH=settings.auth, SKYGATE_BASE_URL=settings.base_url)
        self.log = settings.data_dir / "worker.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).with_name("skygate")), "worker", "--processes", "1", "--threads", "2"],
                env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while "worker consuming queue" not in self.log.read_text(errors="replace"):
            assert self.process.poll() is None and time.monotonic() < deadline, self.log.read_text(errors="replace")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str, ci_postgres_url: str,
               redis_url: str) -> Iterator[tuple[TestClient, dict[str, str]]]:
    _recreate(postgres_admin_url)
    jobs_url = postgres_admin_url.rsplit("/", 1)[0] + f"/{JOBS_DATABASE}"
    settings = Settings(data_dir=tmp_path_factory.mktemp("production"), base_url=BASE, database_url=ci_postgres_url,
                        readonly_role=READER_ROLE, jobs_url=jobs_url, broker_url=redis_url,
                        queue_name=f"identity-{secrets.token_hex(4)}", auth="tokens")
    tokens = _make_tokens(settings)
    worker = _Worker(settings)
    try:
        worker.wait_ready()
        with TestClient(create_app(settings), base_url=BASE) as client:
            yield client, tokens
    finally:
        worker.stop()
        _recreate(postgres_admin_url, drop_only=True)


@pytest.mark.parametrize("path", sorted(JOB_KINDS))
def test_no_job_crosses_between_callers(production: tuple[TestClient, dict[str, str]], path: str) -> None:
    check_no_job_crosses(*production, path)


def test_a_model_is_reused_only_by_its_owner(production: tuple[TestClient, dict[str, str]]) -> None:
    check_model_reuse(*production)


def test_the_workers_queries_see_the_owners_tables_only(production: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = production
    alice, bob = bearer(tokens["alice"]), bearer(tokens["bob"])
    for name in ("targets", "bright"):  # left by a run that was killed (the release database outlives runs)
        client.delete(f"/tap/tables/user_alice.{name}", headers=alice)
    created = client.put("/tap/tables/user_alice.targets", content=_votable(),
                         headers={**alice, "Content-Type": VOTABLE})
    assert created.status_code == 201, created.text
    try:
        query = {"LANG": "ADQL", "QUERY": "SELECT name, flux FROM user_alice.targets WHERE flux >= 2",
                 "DESTINATION": "bright", "RESPONSEFORMAT": "csv", "PHASE": "RUN"}
        for headers, phase in ((alice, "COMPLETED"), (bob, "ERROR")):
            job = client.post("/tap/async", data=query, headers=headers, follow_redirects=False).headers["location"]
            assert final_phase(client, job, headers) == phase, client.get(f"{job}/error", headers=headers).text
        copied = client.post("/tap/sync", data={"QUERY": "SELECT name FROM user_alice.bright ORDER BY name",
                                                "RESPONSEFORMAT": "csv"}, headers=alice)
        assert copied.text.split() == ["name", "s2", "s3"]  # made by the worker, read by the API
        assert client.get("/tap/tables/user_alice.bright", headers=bob).status_code == 404
    finally:
        for name in ("targets", "bright"):
            client.delete(f"/tap/tables/user_alice.{name}", headers=alice)
