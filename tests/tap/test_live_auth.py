"""TAP with authentication on (``SKYGATE_AUTH=tokens``, anonymous read), as clients meet it.

taplint must stay at zero errors and warnings for an anonymous client; pyvo with the token in its
session header runs sync and async queries and sees its own jobs only. Debian's STILTS (2022)
predates the STIL authentication library, so taplint runs anonymously here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from auth.accounts import open_accounts
from skygate.settings import Settings
from tests.live_fixtures import LiveServer, serve
from tests.tap.test_live import _check, taplint


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory,
                ci_duckdb_path: Path) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    data_dir = tmp_path_factory.mktemp("live-auth")
    (data_dir / "catalog.duckdb").symlink_to(ci_duckdb_path)
    settings = Settings(data_dir=data_dir, auth="tokens")

    async def make() -> dict[str, str]:
        accounts = open_accounts(settings.effective_jobs_url)
        await accounts.open()
        try:
            for name in ("alice", "bob"):
                await accounts.add_user(name)
            return {name: await accounts.create_token(name) for name in ("alice", "bob")}
        finally:
            await accounts.close()

    tokens = asyncio.run(make())
    for server in serve(settings):
        yield server, tokens


@pytest.mark.live
@pytest.mark.stilts
@pytest.mark.slow
def test_taplint_with_authentication_on(auth_server: tuple[LiveServer, dict[str, str]], tmp_path: Path) -> None:
    server, _ = auth_server
    errors, warnings, error_lines, warning_lines = taplint(server.tap_url, tmp_path / "taplint.txt")
    # VOResource 1.1 allows one securityMethod per interface, so declaring BasicAA beside anonymous
    # access repeats the TAP interface, which taplint notes once (as it does for CADC's services).
    assert [w.split()[0] for w in warning_lines] == ["W-CAP-CPI2-01"]
    _check(errors, warnings - 1, error_lines, [])


@pytest.mark.live
def test_pyvo_with_a_token_in_its_session(auth_server: tuple[LiveServer, dict[str, str]],
                                          pyvo_session: requests.Session) -> None:
    import pyvo

    server, tokens = auth_server
    pyvo_session.headers["Authorization"] = f"Bearer {tokens['alice']}"
    service = pyvo.dal.TAPService(server.tap_url, session=pyvo_session)
    rows = service.run_sync("SELECT TOP 3 ra, dec FROM des_dr1.main").to_table()
    assert len(rows) == 3
    job = service.submit_job("SELECT TOP 5 coadd_object_id FROM des_dr1.main")
    job.run()
    job.wait(timeout=60)
    assert len(job.fetch_result().to_table()) == 5
    assert job.owner == "alice"
    with requests.Session() as bob:
        bob.headers["Authorization"] = f"Bearer {tokens['bob']}"
        assert bob.get(job.url).status_code == 404
        assert job.job_id not in bob.get(f"{server.tap_url}/async").text
    mine = [j.jobid for j in service.get_job_list()]
    assert job.job_id in mine
    job.delete()
