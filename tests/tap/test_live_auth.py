"""TAP with authentication on (``SKYGATE_AUTH=tokens``, anonymous read), as clients meet it.

taplint must stay at zero errors and warnings for an anonymous client; pyvo with the token in its
session header runs sync and async queries and sees its own jobs only. Debian's STILTS (2022)
predates the STIL authentication library, so taplint runs anonymously here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests

from skygate.settings import Settings
from tests.accounts import make_tokens
from tests.live_fixtures import LiveServer, free_port, run_asgi, serve
from tests.tap.test_live import _check, taplint


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory,
                ci_duckdb_path: Path) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    data_dir = tmp_path_factory.mktemp("live-auth")
    (data_dir / "catalog.duckdb").symlink_to(ci_duckdb_path)
    settings = Settings(data_dir=data_dir, auth="tokens")

    tokens = make_tokens(settings, ("alice", "bob"))
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


class _LoggedIn:
    """ASGI: forward every request to ``target`` with ``Authorization`` added, as a client that
    logged in would send it; for Debian's STILTS, which cannot send credentials itself."""

    def __init__(self, target: str, authorization: str) -> None:
        self.target = target
        self.authorization = authorization.encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            for step in ("startup", "shutdown"):
                await receive()
                await send({"type": f"lifespan.{step}.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        dropped = {b"host", b"authorization", b"content-length", b"transfer-encoding", b"expect", b"connection"}
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in dropped]
        headers.append((b"authorization", self.authorization))
        query = scope["query_string"].decode()
        url = f"{self.target}{scope['path']}" + (f"?{query}" if query else "")
        async with httpx.AsyncClient(timeout=300) as client:
            answer = await client.request(scope["method"], url, headers=headers, content=body)
        passed = [(k.encode(), v.encode()) for k, v in answer.headers.multi_items()
                  if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding")]
        await send({"type": "http.response.start", "status": answer.status_code, "headers": passed})
        await send({"type": "http.response.body", "body": answer.content})


@pytest.mark.live
@pytest.mark.stilts
@pytest.mark.slow
def test_taplint_as_an_authenticated_user_with_tables(tmp_path_factory: pytest.TempPathFactory,
                                                      ci_duckdb_path: Path, tmp_path: Path) -> None:
    """taplint through a front that adds alice's token: every call is alice's, who has a table of
    her own in /tables and TAP_SCHEMA, and whose jobs are hers."""
    from skygate.app import create_app
    from tests.tap.test_user_tables import VOTABLE, _votable

    data_dir = tmp_path_factory.mktemp("live-auth-taplint")
    (data_dir / "catalog.duckdb").symlink_to(ci_duckdb_path)
    front_port, server_port = free_port(), free_port()
    settings = Settings(data_dir=data_dir, auth="tokens", base_url=f"http://127.0.0.1:{front_port}")

    front = _LoggedIn(f"http://127.0.0.1:{server_port}", f"Bearer {make_tokens(settings, ('alice',))['alice']}")
    for _ in run_asgi(create_app(settings), server_port, settings):
        for server in run_asgi(front, front_port, settings):
            created = requests.put(f"{server.tap_url}/tables/user_alice.targets", data=_votable(),
                                   headers={"Content-Type": VOTABLE}, timeout=30)
            assert created.status_code == 201, created.text
            assert requests.get(f"{server.url}/whoami", timeout=30).json()["user"] == "alice"
            listed = requests.get(f"{server.tap_url}/sync", timeout=30, params={
                "LANG": "ADQL", "RESPONSEFORMAT": "csv",
                "QUERY": "SELECT table_name FROM TAP_SCHEMA.tables WHERE schema_name = 'user_alice'"})
            assert listed.text.split() == ["table_name", "user_alice.targets"]  # what taplint reads as alice
            errors, warnings, error_lines, warning_lines = taplint(server.tap_url, tmp_path / "taplint.txt")
            assert [w.split()[0] for w in warning_lines] == ["W-CAP-CPI2-01"]  # as in the anonymous run
            _check(errors, warnings - 1, error_lines, [])
