"""HTTP edge of TAP 1.1 at ``/tap``: root page, /sync, /async (UWS), /availability, /capabilities,
/tables, /tables/{name} (GET; PUT and DELETE of the caller's own tables, ``tap.user_tables``)
and /examples.

Collects GET/POST parameters (query string, urlencoded or multipart body) into DALI parameters
(``dali.form``, within ``body_max_bytes``), streams /sync results straight from the query engine
to the socket (a client that disconnects closes the stream, which cancels the statement), and
answers every failure under /tap (404 and 405 included) with a DALI error VOTable and a fitting
status: 400 usage, 413 over a size limit, 503 transient, 500 ours.
``tap_routes(config, runtime)`` is handed a ``TapConfig`` and a ``TapRuntime`` (the open release, the job
system and the quotas, filled in by the application's lifespan) by the assembly (``skygate/app.py``);
the handlers read those, never the application's state.
Tests: tests/tap/test_routes.py, tests/tap/test_live.py.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from typing import Any, Protocol

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import Message, Receive, Scope, Send

from auth.quotas import QuotaBook
from dali.compression import COMPRESSED_KINDS, GZIP_MIN_BYTES, gzip_stream, gzip_wanted
from dali.disconnect import ClientDisconnected, unless_disconnected
from dali.errors import FatalError, SkygateError, UsageError, error_headers, escaped, http_status
from dali.form import FormLimits, read_request
from dali.vosi import availability
from dali.votable import error_document, error_message
from dali.writers import Info, OutputFormat, TableWriter
from release.runtime import ReleaseRuntime, unavailable_because
from release.user_tables import TableExists, table_owner
from tap.capabilities import tap_capabilities
from tap.examples import examples_document
from tap.jobs import KIND
from tap.params import parse_tap
from tap.service import STANDARD_ID, TapConfig, internal_error, load_uploads, require_engine, start_query
from tap.tables import find_table, table_document, tableset_document
from tap.user_tables import CallerTables, UnsupportedFormat, caller_view, delete_table, put_table
from uws.routes import JobsRuntime, job_routes
from uws.system import jobs_unavailable

__all__ = ["TapRuntime", "tap_routes"]

_log = logging.getLogger(__name__)
_XML = "text/xml"
_VOTABLE = "application/x-votable+xml"


class TapRuntime(JobsRuntime, ReleaseRuntime, Protocol):
    """What TAP reads from the running application (``jobs`` and ``release`` too), once its lifespan
    opened them."""

    @property
    def quotas(self) -> QuotaBook | None: ...


@dataclass(frozen=True, slots=True)
class _Tap:
    """What every handler is bound to: the configuration and the runtime the assembly handed over."""

    config: TapConfig
    runtime: TapRuntime
    started: datetime  # upSince and Last-Modified: when this application was built


Handler = Callable[[_Tap, Request], Awaitable[Response]]


def tap_routes(config: TapConfig, runtime: TapRuntime) -> list[BaseRoute]:
    """The routes to add to the application: ``/tap`` and everything below it."""
    tap = _Tap(config, runtime, datetime.now(UTC))

    def bound(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        return functools.partial(handler, tap)

    inner = Router(
        routes=[
            Route("/", bound(root), methods=["GET"]),
            Route("/sync", bound(sync), methods=["GET", "POST"]),
            Route("/availability", bound(_availability), methods=["GET"]),
            Route("/capabilities", bound(_capabilities), methods=["GET"]),
            Route("/tables", bound(tables), methods=["GET"]),
            Route("/tables/{name:path}", bound(table), methods=["GET", "PUT", "DELETE"]),
            Route("/examples", bound(examples), methods=["GET"]),
            *job_routes(KIND, runtime, path="/async"),
        ],
    )
    return [Route("/tap", bound(root), methods=["GET"]), Mount("/tap", app=_DaliErrors(inner))]


# ----------------------------------------------------------------------------- helpers

def _metadata(tap: _Tap) -> dict[str, Any]:
    release = tap.runtime.release
    return dict(release.metadata) if release is not None else {}


def _caller(tap: _Tap, request: Request) -> str | None:
    jobs = tap.runtime.jobs
    return jobs.owner_of(request) if jobs is not None else None


def _owner(tap: _Tap, request: Request, config: TapConfig) -> str | None:
    """Whose tables the caller sees and makes (``release.user_tables.table_owner``)."""
    return table_owner(_caller(tap, request), config.auth)


async def _caller_config(tap: _Tap, request: Request) -> TapConfig:
    """The settings with the caller's own limits (``skygate user quota``) when quotas are kept."""
    quotas = tap.runtime.quotas
    return tap.config if quotas is None else tap.config.for_caller(await quotas.of(_caller(tap, request)))


async def _view(tap: _Tap, request: Request, config: TapConfig) -> CallerTables:
    return await caller_view(tap.runtime.release, _owner(tap, request, config))


def error_response(exc: SkygateError, status: int | None = None) -> Response:
    """A DALI error VOTable for ``exc`` with its status code (``dali.errors.http_status``)."""
    if isinstance(exc, UsageError):
        _log.info("TAP usage error: %s", escaped(exc))
    body = error_document(error_message(exc), infos=[Info("standardID", STANDARD_ID)])
    return Response(body, status_code=status or http_status(exc), media_type=_VOTABLE, headers=error_headers(exc))


# CSV and TSV cannot say OVERFLOW in the document (a trailing comment line breaks astropy's CSV
# reader, pandas and STILTS), so a sync answer in those formats holds back up to this many bytes:
# a result that ends within them carries its status in the Query-Status header (README).
STATUS_HOLD_BYTES = 4 * 1024 * 1024
QUERY_STATUS_HEADER = "Query-Status"


class _TableResponse(StreamingResponse):
    """A streamed result whose writer is closed however the response ends (done, error, disconnect),
    so the database statement behind it is cancelled when the client goes away.

    With ``hold_for`` (CSV/TSV), the first ``STATUS_HOLD_BYTES`` are read before the response starts,
    inside Starlette's disconnect watch; a result that ends within them is answered with the
    ``Query-Status`` header (OK or OVERFLOW), and an error found meanwhile still becomes an error
    document instead of a cut-off body. With ``gzip`` (a text format the client accepts gzip for),
    a document that turns out longer than ``GZIP_MIN_BYTES`` goes gzip-compressed
    (``dali.compression``); shorter ones go as they are."""

    def __init__(self, content: AsyncIterator[bytes], *, media_type: str, hold_for: TableWriter | None = None,
                 compressible: bool = False, gzip: bool = False) -> None:
        # Vary: caches must not hand a compressed answer to a client that did not ask for one.
        super().__init__(content, media_type=media_type, headers={"Vary": "Accept-Encoding"} if compressible else None)
        self.hold_for = hold_for
        self.gzip = gzip
        self.chunks = content  # the body iterator, typed as what it is

    async def stream_response(self, send: Send) -> None:
        async with contextlib.aclosing(self.body_iterator):  # type: ignore[type-var]
            if self.hold_for is None and not self.gzip:
                await super().stream_response(send)
                return
            held, ended = await _hold(self.chunks, STATUS_HOLD_BYTES if self.hold_for else GZIP_MIN_BYTES)
            headers = list(self.raw_headers)
            if self.hold_for is not None and ended and self.hold_for.error is None:
                status = "OVERFLOW" if self.hold_for.overflow else "OK"
                headers.append((QUERY_STATUS_HEADER.lower().encode(), status.encode()))
            compress = self.gzip and sum(len(chunk) for chunk in held) >= GZIP_MIN_BYTES
            if compress:
                headers.append((b"content-encoding", b"gzip"))
            body = gzip_stream(held, self.chunks) if compress else _chained(held, self.chunks)
            await send({"type": "http.response.start", "status": self.status_code, "headers": headers})
            async for chunk in body:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _chained(held: list[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in held:
        yield chunk
    async for chunk in rest:
        yield chunk


async def _hold(chunks: Any, limit: int) -> tuple[list[bytes], bool]:
    """Read chunks until ``limit`` bytes are held or the stream ends; (chunks, whether it ended)."""
    held: list[bytes] = []
    size = 0
    while size < limit:
        try:
            chunk = await anext(chunks)
        except StopAsyncIteration:
            return held, True
        held.append(chunk)
        size += len(chunk)
    return held, False


async def _body(writer: TableWriter) -> AsyncIterator[bytes]:
    try:
        async with contextlib.aclosing(writer.chunks()) as chunks:  # type: ignore[type-var]
            async for chunk in chunks:
                yield chunk
    finally:
        if writer.error is not None and not isinstance(writer.error, SkygateError):
            internal_error(writer.error)


# ----------------------------------------------------------------------------- endpoints

async def sync(tap: _Tap, request: Request) -> Response:
    """TAP /sync: run the query and answer in place with the result document."""
    config = await _caller_config(tap, request)
    try:
        limits = FormLimits(body_max_bytes=config.body_max_bytes, file_max_bytes=config.upload_max_bytes)
        params = await read_request(request, limits)
        tq = parse_tap(params, maxrec_default=config.maxrec_default, maxrec_hard=config.maxrec_hard)
        if tq.destination:
            raise UsageError("DESTINATION is honoured by asynchronous queries only", param="DESTINATION",
                             hint="submit the query to /tap/async")
        release = tap.runtime.release
        engine = require_engine(getattr(release, "engine", None), getattr(release, "problem", None))

        async def start() -> TableWriter:
            uploads = await load_uploads(tq.uploads, {n: p.content for n, p in params.files.items()}, config)
            view = await _view(tap, request, config)
            return await start_query(engine, tq, uploads, timeout=config.sync_timeout, tables=view.statement)

        # A client that leaves while the uploads are fetched or the statement is planned or runs
        # (before the first row) cancels it: abandoned queries would otherwise fill every slot.
        writer = await unless_disconnected(request.receive, start())
    except ClientDisconnected:
        _log.info("TAP sync client left before the first row; the query was stopped")
        return Response(status_code=499)
    except SkygateError as exc:
        return error_response(exc)
    except Exception as exc:  # noqa: BLE001 (logged by internal_error; users get our sentence)
        return error_response(internal_error(exc))
    in_band = tq.format.kind not in (OutputFormat.CSV, OutputFormat.TSV)
    gzip = gzip_wanted(tq.format.kind, request.headers.get("accept-encoding"),
                       request.client.host if request.client else None, loopback=config.gzip_loopback)
    return _TableResponse(_body(writer), media_type=tq.format.media_type, hold_for=None if in_band else writer,
                          compressible=tq.format.kind in COMPRESSED_KINDS, gzip=gzip)


async def root(tap: _Tap, request: Request) -> Response:
    """A human-readable page about the service (TAP §2: the base URL SHOULD be HTML)."""
    base = tap.config.tap_url
    links = "".join(
        f'<li><a href="{escape(base)}/{p}">{escape(p)}</a> — {escape(d)}</li>'
        for p, d in (("capabilities", "what this service supports (VOSI)"),
                     ("tables", "the published tables (VOSI 1.1)"),
                     ("examples", "example queries"),
                     ("availability", "is it up"),
                     ("async", "asynchronous query jobs (UWS 1.1)")))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Skygate TAP</title></head><body>
<h1>Skygate TAP 1.1 service</h1>
<p>Point TOPCAT, pyvo or STILTS at <code>{escape(base)}</code>. Queries are ADQL 2.1.</p>
<form method="post" action="{escape(base)}/sync">
<input type="hidden" name="LANG" value="ADQL">
<textarea name="QUERY" rows="5" cols="80">SELECT TOP 10 * FROM TAP_SCHEMA.tables</textarea><br>
<select name="RESPONSEFORMAT"><option>votable</option><option>csv</option><option>tsv</option>
<option>fits</option><option>parquet</option></select>
<input type="submit" value="Run (sync)"></form>
<ul>{links}</ul></body></html>
"""
    return Response(page, media_type="text/html")


async def _availability(tap: _Tap, request: Request) -> Response:
    """VOSI availability: really asks the backend for a row, the job store and the broker."""
    release, jobs = tap.runtime.release, tap.runtime.jobs
    body = await availability([lambda: unavailable_because(release), lambda: jobs_unavailable(jobs)],
                              up_since=tap.started, ready="the service is accepting queries")
    return Response(body, media_type=_XML)


async def _capabilities(tap: _Tap, request: Request) -> Response:
    body = tap_capabilities(tap.config, has_obscore="ivoa.obscore" in _metadata(tap))
    return Response(body, media_type=_XML, headers={"Last-Modified": format_datetime(tap.started, usegmt=True)})


async def tables(tap: _Tap, request: Request) -> Response:
    """VOSI 1.1 tableset; ``detail=min`` leaves out columns (pyvo then asks /tables/{name}).

    astroquery's TapPlus gets ESA's dialect (``tap.tables``): ``load_tables()`` sends no parameter
    and no User-Agent, other calls send ESA TAP+ parameters, of which ``tables=a.b,c.d``
    (``load_table``) and ``only_tables=true`` (``only_names=True``) are honoured.
    """
    config = tap.config
    params = await read_request(request, FormLimits(body_max_bytes=config.body_max_bytes))
    detail = params.get("DETAIL") or "max"
    if detail.lower() not in ("min", "max"):
        raise UsageError("DETAIL must be min or max", param="DETAIL")
    view = await _view(tap, request, config)
    metadata = view.metadata(_metadata(tap))
    esa = _asks_like_astroquery(request)
    if esa:
        if (params.get("ONLY_TABLES") or "").lower() == "true":
            detail = "min"
        wanted = [n.strip() for n in (params.get("TABLES") or "").split(",") if n.strip()]
        if wanted:
            chosen = {}
            for name in wanted:
                meta = find_table(metadata, name)
                if meta is None:
                    return error_response(UsageError(f"there is no table called {name[:80]!r}",
                                                     param="TABLES", hint="see /tap/tables"), status=404)
                chosen[meta.qualified] = meta
            metadata = chosen
    descriptions = view.schema_descriptions(getattr(tap.runtime.release, "schema_descriptions", {}))
    body = tableset_document(metadata, detail=detail.lower() != "min", esa_flags=esa,
                             schema_descriptions=descriptions, schema_utypes=view.served.schema_utypes)
    return Response(body, media_type=_XML)


# ESA TAP+ /tables parameters (astroquery utils/tap/core.py); no IVOA client sends them.
_ESA_TABLES_PARAMS = frozenset({"only_tables", "only_schemas", "share_accessible", "share_info", "tables", "schemas"})


def _asks_like_astroquery(request: Request) -> bool:
    """astroquery's TapPlus: its GETs go through http.client with no headers of their own, so no
    User-Agent (astroquery utils/tap/conn/tapconn.py; its POSTs say ``astroquery/<version>``), or
    the request carries ESA TAP+ parameters. pyvo, TOPCAT/STILTS (taplint), curl and browsers all
    send a User-Agent, so they keep receiving the plain documents."""
    agent = request.headers.get("user-agent", "").strip().lower()
    if not agent or agent.startswith("astroquery/"):
        return True
    return any(name.lower() in _ESA_TABLES_PARAMS for name in request.query_params)


async def table(tap: _Tap, request: Request) -> Response:
    """``/tables/{name}``: describe a table (GET), store the caller's new table (PUT), drop it (DELETE)."""
    config = await _caller_config(tap, request)
    owner = _owner(tap, request, config)
    release = tap.runtime.release
    try:
        if request.method == "PUT":
            created = await put_table(request, config, release, owner)
            location = f"{config.tap_url}/tables/{created.qualified}"
            return Response(table_document(created), status_code=201, media_type=_XML,
                            headers={"Location": location})
        if request.method == "DELETE":
            if await delete_table(request, release, owner):
                return Response(status_code=204)
            return _no_table(request)
    except PermissionError as exc:
        return error_response(UsageError(str(exc), hint="see /tap/capabilities for how to log in"), status=403)
    except TableExists as exc:
        return error_response(exc, status=409)
    except UnsupportedFormat as exc:
        return error_response(exc, status=415)
    view = await _view(tap, request, config)
    meta = find_table(view.metadata(_metadata(tap)), request.path_params["name"])
    if meta is None:
        return _no_table(request)
    return Response(table_document(meta), media_type=_XML)


def _no_table(request: Request) -> Response:
    return error_response(UsageError(f"there is no table called {request.path_params['name'][:80]!r}",
                                     hint="see /tap/tables"), status=404)


async def examples(tap: _Tap, request: Request) -> Response:
    metadata = _metadata(tap)
    return Response(examples_document(metadata or None), media_type="application/xhtml+xml")


class _DaliErrors:
    """ASGI wrapper for the /tap router: framework errors (404, 405, failures before the response
    started) become DALI error VOTables instead of framework text or HTML pages."""

    def __init__(self, app: Router) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except HTTPException as exc:
            if started:
                raise
            text = {404: "there is nothing at this URL under /tap", 405: "this method is not allowed here"}.get(
                exc.status_code, str(exc.detail))
            error: SkygateError = UsageError(text, hint="see /tap/capabilities")
            await error_response(error, status=exc.status_code)(scope, receive, send)
        except SkygateError as exc:
            if started:
                raise
            await error_response(exc)(scope, receive, send)
        except Exception as exc:
            if started:
                raise
            fatal: FatalError = internal_error(exc)
            await error_response(fatal)(scope, receive, send)
