"""HTTP edge of SIA 2.0: ``/sia`` and ``/sia/`` (an index), ``/sia/query``, ``/sia/availability``,
``/sia/capabilities``, all mounted by ``sia_routes(config, runtime)``.

Collects GET/POST parameters (names case-insensitive; ``dali.form`` applies the request limits), runs the
search on the backend of the open release (``runtime.release.backend``, a ``ReleaseRuntime`` the assembly
fills in once the application's lifespan opened the release), and answers with the
result through ``dali.writers``; errors become the DALI error VOTable (``dali.votable.error_document``,
``UsageFault: ...``) with the status of ``dali.errors.http_status``, never a framework page. Capabilities
are ``dali.vosi`` values; availability asks the release's database (``release.runtime``).
Tests: tests/sia/test_routes.py.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from dali.disconnect import ClientDisconnected, unless_disconnected
from dali.errors import SkygateError, UsageError, error_headers, escaped, http_status
from dali.form import FormLimits, read_request
from dali.params import DaliParams
from dali.vosi import (
    XML_MEDIA_TYPE,
    Capability,
    Interface,
    availability,
    capabilities_document,
    support_capabilities,
)
from dali.votable import ERROR_MEDIA_TYPE, error_document, error_message
from dali.writers import Info, resolve_format
from release.obscore import OBSCORE_TABLE
from release.runtime import ReleaseRuntime, unavailable_because
from sia.params import parse_query
from sia.service import STANDARD_ID, result_writer, search

__all__ = ["SiaConfig", "capabilities_xml", "sia_routes"]

_log = logging.getLogger(__name__)
# Parameters repeated as INFOs in the answer (DALI 1.1 §4.4), at most this many values.
_ECHOED = ("POS", "BAND", "TIME", "ID", "MAXREC")
_ECHO_MAX = 20


@dataclass(frozen=True, slots=True)
class SiaConfig:
    """The settings SIA uses (no defaults: ``skygate.settings.Settings`` holds them)."""

    base_url: str
    body_max_bytes: int
    maxrec_default: int
    maxrec_hard: int
    sync_timeout: float


def capabilities_xml(base_url: str) -> bytes:
    """VOSI capabilities: the SIA 2.0 query (its description naming the collection's footprint MOC),
    availability, capabilities.

    The query capability is untyped, as in SIA 2.0's example: pyvo's capabilities reader warns about
    ``sia:SimpleImageAccess`` (an unknown xsi:type to it), and every pyvo user would see that warning.
    """
    sia = f"{base_url}/sia"
    # No element of the SIA or VOSI schemas holds a coverage, so the footprint is a sentence of the description.
    footprint = (f"SIA 2.0 search of the image collection ({OBSCORE_TABLE}). Its footprint, an IVOA MOC 2.0 "
                 f"(FITS; ?format=json or ascii): {base_url}/moc/{OBSCORE_TABLE}")
    query = Capability(STANDARD_ID, (Interface(f"{sia}/query", use="base", role="std", version="2.0"),),
                       description=footprint)
    return capabilities_document((query, *support_capabilities(sia)))


def _error(exc: BaseException) -> Response:
    """The DALI error VOTable of ``exc`` with its status (and Retry-After when known)."""
    body = error_document(error_message(exc), infos=[Info("standardID", STANDARD_ID)])
    return Response(body, status_code=http_status(exc), media_type=ERROR_MEDIA_TYPE, headers=error_headers(exc))


def _echo(params: DaliParams) -> list[tuple[str, str]]:
    return [(name, value) for name, values in params.values.items() for value in values if name in _ECHOED][:_ECHO_MAX]


async def _query(config: SiaConfig, runtime: ReleaseRuntime, request: Request) -> Response:
    try:
        params = await read_request(request, FormLimits(body_max_bytes=config.body_max_bytes))
        query = parse_query(params, maxrec_default=config.maxrec_default, maxrec_hard=config.maxrec_hard)
        fmt = resolve_format(query.responseformat)
        backend = getattr(runtime.release, "backend", None)
        if backend is None:
            raise UsageError("no data release is loaded", hint="run `skygate demo` first")
        rows = await unless_disconnected(request.receive, search(backend, query, timeout=config.sync_timeout))
        writer = result_writer(rows, query, fmt, base_url=config.base_url, echo=_echo(params))
        # At most MAXREC rows of ObsCore metadata, as the search held them before: sent in one piece,
        # so a failure while writing is still answered with an error document and its status.
        body = await unless_disconnected(request.receive, _collected(writer.chunks()))
        if writer.error is not None:
            raise writer.error
    except ClientDisconnected:
        _log.info("SIA client left before the answer; the search was stopped")
        return Response(status_code=499)
    except SkygateError as exc:
        _log.info("SIA query refused: %s", escaped(str(exc)))
        return _error(exc)
    except Exception as exc:  # noqa: BLE001 - the protocol edge: any failure becomes a DALI error document
        _log.exception("SIA query failed")
        return _error(exc)
    return Response(body, media_type=fmt.media_type)


async def _collected(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def _index(config: SiaConfig, request: Request) -> Response:
    """A page linking the endpoints (what ``/sia`` answers when no portal page is in front)."""
    sia = f"{config.base_url}/sia"
    links = "".join(f'<li><a href="{escape(sia)}/{path}">{escape(path)}</a> — {escape(what)}</li>'
                    for path, what in (("query", "SIA 2.0 image search (POS, BAND, TIME, ...)"),
                                       ("capabilities", "what this service supports (VOSI)"),
                                       ("availability", "is it up (VOSI)")))
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Skygate SIA</title></head><body>\n'
            f"<h1>Skygate SIA 2.0 service</h1>\n<ul>{links}</ul>\n</body></html>\n")
    return Response(page, media_type="text/html")


def sia_routes(config: SiaConfig, runtime: ReleaseRuntime) -> list[BaseRoute]:
    """The routes to add to the application: ``/sia`` and everything below it."""
    started = datetime.now(UTC)
    index = functools.partial(_index, config)

    async def capabilities(request: Request) -> Response:
        return Response(capabilities_xml(config.base_url), media_type=XML_MEDIA_TYPE)

    async def available(request: Request) -> Response:
        release = runtime.release
        body = await availability([lambda: unavailable_because(release)], up_since=started,
                                  ready="the SIA 2.0 service is accepting queries")
        return Response(body, media_type=XML_MEDIA_TYPE)

    # The root answers with and without the slash: a bare mount would redirect /sia to /sia/.
    return [Route("/sia", index, methods=["GET"]), Mount("/sia", routes=[
        Route("/", index, methods=["GET"]),
        Route("/query", functools.partial(_query, config, runtime), methods=["GET", "POST"]),
        Route("/capabilities", capabilities, methods=["GET"]),
        Route("/availability", available, methods=["GET"]),
    ])]
