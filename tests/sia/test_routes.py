"""SIA 2.0 over HTTP (ASGI, no server): query, errors, capabilities, availability."""

from __future__ import annotations

import io
import warnings
from collections.abc import AsyncIterator
from types import SimpleNamespace

import httpx
import pytest
from astropy.io.votable import parse_single_table
from lxml import etree
from starlette.applications import Starlette

from dali.errors import FatalError, TransientError
from sia.routes import SiaConfig, capabilities_xml, sia_routes
from skygate.assembly import Runtime, service_config
from skygate.settings import Settings
from tests.dali.xmlschema import xsd_errors
from tests.sia.conftest import DuckRows


@pytest.fixture()
def runtime(obscore_rows: DuckRows) -> Runtime:
    return Runtime(release=SimpleNamespace(backend=obscore_rows, engine=object()))  # type: ignore[arg-type]


@pytest.fixture()
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=sia_routes(service_config(SiaConfig, Settings(base_url="http://testserver")), runtime))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as test_client:
        yield test_client


def _table(body: bytes) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return parse_single_table(io.BytesIO(body)).to_table()


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_query_get_and_post_with_any_case(client: httpx.AsyncClient, method: str) -> None:
    params = {"pos": "CIRCLE 323.36 -0.82 0.05", "Band": "5e-7"}
    response = (await client.get("/sia/query", params=params) if method == "GET"
                else await client.post("/sia/query", data=params))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-votable+xml")
    assert list(_table(response.content)["obs_id"]) == ["DES2134-0041_g"]  # type: ignore[index]


async def test_repeated_pos_is_or(client: httpx.AsyncClient) -> None:
    response = await client.get("/sia/query?POS=CIRCLE+323.36+-0.82+0.05&POS=CIRCLE+0.1+-0.7+0.01")
    assert len(_table(response.content)) == 4  # type: ignore[arg-type]


async def test_overflow_flag(client: httpx.AsyncClient) -> None:
    body = (await client.get("/sia/query", params={"MAXREC": "1"})).content
    assert body.count(b'name="QUERY_STATUS"') == 2 and b'value="OVERFLOW"' in body


@pytest.mark.parametrize(("fmt", "media", "check"), [
    ("csv", "text/csv", lambda body: body.splitlines()[0].startswith(b"dataproduct_type,calib_level")),
    ("fits", "application/fits", lambda body: body.startswith(b"SIMPLE  =")),
    ("application/x-votable+xml;serialization=binary2", "application/x-votable+xml;serialization=binary2",
     lambda body: b"<BINARY2>" in body),
    ("votable", "application/x-votable+xml", lambda body: b"adhoc:service" in body),
])
async def test_response_formats(client: httpx.AsyncClient, fmt: str, media: str, check: object) -> None:
    response = await client.get("/sia/query", params={"POS": "CIRCLE 323.36 -0.82 0.05", "RESPONSEFORMAT": fmt})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(media)
    assert check(response.content)  # type: ignore[operator]


async def test_csv_overflow_keeps_maxrec_rows(client: httpx.AsyncClient) -> None:
    response = await client.get("/sia/query", params={"MAXREC": "2", "RESPONSEFORMAT": "csv"})
    assert len(response.content.splitlines()) == 3


@pytest.mark.parametrize(("query", "text"), [
    ({"POS": "CIRCLE 1 2"}, b"UsageFault: CIRCLE needs three"),
    ({"RESPONSEFORMAT": "application/pdf"}, b"UsageFault: response format"),
    ({"BAND": "x"}, b"UsageFault: BAND"),
    ({"POS": "POLYGON 323.3 -0.9 323.4 -0.8 323.3 -0.9"}, b"UsageFault: POLYGON: degenerate polygon (no area)"),
])
async def test_errors_are_dali_votables(client: httpx.AsyncClient, query: dict[str, str], text: bytes) -> None:
    response = await client.get("/sia/query", params=query)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/x-votable+xml")
    assert b'<INFO name="QUERY_STATUS" value="ERROR">' + text in response.content


async def test_capabilities_and_availability(client: httpx.AsyncClient) -> None:
    caps = etree.fromstring((await client.get("/sia/capabilities")).content)
    ids = [c.get("standardID") for c in caps.findall("capability")]
    assert ids == ["ivo://ivoa.net/std/SIA#query-2.0", "ivo://ivoa.net/std/VOSI#capabilities",
                   "ivo://ivoa.net/std/VOSI#availability"]
    url = caps.find("capability/interface/accessURL")
    assert url is not None and url.text == "http://testserver/sia/query"
    assert b"<vosi:available>true</vosi:available>" in (await client.get("/sia/availability")).content


def test_the_capabilities_validate_and_name_the_collection_footprint() -> None:
    document = capabilities_xml("https://sky.example.org/skygate")
    assert xsd_errors(document) == []  # VOSICapabilities, VOResource and VODataService
    caps = etree.fromstring(document)
    query = caps.find("capability[@standardID='ivo://ivoa.net/std/SIA#query-2.0']")
    assert query is not None
    description = query.findtext("description")
    assert description is not None and "https://sky.example.org/skygate/moc/ivoa.obscore" in description
    interface = query.find("interface")
    assert interface is not None and (interface.get("role"), interface.get("version")) == ("std", "2.0")


async def test_availability_reports_a_database_that_does_not_answer(client: httpx.AsyncClient,
                                                                    obscore_rows: DuckRows,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(sql: str, *, timeout: float) -> AsyncIterator[object]:
        raise OSError("connection refused")
        yield

    monkeypatch.setattr(obscore_rows, "stream", broken)
    response = await client.get("/sia/availability")
    assert xsd_errors(response.content) == []
    assert b"<vosi:available>false</vosi:available>" in response.content
    assert b"the database is not answering" in response.content


async def test_no_release_is_not_available(client: httpx.AsyncClient, runtime: Runtime) -> None:
    runtime.release = None
    response = await client.get("/sia/availability")
    assert b"<vosi:available>false</vosi:available>" in response.content


@pytest.mark.parametrize("root", ["/sia", "/sia/"])
async def test_the_root_is_an_index_of_the_endpoints(client: httpx.AsyncClient, root: str) -> None:
    response = await client.get(root)  # with or without the slash, never a redirect
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    for path in ("query", "capabilities", "availability"):
        assert f'href="http://testserver/sia/{path}"'.encode() in response.content


@pytest.mark.parametrize(("error", "status", "fault", "retry_after"), [
    (TransientError("the catalog database is busy", retry_after=30), 503, b"TransientFault: the catalog", "30"),
    (FatalError("disk full"), 500, b"FatalFault: disk full", None),
    (RuntimeError("secret internals"), 500, b"FatalFault: internal error", None),
])
async def test_failures_have_one_fault_word_and_status(client: httpx.AsyncClient, obscore_rows: DuckRows,
                                                       monkeypatch: pytest.MonkeyPatch, error: Exception,
                                                       status: int, fault: bytes, retry_after: str | None) -> None:
    async def failing(sql: str, *, timeout: float) -> AsyncIterator[object]:
        raise error
        yield

    monkeypatch.setattr(obscore_rows, "stream", failing)
    response = await client.get("/sia/query", params={"POS": "CIRCLE 323.36 -0.82 0.05"})
    assert response.status_code == status and fault in response.content and b"secret" not in response.content
    assert response.headers.get("retry-after") == retry_after
    assert xsd_errors(response.content) == []


async def test_the_footprint_url_starts_with_the_base_url(client: httpx.AsyncClient) -> None:
    caps = etree.fromstring((await client.get("/sia/capabilities")).content)
    url = (caps.findtext("capability/description") or "").rsplit(" ", 1)[-1]
    assert url == "http://testserver/moc/ivoa.obscore"


def _polygon(vertices: int, ra: float = 323.36, dec: float = -0.82, radius: float = 0.2) -> str:
    import math

    points = [(ra + radius * math.cos(2 * math.pi * k / vertices), dec + radius * math.sin(2 * math.pi * k / vertices))
              for k in range(vertices)]
    return "POLYGON " + " ".join(f"{x:.6f} {y:.6f}" for x, y in points)


@pytest.mark.parametrize(("query", "text"), [
    ({"POS": _polygon(201)}, b"more than 200 vertices"),
    ({"POS": [_polygon(3)] * 21}, b"at most 20 regions"),
])
async def test_regions_over_the_limits_are_413(client: httpx.AsyncClient, query: dict[str, object],
                                               text: bytes) -> None:
    response = await client.post("/sia/query", data=query)
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/x-votable+xml")
    assert b'<INFO name="QUERY_STATUS" value="ERROR">UsageFault: ' in response.content and text in response.content


async def test_the_overlap_test_runs_off_the_event_loop(client: httpx.AsyncClient,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import time

    import dali.regions
    import sia.service

    def slow(region: object, outline: object) -> bool:
        time.sleep(0.3)  # a 200-vertex polygon against a large candidate list
        return dali.regions.region_overlaps(region, outline)  # type: ignore[arg-type]

    monkeypatch.setattr(sia.service, "region_overlaps", slow)
    query = asyncio.create_task(client.get("/sia/query", params={"POS": _polygon(200)}))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    ticks = 0
    while not query.done():
        await asyncio.sleep(0.01)
        ticks += 1
    elapsed = time.monotonic() - started
    assert (await query).status_code == 200
    assert elapsed > 0.3 and ticks >= 5  # the loop kept turning while the overlap test ran
