"""SODA sync, DataLink links, previews and files over HTTP (ASGI, no server)."""

from __future__ import annotations

import io
import urllib.parse
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from astropy.io import fits
from astropy.io.votable import parse
from astropy.wcs import WCS
from lxml import etree
from starlette.applications import Starlette

from release.obscore import image_did, tile_did
from skygate.assembly import Runtime, service_config
from skygate.settings import Settings
from soda import routes as soda_routes_module
from soda.routes import SodaConfig, soda_routes
from tests.dali.xmlschema import xsd_errors
from tests.soda.tiles import write_tile

STAR = (323.36, -0.82)
DID_G = image_did("DES2134-0041", "g")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    for band in ("g", "r", "i"):
        write_tile(root / "release", "DES2134-0041", band, star=STAR)
    return root


def _app(data_dir: Path, runtime: Runtime) -> Starlette:
    config = service_config(SodaConfig, Settings(data_dir=data_dir, base_url="http://testserver"))
    return Starlette(routes=soda_routes(config, runtime))


@pytest.fixture()
def runtime() -> Runtime:
    return Runtime()


@pytest.fixture()
async def client(data_dir: Path, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(data_dir, runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as test_client:
        yield test_client


async def test_sync_circle_cutout_is_centred(client: httpx.AsyncClient) -> None:
    response = await client.get("/soda/sync", params={"ID": DID_G, "CIRCLE": f"{STAR[0]} {STAR[1]} 0.03"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/fits"
    with fits.open(io.BytesIO(response.content)) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SCI", "MSK", "WGT"]
        ny, nx = hdul["SCI"].data.shape
        x, y = WCS(hdul["SCI"].header).all_world2pix([STAR], 0)[0]
        assert abs(x - (nx - 1) / 2) <= 0.5 and abs(y - (ny - 1) / 2) <= 0.5


async def test_a_sync_cutout_over_the_memory_spool_streams_from_its_file(client: httpx.AsyncClient,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    params = {"ID": DID_G, "CIRCLE": f"{STAR[0]} {STAR[1]} 0.03"}
    small = await client.get("/soda/sync", params=params)
    assert "content-length" in small.headers and len(small.content) > 10_000  # answered from memory
    monkeypatch.setattr(soda_routes_module, "_IN_MEMORY", 4096)  # the same file now spills to disk
    large = await client.get("/soda/sync", params=params)
    assert large.status_code == 200 and large.headers["content-type"] == "application/fits"
    assert large.headers["content-length"] == str(len(small.content)) and large.headers["x-cutout-count"] == "1"
    assert large.content == small.content


async def test_sync_tile_id_with_band_and_repeated_regions(client: httpx.AsyncClient) -> None:
    query = {"id": tile_did("DES2134-0041"), "BAND": "5.5e-7 7e-7",
             "pos": ["CIRCLE 323.36 -0.82 0.02", "RANGE 323.5 323.6 -0.7 -0.6"]}
    response = await client.post("/soda/sync", data=query)
    assert response.status_code == 200, response.text
    with fits.open(io.BytesIO(response.content)) as hdul:
        # BAND selects r (568-716 nm); two regions give two cutouts.
        assert hdul[0].header["NCUTOUTS"] == 2
        assert {hdul["SCI", v].header["BAND"] for v in (1, 2)} == {"r"}


@pytest.mark.parametrize(("query", "status", "start"), [
    ({"CIRCLE": "323.36 -0.82 0.02"}, 400, "UsageError: ID is required"),
    ({"ID": DID_G}, 400, "UsageError: a region is required"),
    ({"ID": DID_G, "CIRCLE": "323.36 -0.82"}, 400, "UsageError: CIRCLE needs three"),
    ({"ID": DID_G, "CIRCLE": "10 10 0.1"}, 400, "NoOverlap: "),
    ({"ID": DID_G, "CIRCLE": "323.36 -0.82 0.02", "BAND": "1e-6 2e-6"}, 400, "NoOverlap: BAND"),
    ({"ID": "ivo://skygate/des_dr1/coadd?DES0000+0000_g", "CIRCLE": "1 1 1"}, 404, "UsageError: no dataset"),
    ({"ID": DID_G, "POLYGON": "1 2 3"}, 400, "UsageError: POLYGON"),
    ({"ID": DID_G, "POS": "POLYGON 0 0 180 0 90 10"}, 400, "UsageError: POLYGON: a polygon must lie within one"),
])
async def test_sync_errors_are_soda_text(client: httpx.AsyncClient, query: dict[str, str], status: int,
                                         start: str) -> None:
    response = await client.get("/soda/sync", params=query)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith(start), response.text


def _links(body: bytes) -> list[dict[str, object]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = parse(io.BytesIO(body)).get_first_table().to_table()
    return [dict(zip(table.colnames, row, strict=True)) for row in table]


async def test_links_known_unknown_and_batch(client: httpx.AsyncClient) -> None:
    unknown = "ivo://skygate/des_dr1/coadd?DES9999+9999_g"
    response = await client.post("/soda/links", data={"ID": [DID_G, unknown]})
    assert response.headers["content-type"] == "application/x-votable+xml;content=datalink"
    rows = _links(response.content)
    known = [r for r in rows if r["ID"] == DID_G]
    assert [r["semantics"] for r in known] == ["#this", "#cutout", "#preview"]
    assert known[0]["access_url"] == "http://testserver/soda/files/DES2134-0041/DES2134-0041_r9999p01_g.fits.fz"
    assert known[1]["service_def"] == "soda"
    bad = [r for r in rows if r["ID"] == unknown]
    assert len(bad) == 1 and str(bad[0]["error_message"]).startswith("NotFoundFault")
    assert b'<INFO name="standardID" value="ivo://ivoa.net/std/DataLink#links-1.1"/>' in response.content
    many = await client.get("/soda/links?" + urllib.parse.urlencode([("ID", DID_G)] * 50))
    assert len(_links(many.content)) == 150


async def test_links_refuse_other_formats(client: httpx.AsyncClient) -> None:
    response = await client.get("/soda/links", params={"ID": DID_G, "RESPONSEFORMAT": "text/csv"})
    assert response.status_code == 400 and b"UsageFault: RESPONSEFORMAT" in response.content


async def test_preview_and_file(client: httpx.AsyncClient) -> None:
    preview = await client.get("/soda/preview", params={"ID": DID_G})
    assert preview.status_code == 200 and preview.content.startswith(b"\x89PNG")
    file = await client.get("/soda/files/DES2134-0041/DES2134-0041_r9999p01_g.fits.fz")
    assert file.status_code == 200
    with fits.open(io.BytesIO(file.content)) as hdul:
        assert np.isfinite(hdul["SCI"].data).all()
    for bad in ("/soda/files/DES2134-0041/..%2F..%2Fsecret.fits", "/soda/files/x/y.txt"):
        assert (await client.get(bad)).status_code == 404


async def test_capabilities(client: httpx.AsyncClient) -> None:
    document = (await client.get("/soda/capabilities")).content
    assert xsd_errors(document) == []
    caps = etree.fromstring(document)
    ids = [c.get("standardID") for c in caps.findall("capability")]
    assert ids == ["ivo://ivoa.net/std/SODA#sync-1.0", "ivo://ivoa.net/std/SODA#async-1.0",
                   "ivo://ivoa.net/std/DataLink#links-1.1", "ivo://ivoa.net/std/VOSI#capabilities",
                   "ivo://ivoa.net/std/VOSI#availability", "ivo://ivoa.net/std/DALI#examples"]
    urls = caps.xpath("//accessURL/text()")
    assert urls == [f"http://testserver/soda/{p}" for p in ("sync", "async", "links", "capabilities", "availability",
                                                            "examples")]


async def test_availability_asks_the_release_and_the_job_system(client: httpx.AsyncClient, data_dir: Path,
                                                                runtime: Runtime) -> None:
    response = await client.get("/soda/availability")
    assert xsd_errors(response.content) == []
    assert b"<vosi:available>false</vosi:available>" in response.content  # no job system in this app
    assert b"the job system is not running" in response.content

    class Jobs:
        def __init__(self, problem: str | None) -> None:
            self.problem = problem

        async def unavailable_because(self) -> str | None:
            return self.problem

    runtime.jobs = Jobs(None)  # type: ignore[assignment]
    assert b"<vosi:available>true</vosi:available>" in (await client.get("/soda/availability")).content
    runtime.jobs = Jobs("the job broker is not answering")  # type: ignore[assignment]
    assert b"the job broker is not answering" in (await client.get("/soda/availability")).content
    runtime.jobs = Jobs(None)  # type: ignore[assignment]
    transport = httpx.ASGITransport(app=_app(data_dir / "nowhere", runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as elsewhere:
        assert b"no image release is loaded" in (await elsewhere.get("/soda/availability")).content


@pytest.mark.parametrize("root", ["/soda", "/soda/"])
async def test_the_root_is_an_index_of_the_endpoints(client: httpx.AsyncClient, root: str) -> None:
    response = await client.get(root)  # with or without the slash, never a redirect
    assert response.status_code == 200 and b'href="http://testserver/soda/links"' in response.content


async def test_links_carry_the_one_soda_descriptor(client: httpx.AsyncClient) -> None:
    response = await client.get("/soda/links", params={"ID": DID_G})
    assert xsd_errors(response.content) == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # astropy notes the unknown "adhoc" utype prefix
        votable = parse(io.BytesIO(response.content))
    (meta,) = [r for r in votable.resources if r.type == "meta"]
    assert meta.ID == "soda"
    params = {p.name: p.value for p in meta.params}
    assert params["standardID"] == "ivo://ivoa.net/std/SODA#sync-1.0"
    assert params["accessURL"] == "http://testserver/soda/sync"
    (group,) = meta.groups
    assert [p.name for p in group.entries] == ["ID", "CIRCLE", "POLYGON", "POS", "BAND"]
    assert next(p for p in group.entries if p.name == "ID").ref == "ID"
    assert [f.ID for f in votable.get_first_table().fields if f.name == "ID"] == ["ID"]


async def test_links_over_the_id_cap_flag_overflow_without_splitting_an_id(client: httpx.AsyncClient) -> None:
    from soda.links import MAX_LINK_IDS

    response = await client.get("/soda/links?" + urllib.parse.urlencode([("ID", DID_G)] * (MAX_LINK_IDS + 5)))
    assert response.status_code == 200 and xsd_errors(response.content) == []
    assert len(_links(response.content)) == 3 * MAX_LINK_IDS
    assert b'<INFO name="QUERY_STATUS" value="OVERFLOW">Only the first 100 IDs were processed</INFO>' \
        in response.content


async def test_sync_of_an_unknown_dataset_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/soda/sync", params={"ID": "ivo://skygate/des_dr1/coadd?DES9999+9999_g",
                                                      "CIRCLE": "1 1 0.01"})
    assert response.status_code == 404 and response.text.startswith("UsageError: no dataset")


async def test_examples_are_xhtml_with_the_examples_vocabulary(client: httpx.AsyncClient) -> None:
    response = await client.get("/soda/examples")
    assert response.headers["content-type"].startswith("application/xhtml+xml")
    page = etree.fromstring(response.content)
    assert page.xpath("//*[@vocab='http://www.ivoa.net/rdf/examples#']")
    names = page.xpath("//*[@typeof='example']/@id")
    assert names == ["m2-cutout", "m2-links"]
    sync = page.xpath("//*[@id='m2-cutout']//*[local-name()='a']/@href")[0]
    response = await client.get(sync.replace("http://testserver", ""))
    assert response.status_code == 200 and response.headers["content-type"] == "application/fits"


async def test_sync_cutout_count_and_total_size_are_capped(client: httpx.AsyncClient,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import soda.service

    circles = [f"{STAR[0]} {STAR[1]} 0.01"] * 51
    response = await client.post("/soda/sync", data={"ID": DID_G, "CIRCLE": circles})
    assert response.status_code == 413
    assert response.text.startswith("UsageError: the request makes 51 cutouts; at most 50 per sync call")
    whole = {"ID": DID_G, "CIRCLE": [f"{STAR[0]} {STAR[1]} 0.5"] * 2}  # the whole 250 x 250 image, twice
    assert (await client.post("/soda/sync", data={**whole, "CIRCLE": whole["CIRCLE"][:1]})).status_code == 200
    monkeypatch.setattr(soda.service, "MAX_SYNC_PIXELS", 250 * 250 + 1)
    response = await client.post("/soda/sync", data=whole)
    assert response.status_code == 413
    assert response.text.startswith("UsageError: the cutouts would hold more than 62501 pixels")
    # the limit counts the pixels a cutout really has: regions off the image cost nothing
    off = {"ID": DID_G, "CIRCLE": [f"{STAR[0]} {STAR[1]} 0.5", "10 10 0.5"]}
    assert (await client.post("/soda/sync", data=off)).status_code == 200


async def test_sync_polygon_vertex_cap(client: httpx.AsyncClient) -> None:
    import math

    vertices = " ".join(f"{STAR[0] + 0.01 * math.cos(k / 40):.6f} {STAR[1] + 0.01 * math.sin(k / 40):.6f}"
                        for k in range(201))
    response = await client.get("/soda/sync", params={"ID": DID_G, "POLYGON": vertices})
    assert response.status_code == 413 and "more than 200 vertices" in response.text
