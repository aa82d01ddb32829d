"""HTTP edge of SIA 2.0: ``/sia/query``, ``/sia/availability``, ``/sia/capabilities``.

Collects GET/POST parameters (names case-insensitive; ``dali.form`` applies the request limits), runs the
search on the backend of the open release (``request.app.state.release.backend``), and answers with a
VOTable; errors become DALI error VOTables (``UsageFault: ...``) with a 400 (413 over a size limit), never a
framework page.
Tests: tests/sia/test_routes.py.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from html import escape

import pyarrow as pa
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dali.disconnect import ClientDisconnected, unless_disconnected
from dali.errors import SkygateError, TooLargeError, UsageError, escaped
from dali.form import FormLimits, read_request
from dali.writers import arrow_type, resolve_format, write_table
from release.obscore import OBSCORE_TABLE, obscore_meta
from sia.params import parse_query
from sia.service import STANDARD_ID, VOTABLE_TYPES, SiaResult, error_votable, render_votable, search

__all__ = ["capabilities_xml", "collect_params", "sia_routes"]

_log = logging.getLogger(__name__)
_VOTABLE = "application/x-votable+xml"


async def collect_params(request: Request) -> Mapping[str, tuple[str, ...]]:
    """Query-string and form parameters by upper-case name, in arrival order, within the
    request limits (``dali.form``: 413 over a size limit, 400 for control characters)."""
    limits = FormLimits(body_max_bytes=request.app.state.settings.body_max_bytes)
    return (await read_request(request, limits)).params().values


def capabilities_xml(base_url: str) -> bytes:
    """VOSI capabilities: SIA 2.0 query (its description naming the collection's footprint MOC),
    availability, capabilities."""
    sia = f"{base_url}/sia"

    def capability(standard_id: str, url: str, extra: str = "", description: str = "") -> str:
        # VOResource 1.0 Capability: validationLevel*, description?, interface*. No element of the SIA or
        # VOSI schemas holds a coverage, so the footprint is a sentence of the description.
        text = f"<description>{escape(description)}</description>\n" if description else ""
        return (f'<capability standardID="{standard_id}">\n{text}'
                f'<interface xsi:type="vs:ParamHTTP" role="std"{extra}>\n'
                f'<accessURL use="base">{escape(url)}</accessURL>\n</interface>\n</capability>\n')

    footprint = (f"SIA 2.0 search of the image collection ({OBSCORE_TABLE}). Its footprint, an IVOA MOC 2.0 "
                 f"(FITS; ?format=json or ascii): {base_url}/moc/{OBSCORE_TABLE}")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<vosi:capabilities xmlns:vosi="http://www.ivoa.net/xml/VOSICapabilities/v1.0" '
        'xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        + capability(STANDARD_ID, f"{sia}/query", ' version="2.0"', footprint)
        + capability("ivo://ivoa.net/std/VOSI#capabilities", f"{sia}/capabilities")
        + capability("ivo://ivoa.net/std/VOSI#availability", f"{sia}/availability")
        + "</vosi:capabilities>\n"
    ).encode()


def _availability() -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<vosi:availability xmlns:vosi="http://www.ivoa.net/xml/VOSIAvailability/v1.0">\n'
        b"<vosi:available>true</vosi:available>\n<vosi:note>SIA 2.0 service is accepting queries</vosi:note>\n"
        b"</vosi:availability>\n"
    )


def _media_type(requested: str | None) -> str | None:
    """The Content-Type for our own TABLEDATA VOTable (with service descriptors), or None when
    another writer (``dali.writers``: BINARY2, CSV, TSV, FITS, Parquet) must answer."""
    if requested is None:
        return _VOTABLE
    lowered = requested.lower().replace(" ", "")
    if lowered in VOTABLE_TYPES or lowered in ("application/x-votable+xml;serialization=tabledata",
                                                "votable/td", "votable/tabledata"):
        # DALI: a full MIME type is echoed as the Content-Type.
        return _VOTABLE if "/" not in lowered or lowered.startswith("votable/") else requested
    resolve_format(requested)  # raises the usage error for formats nobody writes
    return None


async def _other_format(result: SiaResult, requested: str) -> Response:
    """The rows through the shared DALI table writers (no service descriptors there)."""
    fmt = resolve_format(requested)
    columns = obscore_meta().columns
    rows = [dict(r) for r in result.rows]
    if result.overflow and rows:
        # The writer flags OVERFLOW when row maxrec+1 arrives (it is never written).
        rows.append(rows[-1])
    table = pa.Table.from_pylist(rows, schema=pa.schema([pa.field(c.name, arrow_type(c)) for c in columns]))

    async def batches() -> AsyncIterator[pa.RecordBatch]:
        for batch in table.to_batches():
            yield batch

    writer = write_table(fmt, columns, batches(), maxrec=len(result.rows) if result.overflow else None)
    body = b"".join([chunk async for chunk in writer.chunks()])
    return Response(body, media_type=fmt.media_type)


async def _query(request: Request) -> Response:
    settings = request.app.state.settings
    try:
        params = await collect_params(request)
        query = parse_query(params, maxrec_default=settings.maxrec_default, maxrec_hard=settings.maxrec_hard)
        media_type = _media_type(query.responseformat)
        release = getattr(request.app.state, "release", None)
        backend = getattr(release, "backend", None)
        if backend is None:
            raise UsageError("no data release is loaded", hint="run `skygate demo` first")
        result = await unless_disconnected(request.receive, search(backend, query, timeout=settings.sync_timeout))
    except ClientDisconnected:
        _log.info("SIA client left before the answer; the search was stopped")
        return Response(status_code=499)
    except SkygateError as exc:
        _log.info("SIA query refused: %s", escaped(str(exc)))
        return Response(error_votable(exc), status_code=_status(exc), media_type=_VOTABLE)
    except Exception:  # noqa: BLE001 - the protocol edge: any failure becomes a DALI error document
        _log.exception("SIA query failed")
        return Response(error_votable(RuntimeError()), status_code=500, media_type=_VOTABLE)
    infos: Sequence[tuple[str, str]] = [(name, value) for name, values in params.items() for value in values
                                        if name in ("POS", "BAND", "TIME", "ID", "MAXREC")][:20]
    if media_type is None:
        return await _other_format(result, query.responseformat or "")
    body = render_votable(result, base_url=settings.base_url, infos=infos)
    return Response(body, media_type=media_type)


def _status(exc: SkygateError) -> int:
    if isinstance(exc, TooLargeError):
        return 413
    return 400 if isinstance(exc, UsageError) else 503


async def _capabilities(request: Request) -> Response:
    return Response(capabilities_xml(request.app.state.settings.base_url), media_type="text/xml")


async def _availability_route(request: Request) -> Response:
    return Response(_availability(), media_type="text/xml")


def sia_routes() -> list[BaseRoute]:
    """Routes to mount at ``/sia``."""
    return [
        Route("/query", _query, methods=["GET", "POST"]),
        Route("/capabilities", _capabilities, methods=["GET"]),
        Route("/availability", _availability_route, methods=["GET"]),
    ]
