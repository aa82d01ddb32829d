"""HTTP edge of SIA 2.0: ``/sia/query``, ``/sia/availability``, ``/sia/capabilities``.

Collects GET/POST parameters (names case-insensitive), runs the search on the backend of the open release
(``request.app.state.release.backend``), and answers with a VOTable; errors become DALI error VOTables
(``UsageFault: ...``) with a 400, never a framework page.
Tests: tests/sia/test_routes.py.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from html import escape

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dali.errors import SkygateError, UsageError
from sia.params import parse_query
from sia.service import STANDARD_ID, VOTABLE_TYPES, error_votable, render_votable, search

__all__ = ["capabilities_xml", "collect_params", "sia_routes"]

_log = logging.getLogger(__name__)
_VOTABLE = "application/x-votable+xml"


async def collect_params(request: Request) -> dict[str, list[str]]:
    """Query-string and form parameters by upper-case name, in arrival order."""
    params: dict[str, list[str]] = {}
    pairs = list(request.query_params.multi_items())
    if request.method == "POST":
        form = await request.form()
        pairs += [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    for name, value in pairs:
        params.setdefault(name.strip().upper(), []).append(value)
    return params


def capabilities_xml(base_url: str) -> bytes:
    """VOSI capabilities: SIA 2.0 query, availability, capabilities."""
    sia = f"{base_url}/sia"

    def capability(standard_id: str, url: str, extra: str = "") -> str:
        return (f'<capability standardID="{standard_id}">\n'
                f'<interface xsi:type="vs:ParamHTTP" role="std"{extra}>\n'
                f'<accessURL use="base">{escape(url)}</accessURL>\n</interface>\n</capability>\n')

    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<vosi:capabilities xmlns:vosi="http://www.ivoa.net/xml/VOSICapabilities/v1.0" '
        'xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        + capability(STANDARD_ID, f"{sia}/query", ' version="2.0"')
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


def _media_type(requested: str | None) -> str:
    if requested is None:
        return _VOTABLE
    lowered = requested.lower().replace(" ", "")
    if lowered in VOTABLE_TYPES or lowered.startswith("application/x-votable+xml"):
        # DALI: a full MIME type is echoed as the Content-Type.
        return _VOTABLE if lowered == "votable" else requested
    raise UsageError(f"RESPONSEFORMAT {requested[:60]!r} is not supported", param="RESPONSEFORMAT",
                     hint="this service answers in VOTable (application/x-votable+xml)")


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
        result = await search(backend, query, timeout=settings.sync_timeout)
    except SkygateError as exc:
        _log.info("SIA query refused: %s", exc)
        return Response(error_votable(exc), status_code=400 if isinstance(exc, UsageError) else 503,
                        media_type=_VOTABLE)
    except Exception:  # noqa: BLE001 - the protocol edge: any failure becomes a DALI error document
        _log.exception("SIA query failed")
        return Response(error_votable(RuntimeError()), status_code=500, media_type=_VOTABLE)
    infos: Sequence[tuple[str, str]] = [(name, value) for name, values in params.items() for value in values
                                        if name in ("POS", "BAND", "TIME", "ID", "MAXREC")][:20]
    body = render_votable(result, base_url=settings.base_url, infos=infos)
    return Response(body, media_type=media_type)


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
