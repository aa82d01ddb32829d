"""SIA 2.0 /query under random parameters (hypothesis): never a 5xx, never a traceback, within the
time limit, in bounded memory (tests/fuzz_app.py)."""

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

NUMBER = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32).map(repr),
                   st.sampled_from(["-Inf", "+Inf", "NaN", "1e400", "x", "", "0x10"]))


def _words(n: int) -> st.SearchStrategy[str]:
    return st.lists(NUMBER, min_size=0, max_size=n).map(" ".join)


POS = st.one_of(
    st.tuples(st.sampled_from(["CIRCLE", "RANGE", "POLYGON", "circle", "BOX", ""]), _words(12)).map(" ".join),
    st.sampled_from(["CIRCLE 323.36 -0.82 0.05", "RANGE 0 360 -90 90", "POLYGON 323.3 -0.9 323.4 -0.9 323.4 -0.8",
                     "CIRCLE 0 0 180", "RANGE 359.5 0.5 -1 0", "POLYGON 0 0 0 0 0 0"]),
    st.text(max_size=40),
)
VALUES = {
    "POS": POS,
    "BAND": _words(3), "TIME": _words(3), "FOV": _words(3), "SPATRES": _words(3), "EXPTIME": _words(3),
    "TIMERES": _words(3), "SPECRP": _words(3),
    "CALIB": st.sampled_from(["0", "3", "-1", "x", "99999999999999999999", ""]),
    "POL": st.sampled_from(["I", "Q", "%", "_", ""]),
    "ID": st.one_of(st.text(max_size=60), st.just("ivo://skygate/des_dr1?DES2134-0041_g")),
    "COLLECTION": st.text(max_size=20), "FACILITY": st.text(max_size=20), "INSTRUMENT": st.text(max_size=20),
    "DPTYPE": st.sampled_from(["image", "cube", "spectrum", ""]),
    "TARGET": st.text(max_size=20),
    "FORMAT": st.sampled_from(["application/fits", "image/fits", "application/x-votable+xml;content=datalink", "",
                               "text/html"]),
    "MAXREC": st.sampled_from(["0", "1", "-1", "x", "99999999999999999999", "3"]),
    "RESPONSEFORMAT": st.sampled_from(["votable", "application/x-votable+xml", "text/xml", "csv", "fits", "", "x"]),
    "RUNID": st.text(max_size=70),
}
PARAMS = st.lists(
    st.one_of(
        st.sampled_from(sorted(VALUES)).flatmap(lambda name: st.tuples(
            st.sampled_from([name, name.lower()]), VALUES[name])),
        st.tuples(st.from_regex(r"[A-Za-z_]{1,8}", fullmatch=True), st.text(max_size=10)),
    ),
    max_size=6,
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, ci_duckdb_path: Path, ci_release_dir: Path) -> Iterator[FuzzApp]:
    yield from running_app(tmp_path_factory.mktemp("sia-fuzz"), ci_duckdb_path, ci_release_dir)


@FUZZ
@given(params=PARAMS, how=st.sampled_from(["GET", "POST"]))
def test_query(app: FuzzApp, params: list[tuple[str, str]], how: str) -> None:
    if how == "GET":
        app.call("GET", "/sia/query", params=params)
    else:
        app.call("POST", "/sia/query", form=params)


@FUZZ
@given(url=st.sampled_from(["/sia/query"]), body=raw_bodies())
def test_raw_bodies(app: FuzzApp, url: str, body: tuple[str, bytes]) -> None:
    answer = app.call("POST", url, body=body)
    if answer.status == 303:  # a job was made of it
        app.call("DELETE", answer.headers["location"].removeprefix("http://testserver"))


@pytest.mark.parametrize(("url", "body"), malformed_cases(["/sia/query"]))
def test_malformed_multipart(app: FuzzApp, url: str, body: tuple[str, bytes]) -> None:
    answer = app.call("POST", url, body=body)
    if answer.status == 303:
        app.call("DELETE", answer.headers["location"].removeprefix("http://testserver"))
