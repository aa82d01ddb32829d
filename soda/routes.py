"""HTTP edge of SODA and DataLink under ``/soda``, all mounted by ``soda_routes(config, runtime)``.

``/soda`` and ``/`` (an index), ``/sync`` (cutouts, FITS), ``/async`` and ``/bulk`` (UWS job lists of
the ``soda-async`` and ``soda-bulk`` kinds), ``/links`` (DataLink 1.1, ``soda.links``), ``/preview``
(PNG), ``/files/{tile}/{file}`` (the image files, the DataLink ``#this`` links), ``/examples``,
``/capabilities`` (``dali.vosi`` values) and ``/availability`` (the release folder, the job store
and the broker). Blocking work (astropy) runs in a thread. SODA errors are ``text/plain``
(``UsageError: ...``), DataLink errors the DALI error VOTable (``UsageFault: ...``); both with the
status of ``dali.errors.http_status``. The settings come as a ``SodaConfig``, the job system through the
``uws.routes.JobsRuntime`` the assembly fills in. Tests: tests/soda/test_routes.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import tempfile
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route

from dali.descriptors import DATALINK_FORMAT, DATALINK_STANDARD_ID, SODA_ASYNC_ID, SODA_SYNC_ID
from dali.errors import SkygateError, TransientError, UsageError, error_headers, http_status
from dali.form import FormLimits, read_request
from dali.vosi import XML_MEDIA_TYPE, Capability, Interface, availability, capabilities_document, support_capabilities
from dali.votable import ERROR_MEDIA_TYPE, error_document, error_message
from dali.writers import Info
from release.obscore import image_did
from soda.cutout import NoOverlapError
from soda.links import link_rows, links_writer
from soda.params import parse_soda
from soda.service import preview_png, resolve, run_cutouts
from uws.routes import JobsRuntime, job_routes
from uws.system import jobs_unavailable

__all__ = ["SodaConfig", "capabilities_xml", "examples_xhtml", "soda_routes"]

_log = logging.getLogger(__name__)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+\-_.]{0,127}$")


@dataclass(frozen=True, slots=True)
class SodaConfig:
    """The settings SODA uses (no defaults: ``skygate.settings.Settings`` holds them)."""

    base_url: str
    body_max_bytes: int
    release_dir: Path


def _limits(config: SodaConfig) -> FormLimits:
    """What ``dali.form.read_request`` refuses (413 over a size limit, 400 for control characters)."""
    return FormLimits(body_max_bytes=config.body_max_bytes)


Handler = Callable[[SodaConfig, Request], Awaitable[Response]]


def _soda_error(exc: BaseException) -> Response:
    """SODA 1.0 §5: text/plain, the first word says what kind of error; the status is
    ``dali.errors.http_status``'s, as for every service."""
    status, headers = http_status(exc), error_headers(exc)
    if isinstance(exc, NoOverlapError):
        text = f"NoOverlap: {exc}"
    elif isinstance(exc, UsageError):
        text = f"UsageError: {exc}"
    elif isinstance(exc, TransientError):
        text = f"ServiceUnavailable: {exc}"
    else:
        _log.exception("SODA request failed", exc_info=exc)
        text = "Error: the cutout failed; the failure was logged"
    return PlainTextResponse(text + "\n", status_code=status, headers=headers)


def _links_error(exc: BaseException) -> Response:
    """The DALI error VOTable of a whole DataLink request (DataLink 1.1 §3.4)."""
    if not isinstance(exc, SkygateError):
        _log.exception("DataLink request failed", exc_info=exc)
    body = error_document(error_message(exc), infos=[Info("standardID", DATALINK_STANDARD_ID)])
    return Response(body, status_code=http_status(exc), media_type=ERROR_MEDIA_TYPE, headers=error_headers(exc))


async def _sync(config: SodaConfig, request: Request) -> Response:
    # Written whole before the answer starts, so that a failure is still a SODA error, and spooled to a
    # temporary file past _IN_MEMORY: a sync call may cut up to 4096 x 4096 pixels per extension in all.
    with contextlib.ExitStack() as owned:
        spool = owned.enter_context(tempfile.SpooledTemporaryFile(max_size=_IN_MEMORY))
        try:
            soda_request = parse_soda(await read_request(request, _limits(config)))
            count = await asyncio.to_thread(run_cutouts, config.release_dir, soda_request, spool)
        except Exception as exc:  # noqa: BLE001 - the protocol edge turns every failure into a SODA error
            return _soda_error(exc)
        headers = {"Content-Disposition": 'inline; filename="cutout.fits"', "X-Cutout-Count": str(count)}
        size = spool.tell()
        spool.seek(0)
        if size <= _IN_MEMORY:
            return Response(spool.read(), media_type="application/fits", headers=headers)
        owned.pop_all()  # the answer's chunks close it
        return StreamingResponse(_chunks(spool), media_type="application/fits",
                                 headers={**headers, "Content-Length": str(size)})


# Sync cutout files up to this size are answered from memory; larger ones from a temporary file.
_IN_MEMORY = 8 << 20


def _chunks(spool: tempfile.SpooledTemporaryFile[bytes]) -> Iterator[bytes]:
    """The spooled file in 1 MiB pieces (Starlette reads them in a thread), closed at the end."""
    with spool:
        while chunk := spool.read(1 << 20):
            yield chunk


async def _links(config: SodaConfig, request: Request) -> Response:
    try:
        params = await read_request(request, _limits(config))
        fmt = (params.getall("RESPONSEFORMAT") or ("",))[-1].strip()
        if fmt and fmt.lower().replace(" ", "") not in ("votable", "application/x-votable+xml", DATALINK_FORMAT,
                                                          "text/xml"):
            raise UsageError(f"RESPONSEFORMAT {fmt[:60]!r} is not supported", param="RESPONSEFORMAT",
                             hint="DataLink documents are VOTables")
        ids = [v.strip() for v in params.getall("ID") if v.strip()]
        base_url = config.base_url
        rows = await asyncio.to_thread(link_rows, config.release_dir, base_url, ids)
        writer = links_writer(rows, base_url=base_url)
        body = b"".join([chunk async for chunk in writer.chunks()])
        if writer.error is not None:
            raise writer.error
    except Exception as exc:  # noqa: BLE001 - the protocol edge: any failure becomes a DALI error document
        return _links_error(exc)
    return Response(body, media_type=DATALINK_FORMAT)


@functools.lru_cache(maxsize=64)
def _cached_preview(path: str, mtime_ns: int) -> bytes:
    return preview_png(Path(path))


async def _preview(config: SodaConfig, request: Request) -> Response:
    try:
        ids = (await read_request(request, _limits(config))).getall("ID")
        if len(ids) != 1:
            raise UsageError("give exactly one ID", param="ID")
        images = await asyncio.to_thread(resolve, config.release_dir, ids[0])
        path = images[0].path
        png = await asyncio.to_thread(_cached_preview, str(path), path.stat().st_mtime_ns)
    except Exception as exc:  # noqa: BLE001 - the protocol edge
        return _soda_error(exc)
    return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=86400"})


async def _file(config: SodaConfig, request: Request) -> Response:
    tilename, filename = request.path_params["tilename"], request.path_params["filename"]
    root = (config.release_dir / "tiles").resolve()
    if not (_NAME.match(tilename) and _NAME.match(filename) and filename.endswith((".fits", ".fits.fz"))):
        return PlainTextResponse("UsageError: no such file\n", status_code=404)
    path = (root / tilename / filename).resolve()
    if path.parent.parent != root or not path.is_file():
        return PlainTextResponse("UsageError: no such file\n", status_code=404)
    return FileResponse(path, media_type="application/fits", filename=filename)


def capabilities_xml(base_url: str) -> bytes:
    """VOSI capabilities of /soda: SODA sync and async, DataLink links, VOSI, DALI examples."""
    soda = f"{base_url}/soda"
    services = (
        Capability(SODA_SYNC_ID, (Interface(f"{soda}/sync", use="base", role="std", version="1.0"),)),
        Capability(SODA_ASYNC_ID, (Interface(f"{soda}/async", use="base", role="std", version="1.0"),)),
        Capability(DATALINK_STANDARD_ID, (Interface(f"{soda}/links", use="base", role="std", version="1.1"),)),
    )
    return capabilities_document((*services, *support_capabilities(soda, examples=True)))


def examples_xhtml(base_url: str) -> bytes:
    """DALI examples (SODA 1.0 SHOULD): one sync cutout and one DataLink call, as XHTML with RDFa."""
    did = image_did("DES2134-0041", "r")
    sync = f"{base_url}/soda/sync?ID={urllib.parse.quote(did, safe='')}&CIRCLE=323.36+-0.82+0.02"
    links = f"{base_url}/soda/links?ID={urllib.parse.quote(did, safe='')}"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>SODA examples</title></head>\n'
        '<body vocab="http://www.ivoa.net/rdf/examples#">\n'
        '<div typeof="example" id="m2-cutout" resource="#m2-cutout">\n'
        '<h2 property="name">A 1.2 arcminute r-band cutout around M2</h2>\n'
        '<p>Three extensions (SCI, MSK, WGT) cut from tile DES2134-0041: '
        f'<a href="{escape(sync)}">{escape(sync)}</a></p>\n'
        '<span property="generic-parameter" typeof="keyval"><span property="key">ID</span> '
        f'<span property="value">{escape(did)}</span></span>\n'
        '<span property="generic-parameter" typeof="keyval"><span property="key">CIRCLE</span> '
        '<span property="value">323.36 -0.82 0.02</span></span>\n'
        "</div>\n"
        '<div typeof="example" id="m2-links" resource="#m2-links">\n'
        '<h2 property="name">The DataLink document of an image</h2>\n'
        f'<p><a href="{escape(links)}">{escape(links)}</a></p>\n'
        "</div>\n</body></html>\n"
    ).encode()


async def _examples(config: SodaConfig, request: Request) -> Response:
    return Response(examples_xhtml(config.base_url), media_type="application/xhtml+xml")


async def _capabilities(config: SodaConfig, request: Request) -> Response:
    return Response(capabilities_xml(config.base_url), media_type=XML_MEDIA_TYPE)


async def _release_files(release_dir: Path) -> str | None:
    """Why no image can be served (the release folder holds no tiles), or None."""
    if (release_dir / "tiles").is_dir():
        return None
    return "no image release is loaded (no tiles folder); run `skygate demo`"


async def _index(config: SodaConfig, request: Request) -> Response:
    """A page linking the endpoints (what ``/soda`` answers when no portal page is in front)."""
    soda = f"{config.base_url}/soda"
    links = "".join(f'<li><a href="{escape(soda)}/{path}">{escape(path)}</a> — {escape(what)}</li>'
                    for path, what in (("sync", "SODA 1.0 cutouts (ID with CIRCLE, POLYGON, POS or BAND)"),
                                       ("async", "SODA 1.0 cutout jobs (UWS 1.1)"),
                                       ("bulk", "bulk cutout jobs (UWS 1.1)"),
                                       ("links", "DataLink 1.1 links of a dataset (ID)"),
                                       ("examples", "example requests"),
                                       ("capabilities", "what this service supports (VOSI)"),
                                       ("availability", "is it up (VOSI)")))
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Skygate SODA</title></head>'
            f"<body>\n<h1>Skygate SODA 1.0 and DataLink 1.1 service</h1>\n<ul>{links}</ul>\n</body></html>\n")
    return Response(page, media_type="text/html")


def soda_routes(config: SodaConfig, runtime: JobsRuntime) -> list[BaseRoute]:
    """The routes to add to the application: ``/soda`` and everything below it."""
    started = datetime.now(UTC)

    def bound(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        return functools.partial(handler, config)

    async def available(request: Request) -> Response:
        jobs = runtime.jobs
        body = await availability([lambda: _release_files(config.release_dir), lambda: jobs_unavailable(jobs)],
                                  up_since=started, ready="SODA and DataLink are accepting requests")
        return Response(body, media_type=XML_MEDIA_TYPE)

    # The root answers with and without the slash: a bare mount would redirect /soda to /soda/.
    return [Route("/soda", bound(_index), methods=["GET"]), Mount("/soda", routes=[
        Route("/", bound(_index), methods=["GET"]),
        Route("/sync", bound(_sync), methods=["GET", "POST"]),
        Route("/links", bound(_links), methods=["GET", "POST"]),
        Route("/preview", bound(_preview), methods=["GET"]),
        Route("/files/{tilename}/{filename}", bound(_file), methods=["GET"]),
        Route("/examples", bound(_examples), methods=["GET"]),
        Route("/capabilities", bound(_capabilities), methods=["GET"]),
        Route("/availability", available, methods=["GET"]),
        *job_routes("soda-async", runtime, path="/async"),
        *job_routes("soda-bulk", runtime, path="/bulk"),
    ])]
