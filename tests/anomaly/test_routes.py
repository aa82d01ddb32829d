"""/anomaly through the whole application (ASGI): the UWS job list, VOSI, and a job end to end."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from skygate.app import create_app
from skygate.settings import Settings
from tests.dali.xmlschema import uws_schema, xsd_errors

with warnings.catch_warnings():
    # starlette's testclient touches an anyio alias deprecated in anyio 4.12 at import time.
    warnings.simplefilter("ignore", DeprecationWarning)
    from starlette.testclient import TestClient

BASE = "http://testserver"
UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
QUERY = ("SELECT coadd_object_id, mag_auto_g - mag_auto_r AS g_r, mag_auto_r - mag_auto_i AS r_i, mag_auto_i "
         "FROM des_dr1.main WHERE tilename = 'DES2359-0041'")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, ci_duckdb_path: Path) -> Iterator[TestClient]:
    data_dir = tmp_path_factory.mktemp("anomaly")
    (data_dir / "catalog.duckdb").symlink_to(ci_duckdb_path)
    settings = Settings(data_dir=data_dir, base_url=BASE)
    with TestClient(create_app(settings), base_url=BASE) as test_client:
        yield test_client


def _phase(client: TestClient, job_url: str) -> str:
    for _ in range(300):
        doc = etree.fromstring(client.get(job_url, params={"WAIT": "2"}).content)
        phase = doc.findtext(f"{UWS}phase")
        if phase in ("COMPLETED", "ERROR", "ABORTED"):
            return str(phase)
        time.sleep(0.05)
    raise AssertionError("the job did not finish")


def test_vosi_documents(client: TestClient) -> None:
    availability = client.get("/anomaly/availability")
    assert availability.status_code == 200
    assert b"<vosi:available>true</vosi:available>" in availability.content
    capabilities = client.get("/anomaly/capabilities")
    assert capabilities.status_code == 200
    doc = etree.fromstring(capabilities.content)
    urls = [e.text for e in doc.iter("accessURL")]
    assert f"{BASE}/anomaly/async" in urls and f"{BASE}/anomaly/availability" in urls
    assert xsd_errors(capabilities.content) == [] and xsd_errors(availability.content) == []


def test_a_job_through_http(client: TestClient) -> None:
    schema = uws_schema()
    created = client.post("/anomaly/async", data={"QUERY": QUERY, "NTREES": "30", "TOP": "10", "PHASE": "RUN"},
                          follow_redirects=False)
    assert created.status_code == 303
    job_url = created.headers["location"]
    assert job_url.startswith(f"{BASE}/anomaly/async/")
    assert _phase(client, job_url) == "COMPLETED"
    doc = etree.fromstring(client.get(job_url).content)
    schema.assertValid(doc)
    hrefs = {r.get("id"): r.get("{http://www.w3.org/1999/xlink}href") for r in doc.iter(f"{UWS}result")}
    assert set(hrefs) == {"result", "top", "scores.png", "model", "summary.json"}
    png = client.get(hrefs["scores.png"])
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    top = client.get(hrefs["top"])
    assert top.headers["content-type"].startswith("application/x-votable+xml") and top.text.count("<TR>") == 10
    listing = etree.fromstring(client.get("/anomaly/async").content)
    assert job_url.rsplit("/", 1)[1] in [ref.get("id") for ref in listing.iter(f"{UWS}jobref")]


def test_a_bad_parameter_is_refused_before_queueing(client: TestClient) -> None:
    created = client.post("/anomaly/async", data={"QUERY": QUERY, "EXTENSION_LEVEL": "-2", "PHASE": "RUN"},
                          follow_redirects=False)
    job_url = created.headers["location"]
    doc = etree.fromstring(client.get(job_url).content)
    assert doc.findtext(f"{UWS}phase") == "ERROR"
    assert client.get(f"{job_url}/error").text.startswith("EXTENSION_LEVEL must be between 0 and")


@pytest.mark.parametrize("root", ["/anomaly", "/anomaly/"])
def test_the_service_alone_answers_at_its_root(root: str) -> None:
    """Mounted without the portal in front, the service's own index answers (no redirect, no 404)."""
    from starlette.applications import Starlette

    from anomaly.routes import AnomalyConfig, anomaly_routes
    from skygate.assembly import Runtime, service_config

    app = Starlette(routes=anomaly_routes(service_config(AnomalyConfig, Settings(base_url=BASE)), Runtime()))
    with TestClient(app, base_url=BASE) as alone:
        response = alone.get(root, follow_redirects=False)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        for path in ("async", "capabilities", "availability"):
            assert f'href="{BASE}/anomaly/{path}"' in response.text
        assert alone.get("/anomaly/capabilities").status_code == 200
        # No job system is running in this application: the job list says so instead of failing.
        assert alone.get("/anomaly/async").status_code == 503
