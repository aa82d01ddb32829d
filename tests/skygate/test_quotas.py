"""Quotas through the application (tokens mode): requests per minute, ``/quota``, and per-user
overrides (``skygate user quota``) of the site's job, table and request limits."""

from __future__ import annotations

import asyncio
import io
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from astropy.io.votable import from_table
from astropy.table import Table

from auth.quotas import Quota
from skygate.app import create_app
from skygate.settings import Settings
from tests.accounts import bearer, make_tokens
from tests.tap.conftest import BASE, release_settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from starlette.testclient import TestClient

Headers = dict[str, dict[str, str]]


def _accounts(settings: Settings, overrides: dict[str, Quota]) -> Headers:
    tokens = make_tokens(settings, ("alice", "bob"), quotas=overrides)
    return {"anonymous": {}, **{name: bearer(token) for name, token in tokens.items()}}


@pytest.fixture()
def app_for(tmp_path: Path, ci_duckdb_path: Path) -> Iterator[object]:
    clients: list[TestClient] = []

    def make(overrides: dict[str, Quota], **settings: object) -> tuple[TestClient, Headers]:
        configured = release_settings(tmp_path, ci_duckdb_path, auth="tokens", **settings)
        headers = _accounts(configured, overrides)
        client = TestClient(create_app(configured), base_url=BASE)
        client.__enter__()
        clients.append(client)
        return client, headers

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def test_requests_beyond_a_callers_rate_get_429_with_retry_after(app_for: object) -> None:
    client, who = app_for({"alice": Quota(requests_per_minute=3)}, user_requests_per_minute=5)  # type: ignore[operator]
    assert [client.get("/tap/tables", headers=who["alice"]).status_code for _ in range(4)] == [200, 200, 200, 429]
    refused = client.get("/tap/capabilities", headers=who["alice"])
    assert refused.status_code == 429 and 0 < int(refused.headers["retry-after"]) <= 60
    assert b"more than 3 requests in a minute" in refused.content and b"QUERY_STATUS" in refused.content
    assert client.get("/tap/availability", headers=who["alice"]).status_code == 200  # monitors are never refused
    assert [client.get("/tap/tables", headers=who["bob"]).status_code for _ in range(6)] == [200] * 5 + [429]
    # Anonymous callers are counted by address, with the site's default.
    assert [client.get("/tap/tables").status_code for _ in range(6)] == [200] * 5 + [429]


def test_quota_tells_each_caller_their_limits_and_use(app_for: object) -> None:
    client, who = app_for({"alice": Quota(max_active_jobs=2, table_bytes=0)},  # type: ignore[operator]
                          user_max_active_jobs=5, user_max_running_jobs=1, user_table_max_bytes=5000)
    votable = io.BytesIO()
    from_table(Table({"ra": [1.0, 2.0], "dec": [3.0, 4.0]})).to_xml(votable)
    created = client.put("/tap/tables/user_alice.t", content=votable.getvalue(),
                         headers={**who["alice"], "Content-Type": "application/x-votable+xml"})
    assert created.status_code == 201
    alice = client.get("/quota", headers=who["alice"]).json()
    assert alice["user"] == "alice" and alice["mode"] == "tokens"
    assert alice["jobs"] == {"active": 0, "max_active": 2, "max_running": 1}
    assert alice["tables"]["schema"] == "user_alice" and alice["tables"]["count"] == 1
    assert alice["tables"]["bytes"] > 0 and alice["tables"]["max_bytes"] is None  # 0 in an override: no limit
    assert alice["uploads"] == {"max_bytes": 100_000_000, "max_rows": 1_000_000}
    assert alice["requests"] == {"per_minute": None} and alice["results"] == {"bytes": 0, "max_bytes": None}
    bob = client.get("/quota", headers=who["bob"]).json()
    assert bob["jobs"]["max_active"] == 5 and bob["tables"] == {"schema": "user_bob", "count": 0, "bytes": 0,
                                                                 "max_bytes": 5000}
    anonymous = client.get("/quota").json()
    assert anonymous["user"] is None and anonymous["tables"]["schema"] is None  # no tables without logging in


def test_a_users_table_quota_overrides_the_sites(app_for: object) -> None:
    client, who = app_for({"alice": Quota(table_bytes=1000)}, user_table_max_bytes=1_000_000)  # type: ignore[operator]
    votable = io.BytesIO()
    from_table(Table({"ra": np.linspace(0, 10, 200), "dec": np.zeros(200)})).to_xml(votable)
    body, kind = votable.getvalue(), {"Content-Type": "application/x-votable+xml"}
    refused = client.put("/tap/tables/user_alice.t", content=body, headers={**who["alice"], **kind})
    assert refused.status_code == 413 and b"1000 bytes left of your table quota" in refused.content
    assert client.put("/tap/tables/user_bob.t", content=body, headers={**who["bob"], **kind}).status_code == 201


def test_a_users_active_job_quota_overrides_the_sites(app_for: object) -> None:
    client, who = app_for({"alice": Quota(max_active_jobs=1)}, user_max_active_jobs=5)  # type: ignore[operator]
    slow = "SELECT COUNT(*) AS n FROM des_dr1.main AS a, des_dr1.main AS b, des_dr1.main AS c"
    jobs = []
    try:
        first = client.post("/tap/async", data={"QUERY": slow, "PHASE": "RUN"}, headers=who["alice"],
                            follow_redirects=False)
        assert first.status_code == 303
        jobs.append((first.headers["location"], who["alice"]))
        refused = client.post("/tap/async", data={"QUERY": slow, "PHASE": "RUN"}, headers=who["alice"],
                              follow_redirects=False)
        assert refused.status_code == 429 and "the limit is 1" in refused.text and refused.headers["retry-after"]
        for _ in range(2):  # bob has the site's five
            made = client.post("/tap/async", data={"QUERY": slow, "PHASE": "RUN"}, headers=who["bob"],
                               follow_redirects=False)
            assert made.status_code == 303
            jobs.append((made.headers["location"], who["bob"]))
    finally:
        for job, headers in jobs:
            client.delete(job, headers=headers)


def test_worker_processes_read_the_overrides_from_the_job_store(tmp_path: Path) -> None:
    """What a ``skygate worker`` process's runner asks before running a job (its fair share)."""
    from skygate.quotas import worker_quota_book

    settings = Settings(data_dir=tmp_path, auth="tokens", user_max_running_jobs=4)
    _accounts(settings, {"alice": Quota(max_running_jobs=1)})

    async def ask() -> tuple[int, int]:
        book = worker_quota_book(settings)  # opens the account store on first use, on this loop
        return await book.max_running_jobs("alice"), await book.max_running_jobs("bob")

    assert asyncio.run(ask()) == (1, 4)
    assert asyncio.run(worker_quota_book(settings.with_(auth="none")).max_running_jobs("alice")) == 4


def test_a_users_upload_quota_overrides_the_sites(app_for: object) -> None:
    client, who = app_for({"alice": Quota(upload_rows=2)}, upload_max_rows=100)  # type: ignore[operator]
    votable = io.BytesIO()
    from_table(Table({"ra": [1.0, 2.0, 3.0], "dec": [0.0, 0.0, 0.0]})).to_xml(votable)
    query = {"QUERY": "SELECT COUNT(*) AS n FROM TAP_UPLOAD.t", "UPLOAD": "t,param:t", "RESPONSEFORMAT": "csv"}
    files = {"t": ("t.xml", votable.getvalue(), "application/x-votable+xml")}
    refused = client.post("/tap/sync", data=query, files=files, headers=who["alice"])
    assert refused.status_code == 400 and b"has 3 rows; the limit is 2" in refused.content, refused.text
    allowed = client.post("/tap/sync", data=query, files=files, headers=who["bob"])
    assert allowed.status_code == 200 and allowed.text.split() == ["n", "3"]
    assert client.get("/quota", headers=who["alice"]).json()["uploads"]["max_rows"] == 2
