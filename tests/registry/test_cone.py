"""Simple Cone Search through the application: same rows as the TAP cone, the SCS fields and errors.

The rows are compared three ways: the cone's, the equivalent TAP /sync query's, and an independent
numpy great-circle distance over the source points, at RA 0, at both poles and at ordinary places.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io.votable import parse
from lxml import etree

from tests.dali.xmlschema import xsd_errors
from tests.registry.conftest import sky_points

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from starlette.testclient import TestClient

VOT = "{http://www.ivoa.net/xml/VOTable/v1.3}"
CONES = [(0.0, 0.0, 1.5), (359.9, 1.0, 0.8), (0.2, -1.0, 2.5), (123.0, 89.5, 1.2), (0.0, 90.0, 1.0),
         (200.0, -89.9, 0.7), (10.0, -90.0, 2.0), (45.0, 30.0, 5.0)]


def _table(body: bytes):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return parse(io.BytesIO(body)).resources[0].tables[0]


def _exact(ra: float, dec: float, sr: float) -> set[int]:
    points = sky_points()
    pra, pdec = np.radians(points["ra"].to_numpy()), np.radians(points["dec"].to_numpy())
    ra0, dec0 = np.radians(ra), np.radians(dec)
    cos = np.sin(pdec) * np.sin(dec0) + np.cos(pdec) * np.cos(dec0) * np.cos(pra - ra0)
    distance = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    ids = points["point_id"].to_numpy()
    # Points within 1e-9 degrees of the edge may fall either way in floating point.
    assert not np.any(np.abs(distance - sr) < 1e-9)
    return {int(i) for i in ids[distance <= sr]}


@pytest.mark.parametrize(("ra", "dec", "sr"), CONES)
def test_cone_gives_the_rows_of_the_tap_cone(sky_client: TestClient, ra: float, dec: float, sr: float) -> None:
    cone = sky_client.get("/scs/sky.points", params={"RA": ra, "DEC": dec, "SR": sr, "MAXREC": 5000})
    assert cone.status_code == 200, cone.text
    scs_ids = {int(v) for v in _table(cone.content).array["point_id"]}
    adql = (f"SELECT point_id FROM sky.points WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), "
            f"CIRCLE('ICRS', {ra}, {dec}, {sr}))")
    tap = sky_client.post("/tap/sync", data={"LANG": "ADQL", "QUERY": adql, "MAXREC": "5000"})
    assert tap.status_code == 200, tap.text
    tap_ids = {int(v) for v in _table(tap.content).array["point_id"]}
    assert scs_ids == tap_ids == _exact(ra, dec, sr)
    assert scs_ids, "every test cone holds some points"


def test_result_carries_the_scs_ucds_once_each(sky_client: TestClient) -> None:
    response = sky_client.get("/scs/sky.points", params={"RA": "0", "DEC": "0", "SR": "1"})
    assert response.headers["content-type"].startswith("text/xml")
    assert xsd_errors(response.content) == []
    root = etree.fromstring(response.content)
    ucds = [f.get("ucd") for f in root.iter(f"{VOT}FIELD")]
    for ucd in ("ID_MAIN", "POS_EQ_RA_MAIN", "POS_EQ_DEC_MAIN"):
        assert ucds.count(ucd) == 1
    fields = {f.get("name"): f for f in root.iter(f"{VOT}FIELD")}
    assert fields["point_id"].get("datatype") == "char", "SCS 1.03: the main identifier is a string"
    assert fields["ra"].get("datatype") == fields["dec"].get("datatype") == "double"
    assert fields["ra"].get("unit") == "deg"


@pytest.mark.parametrize(("verb", "columns"), [
    ("1", ["point_id", "ra", "dec"]),
    ("2", ["point_id", "ra", "dec", "mag"]),
    ("3", ["point_id", "ra", "dec", "mag", "note"]),
    (None, ["point_id", "ra", "dec", "mag"]),
])
def test_verb_chooses_the_columns(sky_client: TestClient, verb: str | None, columns: list[str]) -> None:
    params = {"RA": "0", "DEC": "0", "SR": "1"} | ({"VERB": verb} if verb else {})
    table = _table(sky_client.get("/scs/sky.points", params=params).content)
    assert [f.name for f in table.fields] == columns


def test_sr_zero_gives_the_columns_and_no_rows(sky_client: TestClient) -> None:
    response = sky_client.get("/scs/sky.points", params={"RA": "0", "DEC": "0", "SR": "0"})
    table = _table(response.content)
    assert len(table.array) == 0 and [f.name for f in table.fields] == ["point_id", "ra", "dec", "mag"]
    assert b'value="OVERFLOW"' not in response.content


def test_maxrec_truncates_with_overflow(sky_client: TestClient) -> None:
    response = sky_client.get("/scs/sky.points", params={"RA": "0", "DEC": "90", "SR": "2", "MAXREC": "10"})
    assert len(_table(response.content).array) == 10
    assert b'name="QUERY_STATUS" value="OVERFLOW"' in response.content


def test_responseformat_csv_and_post(sky_client: TestClient) -> None:
    response = sky_client.post("/scs/sky.points", data={"RA": "0", "DEC": "0", "SR": "1", "RESPONSEFORMAT": "csv"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.text.splitlines()[0] == "point_id,ra,dec,mag"


BAD = [
    ({"DEC": "0", "SR": "1"}, "RA"),
    ({"RA": "0", "SR": "1"}, "DEC"),
    ({"RA": "0", "DEC": "0"}, "SR"),
    ({"RA": "x", "DEC": "0", "SR": "1"}, "RA"),
    ({"RA": "0", "DEC": "y", "SR": "1"}, "DEC"),
    ({"RA": "0", "DEC": "0", "SR": "z"}, "SR"),
    ({"RA": "0", "DEC": "0", "SR": "-1"}, "SR"),
    ({"RA": "0", "DEC": "0", "SR": "11"}, "SR"),
    ({"RA": "0", "DEC": "95", "SR": "1"}, "DEC"),
    ({"RA": "0", "DEC": "-90.01", "SR": "1"}, "DEC"),
    ({"RA": "0", "DEC": "0", "SR": "1", "VERB": "0"}, "VERB"),
    ({"RA": "0", "DEC": "0", "SR": "1", "MAXREC": "many"}, "MAXREC"),
    ({"RA": "0", "DEC": "0", "SR": "1", "RESPONSEFORMAT": "text/html"}, "RESPONSEFORMAT"),
]


@pytest.mark.parametrize(("params", "param"), BAD, ids=[f"{p}-{i}" for i, (_, p) in enumerate(BAD)])
def test_bad_input_is_the_scs_error_document_with_200(sky_client: TestClient, params: dict[str, str],
                                                      param: str) -> None:
    response = sky_client.get("/scs/sky.points", params=params)
    assert response.status_code == 200
    assert xsd_errors(response.content) == []
    root = etree.fromstring(response.content)
    error = root.find(f"{VOT}INFO")
    assert error is not None and error.get("name") == "Error"
    assert error.get("value", "").startswith(f"{param}: ")
    assert "Traceback" not in response.text


def test_unknown_table_is_404_with_the_error_document(sky_client: TestClient) -> None:
    for path in ("/scs/sky.nothing", "/scs/tap_schema.tables", "/scs/sky.nothing/capabilities",
                 "/scs/sky.nothing/availability"):
        response = sky_client.get(path, params={"RA": "0", "DEC": "0", "SR": "1"})
        assert response.status_code == 404, path
        assert b'<INFO name="Error"' in response.content


def test_capabilities_declare_a_valid_cone_search(sky_client: TestClient) -> None:
    response = sky_client.get("/scs/sky.points/capabilities")
    assert response.status_code == 200 and xsd_errors(response.content) == []
    root = etree.fromstring(response.content)
    cone = root.find("capability[@standardID='ivo://ivoa.net/std/ConeSearch']")
    assert cone is not None
    assert cone.findtext("interface/accessURL") == "http://testserver/scs/sky.points?"
    assert (cone.findtext("maxSR"), cone.findtext("maxRecords"), cone.findtext("verbosity")) == ("10.0", "5000", "true")
    # The test query lies in the footprint (validators run it and expect rows).
    test = {k: cone.findtext(f"testQuery/{k}") for k in ("ra", "dec", "sr")}
    rows = _table(sky_client.get("/scs/sky.points", params={k.upper(): v for k, v in test.items()}).content).array
    assert len(rows) > 0


def test_availability_asks_the_database(sky_client: TestClient) -> None:
    response = sky_client.get("/scs/sky.points/availability")
    assert response.status_code == 200 and xsd_errors(response.content) == []
    assert b"<vosi:available>true</vosi:available>" in response.content


def test_scs_index_and_unknown_paths(sky_client: TestClient) -> None:
    for path in ("/scs", "/scs/"):
        response = sky_client.get(path)
        assert response.status_code == 200 and "http://testserver/scs/sky.points/capabilities" in response.text
    response = sky_client.get("/scs/sky.points/capabilities/more")
    assert response.status_code == 404 and b'<INFO name="Error"' in response.content


def test_no_release_is_a_503_error_document(tmp_path: Path) -> None:
    from skygate.app import create_app
    from skygate.settings import Settings

    with TestClient(create_app(Settings(data_dir=tmp_path, base_url="http://testserver"))) as client:
        response = client.get("/scs/sky.points", params={"RA": "0", "DEC": "0", "SR": "1"})
        assert response.status_code == 503 and b'<INFO name="Error"' in response.content


def test_single_precision_positions_leave_as_doubles() -> None:
    from adql import translate
    from dali.values import Column, Position, TableMeta
    from dali.writers import resolve_format
    from registry.cone import cone_adql, cone_tables
    from registry.params import ConeQuery

    meta = TableMeta("s", "t", (Column("name", "char", "*", ucd="meta.id;meta.main", principal=True),
                                Column("ra", "float", unit="deg", principal=True),
                                Column("dec", "float", unit="deg", principal=True),
                                Column("skygate_hpx", "long", indexed=True)),
                     position=Position("ra", "dec", "skygate_hpx", 14))
    table = cone_tables({"s.t": meta})["s.t"]
    adql = cone_adql(table, ConeQuery(1.0, 2.0, 0.5, 1, 10, resolve_format(None)))
    assert "CAST(ra AS DOUBLE) AS ra" in adql and "CAST(name" not in adql
    columns = translate(adql, {"s.t": meta}, "duckdb").columns
    assert [(c.name, c.datatype) for c in columns] == [("name", "char"), ("ra", "double"), ("dec", "double")]
