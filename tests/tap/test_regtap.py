"""RegTAP 1.1 through our own TAP: pyvo.registry, pointed at /tap, finds Skygate's services (issue 16).

Live servers on both backends. pyvo checks waveband terms against the IVOA messenger vocabulary,
which it downloads; these tests run offline, so the vocabulary's terms are given here.
"""

from __future__ import annotations

import asyncio
import io
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
import requests
from lxml import etree

from registry.rr_schema import RR_UTYPE, rr_tables
from tests.live_fixtures import LiveServer

pytestmark = pytest.mark.live

# http://www.ivoa.net/rdf/messenger (2020-08-26), the terms pyvo's Waveband constraint accepts.
MESSENGERS = {"radio", "millimeter", "infrared", "optical", "uv", "euv", "x-ray", "gamma-ray", "neutrino",
              "gravitational-waves", "photon", "particle"}


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest) -> LiveServer:
    name = "live_server" if request.param == "duckdb" else "live_server_postgres"
    live: LiveServer = request.getfixturevalue(name)
    return live


@pytest.fixture
def registry(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """pyvo.registry using our TAP as its RegTAP service (restored afterwards)."""
    from pyvo import registry as pyvo_registry
    from pyvo.registry import rtcons

    previous = pyvo_registry.get_RegTAP_service_url()
    monkeypatch.setattr(rtcons.Waveband, "_legal_terms", MESSENGERS)
    pyvo_registry.choose_RegTAP_service(server.tap_url)
    try:
        yield pyvo_registry
    finally:
        pyvo_registry.choose_RegTAP_service(previous)


def _ivoids(results: object) -> set[str]:
    return {r.ivoid for r in results}  # type: ignore[attr-defined]


def test_keyword_search_finds_our_tap_service_and_it_answers(server: LiveServer, registry: object) -> None:
    found = registry.search(keywords=["ADQL"], servicetype="tap")  # type: ignore[attr-defined]
    tap = [r for r in found if r.ivoid.endswith("/tap")]
    assert len(tap) == 1, [r.ivoid for r in found]
    assert tap[0].res_title == "Skygate TAP service"
    assert tap[0].access_url == server.tap_url
    service = tap[0].get_service("tap")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows = service.run_sync("SELECT TOP 3 table_name FROM tap_schema.tables").to_table()
    assert len(rows) == 3
    # and its tables are described in the registry as in /tables, the rr schema included. RegTAP 1.1
    # §7.7 lower-cases table_column.datatype, which pyvo's VOSI reader then calls an invalid
    # datatype (W02) for unicodeChar columns (the rr free-text ones): that warning alone is expected.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=".*'unicodechar' is not a valid datatype")
        described = set(tap[0].get_tables())
    assert {"rr.resource", "rr.capability", "tap_schema.tables"} <= described


def test_ucd_search_finds_the_positional_services(registry: object) -> None:
    found = registry.search(ucd="pos.eq.ra%")  # type: ignore[attr-defined]
    ivoids = _ivoids(found)
    assert any(i.endswith("/tap") for i in ivoids), ivoids
    assert any("/scs/" in i for i in ivoids), ivoids
    cone = next(r for r in found if "/scs/" in r.ivoid)
    answer = cone.get_service("conesearch").search(pos=(0.0, 0.0), radius=0.001)
    assert answer is not None  # a valid (possibly empty) cone search answer


def test_waveband_search(registry: object) -> None:
    found = registry.search(waveband="optical", servicetype="tap")  # type: ignore[attr-defined]
    assert any(r.ivoid.endswith("/tap") for r in found), _ivoids(found)
    assert not registry.search(waveband="radio", servicetype="tap")  # type: ignore[attr-defined]


def test_rr_is_listed_for_everyone_with_its_utype(server: LiveServer) -> None:
    tableset = etree.fromstring(requests.get(f"{server.tap_url}/tables", timeout=30).content)
    schema = next(s for s in tableset.iter("schema") if s.findtext("name") == "rr")
    assert schema.findtext("utype") == RR_UTYPE
    assert {t.findtext("name") for t in schema.iter("table")} == {m.qualified for m in rr_tables()}
    body = requests.get(f"{server.tap_url}/sync", timeout=30, params={
        "LANG": "ADQL", "RESPONSEFORMAT": "csv",
        "QUERY": "SELECT table_name FROM tap_schema.tables WHERE schema_name = 'rr' ORDER BY table_name"}).text
    assert body.split()[1:] == sorted(m.qualified for m in rr_tables())
    utype = requests.get(f"{server.tap_url}/sync", timeout=30, params={
        "LANG": "ADQL", "RESPONSEFORMAT": "csv",
        "QUERY": "SELECT utype FROM tap_schema.schemas WHERE schema_name = 'rr'"}).text
    assert utype.split()[1:] == [RR_UTYPE]


def test_the_udfs_are_declared(server: LiveServer) -> None:
    capabilities = requests.get(f"{server.tap_url}/capabilities", timeout=30).text
    for name in ("ivo_nocasematch", "ivo_hasword", "ivo_hashlist_has", "ivo_string_agg", "skygate_in_footprint"):
        assert f"<form>{name}(" in capabilities


def test_footprint_udf_and_records_through_a_live_server(tmp_path: Path, ci_duckdb_path: Path,
                                                        duckdb_backend: Any) -> None:
    """With footprints built (as ``skygate demo`` does), TAP answers skygate_in_footprint with the MOC's
    own verdict, and the cone search record references the footprint MOC."""
    import astropy.units as u
    from astropy.coordinates import Latitude, Longitude
    from mocpy import MOC

    from sky.moc import build_footprints
    from tests.live_fixtures import serve
    from tests.tap.conftest import release_settings

    async def fetch(sql: str) -> pa.Table:
        return pa.Table.from_batches([b async for b in duckdb_backend.stream(sql, timeout=60)])

    settings = release_settings(tmp_path / "data", ci_duckdb_path, maxrec_default=100_000, maxrec_hard=100_000)
    asyncio.run(build_footprints(fetch, settings.moc_dir, order=8))
    moc = MOC.from_fits(settings.moc_dir / "des_dr1.main_sample.fits")
    for server in serve(settings):
        inside = requests.post(f"{server.tap_url}/sync", timeout=60, data={
            "LANG": "ADQL", "RESPONSEFORMAT": "csv",
            "QUERY": "SELECT COUNT(*) AS n FROM des_dr1.main "
                     "WHERE skygate_in_footprint(ra, dec, 'des_dr1.main_sample') = 1"})
        assert inside.status_code == 200, inside.text
        sample = requests.post(f"{server.tap_url}/sync", timeout=60, data={
            "LANG": "ADQL", "RESPONSEFORMAT": "csv",
            "QUERY": "SELECT ra, dec, skygate_in_footprint(ra, dec, 'des_dr1.main_sample') AS f FROM des_dr1.main"})
        table = pacsv.read_csv(io.BytesIO(sample.content)).to_pydict()
        expected = moc.contains_lonlat(Longitude(table["ra"], u.deg), Latitude(table["dec"], u.deg)).astype(int)
        assert list(expected) == table["f"]
        assert int(inside.text.split()[1]) == int(expected.sum()) > 0
        oai = requests.get(f"{server.url}/registry/oai", timeout=60, params={
            "verb": "GetRecord", "metadataPrefix": "ivo_vor", "identifier": "ivo://skygate.example/scs/des_dr1.main"})
        assert f"<footprint>{server.url}/moc/des_dr1.main</footprint>" in oai.text
        unknown = requests.get(f"{server.tap_url}/sync", timeout=60, params={
            "LANG": "ADQL", "QUERY": "SELECT skygate_in_footprint(ra, dec, 'nope') AS f FROM des_dr1.main"})
        assert unknown.status_code == 400
        assert "no footprint called" in unknown.text and "des_dr1.main" in unknown.text
