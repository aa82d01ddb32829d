"""``/moc`` and ``/moc/{name}``: formats, area headers, ETag revalidation, errors as plain text."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from astropy.io import fits
from mocpy import MOC
from starlette.applications import Starlette

from sky.moc import Footprint
from sky.routes import moc_routes

BASE = "http://example.org/sg"


@pytest.fixture
async def client(ci_moc_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=moc_routes(ci_moc_dir, BASE))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


async def test_fits_is_the_default_and_mocpy_reads_it(client: httpx.AsyncClient,
                                                      ci_footprints: dict[str, Footprint]) -> None:
    response = await client.get("/moc/des_dr1.main")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/fits"
    with fits.open(io.BytesIO(response.content)) as hdul:
        assert hdul[1].header["MOCVERS"] == "2.0"
    area = float(response.headers["x-sky-area"])
    assert area == pytest.approx(ci_footprints["des_dr1.main"].area_deg2, rel=1e-6)
    assert 0.5 < area < 1.2  # two DES tiles of 0.53 deg²
    assert float(response.headers["x-sky-fraction"]) == pytest.approx(area / 41252.96, rel=1e-6)


@pytest.mark.parametrize(("fmt", "media"), [("json", "application/json"), ("ascii", "text/plain"),
                                            ("FITS", "application/fits")])
async def test_each_format_is_the_same_moc(client: httpx.AsyncClient, ci_moc_dir: Path, fmt: str,
                                           media: str) -> None:
    response = await client.get("/moc/ivoa.obscore", params={"format": fmt})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media)
    stored = MOC.from_fits(ci_moc_dir / "ivoa.obscore.fits")
    if fmt == "json":
        assert MOC.from_json(json.loads(response.text)) == stored
    elif fmt == "ascii":
        assert MOC.from_str(response.text) == stored
    else:
        assert response.content == (ci_moc_dir / "ivoa.obscore.fits").read_bytes()


async def test_an_unchanged_moc_revalidates_with_304(client: httpx.AsyncClient) -> None:
    first = await client.get("/moc/des_dr1.main")
    etag = first.headers["etag"]
    assert "max-age" in first.headers["cache-control"]
    again = await client.get("/moc/des_dr1.main", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    other = await client.get("/moc/des_dr1.main", params={"format": "json"}, headers={"If-None-Match": etag})
    assert other.status_code == 200


@pytest.mark.parametrize(("path", "status", "words"), [
    ("/moc/des_dr1.nothing", 404, "no footprint named"),
    ("/moc/des_dr1.main?format=png", 400, "unknown MOC format"),
    ("/moc/..%2Fetc%2Fpasswd", 404, "no footprint named"),
])
async def test_bad_requests_are_plain_text_errors(client: httpx.AsyncClient, path: str, status: int,
                                                  words: str) -> None:
    response = await client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith("UsageError: ") and words in response.text


async def test_the_index_lists_every_footprint_with_links(client: httpx.AsyncClient,
                                                          ci_footprints: dict[str, Footprint]) -> None:
    page = await client.get("/moc")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for name in ci_footprints:
        assert f"{BASE}/moc/{name}?format=json" in page.text
    listing = (await client.get("/moc", params={"format": "json"})).json()
    assert {row["name"] for row in listing} == set(ci_footprints)
    assert all(row["url"].startswith(f"{BASE}/moc/") for row in listing)


async def test_no_footprints_yet_is_an_empty_index_not_an_error(tmp_path: Path) -> None:
    app = Starlette(routes=moc_routes(tmp_path / "moc", BASE))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        page = await c.get("/moc")
        missing = await c.get("/moc/des_dr1.main")
    assert page.status_code == 200 and "skygate demo" in page.text
    assert missing.status_code == 404
