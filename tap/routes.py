"""HTTP edge of TAP 1.1 at ``/tap``: root page, /sync, /async (UWS), /availability, /capabilities,
/tables, /tables/{name} and /examples.

Collects GET/POST parameters (query string, urlencoded or multipart body) into DALI parameters,
streams /sync results straight from the query engine to the socket (a client that disconnects
closes the stream, which cancels the statement), and answers every failure under /tap (404 and
405 included) with a DALI error VOTable and a fitting status: 400 usage, 503 transient, 500 ours.
The release comes from ``request.app.state.release`` and the settings from
``request.app.state.settings`` (both set by ``skygate/app.py``).
Tests: tests/tap/test_routes.py, tests/tap/test_live.py.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import Message, Receive, Scope, Send

from dali.disconnect import ClientDisconnected, unless_disconnected
from dali.errors import FatalError, SkygateError, TransientError, UsageError
from dali.params import DaliParams, FilePart, collect
from dali.vosi import availability_document
from dali.votable import error_document, error_message
from dali.writers import Info, TableWriter
from tap.capabilities import tap_capabilities
from tap.examples import examples_document
from tap.jobs import KIND
from tap.params import parse_tap
from tap.service import STANDARD_ID, TapConfig, internal_error, load_uploads, require_engine, start_query
from tap.tables import find_table, table_document, tableset_document
from uws.routes import job_routes

__all__ = ["collect_request", "tap_routes"]

_log = logging.getLogger(__name__)
_XML = "text/xml"
_VOTABLE = "application/x-votable+xml"


def tap_routes() -> list[BaseRoute]:
    """The routes to add to the application: ``/tap`` and everything below it."""
    started = datetime.now(UTC)  # upSince and Last-Modified: when this application was built

    async def availability(request: Request) -> Response:
        return await _availability(request, started)

    async def capabilities(request: Request) -> Response:
        return await _capabilities(request, started)

    inner = Router(
        routes=[
            Route("/", root, methods=["GET"]),
            Route("/sync", sync, methods=["GET", "POST"]),
            Route("/availability", availability, methods=["GET"]),
            Route("/capabilities", capabilities, methods=["GET"]),
            Route("/tables", tables, methods=["GET"]),
            Route("/tables/{name:path}", table, methods=["GET"]),
            Route("/examples", examples, methods=["GET"]),
            *job_routes(KIND, path="/async"),
        ],
    )
    return [Route("/tap", root, methods=["GET"]), Mount("/tap", app=_DaliErrors(inner))]


# ----------------------------------------------------------------------------- helpers

def _config(request: Request) -> TapConfig:
    return TapConfig.from_settings(getattr(request.app.state, "settings", None) or TapConfig())


def _release(request: Request) -> Any:
    return getattr(request.app.state, "release", None)


def _metadata(request: Request) -> dict[str, Any]:
    release = _release(request)
    return dict(release.metadata) if release is not None else {}


def _status(exc: SkygateError) -> int:
    if isinstance(exc, UsageError):
        return 400
    if isinstance(exc, TransientError):
        return 503
    return 500


def error_response(exc: SkygateError, status: int | None = None) -> Response:
    """A DALI error VOTable for ``exc`` with its status code."""
    if isinstance(exc, UsageError):
        _log.info("TAP usage error: %s", exc)
    body = error_document(error_message(exc), infos=[Info("standardID", STANDARD_ID)])
    return Response(body, status_code=status or _status(exc), media_type=_VOTABLE)


async def collect_request(request: Request, *, max_file_bytes: int) -> DaliParams:
    """Query-string and body parameters (urlencoded or multipart) with multipart file parts."""
    pairs: list[tuple[str, str]] = list(request.query_params.multi_items())
    files: list[FilePart] = []
    content_type = request.headers.get("content-type", "").lower()
    if request.method == "POST" and content_type.startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        try:
            form = await request.form(max_files=100, max_fields=10_000, max_part_size=16 * 1024 * 1024)
        except HTTPException as exc:
            raise UsageError("the request body could not be read as a form", param="UPLOAD",
                             hint=str(exc.detail)[:200]) from exc
        try:
            for name, value in form.multi_items():
                if isinstance(value, UploadFile):
                    data = await value.read(max_file_bytes + 1)
                    if len(data) > max_file_bytes:
                        raise UsageError(f"the uploaded part {name!r} is larger than {max_file_bytes} bytes",
                                         param="UPLOAD", hint="upload fewer rows or columns")
                    files.append(FilePart(name, data, value.filename, value.content_type))
                else:
                    pairs.append((name, value))
        finally:
            await form.close()  # spooled temporary files of the parts
    return collect(pairs, files)


class _TableResponse(StreamingResponse):
    """A streamed result whose writer is closed however the response ends (done, error, disconnect),
    so the database statement behind it is cancelled when the client goes away."""

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
            internal_error(writer.error)


# ----------------------------------------------------------------------------- endpoints

async def sync(request: Request) -> Response:
    """TAP /sync: run the query and answer in place with the result document."""
    config = _config(request)
    try:
        params = await collect_request(request, max_file_bytes=config.upload_max_bytes)
        tq = parse_tap(params, maxrec_default=config.maxrec_default, maxrec_hard=config.maxrec_hard)
        release = _release(request)
        engine = require_engine(getattr(release, "engine", None), getattr(release, "problem", None))

        async def start() -> TableWriter:
            uploads = await load_uploads(tq.uploads, {n: p.content for n, p in params.files.items()}, config)
            return await start_query(engine, tq, uploads, timeout=config.sync_timeout)

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
    return _TableResponse(_body(writer), media_type=tq.format.media_type)


async def root(request: Request) -> Response:
    """A human-readable page about the service (TAP §2: the base URL SHOULD be HTML)."""
    base = _config(request).tap_url
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


async def _availability(request: Request, started: datetime) -> Response:
    """VOSI availability: really asks the backend for a row."""
    release = _release(request)
    notes: list[str] = []
    up = False
    if release is None or getattr(release, "engine", None) is None:
        notes.append(getattr(release, "problem", None) or "no data release is loaded")
    else:
        try:
            async with contextlib.aclosing(release.backend.stream("SELECT 1 AS ok", timeout=5.0)) as rows:
                async for _ in rows:
                    pass
            up = True
            notes.append("the service is accepting queries")
        except Exception:  # noqa: BLE001 (any failure means "not available"; logged)
            _log.warning("availability check failed", exc_info=True)
            notes.append("the database is not answering")
    return Response(availability_document(up, up_since=started, notes=notes), media_type=_XML)


async def _capabilities(request: Request, started: datetime) -> Response:
    body = tap_capabilities(_config(request), has_obscore="ivoa.obscore" in _metadata(request))
    return Response(body, media_type=_XML, headers={"Last-Modified": format_datetime(started, usegmt=True)})


async def tables(request: Request) -> Response:
    """VOSI 1.1 tableset; ``detail=min`` leaves out columns (pyvo then asks /tables/{name})."""
    detail = collect(list(request.query_params.multi_items())).get("DETAIL") or "max"
    if detail.lower() not in ("min", "max"):
        raise UsageError("DETAIL must be min or max", param="DETAIL")
    body = tableset_document(_metadata(request), detail=detail.lower() != "min")
    return Response(body, media_type=_XML)


async def table(request: Request) -> Response:
    meta = find_table(_metadata(request), request.path_params["name"])
    if meta is None:
        return error_response(UsageError(f"there is no table called {request.path_params['name'][:80]!r}",
                                         hint="see /tap/tables"), status=404)
    return Response(table_document(meta), media_type=_XML)


async def examples(request: Request) -> Response:
    metadata = _metadata(request)
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
