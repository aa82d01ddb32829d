"""TAP /sync and /async under random parameters and ADQL-ish text (hypothesis): whatever comes in,
the answer is never a 5xx, never a traceback, within the time limit, in bounded memory
(tests/fuzz_app.py). The translator alone is fuzzed in tests/adql/test_fuzz.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz_app import (
    SYNC_TIMEOUT,
    TIME_MARGIN,
    FuzzApp,
    malformed_cases,
    raw_bodies,
    running_app,
)

FUZZ = settings(max_examples=40, deadline=timedelta(seconds=SYNC_TIMEOUT + TIME_MARGIN),
                suppress_health_check=[HealthCheck.too_slow], print_blob=True)

TABLES = ["des_dr1.main", "des_dr1.main_sample", "des_dr1.tile_info", "ivoa.obscore", "TAP_SCHEMA.tables",
          "tap_schema.columns", "TAP_UPLOAD.t", "nowhere.nothing"]
COLUMNS = ["ra", "dec", "coadd_object_id", "tilename", "mag_auto_g", "*", "s_region", "table_name", "\"size\""]
WORDS = ["SELECT", "TOP", "5", "DISTINCT", "*", ",", "FROM", "AS", "x", "WHERE", "AND", "OR", "NOT", "=", "<",
         "(", ")", "'a'", "'", '"', "1", "0.5", "-", "/", "JOIN", "ON", "GROUP", "BY", "ORDER", "HAVING", "UNION",
         "WITH", "CONTAINS", "POINT", "CIRCLE", "POLYGON", "DISTANCE", "COUNT(*)", "MAX", "IN", "LIKE", "NULL",
         "IS", "CAST", "OFFSET", ";", "--", "\x00", "é", "\n", *TABLES, *COLUMNS]


@st.composite
def _plain_query(draw: st.DrawFn) -> str:
    """A well-formed single-table query (so some fuzz reaches the backend and the writers)."""
    table = draw(st.sampled_from(TABLES[:6]))
    top = draw(st.sampled_from(["", "TOP 0 ", "TOP 3 ", "TOP 100000 "]))
    column = draw(st.sampled_from(["*", "COUNT(*)", "1", "ra, dec", "coadd_object_id"]))
    where = draw(st.sampled_from(["", " WHERE 1=1", " WHERE ra > 0",
                                  " WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 323.36, -0.82, 0.1))",
                                  " WHERE tilename LIKE 'DES%'"]))
    return f"SELECT {top}{column} FROM {table}{where}"


ADQL = st.one_of(
    _plain_query(),
    st.lists(st.sampled_from(WORDS), max_size=30).map(" ".join),
    st.text(max_size=200),
)
VALUES = {
    "LANG": st.sampled_from(["ADQL", "ADQL-2.0", "ADQL-2.1", "adql", "OOBLECK", "", "ADQL-9"]),
    "QUERY": ADQL,
    "MAXREC": st.one_of(st.sampled_from(["0", "1", "10", "-1", "1e3", "99999999999999999999", "abc", " 5 ", ""]),
                        st.integers(-10, 10**7).map(str)),
    "RESPONSEFORMAT": st.sampled_from(["votable", "csv", "tsv", "fits", "parquet", "text/csv", "html", "",
                                       "application/x-votable+xml;serialization=binary2",
                                       "application/x-votable+xml;serialization=BINARY", "votable/b2", "é/\x00"]),
    "FORMAT": st.sampled_from(["votable", "csv", "application/fits", "nonsense"]),
    "UPLOAD": st.sampled_from(["t,param:t", "t,param:missing", "t,http://127.0.0.1:1/x", "t,ftp://x/y",
                               "1t,param:t", "t", ",", "t,file:///etc/passwd", "t,param:t,extra"]),
    "RUNID": st.text(max_size=80),
    "REQUEST": st.sampled_from(["doQuery", "getCapabilities", ""]),
}
PARAMS = st.lists(
    st.one_of(
        st.sampled_from(sorted(VALUES)).flatmap(lambda name: st.tuples(
            st.sampled_from([name, name.lower(), name.title()]), VALUES[name])),
        st.tuples(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), st.text(max_size=20)),
    ),
    max_size=7,
)
FILES = st.one_of(
    st.none(),
    st.tuples(st.sampled_from(["t", "missing", "x"]),
              st.one_of(st.binary(max_size=300), st.sampled_from([
                  (b'<VOTABLE><RESOURCE><TABLE><FIELD name="a" datatype="int"/><DATA><TABLEDATA><TR><TD>1</TD></TR>'
                   b"</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"),
                  b"<VOTABLE><RESOURCE><TABLE><DATA><TABLEDATA/></DATA></TABLE></RESOURCE></VOTABLE>",
                  b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><VOTABLE>&e;</VOTABLE>"]))),
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, ci_duckdb_path: Path, ci_release_dir: Path) -> Iterator[FuzzApp]:
    yield from running_app(tmp_path_factory.mktemp("tap-fuzz"), ci_duckdb_path, ci_release_dir)


def _send(app: FuzzApp, url: str, how: str, params: list[tuple[str, str]],
          upload: tuple[str, bytes] | None) -> None:
    if how == "GET":
        app.call("GET", url, params=params)
    elif how == "POST" and upload is None:
        app.call("POST", url, form=params)
    else:
        files = {upload[0]: ("t.xml", upload[1])} if upload else {"unused": ("u.txt", b"u")}
        app.call("POST", url, form=params, files=files)


@FUZZ
@given(how=st.sampled_from(["GET", "POST", "MULTIPART"]), params=PARAMS, upload=FILES)
def test_sync(app: FuzzApp, how: str, params: list[tuple[str, str]], upload: tuple[str, bytes] | None) -> None:
    _send(app, "/tap/sync", how, params, upload)


@FUZZ
@given(query=ADQL, fmt=VALUES["RESPONSEFORMAT"], maxrec=VALUES["MAXREC"])
def test_sync_queries(app: FuzzApp, query: str, fmt: str, maxrec: str) -> None:
    app.call("POST", "/tap/sync", form=[("LANG", "ADQL"), ("QUERY", query), ("RESPONSEFORMAT", fmt),
                                        ("MAXREC", maxrec)])


@settings(FUZZ, max_examples=12)
@given(how=st.sampled_from(["POST", "MULTIPART"]), params=PARAMS, upload=FILES, run=st.booleans())
def test_async(app: FuzzApp, how: str, params: list[tuple[str, str]], upload: tuple[str, bytes] | None,
               run: bool) -> None:
    if run:
        params = [*params, ("PHASE", "RUN")]
    created = app.request("POST", "/tap/async", form=params,
                          files=({upload[0]: ("t.xml", upload[1])} if upload else None) if how == "MULTIPART" else None)
    app.check(created, f"create {params}")
    if created.status != 303:
        return
    job = created.headers["location"].removeprefix("http://testserver")
    app.call("GET", job, params=[("WAIT", "1" if run else "0")])
    for child in ("/phase", "/parameters", "/results", "/results/result", "/error", "/quote"):
        app.call("GET", job + child)
    app.call("DELETE", job)


@FUZZ
@given(url=st.sampled_from(["/tap/sync", "/tap/async"]), body=raw_bodies())
def test_raw_bodies(app: FuzzApp, url: str, body: tuple[str, bytes]) -> None:
    answer = app.call("POST", url, body=body)
    if answer.status == 303:  # a job was made of it
        app.call("DELETE", answer.headers["location"].removeprefix("http://testserver"))


@pytest.mark.parametrize(("url", "body"), malformed_cases(["/tap/sync", "/tap/async"]))
def test_malformed_multipart(app: FuzzApp, url: str, body: tuple[str, bytes]) -> None:
    answer = app.call("POST", url, body=body)
    if answer.status == 303:
        app.call("DELETE", answer.headers["location"].removeprefix("http://testserver"))


# ADQL that once reached the backend and came back as a 500 (issue 13, "ADQL semantics reaching the
# backend as 500"); the translator now refuses each with a position.
_ADQL_500 = ["SELECT ra, COUNT(*) FROM des_dr1.main", "SELECT ra FROM des_dr1.main ORDER BY -1",
             "SELECT ra FROM des_dr1.main WHERE ra IN ()", "SELECT MAX(COUNT(*)) FROM des_dr1.main",
             "SELECT ra FROM des_dr1.main WHERE COUNT(*) > 1", "SELECT ra FROM des_dr1.main HAVING ra > 1",
             "SELECT ra FROM des_dr1.main ORDER BY COUNT(*)"]


@pytest.mark.parametrize("query", _ADQL_500)
def test_adql_the_backend_refuses(app: FuzzApp, query: str) -> None:
    answer = app.call("POST", "/tap/sync", form=[("LANG", "ADQL"), ("QUERY", query)])
    assert answer.status == 400 and b"UsageFault" in answer.body
