"""The footprint viewer at ``/sky``: Aladin Lite v3 over the colour HiPS and the footprint MOCs.

Aladin Lite comes from the npm registry (``sky/web/package.json``, pinned by ``package-lock.json``)
and is installed by ``make venv`` (``npm ci --prefix sky/web``); Skygate serves that file itself at
``/sky/aladin.js``, so the page works on a site with no Internet. The page lists the surveys of
``/hips/list`` and the footprints of ``/moc``, and on a click lists the objects near it (a TAP cone,
first 100 rows) with a link to a SODA cutout of the image there (found with SIA), and shows those
requests as curl and as pyvo. Every request is a GET, so on a site without anonymous access the
portal's login cookie (read on GET only) is enough. Without a HiPS built the page says so and
starts no viewer (Aladin Lite would fall back to a survey on the Internet). The same page with
``?embed=1`` drops the heading, for the portal's footprint page to put in an iframe.
Tests: tests/sky/test_viewer.py, tests/sky/test_browser.py, tests/portal/test_browser.py.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

__all__ = ["ALADIN_JS", "viewer_routes"]

ALADIN_JS = Path(__file__).resolve().parent / "web" / "node_modules" / "aladin-lite" / "dist" / "aladin.js"
_MISSING = "Aladin Lite is not installed: run `npm ci --prefix sky/web` (or `make venv`)."


def viewer_routes(base_url: str, aladin_js: Path = ALADIN_JS) -> list[BaseRoute]:
    """``/sky`` (the page) and ``/sky/aladin.js`` (Aladin Lite, from the npm install)."""

    async def page(request: Request) -> Response:
        embed = request.query_params.get("embed", "") in ("1", "true", "yes")
        return HTMLResponse(_page(base_url, embed, aladin_js.is_file()),
                            headers={"Cache-Control": "no-cache"})

    async def script(request: Request) -> Response:
        if not aladin_js.is_file():
            return PlainTextResponse(_MISSING + "\n", status_code=404)
        return FileResponse(aladin_js, media_type="text/javascript; charset=utf-8",
                            headers={"Cache-Control": "public, max-age=86400"})

    return [Route("/sky", page), Route("/sky/aladin.js", script)]


def _page(base_url: str, embed: bool, installed: bool) -> str:
    heading = "" if embed else (
        '<header><h1>Skygate sky</h1><p>The coadds as HiPS, the footprints as MOC. Click the sky to list '
        'the objects there (TAP) and cut the image out (SODA).</p></header>')
    notice = "" if installed else f'<p class="notice">{escape(_MISSING)}</p>'
    config = json.dumps({"base": base_url})
    return _TEMPLATE.replace("{heading}", heading).replace("{notice}", notice).replace("{config}", config)


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Skygate sky</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:sans-serif;margin:0;display:flex;flex-direction:column;height:100vh}
header{padding:.3em 1em}header h1{margin:.2em 0;font-size:1.3em}header p{margin:.2em 0}
main{flex:1;display:flex;min-height:0}#aladin{flex:2;min-width:0}
#side{flex:1;overflow:auto;padding:0 .8em;font-size:.85em;max-width:32em}
table{border-collapse:collapse}td,th{padding:.1em .4em;text-align:right}.notice{color:#a00;padding:0 1em}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f8fa;padding:.3em}
</style></head>
<body>{heading}{notice}
<main><div id="aladin"></div><div id="side"><h2>Layers</h2><div id="layers"></div>
<h2>At the click</h2><div id="status">Click the sky.</div><div id="objects"></div>
<details id="as-code"><summary>These requests as curl / as pyvo</summary><pre id="as-curl"></pre>
<pre id="as-pyvo"></pre></details></div></main>
<script type="module">
const config = {config};
const base = config.base;
const status = (text) => { document.getElementById("status").textContent = text; };

async function surveys() {
  const text = await (await fetch(base + "/hips/list")).text();
  const list = [];
  let current = {};
  // The list's own note when none is ready: how to build them, or that a build is under way.
  list.note = (text.match(/^# (No HiPS.*)$/m) || [])[1] || "No HiPS built yet: run `skygate hips build`.";
  for (const line of text.split("\\n")) {
    const m = line.match(/^([a-z_]+)\\s*=\\s*(.*)$/);
    if (m) current[m[1]] = m[2];
    if (!line.trim() && current.hips_service_url) { list.push(current); current = {}; }
  }
  if (current.hips_service_url) list.push(current);
  return list;
}

function cell(text) { const td = document.createElement("td"); td.textContent = text; return td; }

async function objectsAt(ra, dec) {
  status(`RA ${ra.toFixed(5)}, Dec ${dec.toFixed(5)}: asking TAP…`);
  const adql = "SELECT TOP 100 coadd_object_id, ra, dec, mag_auto_r, tilename FROM des_dr1.main " +
    `WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', ${ra}, ${dec}, 0.02))`;
  const params = new URLSearchParams({REQUEST: "doQuery", LANG: "ADQL", FORMAT: "csv", QUERY: adql});
  const pos = `CIRCLE ${ra} ${dec} 0.0003`;
  document.getElementById("as-curl").textContent =
    `curl -G ${base}/tap/sync -d LANG=ADQL -d FORMAT=csv --data-urlencode "QUERY=${adql}"\n` +
    `curl -G ${base}/sia/query --data-urlencode "POS=${pos}"`;
  document.getElementById("as-pyvo").textContent =
    `pyvo.dal.TAPService("${base}/tap").search("${adql}")\n` +
    `pyvo.dal.SIA2Service("${base}/sia/query").search(pos=(${ra}, ${dec}, 0.0003))`;
  const reply = await fetch(base + "/tap/sync?" + params);
  const rows = (await reply.text()).trim().split("\\n").map((r) => r.split(","));
  const box = document.getElementById("objects");
  box.textContent = "";
  if (!reply.ok) { status("TAP refused the query (HTTP " + reply.status + ")"); return; }
  const table = document.createElement("table");
  table.id = "object-table";
  for (const [i, row] of rows.entries()) {
    const tr = document.createElement("tr");
    for (const value of row) {
      tr.appendChild(i === 0 ? Object.assign(document.createElement("th"), {textContent: value}) : cell(value));
    }
    table.appendChild(tr);
  }
  box.appendChild(table);
  status(`RA ${ra.toFixed(5)}, Dec ${dec.toFixed(5)}: ${rows.length - 1} objects within 72 arcsec.`);
  const sia = await fetch(base + "/sia/query?" + new URLSearchParams({POS: pos}));
  const doc = new DOMParser().parseFromString(await sia.text(), "application/xml");
  const names = [...doc.getElementsByTagName("FIELD")].map((f) => f.getAttribute("name"));
  const dids = [...doc.getElementsByTagName("TR")].map(
    (tr) => tr.getElementsByTagName("TD")[names.indexOf("obs_publisher_did")].textContent);
  const did = dids.find((d) => d.endsWith("_r")) || dids[0];
  if (did) {
    const link = document.createElement("a");
    link.id = "cutout-link";
    link.href = base + "/soda/sync?" + new URLSearchParams({ID: did, CIRCLE: `${ra} ${dec} 0.0167`});
    link.textContent = "1 arcmin cutout of " + did;
    box.prepend(link);
    document.getElementById("as-curl").textContent += `\ncurl -o cutout.fits "${link.href}"`;
  }
}

async function main() {
  const A = (await import(base + "/sky/aladin.js")).default;
  await A.init;
  const list = await surveys();
  const colour = list.find((s) => s.creator_did && s.creator_did.endsWith("colour_irg")) || list[0];
  if (!colour) {
    document.getElementById("layers").textContent = list.note;
    document.body.dataset.ready = "1";
    return;
  }
  // log: false — Aladin Lite otherwise reports each start to its authors' server; this page talks to Skygate only.
  const options = {fov: 2, target: "0 0", showCooGrid: false, showReticle: true, showContextMenu: true, log: false,
                   hipsList: list.map((s) => ({id: s.creator_did, name: s.obs_title, url: s.hips_service_url}))};
  Object.assign(options, {survey: colour.hips_service_url,
                          target: `${colour.hips_initial_ra} ${colour.hips_initial_dec}`,
                          fov: Math.min(parseFloat(colour.hips_initial_fov) || 2, 4)});
  const aladin = A.aladin("#aladin", options);
  window.skygateAladin = aladin;
  const layers = document.getElementById("layers");
  layers.textContent = list.map((s) => s.obs_title).join(" · ");
  const colours = ["#ff8800", "#00c8ff", "#7cfc00", "#ff44cc"];
  // Footprints that cover most of the images' (the main table, the images); sparse ones (a truth
  // list, a 1 % sample) would only scatter cells over the view.
  const all = await (await fetch(base + "/moc?format=json")).json();
  const widest = Math.max(0, ...all.map((m) => m.sky_fraction));
  const mocs = all.filter((m) => m.sky_fraction >= 0.5 * widest);
  layers.textContent += " — footprints: " + (mocs.map((m) => m.name).join(", ") || "none yet");
  for (const [i, moc] of mocs.entries()) {
    aladin.addMOC(A.MOCFromURL(moc.url + "?format=fits", {name: moc.name, color: colours[i % colours.length],
                                                         opacity: 0.15, lineWidth: 2, perimeter: true}));
  }
  aladin.on("click", (e) => {
    let ra = e && e.ra, dec = e && e.dec;
    if (ra === undefined && e) [ra, dec] = aladin.pix2world(e.x, e.y);
    if (Number.isFinite(ra) && Number.isFinite(dec) && !(e && e.isDragging)) {
      objectsAt(ra, dec).catch((err) => status(String(err)));
    }
  });
  document.body.dataset.ready = "1";
}
main().catch((err) => status("The viewer could not start: " + err));
</script></body></html>
"""
