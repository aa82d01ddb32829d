"""TAP over HTTP (through ASGI) against the ingested ``ci`` release: /sync, errors, formats, uploads."""

from __future__ import annotations

import io
from datetime import datetime, tzinfo

import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from astropy.io.votable import parse
from astropy.table import Table

from tests.dali.xmlschema import xsd_errors
from tests.tap.conftest import TestClient, final_phase

CONE = ("SELECT coadd_object_id, ra, dec FROM des_dr1.main "
        "WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 323.36, -0.82, 0.1))")


def votable(body: bytes):  # type: ignore[no-untyped-def]
    doc = parse(io.BytesIO(body))
    statuses = [(i.value, i.content) for i in doc.resources[0].infos if i.name == "QUERY_STATUS"]
    infos = {i.name: i.value for i in doc.resources[0].infos if i.name != "QUERY_STATUS"}
    tables = list(doc.iter_tables())
    return (tables[0].to_table(use_names_over_ids=True) if tables else None), statuses, infos


@pytest.mark.parametrize("method", ["GET", "POST", "MULTIPART"])
def test_sync_answers_in_place_with_lower_or_mixed_case_names(client: TestClient, method: str) -> None:
    params = {"lang": "ADQL", "Query": "SELECT TOP 3 coadd_object_id, tilename FROM des_dr1.main", "REQUEST": "doQuery",
              "spurious": "ignored"}
    if method == "GET":
        response = client.get("/tap/sync", params=params)
    elif method == "POST":
        response = client.post("/tap/sync", data=params)
    else:
        response = client.post("/tap/sync", data=params, files={"unused": ("x.txt", b"x")})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-votable+xml"
    table, statuses, infos = votable(response.content)
    assert statuses == [("OK", "Query successful")]
    assert table.colnames == ["coadd_object_id", "tilename"] and len(table) == 3
    assert infos["QUERY"] == params["Query"] and infos["standardID"] == "ivo://ivoa.net/std/TAP"
    assert xsd_errors(response.content) == []


@pytest.mark.parametrize(
    ("maxrec", "top", "rows", "overflow"),
    [("2", "", 2, True), ("0", "", 0, True), ("10", "TOP 3", 3, False), ("3", "TOP 5", 3, True),
     ("", "TOP 4", 4, False)],
)
def test_maxrec_top_and_overflow(client: TestClient, maxrec: str, top: str, rows: int, overflow: bool) -> None:
    data = {"LANG": "ADQL", "QUERY": f"SELECT {top} coadd_object_id FROM des_dr1.main"}
    if maxrec:
        data["MAXREC"] = maxrec
    response = client.post("/tap/sync", data=data)
    assert response.status_code == 200
    table, statuses, _ = votable(response.content)
    assert len(table) == rows
    assert [s for s, _ in statuses] == (["OK", "OVERFLOW"] if overflow else ["OK"])


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
@pytest.mark.parametrize(("maxrec", "status"), [("3", "OVERFLOW"), ("0", "OVERFLOW"), ("100000", "OK")])
def test_csv_and_tsv_say_overflow_in_the_query_status_header(client: TestClient, fmt: str, maxrec: str,
                                                            status: str) -> None:
    query = "SELECT coadd_object_id FROM des_dr1.main WHERE coadd_object_id < 0" if status == "OK" else \
        "SELECT coadd_object_id FROM des_dr1.main"
    response = client.post("/tap/sync", data={"LANG": "ADQL", "QUERY": query, "MAXREC": maxrec, "RESPONSEFORMAT": fmt})
    assert response.status_code == 200 and response.headers["query-status"] == status
    lines = response.text.splitlines()
    assert lines[0] == "coadd_object_id" and len(lines) == 1 + (int(maxrec) if status == "OVERFLOW" else 0)


def test_a_csv_result_longer_than_the_hold_streams_without_a_status(client: TestClient,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import tap.routes

    monkeypatch.setattr(tap.routes, "STATUS_HOLD_BYTES", 64)
    response = client.post("/tap/sync", data={"LANG": "ADQL", "QUERY": "SELECT coadd_object_id FROM des_dr1.main",
                                               "MAXREC": "50", "RESPONSEFORMAT": "csv"})
    assert response.status_code == 200 and "query-status" not in response.headers
    assert len(response.text.splitlines()) == 51


@pytest.mark.parametrize(("maxrec", "status"),
                         [("2", "OVERFLOW: Result truncated to MAXREC=2 rows\n"), ("100000", "OK\n")])
def test_async_csv_lists_its_query_status_as_a_second_result(client: TestClient, maxrec: str, status: str) -> None:
    created = client.post("/tap/async", data={"LANG": "ADQL", "QUERY": "SELECT TOP 5 coadd_object_id FROM des_dr1.main",
                                               "MAXREC": maxrec, "RESPONSEFORMAT": "csv", "PHASE": "RUN"},
                          follow_redirects=False)
    job = created.headers["location"].removeprefix("http://testserver")
    assert final_phase(client, job) == "COMPLETED"
    results = client.get(f"{job}/results").text
    assert results.index('id="result"') < results.index('id="query_status"')
    assert client.get(f"{job}/results/query_status").text == status
    assert len(client.get(f"{job}/results/result").text.splitlines()) == 1 + min(int(maxrec), 5)
    client.delete(job, follow_redirects=False)


class _FrozenClock(datetime):
    """``datetime`` whose ``now`` is always the same instant."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> _FrozenClock:
        return cls(2026, 12, 6, 12, 0, 0, tzinfo=tz)


@pytest.mark.parametrize(("fmt", "accept", "compressed"), [
    ("votable", "gzip, deflate", True),
    ("csv", "gzip", True),
    ("tsv", "br;q=1, gzip;q=0.5", True),
    ("votable", "identity", False),
    ("votable", "gzip;q=0", False),
    ("votable/b2", "gzip", False),  # base64 of binary numbers: slower to compress than to send
    ("parquet", "gzip", False),
])
def test_long_text_results_go_gzipped_to_clients_that_accept_it(client: TestClient, monkeypatch: pytest.MonkeyPatch,
                                                                fmt: str, accept: str, compressed: bool) -> None:
    import tap.routes
    import tap.service

    monkeypatch.setattr(tap.routes, "GZIP_MIN_BYTES", 2000)  # the ci release's results are small
    # both answers below must be byte for byte the same: their request_date INFO too, even when the
    # two requests fall on each side of a second (it once failed so in CI)
    monkeypatch.setattr(tap.service, "datetime", _FrozenClock)
    data = {"LANG": "ADQL", "QUERY": "SELECT coadd_object_id, ra, dec FROM des_dr1.main", "MAXREC": "300",
            "RESPONSEFORMAT": fmt}
    response = client.post("/tap/sync", data=data, headers={"Accept-Encoding": accept})
    assert response.status_code == 200
    assert response.headers.get("content-encoding") == ("gzip" if compressed else None)
    assert ("accept-encoding" in response.headers.get("vary", "").lower()) is (fmt in ("votable", "csv", "tsv"))
    plain = client.post("/tap/sync", data=data, headers={"Accept-Encoding": "identity"})
    assert response.content == plain.content  # httpx undid the gzip: the same document
    if fmt == "csv":
        assert response.headers["query-status"] == plain.headers["query-status"] == "OVERFLOW"


@pytest.mark.parametrize(("fmt", "compressed"), [("csv", True), ("votable", True), ("votable/b2", False)])
def test_long_async_results_go_gzipped_to_clients_that_accept_it(client: TestClient, monkeypatch: pytest.MonkeyPatch,
                                                                 fmt: str, compressed: bool) -> None:
    import uws.routes

    monkeypatch.setattr(uws.routes, "GZIP_MIN_BYTES", 2000)
    created = client.post("/tap/async", data={"LANG": "ADQL", "QUERY": "SELECT coadd_object_id, ra FROM des_dr1.main",
                                               "MAXREC": "300", "RESPONSEFORMAT": fmt, "PHASE": "RUN"},
                          follow_redirects=False)
    job = created.headers["location"].removeprefix("http://testserver")
    assert final_phase(client, job) == "COMPLETED"
    packed = client.get(f"{job}/results/result", headers={"Accept-Encoding": "gzip"})
    plain = client.get(f"{job}/results/result", headers={"Accept-Encoding": "identity"})
    assert packed.headers.get("content-encoding") == ("gzip" if compressed else None)
    assert "content-encoding" not in plain.headers and packed.content == plain.content  # the same file
    partial = client.get(f"{job}/results/result", headers={"Accept-Encoding": "gzip", "Range": "bytes=0-9"})
    assert partial.status_code == 206 and "content-encoding" not in partial.headers  # ranges are of the file
    short = client.get(f"{job}/results/query_status", headers={"Accept-Encoding": "gzip"}) if fmt == "csv" else None
    assert short is None or "content-encoding" not in short.headers
    client.delete(job, follow_redirects=False)


def test_short_results_go_uncompressed(client: TestClient) -> None:
    data = {"LANG": "ADQL", "QUERY": "SELECT TOP 5 coadd_object_id FROM des_dr1.main"}
    response = client.post("/tap/sync", data=data, headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and "content-encoding" not in response.headers
    assert response.headers["vary"] == "Accept-Encoding"


def test_votable_has_its_status_inside_not_in_a_header(client: TestClient) -> None:
    response = client.post("/tap/sync", data={"LANG": "ADQL", "QUERY": "SELECT coadd_object_id FROM des_dr1.main",
                                               "MAXREC": "2"})
    assert "query-status" not in response.headers and b'value="OVERFLOW"' in response.content


def test_the_default_maxrec_applies(client: TestClient, tap_settings) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/tap/sync", data={"LANG": "ADQL", "QUERY": "SELECT coadd_object_id FROM des_dr1.main"})
    table, statuses, _ = votable(response.content)
    assert len(table) == tap_settings.maxrec_default and statuses[-1][0] == "OVERFLOW"


@pytest.mark.parametrize(
    ("data", "status", "fragment"),
    [
        ({"LANG": "OOBLECK", "QUERY": "SELECT 1"}, 400, "unknown query language"),
        ({"LANG": "ADQL"}, 400, "QUERY parameter is required"),
        ({"LANG": "ADQL", "QUERY": "DUFF QUERY"}, 400, "UsageFault"),
        ({"LANG": "ADQL", "QUERY": "SELECT x FROM nowhere.nothing"}, 400, "nowhere.nothing"),
        ({"LANG": "ADQL", "QUERY": "SELECT 1", "MAXREC": "-5"}, 400, "MAXREC"),
        ({"LANG": "ADQL", "QUERY": "SELECT 1", "RESPONSEFORMAT": "html"}, 400, "response format"),
        ({"LANG": "ADQL", "QUERY": "SELECT 1", "RUNID": "r" * 65}, 400, "RUNID"),
        ({"LANG": "ADQL", "QUERY": "SELECT 1", "UPLOAD": "t,param:t"}, 400, "was not sent"),
        ({"LANG": "ADQL", "QUERY": "SELECT 1", "UPLOAD": "t,http://127.0.0.1:9/t.xml"}, 400, "private address"),
    ],
)
def test_errors_are_dali_error_documents(client: TestClient, data: dict[str, str], status: int, fragment: str) -> None:
    response = client.post("/tap/sync", data=data)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/x-votable+xml"
    table, statuses, _ = votable(response.content)
    assert table is None and statuses[0][0] == "ERROR"
    assert fragment in statuses[0][1] and "Traceback" not in statuses[0][1]


def test_sending_a_single_valued_parameter_twice_is_an_error(client: TestClient) -> None:
    response = client.get("/tap/sync?LANG=ADQL&QUERY=SELECT+1&MAXREC=1&maxrec=2")
    assert response.status_code == 400 and b"MAXREC" in response.content


@pytest.mark.parametrize(("method", "path", "status"),
                         [("GET", "/tap/nowhere", 404), ("PUT", "/tap/sync", 405), ("DELETE", "/tap/tables", 405),
                          ("GET", "/tap/tables/no.such_table", 404)])
def test_framework_errors_under_tap_are_votables(client: TestClient, method: str, path: str, status: int) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    _, statuses, _ = votable(response.content)
    assert statuses[0][0] == "ERROR"


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [("csv", "text/csv;header=present"), ("text/csv", "text/csv"), ("tsv", "text/tab-separated-values"),
     ("fits", "application/fits"), ("parquet", "application/vnd.apache.parquet"),
     ("votable/b2", "application/x-votable+xml;serialization=binary2"),
     ("application/x-votable+xml;serialization=tabledata", "application/x-votable+xml;serialization=tabledata"),
     ("text/xml", "text/xml")],
)
def test_response_formats_read_back(client: TestClient, fmt: str, media_type: str) -> None:
    query = "SELECT TOP 7 coadd_object_id, ra, tilename FROM des_dr1.main ORDER BY coadd_object_id"
    response = client.post("/tap/sync", data={"LANG": "ADQL", "QUERY": query, "FORMAT": fmt})
    assert response.status_code == 200
    assert response.headers["content-type"].split("; charset")[0] == media_type
    if fmt.endswith("csv"):
        table = Table.read(response.text, format="ascii.csv")
    elif fmt == "tsv":
        table = Table.read(response.text, format="ascii.tab")
    elif fmt == "fits":
        table = Table(fits.open(io.BytesIO(response.content))[1].data)
    elif fmt == "parquet":
        table = Table(pq.read_table(io.BytesIO(response.content)).to_pydict())
    else:
        table = votable(response.content)[0]
    assert len(table) == 7 and list(table["coadd_object_id"]) == sorted(table["coadd_object_id"])


UPLOAD = b"""<?xml version="1.0"?>
<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE><TABLE>
<FIELD name="id" datatype="int"/><FIELD name="ra" datatype="double" unit="deg"/>
<FIELD name="dec" datatype="double" unit="deg"/><FIELD name="Odd Name" datatype="char" arraysize="*"/>
<FIELD name="t" datatype="char" arraysize="*" xtype="timestamp"/>
<FIELD name="p" datatype="double" arraysize="2" xtype="point"/>
<FIELD name="poly" datatype="double" arraysize="*" xtype="polygon"/>
<DATA><TABLEDATA>
<TR><TD>1</TD><TD>323.36</TD><TD>-0.82</TD><TD>a&amp;b</TD><TD>2020-01-02T03:04:05</TD><TD>10 20</TD><TD>1 1 2 1 2 2</TD></TR>
<TR><TD>2</TD><TD>323.5</TD><TD>-0.5</TD><TD></TD><TD></TD><TD>11 21</TD><TD>0 0 1 0 1 1</TD></TR>
</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"""  # noqa: E501 (a TABLEDATA row is one line)


@pytest.mark.parametrize("fmt", ["votable", "votable/b2"])
def test_inline_upload_round_trips_every_value(client: TestClient, fmt: str) -> None:
    response = client.post(
        "/tap/sync",
        data={"LANG": "ADQL", "QUERY": 'SELECT id, ra, dec, "Odd Name", t, p, poly FROM TAP_UPLOAD.mine ORDER BY id',
              "UPLOAD": "mine,param:part", "RESPONSEFORMAT": fmt},
        files={"part": ("mine.xml", UPLOAD, "application/x-votable+xml")},
    )
    assert response.status_code == 200, response.text
    table, statuses, _ = votable(response.content)
    assert statuses == [("OK", "Query successful")]
    assert list(table["id"]) == [1, 2] and list(table["ra"]) == [323.36, 323.5]
    assert table["Odd Name"][0] == "a&b"
    assert table["t"][0] == "2020-01-02T03:04:05"
    assert list(table["p"][1]) == [11.0, 21.0] and list(table["poly"][0]) == [1.0, 1, 2, 1, 2, 2]


def test_upload_crossmatch_against_the_catalogue(client: TestClient) -> None:
    rows = client.post("/tap/sync", data={"LANG": "ADQL", "QUERY": "SELECT TOP 5 ra, dec FROM des_dr1.main"})
    targets = votable(rows.content)[0]
    doc = io.BytesIO()
    targets.write(doc, format="votable")
    query = ("SELECT u.ra AS ura, m.coadd_object_id FROM TAP_UPLOAD.t AS u JOIN des_dr1.main AS m "
             "ON 1 = CONTAINS(POINT('ICRS', m.ra, m.dec), CIRCLE('ICRS', u.ra, u.dec, 1.0/3600))")
    response = client.post("/tap/sync", data={"LANG": "ADQL", "QUERY": query, "UPLOAD": "t,param:t"},
                           files={"t": ("t.xml", doc.getvalue())})
    table, statuses, _ = votable(response.content)
    assert statuses[-1][0] == "OK" and len(table) >= 5


def test_oversize_uploads_are_refused(tmp_path, ci_duckdb_path) -> None:  # type: ignore[no-untyped-def]
    from skygate.app import create_app
    from tests.tap.conftest import BASE, release_settings

    settings = release_settings(tmp_path, ci_duckdb_path, upload_max_rows=1)
    with TestClient(create_app(settings), base_url=BASE) as small:
        response = small.post("/tap/sync", data={"LANG": "ADQL", "QUERY": "SELECT * FROM TAP_UPLOAD.m",
                                                 "UPLOAD": "m,param:m"}, files={"m": ("m.xml", UPLOAD)})
    assert response.status_code == 400
    assert "limit is 1" in votable(response.content)[1][0][1]


def test_root_is_html_and_availability_validates(client: TestClient) -> None:
    assert client.get("/tap").headers["content-type"].startswith("text/html")
    response = client.get("/tap/availability")
    assert xsd_errors(response.content) == [] and b"<vosi:available>true" in response.content
