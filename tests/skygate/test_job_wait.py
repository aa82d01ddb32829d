"""Blocking WAIT on every job list of the application (TAP, SODA async, SODA bulk, anomaly).

UWS 1.1: ``WAIT=-1`` waits as long as the server allows (``SKYGATE_WAIT_MAX``, 1 s here); any
other negative number, a fraction or a word is a 400 with a text/plain reason.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from lxml import etree

from skygate.settings import Settings
from tests.tap.conftest import BASE, TestClient

JOB_LISTS = {"/tap/async": {"LANG": "ADQL", "QUERY": "SELECT 1"}, "/soda/async": {"ID": "x", "POS": "CIRCLE 1 1 0.1"},
             "/soda/bulk": {"XSIZE": "1"}, "/anomaly/async": {"QUERY": "SELECT 1"}}
NS = {"uws": "http://www.ivoa.net/xml/UWS/v1.0"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from skygate.app import create_app

    settings = Settings(data_dir=tmp_path_factory.mktemp("wait"), base_url=BASE, wait_max=1)
    with TestClient(create_app(settings), base_url=BASE) as test_client:
        yield test_client


def _pending_job(client: TestClient, path: str) -> str:
    response = client.post(path, data=JOB_LISTS[path], follow_redirects=False)
    assert response.status_code == 303, response.text
    return str(response.headers["location"]).removeprefix(BASE)


@pytest.mark.parametrize("path", JOB_LISTS)
def test_wait_minus_one_waits_the_documented_maximum(client: TestClient, path: str) -> None:
    job = _pending_job(client, path)
    started = time.monotonic()
    response = client.get(job, params={"WAIT": "-1"})
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert etree.fromstring(response.content).findtext("uws:phase", namespaces=NS) == "PENDING"
    assert 0.9 < elapsed < 3.0
    started = time.monotonic()
    assert client.get(job, params={"WAIT": "0"}).status_code == 200
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize("path", JOB_LISTS)
@pytest.mark.parametrize("wait", ["-2", "-3600", "soon", "1.5", "", "%00"])
def test_a_wait_uws_gives_no_meaning_is_a_400(client: TestClient, path: str, wait: str) -> None:
    job = _pending_job(client, path)
    started = time.monotonic()
    response = client.get(f"{job}?WAIT={wait}")
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("text/plain") and "WAIT" in response.text
    assert time.monotonic() - started < 0.5
