"""TAP with authentication on (``SKYGATE_AUTH=tokens``), as clients meet it.

With anonymous read, taplint as an anonymous client stays at zero errors, and pyvo with the token
in its session header runs sync and async queries and sees its own jobs only. With
``SKYGATE_ANONYMOUS=none`` STILTS logs in itself: at start it installs
``uk.ac.starlink.util.PropertyAuthenticator`` (starlink-util), a ``java.net.Authenticator`` that
answers a 401's ``Basic`` challenge (RFC 7617) with the Java system properties
``star.basicauth.user`` and ``star.basicauth.password``, here alice's user name and token. So
taplint and tapquery run as alice, and a wrong password gets no rows.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests
from lxml import etree

from skygate.settings import Settings
from tests.accounts import bearer, make_tokens
from tests.live_fixtures import LiveServer, serve
from tests.tap.test_live import _check, _stilts, taplint

UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory,
                ci_duckdb_path: Path) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    """Tokens with anonymous read."""
    yield from _server(tmp_path_factory.mktemp("live-auth"), ci_duckdb_path, anonymous="read")


@pytest.fixture(scope="module")
def closed_server(tmp_path_factory: pytest.TempPathFactory,
                  ci_duckdb_path: Path) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    """Tokens without anonymous access: everything but VOSI availability and capabilities answers 401."""
    yield from _server(tmp_path_factory.mktemp("live-auth-closed"), ci_duckdb_path, anonymous="none")


def _server(data_dir: Path, ci_duckdb_path: Path, *, anonymous: str) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    (data_dir / "catalog.duckdb").symlink_to(ci_duckdb_path)
    settings = Settings(data_dir=data_dir, auth="tokens", anonymous=anonymous)
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


@pytest.mark.live
@pytest.mark.stilts
@pytest.mark.slow
def test_taplint_as_alice_with_basic(closed_server: tuple[LiveServer, dict[str, str]], tmp_path: Path) -> None:
    """Every call taplint makes is alice's (an anonymous one would be refused), and she has a table
    of her own, which taplint checks in /tables and TAP_SCHEMA. No warning remains: without
    anonymous access each interface is listed once, with BasicAA, so W-CAP-CPI2-01 is not raised."""
    from tests.tap.test_user_tables import VOTABLE, _votable

    server, tokens = closed_server
    created = httpx.put(f"{server.tap_url}/tables/user_alice.targets", content=_votable(), timeout=30,
                        headers={"Content-Type": VOTABLE, **bearer(tokens["alice"])})
    assert created.status_code == 201, created.text
    report = tmp_path / "taplint.txt"
    _check(*taplint(server.tap_url, report, login=("alice", tokens["alice"]), report="EWSF"))
    seen = re.search(r"^S-TMS-SUMM-01 Schemas: \d+, Tables: (\d+)", report.read_text(), re.MULTILINE)
    assert seen, report.read_text()[-2000:]
    assert int(seen.group(1)) == _tables(server, tokens["alice"]) == _tables(server, tokens["bob"]) + 1


@pytest.mark.live
@pytest.mark.stilts
def test_stilts_tapquery_sync_as_alice(closed_server: tuple[LiveServer, dict[str, str]]) -> None:
    server, tokens = closed_server
    result = _tapquery(server, ("alice", tokens["alice"]), "sync=true")
    assert result.returncode == 0, result.stderr
    assert _rows(result) == 3


@pytest.mark.live
@pytest.mark.stilts
def test_stilts_tapquery_async_job_is_alices(closed_server: tuple[LiveServer, dict[str, str]]) -> None:
    server, tokens = closed_server
    result = _tapquery(server, ("alice", tokens["alice"]), "sync=false", "delete=never")
    assert result.returncode == 0, result.stderr
    assert _rows(result) == 3
    submitted = re.search(r"^(\S+/tap/async/(\w+))$", result.stderr, re.MULTILINE)  # tapquery's progress
    assert submitted, result.stderr
    job_url, job_id = submitted.groups()
    alice, bob = bearer(tokens["alice"]), bearer(tokens["bob"])
    job = etree.fromstring(httpx.get(job_url, headers=alice, timeout=30).content)
    assert (job.findtext(f"{UWS}ownerId"), job.findtext(f"{UWS}phase")) == ("alice", "COMPLETED")
    assert job_id in _job_ids(server, alice)
    assert httpx.get(job_url, headers=bob, timeout=30).status_code == 404
    assert job_id not in _job_ids(server, bob)
    assert httpx.delete(job_url, headers=alice, timeout=30).status_code == 303


@pytest.mark.live
@pytest.mark.stilts
@pytest.mark.parametrize("sync", ["true", "false"])
def test_stilts_with_a_wrong_password_gets_no_rows(closed_server: tuple[LiveServer, dict[str, str]],
                                                  sync: str) -> None:
    """Java resends a refused Basic credential up to ``http.maxRedirects`` (20) times and then gives
    up; the server counts the repeats as one failure, so alice is not locked out afterwards."""
    server, tokens = closed_server
    for login in (("alice", tokens["alice"][:-1] + "x"), ("bob", tokens["alice"])):
        refused = _tapquery(server, login, f"sync={sync}")
        assert refused.returncode != 0 and refused.stdout == "", refused.stdout
        assert "401" in refused.stderr, refused.stderr
    result = _tapquery(server, ("alice", tokens["alice"]), f"sync={sync}")
    assert result.returncode == 0, result.stderr
    assert _rows(result) == 3


def _tapquery(server: LiveServer, login: tuple[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """STILTS tapquery for three rows, written to stdout as CSV (progress goes to stderr)."""
    return _stilts("tapquery", f"tapurl={server.tap_url}", "adql=SELECT TOP 3 ra, dec FROM des_dr1.main",
                   "ofmt=csv", "omode=out", *args, login=login, timeout=300)


def _rows(result: subprocess.CompletedProcess[str]) -> int:
    lines = result.stdout.splitlines()
    assert lines[:1] == ["ra,dec"], result.stdout
    return len(lines) - 1


def _tables(server: LiveServer, token: str) -> int:
    """How many tables TAP_SCHEMA lists to the owner of ``token``."""
    answer = httpx.post(f"{server.tap_url}/sync", headers=bearer(token), timeout=30, data={
        "LANG": "ADQL", "RESPONSEFORMAT": "csv", "QUERY": "SELECT COUNT(*) AS n FROM TAP_SCHEMA.tables"})
    assert answer.status_code == 200, answer.text
    return int(answer.text.split()[1])


def _job_ids(server: LiveServer, headers: dict[str, str]) -> list[str]:
    jobs = etree.fromstring(httpx.get(f"{server.tap_url}/async", headers=headers, timeout=30).content)
    return [ref.get("id") for ref in jobs.iter(f"{UWS}jobref")]
