"""Clients against the live server: pyvo as a user scripts it, STILTS tapquery and votlint, and query
results checked against an independent computation on the release's Parquet files."""

from __future__ import annotations

import gc
import io
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest
import pyvo
import requests
from astropy.io.votable import parse
from astropy.table import Table
from pyvo.dal.exceptions import DALOverflowWarning, DALQueryError

from tests.live_fixtures import LiveServer

pytestmark = pytest.mark.live
M2 = (323.36, -0.82)
BOX = (323.2, 323.5, -1.0, -0.6)
POLYGON = [(323.2, -1.0), (323.6, -1.0), (323.6, -0.6), (323.2, -0.6)]


@pytest.fixture
def tap(live_server: LiveServer, pyvo_session: requests.Session) -> pyvo.dal.TAPService:
    return pyvo.dal.TAPService(live_server.tap_url, session=pyvo_session)


@pytest.fixture(scope="module")
def positions(ci_release_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    table = pq.read_table(ci_release_dir / "catalog" / "dr1_main.parquet", columns=["ra", "dec"])
    return table.column("ra").to_numpy(), table.column("dec").to_numpy()


def _unit(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lon, lat = np.radians(lon), np.radians(lat)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)


def _count(tap: pyvo.dal.TAPService, where: str) -> int:
    return int(tap.run_sync(f"SELECT COUNT(*) AS n FROM des_dr1.main WHERE {where}").to_table()["n"][0])


def test_cone_box_and_polygon_counts_match_an_independent_computation(
    tap: pyvo.dal.TAPService, positions: tuple[np.ndarray, np.ndarray]
) -> None:
    ra, dec = positions
    points = _unit(ra, dec)
    centre = _unit(np.array(M2[0]), np.array(M2[1]))
    cone = int((points @ centre >= np.cos(np.radians(0.1))).sum())
    box = int(((ra >= BOX[0]) & (ra <= BOX[1]) & (dec >= BOX[2]) & (dec <= BOX[3])).sum())
    vertices = _unit(np.array([v[0] for v in POLYGON]), np.array([v[1] for v in POLYGON]))
    inside = np.ones(len(ra), dtype=bool)
    for i in range(len(vertices)):  # convex, counter-clockwise: inside every edge's great circle
        inside &= points @ np.cross(vertices[i], vertices[(i + 1) % len(vertices)]) >= 0
    assert cone > 0 and box > 0 and inside.sum() > 0
    assert _count(tap, f"1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', {M2[0]}, {M2[1]}, 0.1))") == cone
    assert _count(tap, f"ra BETWEEN {BOX[0]} AND {BOX[1]} AND dec BETWEEN {BOX[2]} AND {BOX[3]}") == box
    flat = ", ".join(f"{lon}, {lat}" for lon, lat in POLYGON)
    assert _count(tap, f"1 = CONTAINS(POINT('ICRS', ra, dec), POLYGON('ICRS', {flat}))") == int(inside.sum())


def test_pyvo_capabilities_limits_and_upload_methods(tap: pyvo.dal.TAPService) -> None:
    assert tap.maxrec == 1000 and tap.hardlimit == 100_000
    assert {m.ivo_id for m in tap.upload_methods} >= {"ivo://ivoa.net/std/TAPRegExt#upload-inline",
                                                       "ivo://ivoa.net/std/TAPRegExt#upload-http"}


def test_pyvo_run_sync_and_overflow(tap: pyvo.dal.TAPService) -> None:
    result = tap.run_sync("SELECT TOP 5 coadd_object_id, ra, dec, tilename FROM des_dr1.main")
    assert len(result) == 5 and result.fieldnames == ("coadd_object_id", "ra", "dec", "tilename")
    # pyvo stays quiet when the caller's own MAXREC truncated the result (pyvo#689) ...
    truncated = tap.run_sync("SELECT coadd_object_id FROM des_dr1.main", maxrec=3)
    assert len(truncated) == 3 and truncated.query_status == "OVERFLOW"
    # ... and warns when the service default did.
    with pytest.warns(DALOverflowWarning, match="server limits"):
        by_default = tap.run_sync("SELECT coadd_object_id FROM des_dr1.main")
    assert len(by_default) == 1000


def test_pyvo_reads_our_error_messages(tap: pyvo.dal.TAPService) -> None:
    with pytest.raises(DALQueryError, match="unknown table"):
        tap.run_sync("SELECT x FROM nowhere.nothing")


def test_pyvo_run_async_and_job_lifecycle(tap: pyvo.dal.TAPService, live_server: LiveServer) -> None:
    result = tap.run_async("SELECT TOP 4 coadd_object_id FROM des_dr1.main ORDER BY coadd_object_id")
    assert len(result) == 4
    job = tap.submit_job("SELECT TOP 2 tilename FROM des_dr1.tile_info", runid="pyvo-test")
    job.run()
    job.wait(timeout=60)
    assert job.phase == "COMPLETED"
    assert len(job.fetch_result()) == 2
    url = job.url
    job.delete()
    assert httpx.get(url).status_code == 404


def test_pyvo_search_with_an_astropy_upload(tap: pyvo.dal.TAPService) -> None:
    mine = Table({"id": [1, 2], "ra": [M2[0], 0.18], "dec": [M2[1], -1.05]})
    result = tap.search("SELECT t.id, COUNT(*) AS n FROM TAP_UPLOAD.t AS t JOIN des_dr1.main AS m "
                        "ON 1 = CONTAINS(POINT('ICRS', m.ra, m.dec), CIRCLE('ICRS', t.ra, t.dec, 0.05)) "
                        "GROUP BY t.id ORDER BY t.id", uploads={"t": mine})
    table = result.to_table()
    assert list(table["id"]) == [1, 2] and all(table["n"] > 0)


def test_pyvo_tables_and_examples(tap: pyvo.dal.TAPService) -> None:
    tables = tap.tables
    names = set(tables.keys())
    assert {"des_dr1.main", "tap_schema.tables", "ivoa.obscore"} <= names
    columns = {c.name for c in tables["des_dr1.main"].columns}
    assert {"coadd_object_id", "ra", "dec", "mag_auto_g"} <= columns
    examples = tap.examples
    assert len(examples) >= 10 and all(e["QUERY"] for e in examples)


def _stilts(*args: str) -> str:
    if shutil.which("stilts") is None:
        pytest.skip("stilts is not installed")
    result = subprocess.run(["stilts", *args], check=False, capture_output=True, text=True, timeout=300)
    return result.stdout + result.stderr


def _votlint_errors(path: Path) -> list[str]:
    return [line for line in _stilts("votlint", str(path)).splitlines() if line.startswith("ERROR")]


UPLOAD_QUERY = "SELECT * FROM TAP_UPLOAD.t"


@pytest.mark.stilts
def test_votlint_on_every_kind_of_document(live_server: LiveServer, tmp_path: Path) -> None:
    from tests.tap.test_routes import UPLOAD

    sync = f"{live_server.tap_url}/sync"
    query = {"LANG": "ADQL", "QUERY": "SELECT TOP 20 * FROM des_dr1.main"}
    documents: dict[str, bytes] = {
        "sync-td": httpx.post(sync, data=query).content,
        "sync-b2": httpx.post(sync, data={**query, "RESPONSEFORMAT": "votable/b2"}).content,
        "overflow": httpx.post(sync, data={**query, "MAXREC": "5"}).content,
        "maxrec0": httpx.post(sync, data={**query, "MAXREC": "0"}).content,
        "error": httpx.post(sync, data={"LANG": "ADQL", "QUERY": "DUFF QUERY"}).content,
        "obscore-td": httpx.post(sync, data={"LANG": "ADQL", "QUERY": "SELECT * FROM ivoa.obscore"}).content,
    }
    no_polygon = UPLOAD.replace(b'<FIELD name="poly" datatype="double" arraysize="*" xtype="polygon"/>', b"")
    no_polygon = no_polygon.replace(b"<TD>1 1 2 1 2 2</TD>", b"").replace(b"<TD>0 0 1 0 1 1</TD>", b"")
    for fmt, upload in (("votable", UPLOAD), ("votable/b2", no_polygon)):
        # STILTS 3.4.7 votlint misreads BINARY2 polygon columns even in files STILTS writes itself.
        documents[f"upload-{fmt}"] = httpx.post(sync, data={"LANG": "ADQL", "QUERY": UPLOAD_QUERY,
                                                            "UPLOAD": "t,param:t", "RESPONSEFORMAT": fmt},
                                                files={"t": ("t.xml", upload)}).content
    job = httpx.post(f"{live_server.tap_url}/async", data={**query, "PHASE": "RUN"}, follow_redirects=False)
    job_url = job.headers["location"]
    httpx.get(f"{job_url}?WAIT=30")
    documents["async"] = httpx.get(f"{job_url}/results/result").content
    failed = httpx.post(f"{live_server.tap_url}/async", data={"LANG": "ADQL", "QUERY": "SELECT x FROM y.z",
                                                              "PHASE": "RUN"}, follow_redirects=False)
    httpx.get(f"{failed.headers['location']}?WAIT=30")
    documents["async-error"] = httpx.get(f"{failed.headers['location']}/error").content
    problems = {}
    for name, body in documents.items():
        path = tmp_path / f"{name.replace('/', '-')}.vot"
        path.write_bytes(body)
        parse(io.BytesIO(body))  # astropy reads each one too
        if errors := _votlint_errors(path):
            problems[name] = errors
    assert problems == {}


@pytest.mark.stilts
@pytest.mark.parametrize("sync", ["true", "false"])
def test_stilts_tapquery_with_an_upload(live_server: LiveServer, tmp_path: Path, sync: str) -> None:
    from tests.tap.test_routes import UPLOAD

    upload = tmp_path / "up.xml"
    upload.write_bytes(UPLOAD)
    out = tmp_path / "out.vot"
    log = _stilts("tapquery", f"tapurl={live_server.tap_url}", f"sync={sync}", "nupload=1", f"upload1={upload}",
                  "ufmt1=votable", "upname1=up", "adql=SELECT id, ra, dec FROM TAP_UPLOAD.up ORDER BY id",
                  f"out={out}", "ofmt=votable")
    assert out.is_file(), log
    table = parse(str(out)).get_first_table().to_table()
    assert list(table["id"]) == [1, 2]


def test_http_upload_is_fetched_when_private_addresses_are_allowed(live_server: LiveServer, tmp_path: Path,
                                                                  ci_duckdb_path: Path) -> None:
    from skygate.app import create_app
    from tests.tap.conftest import BASE, TestClient, release_settings

    source = f"{live_server.tap_url}/sync?LANG=ADQL&QUERY=" + quote(
        "SELECT TOP 3 coadd_object_id AS oid, ra, dec FROM des_dr1.main")
    query = {"LANG": "ADQL", "QUERY": "SELECT COUNT(*) AS n FROM TAP_UPLOAD.remote", "UPLOAD": f"remote,{source}"}
    allowed = release_settings(tmp_path / "allowed", ci_duckdb_path, upload_allow_private=True)
    with TestClient(create_app(allowed), base_url=BASE) as client:
        response = client.post("/tap/sync", data=query)
    assert response.status_code == 200, response.text
    assert parse(io.BytesIO(response.content)).get_first_table().array["n"][0] == 3
    refused = httpx.post(f"{live_server.tap_url}/sync", data=query)
    assert refused.status_code == 400 and b"private address" in refused.content


@pytest.fixture
def tapplus(live_server: LiveServer) -> Iterator[object]:
    from astroquery.utils.tap.core import TapPlus

    yield TapPlus(url=live_server.tap_url)
    # astroquery opens an http.client connection per request and never closes it: collect them
    # here, quietly, rather than in the middle of a later test.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


# astroquery's unclosed connections (see the fixture) are its own; everything else still warns.
_ASTROQUERY_SOCKETS = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning",
                                                 "ignore::ResourceWarning")


@_ASTROQUERY_SOCKETS
def test_astroquery_loads_tables(tapplus: object) -> None:
    tables = tapplus.load_tables()  # type: ignore[attr-defined]
    main = next(t for t in tables if t.get_qualified_name() == "des_dr1.main")
    assert {"coadd_object_id", "ra", "dec"} <= {c.name for c in main.columns}
    one = tapplus.load_table("ivoa.obscore")  # type: ignore[attr-defined]
    assert one.get_qualified_name() == "ivoa.obscore" and len(one.columns) > 20
    names = tapplus.load_tables(only_names=True)  # type: ignore[attr-defined]
    assert {t.get_qualified_name() for t in names} == {t.get_qualified_name() for t in tables}
    assert not any(t.columns for t in names)


@_ASTROQUERY_SOCKETS
def test_astroquery_shows_the_adql_error_of_a_failed_async_job(tapplus: object) -> None:
    with pytest.raises(SystemError, match="unknown table"):
        tapplus.launch_job_async("SELECT x FROM nowhere.nothing")  # type: ignore[attr-defined]
    job = tapplus.launch_job_async("SELECT TOP 3 coadd_object_id FROM des_dr1.main")  # type: ignore[attr-defined]
    assert len(job.get_results()) == 3
    sync = tapplus.launch_job("SELECT TOP 2 coadd_object_id, ra FROM des_dr1.main")  # type: ignore[attr-defined]
    assert len(sync.get_results()) == 2
    with pytest.raises(requests.exceptions.HTTPError, match="unknown table"):
        tapplus.launch_job("SELECT x FROM nowhere.nothing")  # type: ignore[attr-defined]
