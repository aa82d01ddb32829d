"""Persistent user tables (issue 15): PUT/GET/DELETE /tap/tables/{schema.table}, DESTINATION on
/tap/async, owner-only visibility in /tables, TAP_SCHEMA and ADQL, quotas, and survival across a
restart, on DuckDB (tokens mode: alice, bob and anonymous) and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import io
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from astropy.io.votable import from_table
from astropy.table import Table
from lxml import etree

from skygate.app import create_app
from skygate.settings import Settings
from tests.accounts import bearer, make_tokens
from tests.live_fixtures import READER_ROLE, serve
from tests.tap.conftest import BASE, final_phase, release_settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from starlette.testclient import TestClient

VOTABLE = "application/x-votable+xml"
# Stars near the ci release's tiles (around M2, ra ~323.4, dec ~-0.8) and one far away.
RA = np.array([323.30, 323.35, 323.40, 10.0])
DEC = np.array([-0.80, -0.85, -0.90, 20.0])


def _votable(ra: np.ndarray = RA, dec: np.ndarray = DEC) -> bytes:
    table = Table({"RA": ra, "Dec": dec, "name": [f"s{i}" for i in range(len(ra))],
                   "flux": np.arange(len(ra), dtype=np.float32)})
    table["RA"].unit, table["Dec"].unit = "deg", "deg"
    votable = from_table(table)
    fields = votable.get_first_table().fields
    fields[0].ucd, fields[1].ucd = "pos.eq.ra;meta.main", "pos.eq.dec;meta.main"
    fields[3].description = "made-up flux"
    out = io.BytesIO()
    votable.to_xml(out)
    return out.getvalue()


def _users(settings: Settings, names: tuple[str, ...]) -> dict[str, dict[str, str]]:
    return {name: bearer(token) for name, token in make_tokens(settings, names).items()}


@pytest.fixture(scope="module")
def tokens_settings(tmp_path_factory: pytest.TempPathFactory, ci_duckdb_path: Path) -> Settings:
    return release_settings(tmp_path_factory.mktemp("user-tables"), ci_duckdb_path, auth="tokens",
                            user_table_max_bytes=2_000_000)


@pytest.fixture(scope="module")
def who(tokens_settings: Settings) -> dict[str, dict[str, str]]:
    return {**_users(tokens_settings, ("alice", "bob")), "anonymous": {}}


@pytest.fixture(scope="module")
def client(tokens_settings: Settings, who: dict[str, dict[str, str]]) -> Iterator[TestClient]:
    with TestClient(create_app(tokens_settings), base_url=BASE) as test_client:
        yield test_client


def _sync(client: TestClient, query: str, headers: dict[str, str]) -> tuple[int, list[dict[str, Any]], bytes]:
    response = client.post("/tap/sync", data={"LANG": "ADQL", "QUERY": query, "RESPONSEFORMAT": "csv"},
                           headers=headers)
    if response.status_code != 200:
        return response.status_code, [], response.content
    return 200, pacsv.read_csv(io.BytesIO(response.content)).to_pylist(), response.content


def _put(client: TestClient, name: str, body: bytes, headers: dict[str, str],
         content_type: str = VOTABLE) -> httpx.Response:
    return client.put(f"/tap/tables/{name}", content=body, headers={**headers, "Content-Type": content_type})


def _table_names(document: bytes) -> list[str]:
    tree = etree.fromstring(document)
    return [e.text for e in tree.iter("name") if e.getparent().tag == "table"]


def test_a_table_put_is_described_listed_and_queried_by_its_owner_only(client: TestClient,
                                                                        who: dict[str, dict[str, str]]) -> None:
    created = _put(client, "user_alice.stars", _votable(), who["alice"])
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"{BASE}/tap/tables/user_alice.stars"
    described = etree.fromstring(created.content)
    columns = {c.findtext("name"): c for c in described.iter("column")}
    assert sorted(columns) == ["dec", "flux", "name", "ra"]  # lower-cased; the index column is internal
    assert columns["ra"].findtext("ucd") == "pos.eq.ra;meta.main"
    assert columns["ra"].findtext("unit") == "deg"
    assert columns["flux"].findtext("description") == "made-up flux"
    assert described.findtext("nrows") == "4"

    assert "user_alice.stars" in _table_names(client.get("/tap/tables", headers=who["alice"]).content)
    for other in ("bob", "anonymous"):
        assert "user_alice.stars" not in _table_names(client.get("/tap/tables", headers=who[other]).content)
        assert client.get("/tap/tables/user_alice.stars", headers=who[other]).status_code == 404
    assert client.get("/tap/tables/user_alice.stars", headers=who["alice"]).status_code == 200

    status, rows, _ = _sync(client, "SELECT name, flux FROM user_alice.stars ORDER BY flux", who["alice"])
    assert status == 200 and [r["name"] for r in rows] == ["s0", "s1", "s2", "s3"]
    for other in ("bob", "anonymous"):
        status, _, body = _sync(client, "SELECT name FROM user_alice.stars", who[other])
        assert status == 400 and b"unknown table" in body


def test_the_owners_tap_schema_lists_their_tables(client: TestClient, who: dict[str, dict[str, str]]) -> None:
    assert _put(client, "user_alice.listed", _votable(), who["alice"]).status_code == 201
    query = "SELECT table_name FROM TAP_SCHEMA.tables WHERE schema_name = 'user_alice' ORDER BY table_name"
    status, rows, _ = _sync(client, query, who["alice"])
    assert status == 200 and "user_alice.listed" in [r["table_name"] for r in rows]
    status, rows, _ = _sync(client, "SELECT column_name FROM TAP_SCHEMA.columns "
                                    "WHERE table_name = 'user_alice.listed' ORDER BY column_index", who["alice"])
    assert [r["column_name"] for r in rows] == ["ra", "dec", "name", "flux"]
    status, rows, _ = _sync(client, "SELECT COUNT(*) AS n FROM TAP_SCHEMA.tables WHERE schema_name = 'des_dr1'",
                            who["alice"])
    release_tables = rows[0]["n"]
    assert release_tables > 0
    for other in ("bob", "anonymous"):
        status, rows, _ = _sync(client, query, who[other])
        assert status == 200 and rows == []
        status, rows, _ = _sync(client, "SELECT COUNT(*) AS n FROM TAP_SCHEMA.tables "
                                        "WHERE schema_name = 'des_dr1'", who[other])
        assert rows[0]["n"] == release_tables


def test_positional_user_tables_answer_cones_and_join_the_release(client: TestClient,
                                                                   who: dict[str, dict[str, str]]) -> None:
    assert _put(client, "user_alice.targets", _votable(), who["alice"]).status_code == 201
    cone = ("SELECT name FROM user_alice.targets "
            "WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 323.35, -0.85, 0.1)) ORDER BY name")
    status, rows, _ = _sync(client, cone, who["alice"])
    assert status == 200 and [r["name"] for r in rows] == ["s0", "s1", "s2"]
    # Each target's neighbours in the release within 1 arcmin: the join agrees with one cone per target.
    join = ("SELECT t.name, COUNT(*) AS n FROM user_alice.targets AS t JOIN des_dr1.main AS m "
            "ON 1 = CONTAINS(POINT('ICRS', m.ra, m.dec), CIRCLE('ICRS', t.ra, t.dec, 1.0/60)) "
            "GROUP BY t.name ORDER BY t.name")
    status, rows, body = _sync(client, join, who["alice"])
    assert status == 200, body
    expected = {}
    for i in range(len(RA)):
        cone = f"CIRCLE('ICRS', {RA[i]}, {DEC[i]}, 1.0/60)"
        _, counted, _ = _sync(client, "SELECT COUNT(*) AS n FROM des_dr1.main "
                                      f"WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), {cone})", who["alice"])
        if counted[0]["n"]:
            expected[f"s{i}"] = counted[0]["n"]
    assert len(expected) == 3 and {r["name"]: r["n"] for r in rows} == expected


def test_csv_parquet_and_fits_bodies_make_the_same_table(client: TestClient, who: dict[str, dict[str, str]]) -> None:
    data = pa.table({"ra": RA, "dec": DEC, "flux": np.arange(4, dtype=np.float64)})
    csv = io.BytesIO()
    pacsv.write_csv(data, csv)
    parquet = io.BytesIO()
    pq.write_table(data, parquet)
    fits_body = io.BytesIO()
    fits.BinTableHDU(Table(data.to_pydict())).writeto(fits_body)
    bodies = {"from_csv": (csv.getvalue(), "text/csv"),
              "from_parquet": (parquet.getvalue(), "application/octet-stream"),  # recognised by its first bytes
              "from_fits": (fits_body.getvalue(), "application/fits")}
    for name, (body, kind) in bodies.items():
        response = _put(client, f"user_alice.{name}", body, who["alice"], kind)
        assert response.status_code == 201, (name, response.text)
        status, rows, _ = _sync(client, f"SELECT ra, dec, flux FROM user_alice.{name} ORDER BY flux", who["alice"])
        assert status == 200
        assert [(r["ra"], r["dec"], r["flux"]) for r in rows] == list(zip(RA, DEC, range(4), strict=True))


@pytest.mark.parametrize(("who_", "name", "body", "content_type", "status", "words"), [
    ("alice", "user_alice.select", None, VOTABLE, 400, b"reserved word"),
    ("alice", "user_alice.9lives", None, VOTABLE, 400, b"cannot name a table"),
    ("alice", "user_bob.mine", None, VOTABLE, 403, b"only in your own schema user_alice"),
    ("alice", "des_dr1.main", None, VOTABLE, 403, b"only in your own schema"),
    ("anonymous", "user_anonymous.t", None, VOTABLE, 403, b"logged-in user"),
    ("alice", "user_alice.t_html", b"<html/>", "text/html", 415, b"cannot store a table sent as text/html"),
    ("alice", "user_alice.t_gz", b"\x1f\x8b\x08\x00rest", "text/csv", 400, b"compressed"),
    ("alice", "user_alice.t_bad", b"not,a\ntable", "application/fits", 400, b"not a readable fits table"),
    ("alice", "user_alice.t_ref", b'<?xml version="1.0"?><!DOCTYPE v [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                                  b"<VOTABLE>&e;</VOTABLE>", VOTABLE, 400, b"entit"),
    ("alice", "user_alice.t_empty", b"", VOTABLE, 400, b"no body"),
    ("alice", "user_alice.t_cols", b"a b,c\n1,2\n", "text/csv", 400, b"cannot be published under that name"),
])
def test_bad_puts_are_refused_with_the_reason(client: TestClient, who: dict[str, dict[str, str]], who_: str, name: str,
                                              body: bytes | None, content_type: str, status: int, words: bytes) -> None:
    response = _put(client, name, _votable() if body is None else body, who[who_], content_type)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(VOTABLE)
    assert words.lower() in response.content.lower()
    assert b"QUERY_STATUS" in response.content and b"ERROR" in response.content


def test_a_second_table_of_the_same_name_is_a_conflict(client: TestClient, who: dict[str, dict[str, str]]) -> None:
    assert _put(client, "user_alice.twice", _votable(), who["alice"]).status_code == 201
    again = _put(client, "user_alice.twice", _votable(RA[:1], DEC[:1]), who["alice"])
    assert again.status_code == 409 and b"already have a table" in again.content
    # the first one is untouched
    assert _sync(client, "SELECT COUNT(*) AS n FROM user_alice.twice", who["alice"])[1] == [{"n": 4}]


def test_the_quota_refuses_what_would_go_over_and_says_so(client: TestClient, who: dict[str, dict[str, str]]) -> None:
    n = 40_000  # 4 doubles + an int64 index per row: ~1.6 MB each; the quota here is 2 MB
    big = _votable(np.full(n, 323.3), np.full(n, -0.8))
    assert _put(client, "bob_first", big, who["bob"]).status_code == 201  # an unqualified name: bob's schema
    refused = _put(client, "user_bob.other", big, who["bob"])
    assert refused.status_code == 413 and b"left of your table quota" in refused.content, refused.text
    assert client.get("/tap/tables/user_bob.other", headers=who["bob"]).status_code == 404
    assert client.delete("/tap/tables/user_bob.bob_first", headers=who["bob"]).status_code == 204
    assert _put(client, "user_bob.other", big, who["bob"]).status_code == 201


def test_a_body_over_the_upload_limit_is_refused(tmp_path: Path, ci_duckdb_path: Path) -> None:
    settings = release_settings(tmp_path, ci_duckdb_path, upload_max_bytes=1000)
    with TestClient(create_app(settings), base_url=BASE) as small:
        response = _put(small, "user_anonymous.big", _votable(np.zeros(200), np.zeros(200)), {})
    assert response.status_code == 413 and b"at most 1000 bytes" in response.content


def test_delete_drops_the_owners_table_only(client: TestClient, who: dict[str, dict[str, str]]) -> None:
    assert _put(client, "user_alice.doomed", _votable(), who["alice"]).status_code == 201
    assert client.delete("/tap/tables/user_alice.doomed", headers=who["bob"]).status_code == 403
    assert client.delete("/tap/tables/user_alice.doomed", headers=who["anonymous"]).status_code == 403
    assert client.delete("/tap/tables/user_bob.doomed", headers=who["bob"]).status_code == 404
    assert client.delete("/tap/tables/user_alice.doomed", headers=who["alice"]).status_code == 204
    assert client.get("/tap/tables/user_alice.doomed", headers=who["alice"]).status_code == 404
    status, _, body = _sync(client, "SELECT * FROM user_alice.doomed", who["alice"])
    assert status == 400 and b"unknown table" in body
    assert client.delete("/tap/tables/user_alice.doomed", headers=who["alice"]).status_code == 404


def _run_async(client: TestClient, headers: dict[str, str], **params: str) -> tuple[str, bytes]:
    created = client.post("/tap/async", data={"LANG": "ADQL", "PHASE": "RUN", **params}, headers=headers,
                          follow_redirects=False)
    assert created.status_code == 303, created.text
    job = created.headers["location"]
    phase = final_phase(client, job, headers)
    error = client.get(f"{job}/error", headers=headers).content if phase == "ERROR" else b""
    return phase, error


def test_destination_stores_an_async_querys_rows_as_the_owners_table(client: TestClient,
                                                                     who: dict[str, dict[str, str]]) -> None:
    query = "SELECT TOP 50 coadd_object_id, ra, dec, mag_auto_g FROM des_dr1.main ORDER BY coadd_object_id"
    phase, error = _run_async(client, who["alice"], QUERY=query, DESTINATION="brightest")
    assert phase == "COMPLETED", error
    status, rows, _ = _sync(client, "SELECT coadd_object_id, mag_auto_g FROM user_alice.brightest "
                                    "ORDER BY coadd_object_id", who["alice"])
    status, expected, _ = _sync(client, query.replace(", ra, dec", ""), who["alice"])
    assert status == 200 and rows == expected and len(rows) == 50
    described = etree.fromstring(client.get("/tap/tables/user_alice.brightest", headers=who["alice"]).content)
    units = {c.findtext("name"): c.findtext("unit") for c in described.iter("column")}
    assert units["ra"] == "deg"  # the release column's metadata came along
    # MAXREC bounds the stored rows as it bounds the result.
    phase, _ = _run_async(client, who["alice"], QUERY=query, DESTINATION="user_alice.first_ten", MAXREC="10")
    assert phase == "COMPLETED"
    assert _sync(client, "SELECT COUNT(*) AS n FROM user_alice.first_ten", who["alice"])[1] == [{"n": 10}]


@pytest.mark.parametrize(("who_", "destination", "words"), [
    ("anonymous", "mine", b"logged-in user"),
    ("alice", "user_bob.theirs", b"own schema"),
    ("alice", "count", b"reserved word"),
])
def test_bad_destinations_end_the_job_in_error(client: TestClient, who: dict[str, dict[str, str]], who_: str,
                                               destination: str, words: bytes) -> None:
    phase, error = _run_async(client, who[who_], QUERY="SELECT TOP 1 ra FROM des_dr1.main", DESTINATION=destination)
    assert phase == "ERROR" and words in error


def test_sync_refuses_destination(client: TestClient, who: dict[str, dict[str, str]]) -> None:
    response = client.post("/tap/sync", data={"LANG": "ADQL", "QUERY": "SELECT TOP 1 ra FROM des_dr1.main",
                                              "DESTINATION": "t"}, headers=who["alice"])
    assert response.status_code == 400 and b"asynchronous queries only" in response.content


def test_tables_survive_a_restart(tmp_path: Path, ci_duckdb_path: Path) -> None:
    settings = release_settings(tmp_path, ci_duckdb_path)  # SKYGATE_AUTH=none: everyone is "anonymous"
    with TestClient(create_app(settings), base_url=BASE) as first:
        assert _put(first, "kept", _votable(), {}).status_code == 201
    with TestClient(create_app(settings), base_url=BASE) as second:
        status, rows, _ = _sync(second, "SELECT COUNT(*) AS n FROM user_anonymous.kept", {})
        assert status == 200 and rows == [{"n": 4}]


# ----------------------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="module")
def pg_client(tmp_path_factory: pytest.TempPathFactory,
              ci_postgres_url: str) -> Iterator[tuple[TestClient, str, dict[str, str]]]:
    data_dir = tmp_path_factory.mktemp("user-tables-pg")
    settings = Settings(data_dir=data_dir, base_url=BASE, database_url=ci_postgres_url, readonly_role=READER_ROLE,
                        jobs_url=f"sqlite:///{(data_dir / 'jobs.sqlite').resolve()}", auth="tokens")
    owner = f"carol_{uuid.uuid4().hex[:8]}"  # the release database outlives this run: a name of its own
    headers = _users(settings, (owner,))[owner]
    with TestClient(create_app(settings), base_url=BASE) as test_client:
        yield test_client, owner, headers
        for name in ("stars", "copied"):
            test_client.delete(f"/tap/tables/user_{owner}.{name}", headers=headers)


def test_postgresql_keeps_user_tables_as_real_indexed_tables(pg_client: tuple[TestClient, str, dict[str, str]],
                                                             ci_postgres_url: str) -> None:
    client, owner, headers = pg_client
    schema = f"user_{owner}"
    assert _put(client, f"{schema}.stars", _votable(), headers).status_code == 201
    cone = (f"SELECT name FROM {schema}.stars "
            "WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 323.35, -0.85, 0.1)) ORDER BY name")
    status, rows, body = _sync(client, cone, headers)
    assert status == 200 and [r["name"] for r in rows] == ["s0", "s1", "s2"], body
    status, rows, _ = _sync(client, f"SELECT table_name FROM TAP_SCHEMA.tables WHERE schema_name = '{schema}'",
                            headers)
    assert rows == [{"table_name": f"{schema}.stars"}]
    assert _sync(client, f"SELECT name FROM {schema}.stars", {})[0] == 400  # anonymous: no such table
    phase, error = _run_async(client, headers, QUERY=f"SELECT name, flux FROM {schema}.stars WHERE flux > 1",
                              DESTINATION="copied")
    assert phase == "COMPLETED", error
    assert _sync(client, f"SELECT name FROM {schema}.copied ORDER BY name", headers)[1] == [
        {"name": "s2"}, {"name": "s3"}]

    async def indexes() -> list[str]:
        import asyncpg

        conn = await asyncpg.connect(ci_postgres_url)
        try:
            return [r["indexdef"] for r in await conn.fetch(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'stars'", schema)]
        finally:
            await conn.close()

    assert any("skygate_hpx" in d for d in asyncio.run(indexes()))
    assert client.delete(f"/tap/tables/{schema}.stars", headers=headers).status_code == 204
    assert _sync(client, f"SELECT name FROM {schema}.stars", headers)[0] == 400


# ----------------------------------------------------------------------------- taplint


@pytest.mark.live
@pytest.mark.stilts
@pytest.mark.slow
def test_taplint_stays_clean_for_a_caller_with_tables(tmp_path: Path, ci_duckdb_path: Path) -> None:
    """With SKYGATE_AUTH=none taplint's calls are the owner's: it sees their tables in /tables and
    TAP_SCHEMA (the TMC checks compare the two) and queries them."""
    import requests

    from tests.tap.test_live import _check, taplint

    settings = release_settings(tmp_path / "data", ci_duckdb_path).with_(maxrec_hard=100_000)
    for server in serve(settings):
        created = requests.put(f"{server.tap_url}/tables/user_anonymous.targets", data=_votable(),
                               headers={"Content-Type": VOTABLE}, timeout=30)
        assert created.status_code == 201, created.text
        assert "user_anonymous.targets" in _table_names(requests.get(f"{server.tap_url}/tables", timeout=30).content)
        _check(*taplint(server.tap_url, tmp_path / "taplint.txt"))


def test_anomaly_scoring_runs_over_the_owners_table(client: TestClient, who: dict[str, dict[str, str]]) -> None:
    """An anomaly job selects from its owner's table like any ADQL query; nobody else's job sees it."""
    rng = np.random.default_rng(7)
    x, y = rng.normal(0, 1, 400), rng.normal(0, 1, 400)
    x[[17, 301]], y[[17, 301]] = 12.0, -12.0  # two planted outliers
    votable = io.BytesIO()
    from_table(Table({"id": np.arange(400), "x": x, "y": y})).to_xml(votable)
    assert _put(client, "user_alice.features", votable.getvalue(), who["alice"]).status_code == 201
    params = {"QUERY": "SELECT id, x, y FROM user_alice.features", "NTREES": "50", "TOP": "2",
              "RESPONSEFORMAT": "csv", "PHASE": "RUN"}
    for name, expected in (("alice", "COMPLETED"), ("bob", "ERROR")):
        created = client.post("/anomaly/async", data=params, headers=who[name], follow_redirects=False)
        assert created.status_code == 303, created.text
        job = created.headers["location"]
        phase = final_phase(client, job, who[name])
        assert phase == expected, client.get(f"{job}/error", headers=who[name]).text
        if name == "alice":
            top = pacsv.read_csv(io.BytesIO(client.get(f"{job}/results/top", headers=who[name]).content))
            assert sorted(top.column("id").to_pylist()) == [17, 301]
        else:
            assert "unknown table" in client.get(f"{job}/error", headers=who[name]).text
