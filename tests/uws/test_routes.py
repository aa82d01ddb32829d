"""The UWS 1.1 HTTP resource tree through the ASGI app, against both job stores."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from lxml import etree

from uws.system import JobSystem

NS = {"uws": "http://www.ivoa.net/xml/UWS/v1.0", "xlink": "http://www.w3.org/1999/xlink"}
XSI = "http://www.w3.org/2001/XMLSchema-instance"


def _valid(schema: etree.XMLSchema, body: bytes) -> etree._Element:
    doc = etree.fromstring(body)
    assert schema.validate(doc), schema.error_log
    return doc


async def _create(client: httpx.AsyncClient, path: str = "/echo/async", **params: str) -> str:
    response = await client.post(path, data=params)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(f"http://testserver{path}/")
    return location.removeprefix("http://testserver")


async def _wait_final(client: httpx.AsyncClient, job: str) -> etree._Element:
    for _ in range(20):
        doc = etree.fromstring((await client.get(job, params={"WAIT": "5"})).content)
        if doc.findtext("uws:phase", namespaces=NS) not in ("PENDING", "QUEUED", "EXECUTING"):
            return doc
    raise AssertionError("job did not finish")


async def test_create_answers_303_and_the_job_document_validates(client, uws_schema) -> None:
    job = await _create(client, MESSAGE="hello", RUNID="run-7", REQUEST="doit")
    response = await client.get(job)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    doc = _valid(uws_schema, response.content)
    assert doc.get("version") == "1.1"
    assert b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"' in response.content
    assert doc.findtext("uws:phase", namespaces=NS) == "PENDING"
    assert doc.findtext("uws:runId", namespaces=NS) == "run-7"
    assert doc.find("uws:ownerId", namespaces=NS).get(f"{{{XSI}}}nil") == "true"
    params = {p.get("id"): p.text for p in doc.iterfind("uws:parameters/uws:parameter", NS)}
    assert params == {"MESSAGE": "hello", "RUNID": "run-7", "REQUEST": "doit"}
    assert doc.findtext("uws:creationTime", namespaces=NS).endswith("Z")


async def test_phase_run_on_creation_leaves_pending_before_the_redirect(client, uws_schema) -> None:
    # in the query string, with a multipart body: both must work (pyvo, astroquery)
    response = await client.post("/echo/async?phase=RUN", files={"MESSAGE": (None, "multi")})
    assert response.status_code == 303
    job = response.headers["location"].removeprefix("http://testserver")
    phase = (await client.get(f"{job}/phase")).text
    assert phase in ("QUEUED", "EXECUTING", "COMPLETED")
    doc = _valid(uws_schema, (await client.get(job, params={"WAIT": "-1"})).content)
    doc = await _wait_final(client, job)
    assert doc.findtext("uws:phase", namespaces=NS) == "COMPLETED"
    result = doc.find("uws:results/uws:result", NS)
    assert result.get("id") == "result"
    assert result.get(f"{{{NS['xlink']}}}href") == f"http://testserver{job}/results/result"
    fetched = await client.get(f"{job}/results/result")
    assert fetched.status_code == 200 and fetched.text == "multi"
    assert fetched.headers["content-type"].startswith("text/plain")
    _valid(uws_schema, (await client.get(f"{job}/results")).content)


async def test_primary_result_is_listed_first(client) -> None:
    job = await _create(client, MESSAGE="m", EXTRA="aaa", PHASE="RUN")
    doc = await _wait_final(client, job)
    ids = [r.get("id") for r in doc.iterfind("uws:results/uws:result", NS)]
    assert ids == ["result", "aaa"]


async def test_job_list_filters_combine(client, uws_schema) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    pending = [await _create(client) for _ in range(2)]
    done = await _create(client, PHASE="RUN")
    await _wait_final(client, done)
    aborted = await _create(client)
    assert (await client.post(f"{aborted}/phase", data={"PHASE": "ABORT"})).status_code == 303

    async def ids(**params: object) -> list[str]:
        response = await client.get("/echo/async", params=params)
        assert response.status_code == 200
        doc = _valid(uws_schema, response.content)
        return [f"/echo/async/{ref.get('id')}" for ref in doc.iterfind("uws:jobref", NS)]

    assert set(await ids()) == {*pending, done, aborted}
    assert set(await ids(PHASE="PENDING")) == set(pending)
    assert set(await ids(PHASE=["COMPLETED", "ABORTED"])) == {done, aborted}
    assert await ids(LAST=1) == [aborted]  # newest first
    assert await ids(PHASE="PENDING", LAST=1) == [pending[1]]
    after = before.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert len(await ids(AFTER=after)) == 4
    assert await ids(AFTER=(datetime.now(UTC) + timedelta(seconds=5)).isoformat()) == []
    # other kinds' jobs are not listed here
    await _create(client, "/sleep/async")
    assert len(await ids()) == 4


async def test_phase_run_then_abort_stops_a_sync_job_at_its_checkpoint(client, system) -> None:
    job = await _create(client, "/sleep/async", SECONDS="30")
    assert (await client.post(f"{job}/phase", data={"PHASE": "RUN"})).status_code == 303
    waited = await client.get(job, params={"WAIT": "5", "PHASE": "QUEUED"})
    assert b"EXECUTING" in waited.content
    started = time.monotonic()
    response = await client.post(f"{job}/phase", data={"PHASE": "ABORT"})
    assert response.status_code == 303
    assert (await client.get(f"{job}/phase")).text == "ABORTED"
    # a second RUN is refused, a second ABORT is harmless
    assert (await client.post(f"{job}/phase", data={"PHASE": "RUN"})).status_code == 403
    assert (await client.post(f"{job}/phase", data={"PHASE": "ABORT"})).status_code == 303
    doc = etree.fromstring((await client.get(job)).content)
    assert doc.find("uws:results/uws:result", NS) is None
    assert time.monotonic() - started < 2


async def test_abort_cancels_an_async_job(client, system) -> None:
    job = await _create(client, "/asleep/async", SECONDS="30", PHASE="RUN")
    await client.get(job, params={"WAIT": "5", "PHASE": "QUEUED"})
    await client.post(f"{job}/phase", data={"PHASE": "ABORT"})
    marker = system.job_dir(job.rsplit("/", 1)[1]) / "cancelled"
    for _ in range(50):
        if marker.exists():
            break
        await asyncio.sleep(0.05)
    assert marker.read_text() == "yes"
    assert (await client.get(f"{job}/phase")).text == "ABORTED"


async def test_execution_duration_is_enforced(client) -> None:
    job = await _create(client, "/sleep/async", SECONDS="20", EXECUTIONDURATION="1", PHASE="RUN")
    doc = await _wait_final(client, job)
    assert doc.findtext("uws:phase", namespaces=NS) == "ERROR"
    summary = doc.find("uws:errorSummary", NS)
    assert summary.get("type") == "fatal"
    assert "ran out of time" in summary.findtext("uws:message", namespaces=NS)
    error = await client.get(f"{job}/error")
    assert error.status_code == 200 and "ran out of time" in error.text


async def test_execution_duration_and_destruction_resources(client) -> None:
    job = await _create(client)
    assert (await client.get(f"{job}/executionduration")).text == "60"
    assert (await client.post(f"{job}/executionduration", data={"EXECUTIONDURATION": "120"})).status_code == 303
    assert (await client.get(f"{job}/executionduration")).text == "120"
    # above the maximum and 0 (unlimited) are replaced by the maximum
    for asked in ("100000", "0"):
        await client.post(f"{job}/executionduration", data={"EXECUTIONDURATION": asked})
        assert (await client.get(f"{job}/executionduration")).text == "600"
    destruction = (await client.get(f"{job}/destruction")).text
    assert destruction.endswith("Z")
    soon = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    response = await client.post(f"{job}/destruction", data={"DESTRUCTION": soon.strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert response.status_code == 303
    assert (await client.get(f"{job}/destruction")).text == soon.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    far = datetime.now(UTC) + timedelta(days=365)
    await client.post(f"{job}/destruction", data={"DESTRUCTION": far.isoformat()})
    granted = datetime.fromisoformat((await client.get(f"{job}/destruction")).text)
    assert granted < datetime.now(UTC) + timedelta(days=7, minutes=1)
    for resource in ("phase", "executionduration", "destruction", "quote", "owner"):
        response = await client.get(f"{job}/{resource}")
        assert response.headers["content-type"].startswith("text/plain"), resource
    assert (await client.get(f"{job}/quote")).text == ""
    assert (await client.get(f"{job}/owner")).text == ""


@pytest.mark.parametrize(
    ("method", "suffix", "data"),
    [
        ("get", "?PHASE=NOTAPHASE", None),
        ("get", "?LAST=-1", None),
        ("get", "?LAST=many", None),
        ("get", "?AFTER=yesterday", None),
        ("post", "?PHASE=ABORT", {}),
        ("post", "", {"EXECUTIONDURATION": "-5"}),
        ("post", "", {"DESTRUCTION": "2001-01-01T00:00:00Z"}),
        ("post", "", {"DESTRUCTION": "not a time"}),
    ],
)
async def test_bad_job_list_input_is_a_400(client, method, suffix, data) -> None:
    response = await getattr(client, method)(f"/echo/async{suffix}", **({"data": data} if data is not None else {}))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("method", "resource", "params", "status"),
    [
        ("get", "", {"WAIT": "soon"}, 400),
        ("get", "", {"WAIT": "-5"}, 400),
        ("get", "", {"WAIT": "1", "PHASE": "BOGUS"}, 400),
        ("post", "/phase", {"PHASE": "FLY"}, 400),
        ("post", "/phase", {}, 400),
        ("post", "/executionduration", {"EXECUTIONDURATION": "-1"}, 400),
        ("post", "/executionduration", {"EXECUTIONDURATION": "ten"}, 400),
        ("post", "/destruction", {"DESTRUCTION": "2000-01-01T00:00:00Z"}, 400),
        ("post", "/destruction", {"DESTRUCTION": "tomorrow"}, 400),
        ("post", "", {"ACTION": "EXPLODE"}, 400),
        ("post", "", {"MESSAGE": "x"}, 403),  # DALI: no parameters on the job URL
    ],
)
async def test_bad_job_input_gets_the_standard_answer(client, method, resource, params, status) -> None:
    job = await _create(client)
    if method == "get":
        response = await client.get(f"{job}{resource}", params=params)
    else:
        response = await client.post(f"{job}{resource}", data=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/plain")


async def test_parameters_replace_single_values_and_accumulate_multi_valued(client, uws_schema) -> None:
    job = await _create(client, MESSAGE="one", upload="a")
    assert (await client.post(f"{job}/parameters", data={"message": "two", "UPLOAD": "b"})).status_code == 303
    doc = _valid(uws_schema, (await client.get(f"{job}/parameters")).content)
    pairs = [(p.get("id"), p.text) for p in doc.iterfind("uws:parameter", NS)]
    assert pairs == [("upload", "a"), ("message", "two"), ("UPLOAD", "b")]
    await client.post(f"{job}/phase", data={"PHASE": "RUN"})
    response = await client.post(f"{job}/parameters", data={"MESSAGE": "three"})
    assert response.status_code == 403
    doc = await _wait_final(client, job)
    assert (await client.get(f"{job}/results/result")).text == "two"


async def test_inline_upload_is_a_by_reference_parameter(client, uws_schema) -> None:
    response = await client.post(
        "/echo/async", data={"UPLOAD": "t1,param:t1"}, files={"t1": ("t1.xml", b"<table/>", "text/xml")}
    )
    job = response.headers["location"].removeprefix("http://testserver")
    doc = _valid(uws_schema, (await client.get(job)).content)
    param = doc.find("uws:parameters/uws:parameter[@id='t1']", NS)
    assert param.get("byReference") == "true"
    assert param.text == f"http://testserver{job}/parameters/t1"
    assert (await client.get(f"{job}/parameters/t1")).content == b"<table/>"
    assert (await client.get(f"{job}/parameters/UPLOAD")).text == "t1,param:t1"
    await client.post(f"{job}/phase", data={"PHASE": "RUN"})
    await _wait_final(client, job)
    assert (await client.get(f"{job}/results/file-t1")).content == b"<table/>"


@pytest.mark.parametrize(
    ("fail", "kind", "text"),
    [("usage", "fatal", "FAIL=usage was asked for"), ("transient", "transient", "FAIL=transient was asked for"),
     ("crash", "fatal", "internal error")],
)
async def test_errors_reach_error_summary_and_the_error_resource(client, uws_schema, fail, kind, text) -> None:
    job = await _create(client)
    assert (await client.get(f"{job}/error")).status_code == 404  # no error yet
    await client.post(f"{job}/parameters", data={"FAIL": fail})
    await client.post(f"{job}/phase", data={"PHASE": "RUN"})
    doc = await _wait_final(client, job)
    _valid(uws_schema, etree.tostring(doc))
    assert doc.findtext("uws:phase", namespaces=NS) == "ERROR"
    summary = doc.find("uws:errorSummary", NS)
    assert summary.get("type") == kind
    assert text in summary.findtext("uws:message", namespaces=NS)
    error = await client.get(f"{job}/error")
    assert error.status_code == 200 and text in error.text
    assert "secret" not in error.text
    # a client that reads results/result before the phase (astroquery) gets the same error document
    result = await client.get(f"{job}/results/result")
    assert result.status_code == 200 and result.content == error.content
    assert result.headers["content-type"] == error.headers["content-type"]
    assert not doc.find("uws:results", NS).findall("uws:result", NS)  # nothing is listed as a result


async def test_a_refused_check_makes_an_error_job_not_a_failed_request(client) -> None:
    job = await _create(client, CHECK="refuse", PHASE="RUN")
    assert (await client.get(f"{job}/phase")).text == "ERROR"
    assert "CHECK=refuse" in (await client.get(f"{job}/error")).text
    assert "CHECK=refuse" in (await client.get(f"{job}/results/result")).text
    assert (await client.get(f"{job}/results/other")).status_code == 200  # any result of a failed job


@pytest.mark.parametrize("how", ["delete", "action"])
async def test_delete_redirects_to_the_list_and_the_job_is_gone(client, system, how) -> None:
    job = await _create(client, PHASE="RUN")
    await _wait_final(client, job)
    job_dir = system.job_dir(job.rsplit("/", 1)[1])
    assert job_dir.is_dir()
    if how == "delete":
        response = await client.delete(job)
    else:
        response = await client.post(job, data={"ACTION": "DELETE"})
    assert response.status_code == 303
    assert response.headers["location"] == "http://testserver/echo/async"
    for resource in ("", "/phase", "/executionduration", "/destruction", "/error", "/quote", "/parameters",
                     "/results", "/results/result", "/owner"):
        assert (await client.get(f"{job}{resource}")).status_code == 404, resource
    assert not job_dir.exists()


async def test_unknown_job_and_wrong_kind_are_404_everywhere(client) -> None:
    other = await _create(client, "/sleep/async")
    other_id = other.rsplit("/", 1)[1]
    for job in ("/echo/async/nope", f"/echo/async/{other_id}"):
        for resource in ("", "/phase", "/executionduration", "/destruction", "/error", "/quote",
                         "/parameters", "/results", "/results/result", "/owner"):
            assert (await client.get(f"{job}{resource}")).status_code == 404, (job, resource)
        assert (await client.post(f"{job}/phase", data={"PHASE": "RUN"})).status_code == 404
        assert (await client.delete(job)).status_code == 404


async def test_wait_returns_promptly_when_the_phase_changes(client) -> None:
    job = await _create(client, "/sleep/async", SECONDS="0.5", PHASE="RUN")
    await client.get(job, params={"WAIT": "5", "PHASE": "QUEUED"})
    started = time.monotonic()
    doc = etree.fromstring((await client.get(job, params={"WAIT": "-1"})).content)
    elapsed = time.monotonic() - started
    assert doc.findtext("uws:phase", namespaces=NS) == "COMPLETED"
    assert elapsed < 1.0
    # PHASE= condition that no longer holds: at once
    started = time.monotonic()
    await client.get(job, params={"WAIT": "5", "PHASE": "EXECUTING"})
    assert time.monotonic() - started < 0.5


async def test_wait_times_out_in_an_unchanging_phase(client) -> None:
    job = await _create(client)
    started = time.monotonic()
    doc = etree.fromstring((await client.get(job, params={"WAIT": "1"})).content)
    assert 0.9 < time.monotonic() - started < 2.0
    assert doc.findtext("uws:phase", namespaces=NS) == "PENDING"


async def test_destruction_sweep_removes_the_job_and_its_files(client, system: JobSystem) -> None:
    job = await _create(client, PHASE="RUN")
    await _wait_final(client, job)
    job_id = job.rsplit("/", 1)[1]
    assert system.job_dir(job_id).is_dir()
    await system.maintain_once(datetime.now(UTC) + timedelta(days=8))
    assert (await client.get(job)).status_code == 404
    assert not system.job_dir(job_id).exists()


async def test_a_refused_creation_leaves_no_uploaded_files(client, system) -> None:
    response = await client.post(
        "/echo/async", data={"EXECUTIONDURATION": "-3"}, files={"t1": ("t1.xml", b"<t/>", "text/xml")}
    )
    assert response.status_code == 400
    assert list(system.config.results_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("multipart/form-data", b"garbage"), ("multipart/form-data; boundary=xyz", b"--xyz\r\nbroken"),
     ("application/x-www-form-urlencoded", b"%zz=%%&&=")],
)
async def test_malformed_bodies_are_not_a_500(client, content_type, body) -> None:
    response = await client.post("/echo/async", content=body, headers={"content-type": content_type})
    assert response.status_code in (303, 400), response.text
