"""The portal in a real browser: Playwright driving Debian's Chromium against the live server.

Each page renders with no console error within a second and loads under 500 KB of compressed
JavaScript (Aladin Lite, in the footprint page's iframe, aside); the flows a person follows work end
to end on the public endpoints. Screenshots go to ``var/test-artifacts/portal/`` (git ignores
``var/``), and ``timings.txt`` there lists each page's first render: navigation start to the end of
the load event, from the Performance API (``PerformanceNavigationTiming.loadEventEnd``).
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
import requests

from skygate.settings import Settings
from tests.accounts import make_tokens
from tests.live_fixtures import LiveServer, serve
from tests.sky.conftest import ci_moc_dir, sky_duckdb_path, small_hips, small_release  # noqa: F401

pytestmark = [pytest.mark.live, pytest.mark.slow]
playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
PORTAL = ROOT / "portal"
ARTIFACTS = ROOT / "var" / "test-artifacts" / "portal"
PAGES = ("/", "/query", "/tables", "/examples", "/cutouts", "/jobs", "/sia", "/soda", "/anomaly", "/footprint")
FIRST_RENDER_MS = 1000
SCRIPT_BUDGET = 500_000  # bytes of JavaScript on the wire (compressed) per page, Aladin Lite aside
# Aladin Lite asks for every tile in view; those outside the survey are absent (404), which the
# browser logs. tests/sky/test_browser.py checks that each such tile lies outside the footprint.
_TILE_OUTSIDE = "/hips/des_dr1_colour_irg/Norder"


@pytest.fixture(scope="module")
def editor_bundle() -> Path:
    """The CodeMirror bundle, built from the lockfile when missing (``make editor`` does the same).

    Under a file lock: each test process (pytest-xdist worker) that runs these tests gets here, and two
    ``npm ci`` at once in one folder fail each other (24 tests were once skipped so in a clean clone)."""
    bundle = PORTAL / "static" / "build" / "editor.js"
    lock_path = ROOT / "var" / "test-cache" / "editor.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not bundle.is_file():
                _build_editor()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return bundle


def _build_editor() -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: the editor bundle cannot be built")
    try:
        if not (PORTAL / "node_modules").is_dir():
            subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PORTAL, check=True, timeout=300)
        subprocess.run([npm, "run", "build"], cwd=PORTAL, check=True, timeout=120)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"the editor bundle could not be built (npm ci needs the npm registry): {exc}")


@pytest.fixture(scope="module")
def browser(editor_bundle: Path, live_server: LiveServer, site: LiveServer) -> Iterator[object]:
    # ``site`` first: its footprints are built with asyncio.run, impossible once Playwright's loop runs.
    if not CHROMIUM.is_file():
        pytest.skip("Debian's chromium is not installed")
    with playwright_api.sync_playwright() as p:
        # No GPU here: WebGL2, which the footprint page's Aladin Lite needs, comes from SwiftShader.
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--enable-unsafe-swiftshader", "--use-angle=swiftshader"])
        # One page load warms the browser (process start, font cache), which is no page's render time.
        warm = browser.new_page()
        warm.goto(f"{live_server.url}/static/portal.css")
        warm.close()
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def shots() -> Path:
    """The fixed artefact directory: screenshots and timings.txt, kept after the run."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, ci_duckdb_path: Path, ci_moc_dir: Path,  # noqa: F811
         small_hips: Path, ci_release_dir: Path) -> Iterator[LiveServer]:  # noqa: F811
    """The whole site: the ``ci`` catalogue, its footprints, the small release's HiPS and images."""
    data_dir = tmp_path_factory.mktemp("portal-site")
    (data_dir / "catalog.duckdb").symlink_to(ci_duckdb_path)
    (data_dir / "moc").symlink_to(ci_moc_dir, target_is_directory=True)
    (data_dir / "hips").symlink_to(small_hips, target_is_directory=True)
    (data_dir / "release").symlink_to(ci_release_dir.resolve(), target_is_directory=True)
    yield from serve(Settings(data_dir=data_dir, maxrec_default=1000, maxrec_hard=100_000))


@pytest.fixture
def console() -> list[str]:
    """The console errors of the test's page; a test expecting one removes it."""
    return []


@pytest.fixture
def page(browser: object, console: list[str]) -> Iterator[object]:
    """A fresh page whose console errors and uncaught exceptions fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    errors = console
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and not (
        "404" in m.text and _TILE_OUTSIDE in m.location.get("url", "")) else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert errors == []


def _first_render_ms(page: object) -> float:
    """Navigation start (0) to the end of the load event of the page's document."""
    return float(page.evaluate(  # type: ignore[attr-defined]
        "() => performance.getEntriesByType('navigation')[0].loadEventEnd"))


def _script_bytes(page: object) -> int:
    """Compressed bytes of the JavaScript the page's own document loaded (its iframes load theirs)."""
    return int(page.evaluate(  # type: ignore[attr-defined]
        "() => performance.getEntriesByType('resource')"
        ".filter(r => r.initiatorType === 'script' || r.name.split('?')[0].endsWith('.js'))"
        ".filter(r => !r.name.includes('/sky/aladin.js'))"
        ".reduce((sum, r) => sum + r.encodedBodySize, 0)"))


def _record(shots: Path, page_name: str, first_ms: float, script_bytes: int | None, shot: Path) -> None:
    """One line per page in ``timings.txt`` (replacing the page's previous line), printed as well."""
    line = (f"{page_name}\t{first_ms:.0f} ms\t"
            f"{'-' if script_bytes is None else f'{script_bytes / 1000:.1f} KB js'}\t{shot}")
    print(line)
    with open(shots / "timings.txt", "a+") as times:
        fcntl.flock(times, fcntl.LOCK_EX)  # pytest-xdist workers write here at once
        times.seek(0)
        lines = [old for old in times.read().splitlines() if old and old.split("\t")[0] != page_name]
        times.seek(0)
        times.truncate()
        times.write("\n".join(sorted([*lines, line])) + "\n")


def _sky_drawn(page: object) -> np.ndarray:
    """The embedded viewer once Aladin Lite has started and had time to draw the tiles, as pixels."""
    from io import BytesIO

    from PIL import Image

    frame = page.frame_locator("#sky")  # type: ignore[attr-defined]
    frame.locator("body[data-ready='1']").wait_for(timeout=60_000)
    page.wait_for_timeout(3000)  # type: ignore[attr-defined]  # tiles arrive and are drawn
    picture = frame.locator("#aladin").screenshot()
    return np.asarray(Image.open(BytesIO(picture)).convert("RGB"), dtype=np.int16)


@pytest.mark.parametrize("path", PAGES)
def test_each_page_renders_quickly_without_console_errors(site: LiveServer, page: object, shots: Path,
                                                           path: str) -> None:
    page.goto(site.url + path, wait_until="networkidle")  # type: ignore[attr-defined]
    first = _first_render_ms(page)
    scripts = _script_bytes(page)
    assert page.locator("h1").first.is_visible()  # type: ignore[attr-defined]
    if path == "/footprint":
        _sky_drawn(page)
    name = path.strip("/") or "home"
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]
    _record(shots, path, first, scripts, shots / f"{name}.png")
    assert 0 < first <= FIRST_RENDER_MS, first
    assert 0 < scripts <= SCRIPT_BUDGET, scripts


def test_a_uws_job_is_a_readable_page(site: LiveServer, page: object, shots: Path) -> None:
    job_url = requests.post(f"{site.url}/tap/async", timeout=30, data={
        "LANG": "ADQL", "QUERY": "SELECT TOP 3 ra, dec FROM des_dr1.main", "RUNID": "readable", "PHASE": "RUN"}).url
    try:
        requests.get(f"{job_url}?WAIT=30&PHASE=EXECUTING", timeout=60)
        started = time.time() * 1000
        page.goto(job_url)  # type: ignore[attr-defined]
        assert page.locator("h1").first.is_visible() and "readable" in page.inner_text("body")  # type: ignore[attr-defined]
        # Chromium starts the XSLT's result document afresh: its Performance timeline begins at the
        # transform, so the navigation start is the request's, taken here on the same clock (epoch ms).
        first = float(page.evaluate(  # type: ignore[attr-defined]
            "() => performance.timeOrigin + performance.getEntriesByType('navigation')[0].loadEventEnd")) - started
        shot = shots / "uws-job.png"
        page.screenshot(path=str(shot), full_page=True)  # type: ignore[attr-defined]
        _record(shots, "/tap/async/{job}", first, None, shot)
        assert 0 < first <= FIRST_RENDER_MS, first
    finally:
        requests.delete(job_url, timeout=30)


def test_the_home_page_draws_the_widest_footprint(site: LiveServer, page: object) -> None:
    page.goto(f"{site.url}/")  # type: ignore[attr-defined]
    cells = page.locator("#footprint-thumb svg rect")  # type: ignore[attr-defined]
    cells.first.wait_for()
    footprints = requests.get(f"{site.url}/moc?format=json", timeout=30).json()
    widest = max(footprints, key=lambda f: f["sky_fraction"])
    moc = requests.get(f"{widest['url']}?format=json", timeout=30).json()
    assert cells.count() == sum(len(ids) for ids in moc.values())
    assert widest["name"] in page.inner_text("#footprint-thumb figcaption")  # type: ignore[attr-defined]


def test_the_footprint_page_embeds_the_sky_and_shows_its_requests(site: LiveServer, page: object) -> None:
    page.goto(f"{site.url}/footprint")  # type: ignore[attr-defined]
    rows = page.locator("#footprint-table tbody tr")  # type: ignore[attr-defined]
    rows.first.wait_for()
    footprints = requests.get(f"{site.url}/moc?format=json", timeout=30).json()
    assert rows.count() == len(footprints) > 0
    widest = max(footprints, key=lambda f: f["sky_fraction"])
    assert f"curl -o footprint.fits \"{widest['url']}?format=fits\"" in page.inner_text("#as-curl")  # type: ignore[attr-defined]
    assert f"curl {site.url}/hips/list" in page.inner_text("#as-curl")  # type: ignore[attr-defined]
    assert f'MOC.from_url("{widest["url"]}?format=fits")' in page.inner_text("#as-pyvo")  # type: ignore[attr-defined]
    picture = _sky_drawn(page)
    centre = picture[picture.shape[0] // 3: 2 * picture.shape[0] // 3, picture.shape[1] // 3: 2 * picture.shape[1] // 3]
    assert centre.std() > 10, "the centre of the embedded view shows the survey, not a flat background"
    # a click in the embedded sky lists the objects there, links a cutout and shows both requests
    frame = page.frame_locator("#sky")  # type: ignore[attr-defined]
    box = frame.locator("#aladin").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # type: ignore[attr-defined]
    frame.locator("#object-table tr:nth-child(2)").wait_for(timeout=30_000)
    assert "/soda/sync?ID=ivo" in (frame.locator("#cutout-link").get_attribute("href", timeout=10_000) or "")
    curl = frame.locator("#as-curl").text_content() or ""
    assert f"curl -G {site.url}/tap/sync" in curl and "curl -o cutout.fits" in curl
    assert "TAPService(" in (frame.locator("#as-pyvo").text_content() or "")


def test_run_an_example_with_quick_and_see_rows(live_server: LiveServer, page: object, shots: Path) -> None:
    page.goto(f"{live_server.url}/examples")  # type: ignore[attr-defined]
    page.locator("#tables a.try").click()  # type: ignore[attr-defined]  # the TAP_SCHEMA.tables example
    page.wait_for_url("**/query?query=*")  # type: ignore[attr-defined]
    assert "TAP_SCHEMA.tables" in page.locator(".cm-content").inner_text()  # type: ignore[attr-defined]
    page.click("#quick")  # type: ignore[attr-defined]
    rows = page.locator("#result-table tbody tr")  # type: ignore[attr-defined]
    rows.first.wait_for()
    assert rows.count() >= 3
    assert "rows in" in page.inner_text("#status")  # type: ignore[attr-defined]
    assert "--data-urlencode 'MAXREC=100'" in page.inner_text("#as-curl")  # type: ignore[attr-defined]
    page.screenshot(path=str(shots / "flow-quick.png"), full_page=True)  # type: ignore[attr-defined]


def test_quick_results_sort_and_show_units_and_ucds(live_server: LiveServer, page: object) -> None:
    query = "SELECT TOP 30 coadd_object_id, ra, dec FROM des_dr1.main ORDER BY coadd_object_id"
    page.goto(f"{live_server.url}/query?query={quote(query)}")  # type: ignore[attr-defined]
    page.locator(".cm-content").wait_for()  # type: ignore[attr-defined]
    page.click("#quick")  # type: ignore[attr-defined]
    page.locator("#result-table tbody tr").first.wait_for()  # type: ignore[attr-defined]
    ra_header = page.locator("#result-table th", has_text="ra").nth(0)  # type: ignore[attr-defined]
    assert ra_header.locator(".unit").inner_text() == "[deg]"
    assert "pos.eq.ra" in ra_header.locator(".ucd").inner_text()
    ra_header.click()
    values = [float(v) for v in page.locator("#result-table tbody tr td:nth-child(2)").all_inner_texts()]  # type: ignore[attr-defined]
    assert values == sorted(values)
    ra_header.click()
    values = [float(v) for v in page.locator("#result-table tbody tr td:nth-child(2)").all_inner_texts()]  # type: ignore[attr-defined]
    assert values == sorted(values, reverse=True)


def test_check_a_broken_query_shows_the_error_at_its_position(live_server: LiveServer, page: object,
                                                              shots: Path, console: list[str]) -> None:
    query = "SELECT TOP 5 ra, dec\nFROM des_dr1.main\nWHERE nosuchcol > 1"
    page.goto(f"{live_server.url}/query?query={quote(query)}")  # type: ignore[attr-defined]
    page.locator(".cm-content").wait_for()  # type: ignore[attr-defined]
    page.click("#check")  # type: ignore[attr-defined]
    page.locator("#status.error").wait_for()  # type: ignore[attr-defined]
    assert "unknown column nosuchcol (line 3, column 7)" in page.inner_text("#status")  # type: ignore[attr-defined]
    marked = page.locator(".cm-lintRange-error")  # type: ignore[attr-defined]
    marked.wait_for()
    assert marked.inner_text() == "nosuchcol"
    page.screenshot(path=str(shots / "flow-check-error.png"), full_page=True)  # type: ignore[attr-defined]
    # the browser logs the service's 400 (the DALI error document) as a failed load: expected here
    console.remove("Failed to load resource: the server responded with a status of 400 (Bad Request)")


def test_check_a_good_query_lists_the_output_columns(live_server: LiveServer, page: object) -> None:
    page.goto(f"{live_server.url}/query?query={quote('SELECT TOP 1 ra, dec FROM des_dr1.main')}")  # type: ignore[attr-defined]
    page.locator(".cm-content").wait_for()  # type: ignore[attr-defined]
    page.click("#check")  # type: ignore[attr-defined]
    page.locator("#columns").wait_for()  # type: ignore[attr-defined]
    assert page.inner_text("#status") == "OK: 2 output columns"  # type: ignore[attr-defined]
    assert page.locator("#columns tbody tr").count() == 2  # type: ignore[attr-defined]


def test_the_editor_completes_tables_and_columns(live_server: LiveServer, page: object) -> None:
    page.goto(f"{live_server.url}/query?query=")  # type: ignore[attr-defined]
    content = page.locator(".cm-content")  # type: ignore[attr-defined]
    content.click()
    page.keyboard.press("Control+a")  # type: ignore[attr-defined]
    page.keyboard.type("SELECT * FROM des_dr1.ma")  # type: ignore[attr-defined]
    page.keyboard.press("Control+Space")  # type: ignore[attr-defined]
    options = page.locator(".cm-tooltip-autocomplete li")  # type: ignore[attr-defined]
    # the list can still be the one of a word typed on the way ("SE": keywords) for a moment
    options.filter(has_text="main").first.wait_for()
    page.keyboard.press("Escape")  # type: ignore[attr-defined]
    page.keyboard.type(" WHERE CONT")  # type: ignore[attr-defined]
    page.keyboard.press("Control+Space")  # type: ignore[attr-defined]
    options.filter(has_text="CONTAINS").first.wait_for()


def test_submit_a_job_and_see_it_completed_in_my_jobs(live_server: LiveServer, page: object, shots: Path) -> None:
    page.goto(f"{live_server.url}/query?query={quote('SELECT TOP 3 ra, dec FROM des_dr1.main')}")  # type: ignore[attr-defined]
    page.locator(".cm-content").wait_for()  # type: ignore[attr-defined]
    page.fill("#runid", "portal-flow")  # type: ignore[attr-defined]
    page.click("#submit-job")  # type: ignore[attr-defined]
    page.locator("#job-link").wait_for()  # type: ignore[attr-defined]
    assert "submit_job(" in page.inner_text("#as-pyvo")  # type: ignore[attr-defined]
    page.goto(f"{live_server.url}/jobs")  # type: ignore[attr-defined]
    row = page.locator("#jobs tbody tr", has_text="portal-flow")  # type: ignore[attr-defined]
    row.locator(".phase-COMPLETED").wait_for(timeout=30_000)
    assert row.locator("td").nth(1).inner_text() == "tap/async"
    result = row.locator("td").nth(6).locator("a").first
    assert result.inner_text() == "result"
    page.screenshot(path=str(shots / "flow-jobs.png"), full_page=True)  # type: ignore[attr-defined]
    with page.expect_response(lambda r: r.url == result.get_attribute("href")) as answer:  # type: ignore[attr-defined]
        page.evaluate("url => fetch(url)", result.get_attribute("href"))  # type: ignore[attr-defined]
    assert answer.value.status == 200
    assert b"<TR>" in answer.value.body()
    row.locator("button.delete").click()
    row.wait_for(state="detached")


def test_tables_search_filters_and_query_this_table_prefills(live_server: LiveServer, page: object) -> None:
    page.goto(f"{live_server.url}/tables")  # type: ignore[attr-defined]
    page.fill("#table-filter", "pos.eq.ra")  # type: ignore[attr-defined]
    shown = page.locator("details.table:not([hidden])")  # type: ignore[attr-defined]
    assert 0 < shown.count() < page.locator("details.table").count()  # type: ignore[attr-defined]
    page.fill("#table-filter", "")  # type: ignore[attr-defined]
    page.locator("details.table#des_dr1\\.main summary").click()  # type: ignore[attr-defined]
    page.locator("details.table#des_dr1\\.main a", has_text="Query this table").click()  # type: ignore[attr-defined]
    page.locator(".cm-content", has_text="FROM des_dr1.main").wait_for()  # type: ignore[attr-defined]


@pytest.mark.parametrize(("path", "heading"), [("/tap/capabilities", "Capabilities"), ("/tap/tables", "Tables"),
                                               ("/tap/availability", "Availability: available"),
                                               ("/tap/async", "Job list")])
def test_xml_documents_are_readable_in_the_browser(live_server: LiveServer, page: object, shots: Path,
                                                   path: str, heading: str) -> None:
    page.goto(live_server.url + path)  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text() == heading  # type: ignore[attr-defined]
    page.screenshot(path=str(shots / f"xml{path.replace('/', '-')}.png"), full_page=True)  # type: ignore[attr-defined]


def test_download_in_the_chosen_format(live_server: LiveServer, page: object) -> None:
    page.goto(f"{live_server.url}/query?query={quote('SELECT TOP 4 ra, dec FROM des_dr1.main')}")  # type: ignore[attr-defined]
    page.locator(".cm-content").wait_for()  # type: ignore[attr-defined]
    page.select_option("#format", "csv")  # type: ignore[attr-defined]
    with page.expect_download() as download:  # type: ignore[attr-defined]
        page.click("#download")  # type: ignore[attr-defined]
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0] == "ra,dec" and len(lines) == 5


def test_my_jobs_shows_errors_and_filters_by_phase(live_server: LiveServer, page: object) -> None:
    created = [requests.post(f"{live_server.url}/tap/async", timeout=30,
                             data={"LANG": "ADQL", "QUERY": query, "RUNID": name, "PHASE": "RUN"}).url
               for name, query in (("filter-bad", "SELECT nosuch FROM des_dr1.main"),
                                   ("filter-good", "SELECT TOP 1 ra FROM des_dr1.main"))]
    try:
        page.goto(f"{live_server.url}/jobs")  # type: ignore[attr-defined]
        bad = page.locator("#jobs tbody tr", has_text="filter-bad")  # type: ignore[attr-defined]
        bad.locator(".phase-ERROR").wait_for(timeout=30_000)
        assert bad.locator("a.error").get_attribute("href") == f"{created[0]}/error"
        page.locator("#jobs tbody tr", has_text="filter-good").locator(".phase-COMPLETED").wait_for(timeout=30_000)  # type: ignore[attr-defined]
        page.select_option("#phase-filter", "ERROR")  # type: ignore[attr-defined]
        page.locator("#jobs tbody tr", has_text="filter-good").wait_for(state="detached")  # type: ignore[attr-defined]
        assert bad.count() == 1
        page.select_option("#kind-filter", "soda/bulk")  # type: ignore[attr-defined]
        bad.wait_for(state="detached")
    finally:
        for url in created:
            requests.delete(url, timeout=30)


@pytest.fixture(scope="module")
def tokens_server(tmp_path_factory: pytest.TempPathFactory, ci_duckdb_path: Path) -> Iterator[tuple[LiveServer, str]]:
    """The application with ``SKYGATE_AUTH=tokens`` and a token for alice."""

    from skygate.settings import Settings
    from tests.live_fixtures import serve

    data_dir = tmp_path_factory.mktemp("portal-tokens")
    (data_dir / "catalog.duckdb").symlink_to(ci_duckdb_path)
    settings = Settings(data_dir=data_dir, auth="tokens")

    alice = make_tokens(settings, ("alice",))["alice"]
    for server in serve(settings):
        yield server, alice


def test_log_in_with_a_token_and_see_only_ones_own_jobs(tokens_server: tuple[LiveServer, str], page: object) -> None:
    server, token = tokens_server
    page.goto(f"{server.url}/query?query={quote('SELECT TOP 1 ra FROM des_dr1.main')}")  # type: ignore[attr-defined]
    page.locator("#identity", has_text="anonymous").wait_for()  # type: ignore[attr-defined]
    page.fill("#token", token)  # type: ignore[attr-defined]
    page.locator("#identity button", has_text="Log in").click()  # type: ignore[attr-defined]
    page.locator("#identity", has_text="signed in as alice").wait_for()  # type: ignore[attr-defined]
    page.locator(".cm-content").wait_for()  # type: ignore[attr-defined]
    page.fill("#runid", "alices-job")  # type: ignore[attr-defined]
    page.click("#submit-job")  # type: ignore[attr-defined]
    page.locator("#job-link").wait_for()  # type: ignore[attr-defined]
    assert '-H "Authorization: Bearer $TOKEN"' in page.inner_text("#as-curl")  # type: ignore[attr-defined]
    page.goto(f"{server.url}/jobs")  # type: ignore[attr-defined]
    page.locator("#jobs tbody tr", has_text="alices-job").wait_for()  # type: ignore[attr-defined]
    page.click("#logout")  # type: ignore[attr-defined]
    page.locator("#identity", has_text="anonymous").wait_for()  # type: ignore[attr-defined]
    page.locator("#status", has_text="jobs").wait_for()  # type: ignore[attr-defined]
    assert page.locator("#jobs tbody tr", has_text="alices-job").count() == 0  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def closed_server(tmp_path_factory: pytest.TempPathFactory, ci_duckdb_path: Path) -> Iterator[tuple[LiveServer, str]]:
    """The application with ``SKYGATE_AUTH=tokens`` and ``SKYGATE_ANONYMOUS=none``; a token for alice."""


    data_dir = tmp_path_factory.mktemp("portal-closed")
    (data_dir / "catalog.duckdb").symlink_to(ci_duckdb_path)
    settings = Settings(data_dir=data_dir, auth="tokens", anonymous="none")

    alice = make_tokens(settings, ("alice",))["alice"]
    for server in serve(settings):
        yield server, alice


def test_a_closed_site_logs_in_with_a_token_then_queries_and_logs_out(
        closed_server: tuple[LiveServer, str], page: object, shots: Path, console: list[str]) -> None:
    server, token = closed_server
    page.goto(f"{server.url}/")  # type: ignore[attr-defined]
    page.locator("#login-nav").wait_for()  # type: ignore[attr-defined]  # the header's "Log in", no /whoami asked
    assert page.locator("table.grid").count() == 0  # type: ignore[attr-defined]  # no tables before login
    page.screenshot(path=str(shots / "home-closed.png"), full_page=True)  # type: ignore[attr-defined]
    page.goto(f"{server.url}/query?query={quote('SELECT TOP 7 ra, dec FROM des_dr1.main')}")  # type: ignore[attr-defined]
    page.wait_for_url("**/login?next=*")  # type: ignore[attr-defined]
    page.fill("#login-token", token[:-1] + ("x" if token[-1] != "x" else "y"))  # type: ignore[attr-defined]
    page.click("#login")  # type: ignore[attr-defined]
    page.locator("#status .error", has_text="refused").wait_for()  # type: ignore[attr-defined]
    console.remove("Failed to load resource: the server responded with a status of 401 (Unauthorized)")
    page.screenshot(path=str(shots / "login.png"), full_page=True)  # type: ignore[attr-defined]
    page.fill("#login-token", token)  # type: ignore[attr-defined]
    page.click("#login")  # type: ignore[attr-defined]
    page.wait_for_url("**/query?query=*")  # type: ignore[attr-defined]  # back where the person was going
    page.locator("#identity #user", has_text="alice").wait_for()  # type: ignore[attr-defined]
    page.locator(".cm-content", has_text="TOP 7").wait_for()  # type: ignore[attr-defined]
    page.click("#quick")  # type: ignore[attr-defined]
    rows = page.locator("#result-table tbody tr")  # type: ignore[attr-defined]
    rows.first.wait_for()
    assert rows.count() == 7
    assert '-H "Authorization: Bearer $TOKEN"' in page.inner_text("#as-curl")  # type: ignore[attr-defined]
    page.goto(f"{server.url}/")  # type: ignore[attr-defined]
    assert page.locator("table.grid code", has_text="des_dr1.main").count() >= 1  # type: ignore[attr-defined]
    page.locator("#identity #user", has_text="alice").wait_for()  # type: ignore[attr-defined]
    page.click("#logout")  # type: ignore[attr-defined]
    page.wait_for_url("**/login")  # type: ignore[attr-defined]
    page.goto(f"{server.url}/jobs")  # type: ignore[attr-defined]
    page.wait_for_url("**/login?next=%2Fjobs")  # type: ignore[attr-defined]
    assert requests.get(f"{server.url}/tap/async", timeout=30).status_code == 401


@pytest.fixture(scope="module")
def image_server(tmp_path_factory: pytest.TempPathFactory, ci_duckdb_path: Path,
                 ci_release_dir: Path) -> Iterator[LiveServer]:
    """The application with the catalogue and the release's image files (for cutouts)."""
    from skygate.settings import Settings
    from tests.live_fixtures import serve

    data_dir = tmp_path_factory.mktemp("portal-images")
    (data_dir / "catalog.duckdb").symlink_to(ci_duckdb_path)
    (data_dir / "release").symlink_to(ci_release_dir.resolve(), target_is_directory=True)
    yield from serve(Settings(data_dir=data_dir, maxrec_default=1000, maxrec_hard=100_000))


def test_make_5_cutouts_and_see_5_thumbnails(image_server: LiveServer, page: object, shots: Path) -> None:
    rows = requests.post(f"{image_server.url}/tap/sync", timeout=30, data={
        "LANG": "ADQL", "RESPONSEFORMAT": "csv",
        "QUERY": "SELECT TOP 5 ra, dec FROM des_dr1.main ORDER BY coadd_object_id"}).text.splitlines()[1:]
    assert len(rows) == 5
    page.goto(f"{image_server.url}/cutouts")  # type: ignore[attr-defined]
    page.fill("#positions", "\n".join(rows))  # type: ignore[attr-defined]
    page.click("#make-cutouts")  # type: ignore[attr-defined]
    images = page.locator("#gallery figure img")  # type: ignore[attr-defined]
    images.first.wait_for(timeout=120_000)
    assert images.count() == 5
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => [...document.querySelectorAll('#gallery img')].every(i => i.complete && i.naturalWidth > 0)")
    assert page.locator("#gallery figure", has_text="_g.fits").count() == 5  # type: ignore[attr-defined]
    assert page.locator("#archive").get_attribute("href").endswith("/results/result")  # type: ignore[attr-defined]
    assert "-F positions=@positions.csv" in page.inner_text("#as-curl")  # type: ignore[attr-defined]
    page.screenshot(path=str(shots / "flow-cutouts.png"), full_page=True)  # type: ignore[attr-defined]


def test_run_an_anomaly_job_and_see_the_histogram(live_server: LiveServer, page: object, shots: Path) -> None:
    page.goto(f"{live_server.url}/anomaly")  # type: ignore[attr-defined]
    page.fill("input[name=TOP]", "10")  # type: ignore[attr-defined]
    page.click("#score")  # type: ignore[attr-defined]
    histogram = page.locator("#histogram")  # type: ignore[attr-defined]
    histogram.wait_for(timeout=120_000)
    page.wait_for_function("() => document.getElementById('histogram').naturalWidth > 0")  # type: ignore[attr-defined]
    rows = page.locator("#result-table tbody tr")  # type: ignore[attr-defined]
    rows.first.wait_for()
    assert rows.count() == 10
    assert "rows scored" in page.inner_text("#anomaly-results")  # type: ignore[attr-defined]
    assert "--data-urlencode 'NTREES=200'" in page.inner_text("#as-curl")  # type: ignore[attr-defined]
    page.screenshot(path=str(shots / "flow-anomaly.png"), full_page=True)  # type: ignore[attr-defined]
    first_id = rows.first.locator("td").first.inner_text()
    page.click("#cut-top")  # type: ignore[attr-defined]
    page.wait_for_url("**/cutouts?positions=*")  # type: ignore[attr-defined]
    assert page.input_value("#positions").splitlines()[0] == first_id  # type: ignore[attr-defined]


def test_quick_shows_nulls_distinguishably(live_server: LiveServer, page: object) -> None:
    query = "SELECT TOP 3 coadd_object_id, CASE WHEN ra > 0 THEN NULL ELSE 1 END AS n FROM des_dr1.main"
    page.goto(f"{live_server.url}/query?query={quote(query)}")  # type: ignore[attr-defined]
    page.locator(".cm-content").wait_for()  # type: ignore[attr-defined]
    page.click("#quick")  # type: ignore[attr-defined]
    page.locator("#result-table tbody tr").first.wait_for()  # type: ignore[attr-defined]
    cells = page.locator("#result-table tbody td:nth-child(2)")  # type: ignore[attr-defined]
    assert cells.all_inner_texts() == ["NULL"] * 3
    assert all("null" in (c.get_attribute("class") or "") for c in cells.all())


def test_cancel_a_pending_job_in_my_jobs(live_server: LiveServer, page: object) -> None:
    job_url = requests.post(f"{live_server.url}/tap/async", timeout=30, data={
        "LANG": "ADQL", "QUERY": "SELECT TOP 1 ra FROM des_dr1.main", "RUNID": "to-cancel"}).url
    try:
        page.goto(f"{live_server.url}/jobs")  # type: ignore[attr-defined]
        row = page.locator("#jobs tbody tr", has_text="to-cancel")  # type: ignore[attr-defined]
        row.locator(".phase-PENDING").wait_for()
        row.locator("button.cancel").click()
        row.locator(".phase-ABORTED").wait_for()
        assert requests.get(f"{job_url}/phase", timeout=30).text.strip() == "ABORTED"
    finally:
        requests.delete(job_url, timeout=30)


AXE = PORTAL / "node_modules" / "axe-core" / "axe.min.js"


@pytest.mark.parametrize("path", (*PAGES, "/login"))
def test_no_serious_accessibility_violations(site: LiveServer, page: object, path: str) -> None:
    """axe-core (from the lockfile's devDependencies) finds no serious or critical WCAG A/AA violation."""
    if not AXE.is_file():
        pytest.skip("axe-core is not installed: run npm ci in portal/")
    page.goto(site.url + path, wait_until="networkidle")  # type: ignore[attr-defined]
    page.add_script_tag(path=str(AXE))  # type: ignore[attr-defined]
    violations = page.evaluate(  # type: ignore[attr-defined]
        "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']})).violations"
        ".filter(v => ['serious', 'critical'].includes(v.impact))"
        ".map(v => `${v.id}: ${v.nodes.map(n => n.target.join(' ')).join(', ')}`)")
    assert violations == []


def test_my_jobs_follows_a_job_live(live_server: LiveServer, page: object) -> None:
    job_url = requests.post(f"{live_server.url}/tap/async", timeout=30, data={
        "LANG": "ADQL", "QUERY": "SELECT TOP 1 ra FROM des_dr1.main", "RUNID": "live-one"}).url
    try:
        page.goto(f"{live_server.url}/jobs")  # type: ignore[attr-defined]
        row = page.locator("#jobs tbody tr", has_text="live-one")  # type: ignore[attr-defined]
        row.locator(".phase-PENDING").wait_for()
        requests.post(f"{job_url}/phase", data={"PHASE": "RUN"}, timeout=30)  # started elsewhere: a script
        row.locator(".phase-COMPLETED").wait_for(timeout=30_000)  # no reload: the page polls while a job is active
    finally:
        requests.delete(job_url, timeout=30)


def test_sia_search_shows_the_images_in_the_page(live_server: LiveServer, page: object, shots: Path) -> None:
    page.goto(f"{live_server.url}/sia")  # type: ignore[attr-defined]
    page.fill("input[name=POS]", "CIRCLE 323.36 -0.82 0.2")  # type: ignore[attr-defined]
    page.click("#sia-search")  # type: ignore[attr-defined]
    rows = page.locator("#result-table tbody tr")  # type: ignore[attr-defined]
    rows.first.wait_for()
    assert rows.count() >= 1
    assert page.locator("#result-table a[href*='/soda/links']").count() >= 1  # type: ignore[attr-defined]
    assert "SIA2Service" in page.inner_text("#as-pyvo")  # type: ignore[attr-defined]
    page.screenshot(path=str(shots / "flow-sia.png"), full_page=True)  # type: ignore[attr-defined]


def test_without_the_editor_bundle_the_text_box_still_checks(live_server: LiveServer, page: object,
                                                             console: list[str]) -> None:
    """Where npm was not available the page has a plain textarea: Check selects the error's position."""

    def without_editor(route: object) -> None:
        answer = route.fetch()  # type: ignore[attr-defined]
        route.fulfill(response=answer, body=answer.text().replace('data-editor="yes"', 'data-editor="no"'))  # type: ignore[attr-defined]

    page.route("**/query?*", without_editor)  # type: ignore[attr-defined]
    query = "SELECT TOP 5 ra, dec\nFROM des_dr1.main\nWHERE nosuchcol > 1"
    page.goto(f"{live_server.url}/query?query={quote(query)}")  # type: ignore[attr-defined]
    assert page.locator(".cm-content").count() == 0  # type: ignore[attr-defined]
    page.click("#check")  # type: ignore[attr-defined]
    page.locator("#status.error").wait_for()  # type: ignore[attr-defined]
    start = page.evaluate("() => document.getElementById('query').selectionStart")  # type: ignore[attr-defined]
    assert query[start:start + 9] == "nosuchcol"
    console.remove("Failed to load resource: the server responded with a status of 400 (Bad Request)")
