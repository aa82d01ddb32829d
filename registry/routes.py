"""HTTP edge of the registry package: Simple Cone Search at ``/scs/{schema.table}`` (with its
``/availability`` and ``/capabilities``), the OAI-PMH endpoint ``/registry/oai`` and the ``/registry`` page.

Collects GET/POST parameters (names case-insensitive), streams the cone's rows from the query engine
(a client that disconnects closes the stream, which cancels the statement), and answers every bad
input with the SCS 1.03 error document and HTTP 200, as the standard says; only failures that are
not the caller's (no release loaded: 503, our own bug: 500) and an unknown table (404) carry
another status, still with the same document. ``registry_routes`` mounts both prefixes; the assembly
(``skygate/app.py``) hands it a ``RegistryConfig`` (the settings), a ``ReleaseRuntime`` (the release, once
the lifespan opened it) and a ``Publishing``: the records' ``registry.service.Publisher``, the services they
describe (the release -> ``ServiceSource`` list) and the coverage cache shared with RegTAP.
Tests: tests/registry/test_oai.py, tests/registry/test_live.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Send

from dali.errors import FatalError, SkygateError, TooLargeError, TransientError, UsageError
from dali.form import FormLimits, read_request
from dali.params import DaliParams
from dali.vosi import availability_document
from dali.writers import OutputFormat, TableWriter
from registry.cone import (
    ConeTable,
    cone_capabilities,
    cone_tables,
    error_document,
    find_cone_table,
    start_cone,
)
from registry.coverage import NO_SAMPLE, CoverageCache
from registry.curation import ivoid
from registry.ledger import Record
from registry.oai import OaiConfig, respond
from registry.page import render_page
from registry.params import parse_cone
from registry.records import MAX_RECORDS, OAI_PATH, REGISTRY_KEY, ServiceSource
from registry.service import Publisher
from release.runtime import OpenRelease, ReleaseRuntime, unavailable_because

__all__ = ["Publishing", "RegistryConfig", "registry_routes"]

_log = logging.getLogger(__name__)
_XML = "text/xml"
# SCS 1.03 §2: the response is a VOTable served as text/xml; another RESPONSEFORMAT keeps its own type.
_SCS_MEDIA_TYPE = "text/xml"


@dataclass(frozen=True, slots=True)
class RegistryConfig:
    """The settings the cone searches and the registry use (no defaults: ``skygate.settings.Settings``
    holds them)."""

    base_url: str
    body_max_bytes: int
    scs_max_sr: float
    maxrec_default: int
    maxrec_hard: int
    sync_timeout: float


@dataclass(frozen=True, slots=True)
class Publishing:
    """What the publishing registry is built from, made by the assembly: the ``publisher`` of the
    records, the ``sources`` (the services of the deployment for a release) and the ``coverage``
    measured once per release (shared with the RegTAP tables the lifespan builds)."""

    publisher: Publisher
    sources: Callable[[OpenRelease], Sequence[ServiceSource]]
    coverage: CoverageCache


@dataclass(frozen=True, slots=True)
class _Registry:
    """What every handler is bound to."""

    config: RegistryConfig
    runtime: ReleaseRuntime
    publishing: Publishing
    started: datetime


Handler = Callable[[_Registry, Request], Awaitable[Response]]


def registry_routes(config: RegistryConfig, runtime: ReleaseRuntime, publishing: Publishing) -> list[BaseRoute]:
    """The routes to add to the application: ``/scs/{table}`` with its VOSI resources, ``/registry``
    (HTML) and ``/registry/oai`` (OAI-PMH)."""
    reg = _Registry(config, runtime, publishing, datetime.now(UTC))

    def bound(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        return functools.partial(handler, reg)

    # Each root answers with and without the slash: a bare mount would redirect /scs to /scs/.
    return [
        Route("/scs", bound(index), methods=["GET"]), Mount("/scs", routes=[
            Route("/", bound(index), methods=["GET"]),
            Route("/{table}", bound(cone), methods=["GET", "POST"]),
            Route("/{table}/capabilities", bound(capabilities), methods=["GET"]),
            Route("/{table}/availability", bound(_availability), methods=["GET"]),
            Route("/{rest:path}", _nothing_here),
        ]),
        Route("/registry", bound(page), methods=["GET"]), Mount("/registry", routes=[
            Route("/", bound(page), methods=["GET"]),
            Route("/oai", bound(oai), methods=["GET", "POST"]),
        ]),
    ]


async def _params(reg: _Registry, request: Request) -> DaliParams:
    """Query-string and body fields within the request limits (``dali.form``)."""
    return await read_request(request, FormLimits(body_max_bytes=reg.config.body_max_bytes))


def _table(reg: _Registry, request: Request) -> ConeTable:
    return find_cone_table(getattr(reg.runtime.release, "metadata", None) or {}, request.path_params["table"])


def _error(exc: SkygateError, status: int = 200) -> Response:
    message = f"{exc.param}: {exc}" if exc.param else str(exc)
    return Response(error_document(message), status_code=status, media_type=_XML)


class _TableResponse(StreamingResponse):
    """A streamed result whose writer is closed however the response ends (done, error, disconnect)."""

    async def stream_response(self, send: Send) -> None:
        async with contextlib.aclosing(self.body_iterator):  # type: ignore[type-var]
            await super().stream_response(send)


async def _body(writer: TableWriter) -> AsyncIterator[bytes]:
    try:
        async with contextlib.aclosing(writer.chunks()) as chunks:  # type: ignore[type-var]
            async for chunk in chunks:
                yield chunk
    finally:
        if writer.error is not None and not isinstance(writer.error, SkygateError):
            _log.error("cone search failed while sending rows", exc_info=writer.error)


async def index(reg: _Registry, request: Request) -> Response:
    """The cone search services, one per positional table, for people."""
    base = reg.config.base_url
    release = reg.runtime.release
    items = "".join(
        f'<li><a href="{escape(base)}/scs/{escape(name)}/capabilities">{escape(name)}</a> — '
        f"{escape(table.meta.description or '')}</li>"
        for name, table in cone_tables(getattr(release, "metadata", None) or {}).items())
    return HTMLResponse(
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Cone search</title></head><body>'
        "<h1>Simple Cone Search 1.03</h1><p>One service per table with a position: "
        f"<code>{escape(base)}/scs/{{schema.table}}?RA=…&amp;DEC=…&amp;SR=…</code> (degrees).</p>"
        f"<ul>{items or '<li>no positional table is loaded</li>'}</ul></body></html>\n")


async def _nothing_here(request: Request) -> Response:
    return _error(UsageError("there is nothing at this URL under /scs", hint="see /scs"), status=404)


async def cone(reg: _Registry, request: Request) -> Response:
    """A cone search on one table."""
    settings, release = reg.config, reg.runtime.release
    engine = getattr(release, "engine", None)
    if engine is None:
        return _error(TransientError(getattr(release, "problem", None) or "no data release is loaded",
                                     hint="try again later"), status=503)
    try:
        table = _table(reg, request)
    except UsageError as exc:
        return _error(exc, status=404)
    try:
        params = await _params(reg, request)
        query = parse_cone(params, max_sr=settings.scs_max_sr, maxrec_default=settings.maxrec_default,
                           maxrec_hard=settings.maxrec_hard)
        writer = await start_cone(engine, table, query, timeout=settings.sync_timeout)
    except UsageError as exc:
        _log.info("cone search refused: %s", exc)
        return _error(exc)
    except TransientError as exc:
        return _error(exc, status=503)
    except SkygateError as exc:
        _log.error("cone search failed: %s", exc)
        return _error(exc, status=500)
    except Exception:  # noqa: BLE001 - the protocol edge: any failure becomes the SCS error document
        _log.exception("cone search failed")
        return _error(FatalError("the cone search failed inside the service; the problem has been logged"),
                      status=500)
    media_type = query.format.media_type
    if query.format.kind is OutputFormat.VOTABLE_TD and media_type == "application/x-votable+xml":
        media_type = _SCS_MEDIA_TYPE
    return _TableResponse(_body(writer), media_type=media_type)


async def capabilities(reg: _Registry, request: Request) -> Response:
    """VOSI capabilities of one table's cone search."""
    try:
        table = _table(reg, request)
    except UsageError as exc:
        return _error(exc, status=404)
    settings = reg.config
    coverage = await reg.publishing.coverage.get(reg.runtime.release)
    body = cone_capabilities(settings.base_url, table, max_sr=settings.scs_max_sr, max_records=settings.maxrec_hard,
                             test=coverage.samples.get(table.name, NO_SAMPLE))
    return Response(body, media_type=_XML)


async def _availability(reg: _Registry, request: Request) -> Response:
    """VOSI availability: the table is known and the backend answers a one-row query."""
    try:
        _table(reg, request)
    except UsageError as exc:
        return _error(exc, status=404)
    problem = await unavailable_because(reg.runtime.release)
    up, notes = problem is None, [problem or "the cone search is accepting queries"]
    return Response(availability_document(up, up_since=reg.started, notes=notes), media_type=_XML)


# ----------------------------------------------------------------------------- the publishing registry

_RETRY_AFTER = "60"


async def _records(reg: _Registry) -> list[Record] | None:
    """Every record, or None while no release is loaded: records built then would lack the tables
    and the cone searches, and the ledger would mark those deleted only to revive them later, so
    harvesters are asked to come back instead (OAI-PMH §3.1.2.2: 503 with Retry-After)."""
    release = reg.runtime.release
    if release is None or release.engine is None:
        return None
    services = reg.publishing.sources(release)
    coverage = await reg.publishing.coverage.get(release)
    return list(await reg.publishing.publisher.records(services, release.metadata or {}, coverage))


async def oai(reg: _Registry, request: Request) -> Response:
    """OAI-PMH 2.0: every answer, errors included, is an OAI-PMH document with HTTP 200 (503 while no
    release is loaded; 400 or 413 text for a request ``dali.form`` refuses, before any argument is read)."""
    try:
        pairs = (await _params(reg, request)).pairs
    except UsageError as exc:  # the request itself, before any OAI-PMH argument: an HTTP refusal
        return PlainTextResponse(f"{exc}\n", status_code=413 if isinstance(exc, TooLargeError) else 400)
    publisher = reg.publishing.publisher
    config = OaiConfig(base_url=publisher.base_url + OAI_PATH,
                       repository_name=f"{publisher.curation.title} publishing registry",
                       admin_email=publisher.curation.contact_email,
                       registry_ivoid=ivoid(publisher.authority, REGISTRY_KEY), page_size=MAX_RECORDS)
    records = await _records(reg)
    if records is None:
        return PlainTextResponse("The data release is not loaded yet; the registry answers when it is.\n",
                                 status_code=503, headers={"Retry-After": _RETRY_AFTER})
    # A page of records is parsed again for oai_dc: a few milliseconds, but off the event loop.
    body = await asyncio.to_thread(respond, pairs, records, config)
    return Response(body, media_type=_XML)


async def page(reg: _Registry, request: Request) -> Response:
    """The resources as a readable page."""
    publisher = reg.publishing.publisher
    title = f"{publisher.curation.title}: published resources"
    records = await _records(reg)
    if records is None:
        problem = getattr(reg.runtime.release, "problem", None) or "no data release is loaded"
        return HTMLResponse(f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}"
                            f"</title></head><body><h1>{escape(title)}</h1><p>Nothing is published while no data "
                            f"release is loaded: {escape(problem)}.</p></body></html>\n", status_code=503,
                            headers={"Retry-After": _RETRY_AFTER})
    return HTMLResponse(await asyncio.to_thread(render_page, records, title=title,
                                                oai_url=publisher.base_url + OAI_PATH))
