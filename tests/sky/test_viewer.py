"""``/sky``: the page, Aladin Lite served from the npm install, and a clear word when it is missing."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from sky.viewer import ALADIN_JS, viewer_routes

BASE = "http://example.org/sg"
WEB = Path(__file__).resolve().parents[2] / "sky" / "web"


async def _get(aladin_js: Path, path: str) -> httpx.Response:
    app = Starlette(routes=viewer_routes(BASE, aladin_js))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return await client.get(path)


async def test_the_page_loads_aladin_from_this_site_only(tmp_path: Path) -> None:
    script = tmp_path / "aladin.js"
    script.write_text("export default {};\n")
    page = await _get(script, "/sky")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '{"base": "http://example.org/sg"}' in page.text
    assert 'base + "/sky/aladin.js"' in page.text and "/hips/list" in page.text and "/moc?format=json" in page.text
    assert "cdn" not in page.text.lower() and "unistra" not in page.text
    assert "<header>" in page.text and "<header>" not in (await _get(script, "/sky?embed=1")).text
    served = await _get(script, "/sky/aladin.js")
    assert served.headers["content-type"].startswith("text/javascript") and served.text == script.read_text()


async def test_without_the_npm_install_the_page_says_what_to_run(tmp_path: Path) -> None:
    page = await _get(tmp_path / "missing.js", "/sky")
    assert "npm ci --prefix sky/web" in page.text
    script = await _get(tmp_path / "missing.js", "/sky/aladin.js")
    assert script.status_code == 404 and "npm ci" in script.text


def test_the_lockfile_pins_the_declared_aladin_lite_v3() -> None:
    declared = json.loads((WEB / "package.json").read_text())["dependencies"]["aladin-lite"]
    locked = json.loads((WEB / "package-lock.json").read_text())["packages"]["node_modules/aladin-lite"]
    assert declared == locked["version"] and declared.startswith("3.")
    assert locked["integrity"].startswith("sha512-")


def test_the_installed_aladin_lite_is_the_locked_es_module() -> None:
    if not ALADIN_JS.is_file():
        pytest.skip("sky/web/node_modules is not installed (make venv runs npm ci)")
    installed = json.loads((ALADIN_JS.parents[1] / "package.json").read_text())["version"]
    assert installed == json.loads((WEB / "package.json").read_text())["dependencies"]["aladin-lite"]
    assert ALADIN_JS.read_text()[-200:].rstrip().endswith("export{P as default};")
