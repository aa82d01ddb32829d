"""UWS job routes under random sequences of requests (hypothesis): every sub-resource of a real job
of each job list (TAP, SODA async and bulk, anomaly), or of a job that does not exist, with any
method and any control parameter. Whatever comes in, the answer is never a 5xx, never a traceback,
within the time limit (WAIT is capped at ``WAIT_MAX``), in bounded memory (tests/fuzz_app.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from release.obscore import image_did
from tests.fuzz_app import (
    MALFORMED_MULTIPART,
    SYNC_TIMEOUT,
    TIME_MARGIN,
    FuzzApp,
    raw_bodies,
    running_app,
)

FUZZ = settings(max_examples=30, deadline=timedelta(seconds=SYNC_TIMEOUT + TIME_MARGIN),
                suppress_health_check=[HealthCheck.too_slow], print_blob=True)

CHILDREN = ["", "/phase", "/executionduration", "/destruction", "/error", "/quote", "/owner", "/parameters",
            "/parameters/QUERY", "/parameters/nope", "/results", "/results/result", "/results/nope", "/x/y"]
TIMES = ["2030-01-01T00:00:00Z", "2030-01-01T00:00:00.123456Z", "2000-01-01T00:00:00Z", "2030-01-01",
         "yesterday", "", "9999-99-99T99:99:99Z", "2030-01-01T00:00:00+05:00"]
NUMBERS = ["-1", "0", "1", "2", "-2", "1e9", "nan", "inf", "2147483648", "99999999999999999999", " 1 ", "", "x"]
VALUES = {
    "PHASE": st.sampled_from(["RUN", "ABORT", "run", "SUSPEND", "COMPLETED", "PENDING", "EXECUTING", "", "\x00"]),
    "WAIT": st.sampled_from(["-1", "0", "1", "2", "-5", "nan", "1.5", "", "abc", "99999999999999999999"]),
    "EXECUTIONDURATION": st.sampled_from(NUMBERS),
    "DESTRUCTION": st.sampled_from(TIMES),
    "ACTION": st.sampled_from(["DELETE", "delete", "DESTROY", ""]),
    "AFTER": st.sampled_from(TIMES),
    "LAST": st.sampled_from(NUMBERS),
    "QUERY": st.sampled_from(["SELECT TOP 1 ra FROM des_dr1.main", "DUFF QUERY", ""]),
    "LANG": st.sampled_from(["ADQL", "OOBLECK"]),
    "RUNID": st.text(max_size=70),
    "UPLOAD": st.sampled_from(["t,param:t", "bad"]),
}
PARAMS = st.lists(
    st.one_of(
        st.sampled_from(sorted(VALUES)).flatmap(lambda name: st.tuples(
            st.sampled_from([name, name.lower()]), VALUES[name])),
        st.tuples(st.from_regex(r"[A-Za-z_]{1,8}", fullmatch=True), st.text(max_size=10)),
    ),
    max_size=4,
)
STEP = st.tuples(st.sampled_from(["GET", "POST", "DELETE", "PUT"]), st.sampled_from(CHILDREN), PARAMS,
                 st.sampled_from(["query", "form"]))


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, ci_duckdb_path: Path, ci_release_dir: Path) -> Iterator[FuzzApp]:
    yield from running_app(tmp_path_factory.mktemp("uws-fuzz"), ci_duckdb_path, ci_release_dir)


# Every job list of the application, with the parameters of a small valid job of its kind.
JOB_LISTS = {
    "/tap/async": [("LANG", "ADQL"), ("QUERY", "SELECT TOP 2 ra FROM des_dr1.main")],
    "/soda/async": [("ID", image_did("DES2134-0041", "g")), ("CIRCLE", "323.36 -0.82 0.01")],
    "/soda/bulk": [("POSITIONS", "RA,DEC\n323.36,-0.82\n")],
    "/anomaly/async": [("QUERY", "SELECT coadd_object_id, mag_auto_g, mag_auto_r FROM des_dr1.main_sample"),
                       ("NTREES", "5"), ("SAMPLE_SIZE", "16")],
}


def _job(app: FuzzApp, params: list[tuple[str, str]], jobs: str = "/tap/async") -> str:
    created = app.call("POST", jobs, form=params)
    assert created.status == 303, created.body[:300]
    return created.headers["location"].removeprefix("http://testserver")


@FUZZ
@given(steps=st.lists(STEP, min_size=1, max_size=4), start=st.sampled_from(["PENDING", "RUN", "none"]),
       jobs=st.sampled_from(sorted(JOB_LISTS)))
def test_job_resources(app: FuzzApp, steps: list[tuple[str, str, list[tuple[str, str]], str]], start: str,
                       jobs: str) -> None:
    run = [("PHASE", "RUN")] if start == "RUN" else []
    job = f"{jobs}/no-such-job" if start == "none" else _job(app, JOB_LISTS[jobs] + run, jobs)
    for method, child, params, where in steps:
        if where == "query" or method in ("GET", "DELETE"):
            app.call(method, job + child, params=params)
        else:
            app.call(method, job + child, form=params)
    if start != "none":
        app.call("DELETE", job)


@FUZZ
@given(params=PARAMS, how=st.sampled_from(["GET", "POST"]), jobs=st.sampled_from(sorted(JOB_LISTS)))
def test_job_list(app: FuzzApp, params: list[tuple[str, str]], how: str, jobs: str) -> None:
    if how == "GET":
        app.call("GET", jobs, params=params)
    else:
        created = app.call("POST", jobs, form=params)
        if created.status == 303:
            app.call("DELETE", created.headers["location"].removeprefix("http://testserver"))


@FUZZ
@given(child=st.sampled_from(["", "/parameters", "/phase", "/executionduration", "/destruction"]), body=raw_bodies())
def test_raw_bodies_to_a_job(app: FuzzApp, child: str, body: tuple[str, bytes]) -> None:
    job = _job(app, [("LANG", "ADQL"), ("QUERY", "SELECT TOP 1 ra FROM des_dr1.main")])
    app.call("POST", job + child, body=body)
    app.call("DELETE", job)


_CHILDREN = ["", "/parameters", "/phase", "/executionduration", "/destruction"]


@pytest.mark.parametrize(("child", "kind"), [
    pytest.param(child, kind, id=f"{child or '/'} {kind}")
    for child in _CHILDREN for kind in MALFORMED_MULTIPART])
def test_malformed_multipart_to_a_job(app: FuzzApp, child: str, kind: str) -> None:
    job = _job(app, [("LANG", "ADQL"), ("QUERY", "SELECT TOP 1 ra FROM des_dr1.main")])
    try:
        app.call("POST", job + child, body=MALFORMED_MULTIPART[kind])
    finally:
        app.request("DELETE", job)
