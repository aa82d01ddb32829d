"""The /sky page in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

Skips when Playwright or the browser is not installed. The server is the whole application on
127.0.0.1 with the ``ci`` catalogue, its footprints and the small release's HiPS.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from mocpy import MOC

from skygate.settings import Settings
from tests.live_fixtures import LiveServer, serve

pytestmark = [pytest.mark.live, pytest.mark.slow]
CHROMIUM = shutil.which("chromium")


@pytest.fixture(scope="module")
def sky_server(tmp_path_factory: pytest.TempPathFactory, ci_duckdb_path: Path, ci_moc_dir: Path,
               small_hips: Path, ci_release_dir: Path) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("live-sky")
    (data_dir / "catalog.duckdb").symlink_to(ci_duckdb_path)
    (data_dir / "moc").symlink_to(ci_moc_dir, target_is_directory=True)
    (data_dir / "hips").symlink_to(small_hips, target_is_directory=True)
    (data_dir / "release").symlink_to(ci_release_dir, target_is_directory=True)
    yield from serve(Settings(data_dir=data_dir))


def test_the_viewer_draws_the_hips_and_lists_objects_at_a_click(sky_server: LiveServer, small_hips: Path,
                                                                 tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    from sky.viewer import ALADIN_JS

    if CHROMIUM is None or not ALADIN_JS.is_file():
        pytest.skip("needs Debian's chromium and sky/web/node_modules (npm ci)")
    errors: list[str] = []
    hosts: set[str] = set()
    tiles: list[str] = []
    failed: list[str] = []
    with playwright.sync_playwright() as pw:
        # No GPU here: WebGL2 (which Aladin Lite needs) comes from SwiftShader.
        browser = pw.chromium.launch(executable_path=CHROMIUM,
                                     args=["--enable-unsafe-swiftshader", "--use-angle=swiftshader"])
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 700})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            page.on("request", lambda r: (
                hosts.add(urlparse(r.url).hostname or "") if r.url.startswith("http") else None,
                tiles.append(r.url) if "/hips/des_dr1_colour_irg/" in r.url else None))
            page.goto(sky_server.url + "/sky")
            page.wait_for_selector("body[data-ready='1']", timeout=60_000)
            page.wait_for_timeout(4000)  # tiles arrive and are drawn
            shot = tmp_path / "sky.png"
            page.locator("#aladin").screenshot(path=str(shot))
            box = page.locator("#aladin").bounding_box()
            assert box is not None
            page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.wait_for_selector("#object-table tr:nth-child(2)", timeout=30_000)
            rows = page.locator("#object-table tr").count()
            cutout = page.locator("#cutout-link").get_attribute("href", timeout=10_000)
            shown = page.locator("#as-curl").text_content() or ""
        finally:
            browser.close()
    assert hosts <= {"127.0.0.1"}, hosts
    # Aladin asks for every tile in view; the ones outside the survey (absent, 404) are the only failures.
    moc = MOC.from_fits(small_hips / "des_dr1_colour_irg" / "Moc.fits")
    for line in failed:
        match = re.fullmatch(r"404 .*/hips/des_dr1_colour_irg/Norder(\d+)/Dir\d+/Npix(\d+)\.png", line)
        assert match is not None, line
        order, npix = int(match[1]), int(match[2])
        cell = MOC.from_healpix_cells(np.array([npix], dtype=np.uint64), np.array([order], dtype=np.uint8), order)
        assert moc.intersection(cell).sky_fraction == 0, f"{line}: a tile inside the footprint is missing"
    assert [e for e in errors if "404 (Not Found)" not in e] == []
    assert any("Norder" in url or "Allsky" in url for url in tiles), tiles
    from PIL import Image

    picture = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    centre = picture[picture.shape[0] // 3: 2 * picture.shape[0] // 3, picture.shape[1] // 3: 2 * picture.shape[1] // 3]
    assert centre.std() > 10, "the centre of the view shows the survey, not a flat background"
    assert rows > 1
    assert cutout is not None and "/soda/sync?ID=ivo" in cutout
    assert f"curl -G {sky_server.url}/tap/sync" in shown and "curl -o cutout.fits" in shown  # the click's requests
