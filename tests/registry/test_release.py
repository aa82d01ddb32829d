"""Cone search and records over the ``ci`` demo release: DES tables, a tile across RA 0, ObsCore coverage."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from astropy.io.votable import parse
from lxml import etree
from pyvo.dal import SCSService

from skygate.app import create_app
from skygate.settings import Settings
from tests.dali.xmlschema import xsd_errors
from tests.live_fixtures import LiveServer
from tests.release_fixtures import READER_ROLE

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from starlette.testclient import TestClient

RI = "{http://www.ivoa.net/xml/RegistryInterface/v1.0}"


@pytest.fixture(scope="module")
def ci_client(tmp_path_factory: pytest.TempPathFactory, ci_duckdb_path: Path) -> Iterator[TestClient]:
    data_dir = tmp_path_factory.mktemp("ci-registry")
    (data_dir / "catalog.duckdb").symlink_to(ci_duckdb_path)
    settings = Settings(data_dir=data_dir, base_url="http://testserver", maxrec_default=1000, maxrec_hard=100_000)
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        yield client


def _ids(body: bytes, column: str) -> set[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = parse(io.BytesIO(body)).resources[0].tables[0]
    return {str(v) for v in table.array[column]}


@pytest.mark.parametrize(("ra", "dec", "sr"), [(0.0, -0.5, 0.3), (359.8, -0.7, 0.2), (323.4, -0.5, 0.1)])
def test_des_main_cone_equals_the_tap_cone(ci_client: TestClient, ra: float, dec: float, sr: float) -> None:
    cone = ci_client.get("/scs/des_dr1.main", params={"RA": ra, "DEC": dec, "SR": sr, "MAXREC": 100_000})
    adql = (f"SELECT coadd_object_id FROM des_dr1.main WHERE "
            f"1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', {ra}, {dec}, {sr}))")
    tap = ci_client.post("/tap/sync", data={"LANG": "ADQL", "QUERY": adql, "MAXREC": "100000"})
    scs_ids, tap_ids = _ids(cone.content, "coadd_object_id"), _ids(tap.content, "coadd_object_id")
    assert scs_ids == tap_ids and scs_ids


def test_every_positional_table_answers(ci_client: TestClient) -> None:
    root = etree.fromstring(ci_client.get("/registry/oai", params={"verb": "ListIdentifiers",
                                                                    "metadataPrefix": "ivo_vor"}).content)
    cones = [i.text for i in root.iter("{http://www.openarchives.org/OAI/2.0/}identifier")
             if (i.text or "").startswith("ivo://skygate.example/scs/")]
    assert "ivo://skygate.example/scs/des_dr1.main" in cones
    for ivoid in cones:
        table = (ivoid or "").rsplit("/", 1)[1]
        response = ci_client.get(f"/scs/{table}", params={"RA": "359.9", "DEC": "-0.6", "SR": "0.5"})
        assert response.status_code == 200 and b'ucd="ID_MAIN"' in response.content, table
        assert b'name="Error"' not in response.content


def test_cone_test_queries_hold_rows(ci_client: TestClient) -> None:
    for table in ("des_dr1.main", "des_dr1.demo_truth"):
        document = etree.fromstring(ci_client.get(f"/scs/{table}/capabilities").content)
        test = {k: document.findtext(f"capability/testQuery/{k}") for k in ("ra", "dec", "sr")}
        response = ci_client.get(f"/scs/{table}", params={k.upper(): v for k, v in test.items()})
        rows = len(_ids(response.content, "ra"))
        assert 0 < rows <= 1000, (table, test, rows)


def test_tap_record_has_the_release_coverage(ci_client: TestClient) -> None:
    response = ci_client.get("/registry/oai", params={"verb": "GetRecord", "metadataPrefix": "ivo_vor",
                                                      "identifier": "ivo://skygate.example/tap"})
    assert xsd_errors(response.content) == []
    resource = etree.fromstring(response.content).find(f".//{RI}Resource")
    assert resource is not None
    assert resource.findtext("coverage/spatial")
    assert resource.findtext("coverage/spectral") and resource.findtext("coverage/temporal")
    assert "Optical" in [w.text for w in resource.findall("coverage/waveband")]
    assert "ivoa.obscore" in [t.text for t in resource.iter("name")]


def test_sia_record_describes_the_image_table(ci_client: TestClient) -> None:
    response = ci_client.get("/registry/oai", params={"verb": "GetRecord", "metadataPrefix": "ivo_vor",
                                                      "identifier": "ivo://skygate.example/sia"})
    assert xsd_errors(response.content) == []
    resource = etree.fromstring(response.content).find(f".//{RI}Resource")
    assert resource is not None
    assert [t.findtext("name") for t in resource.iter("table")] == ["ivoa.obscore"]
    assert resource.findtext("coverage/spectral")


@pytest.mark.live
def test_pyvo_cone_on_des_main(live_server: LiveServer, pyvo_session: requests.Session) -> None:
    service = SCSService(f"{live_server.url}/scs/des_dr1.main", session=pyvo_session)
    results = service.search(pos=(0.05, -0.6), radius=0.1)
    assert len(results) > 0
    assert all(abs(r.pos.ra.deg - r["ra"]) < 1e-9 for r in results)
    assert {r.id for r in results} == {str(v) for v in results["coadd_object_id"]}


@pytest.fixture(scope="module")
def pg_client(tmp_path_factory: pytest.TempPathFactory, ci_postgres_url: str) -> Iterator[TestClient]:
    data_dir = tmp_path_factory.mktemp("pg-registry")
    settings = Settings(data_dir=data_dir, base_url="http://testserver", database_url=ci_postgres_url,
                        readonly_role=READER_ROLE, jobs_url=f"sqlite:///{(data_dir / 'jobs.sqlite').resolve()}",
                        maxrec_default=1000, maxrec_hard=100_000)
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        yield client


@pytest.mark.postgres
def test_postgres_cone_and_records_match_duckdb(pg_client: TestClient, ci_client: TestClient) -> None:
    params = {"RA": "359.95", "DEC": "-0.6", "SR": "0.3", "MAXREC": "100000"}
    pg = _ids(pg_client.get("/scs/des_dr1.main", params=params).content, "coadd_object_id")
    duck = _ids(ci_client.get("/scs/des_dr1.main", params=params).content, "coadd_object_id")
    assert pg == duck and pg
    query = {"verb": "GetRecord", "metadataPrefix": "ivo_vor", "identifier": "ivo://skygate.example/scs/des_dr1.main"}
    records = [etree.fromstring(c.get("/registry/oai", params=query).content).find(f".//{RI}Resource")
               for c in (pg_client, ci_client)]
    assert all(r is not None for r in records)
    assert records[0].findtext("coverage/spatial") == records[1].findtext("coverage/spatial")  # type: ignore[union-attr]
    assert records[0].findtext(".//testQuery/ra") == records[1].findtext(".//testQuery/ra")  # type: ignore[union-attr]
