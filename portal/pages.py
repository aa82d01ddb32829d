"""The HTML of the portal's pages: pure string building over ``dali`` values.

No HTTP and no database here: ``routes.py`` hands in the base URL, the release's table metadata and
the request's query text. Every page shares one layout (``layout``); page scripts live in
``static/`` and talk only to the public endpoints.
Tests: tests/portal/test_pages.py (HTML), tests/portal/test_browser.py (Chromium).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

from dali.values import TableMeta

__all__ = [
    "SERVICES",
    "Service",
    "cutouts_page",
    "examples_page",
    "footprint_page",
    "home_page",
    "jobs_page",
    "layout",
    "login_page",
    "query_page",
    "service_page",
    "tables_page",
]


@dataclass(frozen=True, slots=True)
class Service:
    """One public service as the portal presents it; ``{url}`` in a how-to is the service URL."""

    key: str
    title: str
    description: str
    endpoints: tuple[tuple[str, str], ...]
    howtos: tuple[tuple[str, str], ...]


SERVICES: tuple[Service, ...] = (
    Service("tap", "TAP 1.1", "ADQL queries, synchronous and asynchronous, with table upload.",
            (("sync", "synchronous queries"), ("async", "asynchronous query jobs (UWS 1.1)"),
             ("tables", "the published tables (VOSI)"), ("examples", "example queries (DALI)"),
             ("capabilities", "what the service supports (VOSI)"), ("availability", "is it up (VOSI)")),
            (("TOPCAT", "VO → Table Access Protocol (TAP) Query, paste {url} into “TAP URL”, Use Service."),
             ("Aladin", "File → Open → “Others…” → TAP, enter {url}; query results load as a catalogue plane."),
             ("pyvo", "pyvo.dal.TAPService(\"{url}\").search(\"SELECT TOP 10 * FROM TAP_SCHEMA.tables\")"),
             ("curl", ("curl -d LANG=ADQL --data-urlencode \"QUERY=SELECT TOP 10 * FROM TAP_SCHEMA.tables\" "
                       "{url}/sync")))),
    Service("sia", "SIA 2.0", "Find the coadd images that cover a position, in a band.",
            (("query", "image search (POS, BAND, CALIB, …)"), ("capabilities", "what the service supports (VOSI)"),
             ("availability", "is it up (VOSI)")),
            (("TOPCAT", "VO → SIA Query, service URL {url}/query, then a position and size."),
             ("Aladin", "File → Open → “Others…” → SIA2, enter {url}/query and the target."),
             ("pyvo", "pyvo.dal.SIA2Service(\"{url}/query\").search(pos=(21.5, -0.5, 0.1))"),
             ("curl", "curl \"{url}/query?POS=CIRCLE+21.5+-0.5+0.1&MAXREC=10\""))),
    Service("soda", "SODA 1.0", "Cut images down to a region; DataLink links; bulk cutout jobs.",
            (("sync", "one cutout (ID, CIRCLE / POLYGON / POS, BAND)"), ("async", "cutout jobs (UWS)"),
             ("bulk", "bulk cutout jobs: a list of positions → FITS and colour images"),
             ("links", "DataLink: the files and services of a dataset"), ("examples", "example cutouts"),
             ("capabilities", "what the service supports (VOSI)"), ("availability", "is it up (VOSI)")),
            (("TOPCAT", "Activation action “Invoke Service” on an SIA result's DataLink column, "
                        "or load {url}/links?ID=…"),
             ("Aladin", "Open an SIA result and follow its DataLink “cutout” service."),
             ("pyvo", "pyvo.dal.adhoc.DatalinkResults.from_result_url(\"{url}/links?ID=…\").get_first_proc()"),
             ("curl", "curl -o cut.fits \"{url}/sync?ID=…&CIRCLE=21.5+-0.5+0.01\""))),
    Service("anomaly", "Anomaly scoring", "Extended Isolation Forest scores over an ADQL selection, as UWS jobs.",
            (("async", "scoring jobs (UWS 1.1)"), ("capabilities", "what the service supports (VOSI)"),
             ("availability", "is it up (VOSI)")),
            (("TOPCAT", "Load a finished job's scores: File → Load Table, location {url}/async/JOB/results/scores"),
             ("Aladin", "Load the scores table, then overlay it on the footprint HiPS."),
             ("pyvo", ("requests.post(\"{url}/async\", data={{\"QUERY\": \"SELECT …\", \"PHASE\": \"RUN\"}}), "
                       "then pyvo.dal.AsyncTAPJob(job_url).wait()")),
             ("curl", ("curl -d PHASE=RUN --data-urlencode \"QUERY=SELECT coadd_object_id, mag_auto_g, mag_auto_r "
                       "FROM des_dr1.main\" {url}/async")))),
)

_NAV = (("/", "Home"), ("/query", "Query"), ("/tables", "Tables"), ("/examples", "Examples"), ("/cutouts", "Cutouts"),
        ("/jobs", "My jobs"), ("/footprint", "Footprint"))


def layout(base_url: str, title: str, body: str, *, active: str = "", scripts: Sequence[str] = (),
           editor: bool = False, login: str = "") -> str:
    """A whole page: header with the navigation and the caller's identity, ``body``, page scripts.

    ``login``: "needed" when the caller must log in first, "here" on the login page; portal.js then
    asks ``/whoami`` nothing for a caller without a token (it would answer 401 on a closed site).
    """
    nav = "".join(
        f'<a href="{escape(base_url + path)}"{" aria-current=page" if path == active else ""}>{escape(name)}</a>'
        for path, name in _NAV)
    services = "".join(f'<a href="{escape(base_url)}/{s.key}">{escape(s.title.split()[0])}</a>' for s in SERVICES)
    tags = "".join(f'<script type="module" src="{escape(base_url)}/static/{escape(s)}"></script>' for s in
                   ("portal.js", *scripts))
    login_attribute = f' data-login="{escape(login)}"' if login else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} — Skygate</title>
<link rel="stylesheet" href="{escape(base_url)}/static/portal.css">
<link rel="icon" href="{escape(base_url)}/favicon.ico" type="image/svg+xml">
{tags}</head>
<body data-base="{escape(base_url)}" data-editor="{"yes" if editor else "no"}"{login_attribute}>
<header><nav aria-label="portal"><strong>Skygate</strong>{nav}<span class="sep">·</span>{services}</nav>
<div id="identity" aria-live="polite"></div></header>
<main>
<h1>{escape(title)}</h1>
{body}
</main>
</body></html>
"""


def home_page(base_url: str, metadata: Mapping[str, TableMeta], problem: str | None, *,
              login_needed: bool = False) -> str:
    """The front page: the release's tables, the services with their URLs and how-tos, the pages.

    ``login_needed`` (a site without anonymous access, an anonymous caller): a "log in" invitation
    instead of the tables, since their names and sizes are the site's data too.
    """
    if login_needed:
        tables = (f'<p class="login-needed">This site needs an access token: <a href="{escape(base_url)}/login" '
                  'id="login-link">log in</a> to see the release and use the pages.</p>')
    elif problem:
        tables = f'<p class="problem">{escape(problem)}</p>'
    else:
        rows = "".join(
            f'<tr><td><a href="{escape(base_url)}/tables#{escape(name)}"><code>{escape(name)}</code></a></td>'
            f'<td class="num">{_count(meta.nrows)}</td><td>{escape(meta.description or "")}</td>'
            f'<td><a href="{escape(base_url)}/query?table={escape(name)}">query</a></td></tr>'
            for name, meta in sorted(metadata.items()))
        tables = ('<table class="grid"><thead><tr><th scope="col">table</th><th scope="col">rows</th>'
                  f'<th scope="col">description</th><th scope="col"></th></tr></thead><tbody>{rows}</tbody></table>')
    services = "".join(_service_summary(base_url, s) for s in SERVICES)
    # home.js draws the widest footprint of /moc there (an SVG of its cells), or removes it.
    thumb = "" if login_needed else '<figure id="footprint-thumb" class="thumb"></figure>\n'
    body = f"""<p>IVOA Virtual Observatory services for this data release. Everything this portal does is a standard
request a script can make: each page shows it <em>as curl</em> and <em>as pyvo</em>.</p>
{thumb}<ul class="pages">
<li><a href="{escape(base_url)}/query">Query</a> — write ADQL with completion; check, run, submit jobs, download.</li>
<li><a href="{escape(base_url)}/tables">Tables</a> — schemas, tables and columns with units and UCDs.</li>
<li><a href="{escape(base_url)}/examples">Examples</a> — example queries, one click from the editor.</li>
<li><a href="{escape(base_url)}/cutouts">Cutouts</a> — FITS and colour images around a list of positions.</li>
<li><a href="{escape(base_url)}/jobs">My jobs</a> — your query, cutout and anomaly jobs.</li>
<li><a href="{escape(base_url)}/footprint">Footprint</a> — the footprint and the colour HiPS in Aladin Lite; click for
objects and cutouts.</li>
<li><a href="{escape(base_url)}/registry">Registry</a> — the published resources (OAI-PMH, cone search per table);
<a href="{escape(base_url)}/moc">MOC footprints</a>, <a href="{escape(base_url)}/hips/list">HiPS list</a>.</li>
</ul>
<h2>The release</h2>
{tables}
<h2>Services</h2>
{services}
"""
    if login_needed:
        return layout(base_url, "Skygate", body, active="/", login="needed")
    return layout(base_url, "Skygate", body, active="/", scripts=("home.js",))


def service_page(base_url: str, service: Service) -> str:
    """The readable page of one service: what it does, its endpoints, how to use it from each client."""
    url = f"{base_url}/{service.key}"
    endpoints = "".join(
        f'<li><a href="{escape(url)}/{escape(path)}"><code>{escape(url)}/{escape(path)}</code></a> — '
        f'{escape(what)}</li>'
        for path, what in service.endpoints)
    body = f"""<p>{escape(service.description)}</p>
<p>Service URL: <code class="url">{escape(url)}</code></p>
<h2>Endpoints</h2><ul>{endpoints}</ul>
<h2>Use it from</h2>
{_howtos(url, service)}
{_service_extra(base_url, service)}"""
    scripts = {"anomaly": ("anomaly.js",), "sia": ("sia.js",)}.get(service.key, ())
    return layout(base_url, f"{service.title} service", body, scripts=scripts)


def tables_page(base_url: str, metadata: Mapping[str, TableMeta], problem: str | None) -> str:
    """The schema browser: schemas, their tables, each table's columns; a filter box (tables.js)."""
    if problem:
        return layout(base_url, "Tables", f'<p class="problem">{escape(problem)}</p>', active="/tables")
    schemas: dict[str, list[TableMeta]] = {}
    for name in sorted(metadata):
        schemas.setdefault(metadata[name].schema, []).append(metadata[name])
    sections = "".join(
        f'<section class="schema"><h2>{escape(schema)}</h2>'
        f'{"".join(_table_block(base_url, t) for t in tables)}</section>'
        for schema, tables in schemas.items())
    body = f"""<p>The published tables, as <a href="{escape(base_url)}/tap/tables">/tap/tables</a> (VOSI)
describes them.</p>
{_as_code(f"curl {base_url}/tap/tables", f'pyvo.dal.TAPService("{base_url}/tap").tables')}
<p><label for="table-filter">Search names, descriptions, units and UCDs</label>
<input id="table-filter" type="search" placeholder="e.g. mag, pos.eq.ra, tile" autocomplete="off"></p>
<p id="table-filter-count" aria-live="polite"></p>
{sections}"""
    return layout(base_url, "Tables", body, active="/tables", scripts=("tables.js",))


def query_page(base_url: str, metadata: Mapping[str, TableMeta], query: str, maxrec_default: int,
               *, editor: bool) -> str:
    """The ADQL editor with Check, Quick, Submit job and Download (query.js); tables for completion.

    ``editor`` says whether the CodeMirror bundle was built; without it the textarea is the editor.
    """
    schema = {name: [c.name for c in meta.columns] for name, meta in sorted(metadata.items())}
    # "</" cannot appear inside the script element: JSON escapes it as "<\/".
    schema_json = json.dumps(schema).replace("</", "<\\/")
    formats = "".join(f'<option value="{v}">{escape(label)}</option>' for v, label in
                      (("votable", "VOTable"), ("votable/b2", "VOTable BINARY2"), ("csv", "CSV"), ("tsv", "TSV"),
                       ("fits", "FITS"), ("parquet", "Parquet")))
    quick_max = min(maxrec_default, 1000)
    body = f"""<form id="query-form" method="post" action="{escape(base_url)}/tap/sync">
<input type="hidden" name="LANG" value="ADQL"><input type="hidden" name="REQUEST" value="doQuery">
<label for="query" class="visually-hidden">ADQL query</label>
<div id="editor-host"><textarea id="query" name="QUERY" rows="8"
 spellcheck="false">{escape(query, quote=False)}</textarea></div>
<div class="controls">
<button type="button" id="check">Check</button>
<button type="button" id="quick">Quick</button>
<label>rows <input type="number" id="quick-maxrec" min="1" max="{quick_max}" value="100"></label>
<button type="button" id="submit-job">Submit job</button>
<label>job name <input type="text" id="runid" name="RUNID" size="12"></label>
<label>format <select name="RESPONSEFORMAT" id="format">{formats}</select></label>
<label>MAXREC <input type="number" name="MAXREC" id="maxrec" min="0" value="{maxrec_default}"></label>
<button type="submit" id="download">Download</button>
</div>
</form>
<div id="status" role="status" aria-live="polite"></div>
<details id="as-code" open><summary>This request as curl / as pyvo</summary>
<pre id="as-curl"></pre><pre id="as-pyvo"></pre></details>
<div id="results"></div>
<script type="application/json" id="adql-schema">{schema_json}</script>"""
    return layout(base_url, "Query", body, active="/query", scripts=("query.js",), editor=editor)


def examples_page(base_url: str) -> str:
    """The examples of ``/tap/examples`` with a Try it button each (examples.js reads the document)."""
    body = f"""<p>The example queries of the TAP service, read from
<a href="{escape(base_url)}/tap/examples">/tap/examples</a> (DALI examples).
<em>Try it</em> opens one in the editor.</p>
{_as_code(f"curl {base_url}/tap/examples", f'pyvo.dal.TAPService("{base_url}/tap").examples')}
<div id="examples" aria-busy="true"><p>Loading the examples…</p></div>"""
    return layout(base_url, "Examples", body, active="/examples", scripts=("examples.js",))


def jobs_page(base_url: str) -> str:
    """Every job of the caller from the UWS job lists of TAP, SODA, bulk cutouts and anomaly (jobs.js)."""
    lists = ("tap/async", "soda/async", "soda/bulk", "anomaly/async")
    curl = "\n".join(f"curl {base_url}/{p}" for p in lists)
    kinds = "".join(f'<option value="{escape(p)}">{escape(p)}</option>' for p in lists)
    phases = "".join(f"<option>{p}</option>" for p in ("PENDING", "QUEUED", "EXECUTING", "COMPLETED", "ERROR",
                                                         "ABORTED", "HELD", "SUSPENDED", "ARCHIVED"))
    body = f"""<p>Your jobs, read from the UWS job lists. Phases update live while a job runs.</p>
{_as_code(curl, f'pyvo.dal.TAPService("{base_url}/tap").get_job_list()')}
<div class="controls">
<label>kind <select id="kind-filter"><option value="">all</option>{kinds}</select></label>
<label>phase <select id="phase-filter"><option value="">all</option>{phases}</select></label>
<button type="button" id="refresh">Refresh</button>
</div>
<div id="status" role="status" aria-live="polite"></div>
<table class="grid" id="jobs"><thead><tr><th scope="col">name</th><th scope="col">kind</th><th scope="col">phase</th>
<th scope="col">created</th><th scope="col">run time</th><th scope="col">destruction</th><th scope="col">results</th>
<th scope="col">actions</th></tr></thead><tbody></tbody></table>"""
    return layout(base_url, "My jobs", body, active="/jobs", scripts=("jobs.js",))


def cutouts_page(base_url: str, positions: str = "") -> str:
    """A bulk cutout form: positions in, a SODA bulk job, a gallery of the colour images (cutouts.js)."""
    bands = "".join(f'<label><input type="checkbox" name="band" value="{b}"'
                    f'{" checked" if b in "gri" else ""}> {b}</label>'
                    for b in "grizY")
    body = f"""<p>Cut FITS images and Lupton colour images around a list of positions: one job of the
<a href="{escape(base_url)}/soda">SODA</a> bulk service (<code>{escape(base_url)}/soda/bulk</code>).</p>
<form id="cutout-form">
<p><label for="positions">Positions: one per line, <code>RA, Dec</code> in degrees or a <code>COADD_OBJECT_ID</code>;
or a CSV with a header row</label><br>
<textarea id="positions" rows="6" cols="60" spellcheck="false"
 placeholder="323.36, -0.82">{escape(positions, quote=False)}</textarea></p>
<p><label>or a file (CSV or VOTable)
<input type="file" id="positions-file" accept=".csv,.xml,.vot,text/csv"></label></p>
<div class="controls">
<label>size (arcmin) <input type="number" id="xsize" name="XSIZE" value="1" min="0.1" max="12" step="0.1"></label>
<fieldset><legend>FITS bands</legend>{bands}</fieldset>
<label><input type="checkbox" id="make-rgb" checked> colour image (Lupton)</label>
<label>colours <input id="rgb-colors" value="irg" size="4" pattern="[grizY]{{3}}"></label>
<button type="submit" id="make-cutouts">Make cutouts</button>
</div></form>
<div id="status" role="status" aria-live="polite"></div>
<details class="as-code" open><summary>This request as curl / as pyvo</summary>
<pre id="as-curl"></pre><pre id="as-pyvo"></pre></details>
<div id="gallery"></div>"""
    return layout(base_url, "Cutouts", body, active="/cutouts", scripts=("cutouts.js",))


def footprint_page(base_url: str) -> str:
    """The footprint viewer of ``/sky?embed=1`` in an iframe, the footprints of ``/moc`` (footprint.js).

    An iframe rather than Aladin Lite mounted in the page: the viewer is one page whatever embeds it
    (``/sky`` alone, this page, another site), Aladin Lite's 2.4 MB script and its stylesheet stay out
    of the portal's pages and their script budget, and the page's own layout cannot reach its canvas.
    """
    moc_url = f"{base_url}/moc/des_dr1.main?format=fits"
    colour = f"{base_url}/hips/des_dr1_colour_irg"
    curl = (f"curl {base_url}/moc?format=json\ncurl -o footprint.fits \"{moc_url}\"\n"
            f"curl {base_url}/hips/list\ncurl {colour}/properties")
    python = (f'from mocpy import MOC\nmoc = MOC.from_url("{moc_url}")\nmoc.sky_fraction * 41252.96  # deg²\n'
              f'# the colour HiPS in a notebook: ipyaladin.Aladin(survey="{colour}")')
    body = f"""<p>The release's footprints (MOC 2.0, from <a href="{escape(base_url)}/moc">/moc</a>) over the colour
HiPS (<a href="{escape(base_url)}/hips/list">/hips/list</a>) in Aladin Lite. Click the sky to list the objects there
(a TAP cone) and cut the image out (SODA); each click shows its request beside the sky.
<a href="{escape(base_url)}/sky">Open the viewer on its own page</a>.</p>
<iframe id="sky" src="{escape(base_url)}/sky?embed=1" title="Sky viewer: the footprints over the colour HiPS"></iframe>
<details class="as-code" open><summary>These requests as curl / as Python</summary>
<pre id="as-curl">{escape(curl)}</pre><pre id="as-pyvo">{escape(python)}</pre></details>
<h2>Footprints</h2>
<div id="footprints" aria-busy="true"><p>Loading the footprints…</p></div>"""
    return layout(base_url, "Footprint", body, active="/footprint", scripts=("footprint.js",))


def login_page(base_url: str) -> str:
    """Log in with an access token (login.js checks it with ``/whoami`` before keeping it)."""
    curl = f'curl -H "Authorization: Bearer $TOKEN" {base_url}/whoami'
    python = (f's = requests.Session(); s.headers["Authorization"] = "Bearer " + token\n'
              f'pyvo.dal.TAPService("{base_url}/tap", session=s)')
    body = f"""<p>Paste an access token (<code>skygate token create NAME</code> prints one; with OpenID Connect, an
access token of the site's issuer). The browser keeps it until it closes, sends it to the services as
<code>Authorization: Bearer</code>, and as a cookie that the site accepts on reads (GET) only, so
pages and images load as yours.</p>
<form id="login-form">
<p><label for="login-token">Access token</label><br>
<input type="password" id="login-token" autocomplete="current-password" size="48" required></p>
<button type="submit" id="login">Log in</button>
</form>
<div id="status" role="status" aria-live="polite"></div>
{_as_code(curl, python)}"""
    return layout(base_url, "Log in", body, active="/login", scripts=("login.js",), login="here")


def _count(nrows: int | None) -> str:
    return "—" if nrows is None else f"{nrows:,}"


def _service_summary(base_url: str, service: Service) -> str:
    url = f"{base_url}/{service.key}"
    return (f'<section class="service"><h3><a href="{escape(url)}">{escape(service.title)}</a> '
            f'<code class="url">{escape(url)}</code></h3><p>{escape(service.description)}</p>'
            f"{_howtos(url, service)}</section>")


def _howtos(url: str, service: Service) -> str:
    rows = "".join(f'<tr><th scope="row">{escape(client)}</th><td><code>{escape(text.format(url=url))}</code></td></tr>'
                   for client, text in service.howtos)
    return f'<table class="howto">{rows}</table>'


def _service_extra(base_url: str, service: Service) -> str:
    """A small form for the services a person can try straight from the page (a plain GET)."""
    if service.key == "sia":
        return f"""<h2>Try it</h2>
<form method="get" action="{escape(base_url)}/sia/query" id="sia-form">
<label>POS <input name="POS" value="CIRCLE 21.5 -0.5 0.2" size="28"></label>
<label>BAND (m) <input name="BAND" size="16" placeholder="e.g. 6e-7"></label>
<label>MAXREC <input name="MAXREC" type="number" value="20"></label>
<button type="submit" id="sia-search">Search</button></form>
<div id="status" role="status" aria-live="polite"></div>
<details class="as-code" open><summary>This request as curl / as pyvo</summary>
<pre id="as-curl"></pre><pre id="as-pyvo"></pre></details>
<div id="results"></div>"""
    if service.key == "tap":
        return f'<p>Write queries in the <a href="{escape(base_url)}/query">query page</a>.</p>'
    if service.key == "anomaly":
        return _anomaly_form(base_url)
    return f'<p>Your jobs of this service are listed in <a href="{escape(base_url)}/jobs">My jobs</a>.</p>'


_ANOMALY_QUERY = ("SELECT coadd_object_id, mag_auto_g - mag_auto_r AS g_r, mag_auto_r - mag_auto_i AS r_i,\n"
                  "       mag_auto_i - mag_auto_z AS i_z\nFROM des_dr1.main\nWHERE mag_auto_i < 23")


def _anomaly_form(base_url: str) -> str:
    """A scoring job over an ADQL selection; anomaly.js follows it and shows histogram and top list."""
    numbers = "".join(
        f'<label>{label} <input type="number" name="{name}" value="{value}" min="{low}"></label>'
        for label, name, value, low in (("trees", "NTREES", 200, 1), ("sample size", "SAMPLE_SIZE", 256, 2),
                                        ("seed", "SEED", 1, 0), ("top", "TOP", 20, 1)))
    return f"""<h2>Score a selection</h2>
<form id="anomaly-form">
<p><label for="anomaly-query">ADQL: an identifier column, then numeric feature columns</label><br>
<textarea id="anomaly-query" name="QUERY" rows="5" cols="90"
 spellcheck="false">{escape(_ANOMALY_QUERY, quote=False)}</textarea></p>
<div class="controls">{numbers}
<label><input type="checkbox" name="STANDARDIZE" value="yes" checked> standardize features</label>
<label>job name <input name="RUNID" size="12"></label>
<button type="submit" id="score">Score</button></div>
<p class="note">Rows with a NULL or non-finite feature are skipped and counted in the summary.</p>
</form>
<div id="status" role="status" aria-live="polite"></div>
<details class="as-code" open><summary>This request as curl / as pyvo</summary>
<pre id="as-curl"></pre><pre id="as-pyvo"></pre></details>
<div id="anomaly-results"></div>
<div id="results"></div>
<p>Your jobs of this service are listed in <a href="{escape(base_url)}/jobs">My jobs</a>.</p>"""


def _table_block(base_url: str, meta: TableMeta) -> str:
    columns = "".join(
        f'<tr><td><code>{escape(c.name)}</code>{" <abbr title=indexed>idx</abbr>" if c.indexed else ""}</td>'
        f'<td>{escape(c.datatype)}{escape("[" + c.arraysize + "]") if c.arraysize else ""}</td>'
        f'<td>{escape(c.unit or "")}</td><td>{escape(c.ucd or "")}</td><td>{escape(c.description or "")}</td></tr>'
        for c in meta.columns if not c.name.startswith("skygate_"))
    name = meta.qualified
    rows = f'<span class="rows">{meta.nrows:,} rows</span> ' if meta.nrows is not None else ""
    return (f'<details class="table" id="{escape(name)}"><summary><code>{escape(name)}</code> '
            f'{rows}— {escape(meta.description or "")}</summary>'
            f'<p><a href="{escape(base_url)}/query?table={escape(name)}">Query this table</a></p>'
            '<table class="grid"><thead><tr><th scope="col">column</th><th scope="col">type</th>'
            '<th scope="col">unit</th><th scope="col">UCD</th><th scope="col">description</th></tr></thead>'
            f"<tbody>{columns}</tbody></table></details>")


def _as_code(curl: str, pyvo: str) -> str:
    return (f'<details class="as-code"><summary>As curl / as pyvo</summary><pre>{escape(curl)}</pre>'
            f"<pre>{escape(pyvo)}</pre></details>")
