"""``/hips/list`` and the HiPS files: media types, caching, revalidation, byte ranges, CORS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from sky.hipsmeta import read_properties
from sky.routes import hips_routes

BASE = "http://example.org/sg"


@pytest.fixture
async def client(small_hips: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=hips_routes(small_hips, BASE))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


def _a_tile(small_hips: Path, ext: str) -> str:
    path = next((small_hips / "des_dr1_r").glob(f"Norder9/Dir*/Npix*.{ext}"))
    return "/hips/" + path.relative_to(small_hips).as_posix()


async def test_the_hipslist_points_aladin_at_every_survey(client: httpx.AsyncClient) -> None:
    response = await client.get("/hips/list")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    assert response.headers["access-control-allow-origin"] == "*"
    urls = [line.split("=", 1)[1].strip() for line in response.text.splitlines()
            if line.startswith("hips_service_url")]
    assert urls == [f"{BASE}/hips/{name}" for name in
                    ("des_dr1_colour_irg", "des_dr1_g", "des_dr1_i", "des_dr1_r")]


async def test_properties_moc_and_allsky_are_served(client: httpx.AsyncClient, small_hips: Path) -> None:
    props = await client.get("/hips/des_dr1_r/properties")
    assert props.status_code == 200 and props.headers["content-type"].startswith("text/plain")
    assert "hips_order" in props.text
    moc = await client.get("/hips/des_dr1_r/Moc.fits")
    assert moc.headers["content-type"] == "application/fits"
    allsky = await client.get("/hips/des_dr1_colour_irg/Norder3/Allsky.png")
    assert allsky.headers["content-type"] == "image/png" and allsky.content[:4] == b"\x89PNG"
    assert read_properties(small_hips / "des_dr1_r" / "properties")["hips_tile_format"] == "fits png"


@pytest.mark.parametrize(("ext", "media"), [("fits", "application/fits"), ("png", "image/png")])
async def test_tiles_have_media_type_caching_and_revalidate(client: httpx.AsyncClient, small_hips: Path,
                                                            ext: str, media: str) -> None:
    url = _a_tile(small_hips, ext)
    first = await client.get(url)
    assert first.status_code == 200 and first.headers["content-type"] == media
    assert first.headers["cache-control"] == "public, max-age=86400"
    assert first.headers["access-control-allow-origin"] == "*"
    again = await client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


async def test_a_byte_range_of_a_tile(client: httpx.AsyncClient, small_hips: Path) -> None:
    url = _a_tile(small_hips, "fits")
    whole = (await client.get(url)).content
    part = await client.get(url, headers={"Range": "bytes=2880-5759"})
    assert part.status_code == 206
    assert part.content == whole[2880:5760]
    assert part.headers["content-range"] == f"bytes 2880-5759/{len(whole)}"


async def test_a_missing_tile_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/hips/des_dr1_r/Norder9/Dir0/Npix1.fits")).status_code == 404
    assert (await client.get("/hips/../../etc/passwd")).status_code == 404
