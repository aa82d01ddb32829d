"""SODA /sync, DataLink /links and bulk cutout jobs (/bulk) under random parameters (hypothesis):
never a 5xx, never a traceback, within the time limit, in bounded memory (tests/fuzz_app.py)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from astropy.io import fits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from release.obscore import image_did
from tests.fuzz_app import (
    SYNC_TIMEOUT,
    TIME_MARGIN,
    FuzzApp,
    malformed_cases,
    raw_bodies,
    running_app,
)

FUZZ = settings(max_examples=30, deadline=timedelta(seconds=SYNC_TIMEOUT + TIME_MARGIN),
                suppress_health_check=[HealthCheck.too_slow], print_blob=True)

IDS = st.one_of(
    st.sampled_from([image_did("DES2134-0041", "g"), image_did("DES2359-0041", "r"), image_did("DES0000+0000", "g"),
                     "ivo://skygate/des_dr1?", "ivo://elsewhere/x", "../../etc/passwd"]),
    st.text(max_size=60),
)
NUMBER = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32).map(repr),
                   st.sampled_from(["323.36", "-0.82", "0.02", "-Inf", "+Inf", "NaN", "1e400", "x", ""]))


def _words(n: int) -> st.SearchStrategy[str]:
    return st.lists(NUMBER, max_size=n).map(" ".join)


REGIONS = {
    "CIRCLE": st.one_of(_words(4), st.sampled_from(["323.36 -0.82 0.02", "323.36 -0.82 180", "0 0 0"])),
    "POLYGON": st.one_of(_words(10), st.just("323.3 -0.9 323.4 -0.9 323.4 -0.8")),
    "POS": st.one_of(st.tuples(st.sampled_from(["CIRCLE", "RANGE", "POLYGON", "x"]), _words(8)).map(" ".join),
                     st.just("RANGE 323.3 323.4 -0.9 -0.8")),
    "BAND": _words(3),
    "TIME": _words(3),
    "POL": st.sampled_from(["I", "Q", ""]),
    "RESPONSEFORMAT": st.sampled_from(["application/fits", "votable", "", "x"]),
    "RUNID": st.text(max_size=70),
    "REQUEST": st.sampled_from(["doQuery", ""]),
}
# One ID per request here (cutting several whole images in one request takes seconds a call):
# test_whole_image_cutouts_memory cuts the largest request /soda/sync takes.
PARAMS = st.lists(
    st.one_of(
        st.sampled_from(sorted(REGIONS)).flatmap(lambda name: st.tuples(st.just(name), REGIONS[name])),
        st.tuples(st.from_regex(r"[A-Za-z_]{1,8}", fullmatch=True), st.text(max_size=10)),
    ),
    max_size=6,
)
POSITIONS = st.one_of(
    st.binary(max_size=200),
    st.lists(st.tuples(NUMBER, NUMBER), max_size=4).map(
        lambda rows: ("RA,DEC\n" + "".join(f"{a},{b}\n" for a, b in rows)).encode()),
    st.sampled_from([b"RA,DEC\n323.36,-0.82\n323.36,-0.82\n", b"COADD_OBJECT_ID\n99999999999999999999999\n",
                     b"RA,DEC,XSIZE\n323.36,-0.82,0\n", b"FOO\n1\n", b"", b"<VOTABLE/>"]),
)
BULK_OPTIONS = st.lists(st.tuples(
    st.sampled_from(["XSIZE", "YSIZE", "COLORS_FITS", "RGB_LUPTON_COLORS", "MAKE_FITS", "MAKE_RGB_LUPTON",
                     "RGB_MINIMUM", "RGB_STRETCH", "RGB_ASINH", "RETURN_LIST_ONLY", "BANDS"]),
    st.one_of(NUMBER, st.sampled_from(["g", "gri", "true", "false", "x", "gri;riz"]))), max_size=4)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, ci_duckdb_path: Path, ci_release_dir: Path) -> Iterator[FuzzApp]:
    yield from running_app(tmp_path_factory.mktemp("soda-fuzz"), ci_duckdb_path, ci_release_dir)


@FUZZ
@given(ident=st.one_of(st.none(), IDS), params=PARAMS, how=st.sampled_from(["GET", "POST"]),
       endpoint=st.sampled_from(["/soda/sync", "/soda/links"]))
def test_sync_and_links(app: FuzzApp, ident: str | None, params: list[tuple[str, str]], how: str,
                        endpoint: str) -> None:
    if ident is not None:
        params = [("ID", ident), *params]
    if how == "GET":
        app.call("GET", endpoint, params=params)
    else:
        app.call("POST", endpoint, form=params)


@settings(FUZZ, max_examples=15)
@given(positions=POSITIONS, options=BULK_OPTIONS, as_file=st.booleans(), run=st.booleans())
def test_bulk_jobs(app: FuzzApp, positions: bytes, options: list[tuple[str, str]], as_file: bool, run: bool) -> None:
    form = [*options, *([("PHASE", "RUN")] if run else [])]
    if as_file:
        created = app.call("POST", "/soda/bulk", form=form, files={"positions": ("p.csv", positions)})
    else:
        created = app.call("POST", "/soda/bulk", form=[*form, ("POSITIONS", positions.decode("latin-1"))])
    if created.status != 303:
        return
    job = created.headers["location"].removeprefix("http://testserver")
    app.call("GET", job, params=[("WAIT", "2" if run else "0")])
    for child in ("/results", "/results/result", "/error"):
        app.call("GET", job + child)
    app.call("DELETE", job)


@FUZZ
@given(url=st.sampled_from(["/soda/sync", "/soda/links", "/soda/bulk", "/soda/async"]), body=raw_bodies())
def test_raw_bodies(app: FuzzApp, url: str, body: tuple[str, bytes]) -> None:
    answer = app.call("POST", url, body=body)
    if answer.status == 303:  # a job was made of it
        app.call("DELETE", answer.headers["location"].removeprefix("http://testserver"))


@pytest.mark.parametrize(("url", "body"), malformed_cases(["/soda/sync", "/soda/links", "/soda/bulk", "/soda/async"]))
def test_malformed_multipart(app: FuzzApp, url: str, body: tuple[str, bytes]) -> None:
    answer = app.call("POST", url, body=body)
    if answer.status == 303:
        app.call("DELETE", answer.headers["location"].removeprefix("http://testserver"))


def test_whole_image_cutouts_memory(app: FuzzApp) -> None:
    """Issue 13 'bounded memory': two whole ci images (143 MiB of FITS) in one /soda/sync call peaked
    at 430 MiB of Python memory (the arrays, each HDU's bytes, then their join). Now the server writes
    the file block by block to a temporary file and streams it from there, never holding it whole."""
    g = image_did("DES2134-0041", "g")  # the example the fuzz found
    # app.request, not app.call: the client, in this process, holds the streamed answer twice (the
    # transport's chunks, then their join), 286 MiB, over the harness's PEAK_BYTES meant for the server;
    # the issue-13 failure (430 MiB, three times the answer) would still exceed this test's bound. That
    # the server never holds the file whole is tested without a client (test_jobs.py, sync cutouts).
    answer = app.request("GET", "/soda/sync", params=[("ID", g), ("ID", g), ("CIRCLE", "323.36 -0.82 180")])
    assert answer.status == 200 and answer.headers["x-cutout-count"] == "2"
    assert answer.headers["content-length"] == str(len(answer.body))
    assert answer.peak_bytes < 2.3 * len(answer.body), f"peak {answer.peak_bytes / 2**20:.0f} MiB"
    with fits.open(io.BytesIO(answer.body)) as hdul:
        assert [(h.name, h.ver) for h in hdul[1:]] == [(n, v) for v in (1, 2) for n in ("SCI", "MSK", "WGT")]
        assert hdul["SCI", 2].data.shape == (2500, 2500)
