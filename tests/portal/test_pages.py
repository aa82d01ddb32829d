"""The portal's pages as HTML: what each shows of the release and the services, and that every link works."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
import requests

from portal.pages import SERVICES, query_page
from skygate.app import create_app
from skygate.settings import Settings
from tests.live_fixtures import LiveServer

pytestmark = pytest.mark.live
PAGES = ("/", "/query", "/tables", "/examples", "/cutouts", "/jobs", "/sia", "/soda", "/anomaly", "/footprint",
         "/login")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.hrefs.append(str(values["href"]))
        if tag in ("script", "link") and (values.get("src") or values.get("href")):
            self.sources.append(str(values.get("src") or values.get("href")))


def _get(server: LiveServer, path: str) -> requests.Response:
    response = requests.get(server.url + path, timeout=30)
    response.raise_for_status()
    return response


@pytest.mark.parametrize("path", PAGES)
def test_each_page_is_html_with_the_navigation(live_server: LiveServer, path: str) -> None:
    response = _get(live_server, path)
    assert response.headers["content-type"].startswith("text/html")
    assert f'href="{live_server.url}/query"' in response.text
    assert f"{live_server.url}/static/portal.css" in response.text


def test_home_lists_the_release_tables_with_row_counts(live_server: LiveServer) -> None:
    import asyncio

    from release.runtime import open_release

    async def tables() -> dict[str, object]:
        release = await open_release("", live_server.settings.duckdb_path, base_url=live_server.url,
                                     readonly_role=live_server.settings.readonly_role)
        try:
            return dict(release.metadata)
        finally:
            await release.close()

    metadata = asyncio.run(tables())
    text = _get(live_server, "/").text
    assert metadata
    for name, meta in metadata.items():
        assert f"<code>{name}</code>" in text
        nrows = getattr(meta, "nrows", None)
        if nrows is not None:
            assert f'<td class="num">{nrows:,}</td>' in text
    assert "des_dr1.main" in metadata and "rows" in text


def test_home_shows_every_service_with_its_url_and_howtos(live_server: LiveServer) -> None:
    text = _get(live_server, "/").text
    for service in SERVICES:
        assert f'<code class="url">{live_server.url}/{service.key}</code>' in text
    for client in ("TOPCAT", "Aladin", "pyvo", "curl"):
        assert f'<th scope="row">{client}</th>' in text
    assert f"pyvo.dal.TAPService(&quot;{live_server.url}/tap&quot;)" in text


@pytest.mark.parametrize("key", ["sia", "soda", "anomaly"])
@pytest.mark.parametrize("slash", ["", "/"])
def test_service_roots_answer_with_a_readable_page(live_server: LiveServer, key: str, slash: str) -> None:
    response = requests.get(f"{live_server.url}/{key}{slash}", timeout=30, allow_redirects=False)
    assert response.status_code == 200
    service = next(s for s in SERVICES if s.key == key)
    assert f"<h1>{service.title} service</h1>" in response.text
    assert f'href="{live_server.url}/{key}/capabilities"' in response.text
    # the service itself is still mounted beneath its page
    assert requests.get(f"{live_server.url}/{key}/capabilities", timeout=30).status_code == 200


def test_every_link_and_asset_of_every_page_resolves(live_server: LiveServer) -> None:
    seen: set[str] = set()
    for path in PAGES:
        parser = _Links()
        parser.feed(_get(live_server, path).text)
        for link in parser.hrefs + parser.sources:
            url = link.split("#")[0]
            if not url.startswith(live_server.url) or url in seen:
                continue
            seen.add(url)
            status = requests.get(url, timeout=30).status_code
            # endpoints that need parameters answer 400 (a DALI error): only "not found" and crashes are wrong
            assert status not in (404, 405) and status < 500, (path, url, status)
    assert f"{live_server.url}/static/query.js" in seen


def test_tables_page_shows_columns_with_units_and_ucds(live_server: LiveServer) -> None:
    text = _get(live_server, "/tables").text
    assert '<details class="table" id="des_dr1.main">' in text
    assert "<td>pos.eq.ra;meta.main</td>" in text or "pos.eq.ra" in text
    assert f'href="{live_server.url}/query?table=des_dr1.main">Query this table</a>' in text
    assert "skygate_" not in text  # internal index columns stay unpublished


def test_query_this_table_prefills_the_editor(live_server: LiveServer) -> None:
    text = _get(live_server, "/query?table=des_dr1.main").text
    assert ">SELECT TOP 100 * FROM des_dr1.main</textarea>" in text
    unknown = _get(live_server, "/query?table=nosuch").text
    assert "nosuch" not in unknown.split("<textarea", 1)[1].split("</textarea>")[0]


def test_query_page_escapes_the_prefilled_query(live_server: LiveServer) -> None:
    text = _get(live_server, "/query?query=" + requests.utils.quote("</textarea><script>alert(1)</script>")).text
    assert "<script>alert(1)" not in text
    assert "&lt;/textarea&gt;&lt;script&gt;" in text


def test_query_page_embeds_the_tables_for_completion() -> None:
    from dali.values import Column, TableMeta

    meta = TableMeta("s", "t", (Column("a</script>", "int"),), nrows=3)
    page = query_page("http://x", {"s.t": meta}, "SELECT 1", 100, editor=False)
    data = re.search(r'<script type="application/json" id="adql-schema">(.*?)</script>', page, re.DOTALL)
    assert data is not None
    assert json.loads(data.group(1)) == {"s.t": ["a</script>"]}
    assert 'data-editor="no"' in page


async def test_without_a_release_the_pages_say_so(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, base_url="http://example.org/skygate"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        for path in ("/", "/tables"):
            response = await client.get(path)
            assert response.status_code == 200
            assert "skygate demo" in response.text
        assert (await client.get("/query")).status_code == 200


def test_static_scripts_are_served_as_javascript(live_server: LiveServer) -> None:
    for name in ("portal.js", "query.js", "jobs.js", "examples.js", "tables.js", "cutouts.js", "anomaly.js",
                 "table.js", "footprint.js", "home.js", "login.js"):
        response = _get(live_server, f"/static/{name}")
        assert "javascript" in response.headers["content-type"], name
    assert requests.get(f"{live_server.url}/static/../pages.py", timeout=30).status_code == 404


def test_static_files_are_compressed_for_browsers(live_server: LiveServer) -> None:
    response = requests.get(f"{live_server.url}/static/portal.css", headers={"Accept-Encoding": "gzip"}, timeout=30)
    assert response.headers["content-encoding"] == "gzip"
    assert "font-family" in response.text
    plain = requests.get(f"{live_server.url}/static/portal.css", headers={"Accept-Encoding": "identity"}, timeout=30)
    assert "content-encoding" not in plain.headers


def test_the_footprint_page_embeds_the_viewer_and_names_its_requests(live_server: LiveServer) -> None:
    text = _get(live_server, "/footprint").text
    assert f'<iframe id="sky" src="{live_server.url}/sky?embed=1" title=' in text
    assert f"curl {live_server.url}/moc?format=json" in text and f"curl {live_server.url}/hips/list" in text
    assert 'MOC.from_url(&quot;' in text
    assert f'<a href="{live_server.url}/footprint" aria-current=page>Footprint</a>' in text
    assert f'<a href="{live_server.url}/footprint">Footprint</a>' in _get(live_server, "/").text
