"""HTTP edge of SODA and DataLink under ``/soda``.

``/sync`` (cutouts, FITS), ``/async`` and ``/bulk`` (UWS job lists of the ``soda-async`` and
``soda-bulk`` kinds), ``/links`` (DataLink 1.1), ``/preview`` (PNG), ``/files/{tile}/{file}`` (the
image files, the DataLink ``#this`` links), ``/examples``, ``/capabilities`` and ``/availability``. Blocking work
(astropy) runs in a thread. SODA errors are ``text/plain`` (``UsageError: ...``), DataLink errors
DALI VOTables (``UsageFault: ...``). Tests: tests/soda/test_routes.py.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import urllib.parse
from collections.abc import Mapping
from html import escape
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from dali.errors import SkygateError, TooLargeError, UsageError
from dali.form import FormLimits, read_request
from release.obscore import image_did
from soda.cutout import NoOverlapError
from soda.params import parse_soda
from soda.service import (
    DATALINK_STANDARD_ID,
    SODA_ASYNC_ID,
    SODA_SYNC_ID,
    UnknownDatasetError,
    links_error,
    links_votable,
    preview_png,
    resolve,
    run_cutouts,
)
from uws.routes import job_routes

__all__ = ["capabilities_xml", "examples_xhtml", "soda_routes"]

_log = logging.getLogger(__name__)
_DATALINK = "application/x-votable+xml;content=datalink"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+\-_.]{0,127}$")


async def _params(request: Request) -> Mapping[str, tuple[str, ...]]:
    """Parameters by upper-case name within the request limits (``dali.form``)."""
    limits = FormLimits(body_max_bytes=request.app.state.settings.body_max_bytes)
    return (await read_request(request, limits)).params().values


def _release_dir(request: Request) -> Path:
    return Path(request.app.state.settings.release_dir)


def _soda_error(exc: BaseException) -> Response:
    """SODA 1.0 §5: text/plain, the first word says what kind of error."""
    if isinstance(exc, NoOverlapError):
        return PlainTextResponse(f"NoOverlap: {exc}\n", status_code=400)
    if isinstance(exc, UnknownDatasetError):
        return PlainTextResponse(f"UsageError: {exc}\n", status_code=404)
    if isinstance(exc, UsageError):
        status = 413 if isinstance(exc, TooLargeError) else 400
        return PlainTextResponse(f"UsageError: {exc}\n", status_code=status)
    if isinstance(exc, SkygateError) and exc.kind == "transient":
        return PlainTextResponse(f"ServiceUnavailable: {exc}\n", status_code=503)
    _log.exception("SODA request failed", exc_info=exc)
    return PlainTextResponse("Error: the cutout failed; the failure was logged\n", status_code=500)


async def _sync(request: Request) -> Response:
    try:
        params = await _params(request)
        soda_request = parse_soda(params)
        body, count = await asyncio.to_thread(run_cutouts, _release_dir(request), soda_request)
    except Exception as exc:  # noqa: BLE001 - the protocol edge turns every failure into a SODA error
        return _soda_error(exc)
    return Response(body, media_type="application/fits",
                    headers={"Content-Disposition": 'inline; filename="cutout.fits"',
                             "X-Cutout-Count": str(count)})


async def _links(request: Request) -> Response:
    try:
        params = await _params(request)
        fmt = (params.get("RESPONSEFORMAT") or [""])[-1].strip()
        if fmt and fmt.lower().replace(" ", "") not in ("votable", "application/x-votable+xml", _DATALINK,
                                                          "text/xml"):
            raise UsageError(f"RESPONSEFORMAT {fmt[:60]!r} is not supported", param="RESPONSEFORMAT",
                             hint="DataLink documents are VOTables")
        ids = [v.strip() for v in params.get("ID", ()) if v.strip()]
        settings = request.app.state.settings
        body = await asyncio.to_thread(links_votable, _release_dir(request), settings.base_url, ids)
    except UsageError as exc:
        return Response(links_error(f"UsageFault: {exc}"), status_code=413 if isinstance(exc, TooLargeError) else 400,
                        media_type="application/x-votable+xml")
    except Exception:  # noqa: BLE001 - the protocol edge: any failure becomes a DALI error document
        _log.exception("DataLink request failed")
        return Response(links_error("FatalFault: the links could not be listed; the failure was logged"),
                        status_code=500, media_type="application/x-votable+xml")
    return Response(body, media_type=_DATALINK)


@functools.lru_cache(maxsize=64)
def _cached_preview(path: str, mtime_ns: int) -> bytes:
    return preview_png(Path(path))


async def _preview(request: Request) -> Response:
    try:
        ids = (await _params(request)).get("ID", ())
        if len(ids) != 1:
            raise UsageError("give exactly one ID", param="ID")
        images = await asyncio.to_thread(resolve, _release_dir(request), ids[0])
        path = images[0].path
        png = await asyncio.to_thread(_cached_preview, str(path), path.stat().st_mtime_ns)
    except Exception as exc:  # noqa: BLE001 - the protocol edge
        return _soda_error(exc)
    return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=86400"})


async def _file(request: Request) -> Response:
    tilename, filename = request.path_params["tilename"], request.path_params["filename"]
    root = (_release_dir(request) / "tiles").resolve()
    if not (_NAME.match(tilename) and _NAME.match(filename) and filename.endswith((".fits", ".fits.fz"))):
        return PlainTextResponse("UsageError: no such file\n", status_code=404)
    path = (root / tilename / filename).resolve()
    if path.parent.parent != root or not path.is_file():
        return PlainTextResponse("UsageError: no such file\n", status_code=404)
    return FileResponse(path, media_type="application/fits", filename=filename)


def capabilities_xml(base_url: str) -> bytes:
    """VOSI capabilities of /soda: SODA sync and async, DataLink links, VOSI."""
    soda = f"{base_url}/soda"

    def capability(standard_id: str, url: str, version: str = "") -> str:
        extra = f' version="{version}"' if version else ""
        return (f'<capability standardID="{standard_id}">\n'
                f'<interface xsi:type="vs:ParamHTTP" role="std"{extra}>\n'
                f'<accessURL use="base">{escape(url)}</accessURL>\n</interface>\n</capability>\n')

    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<vosi:capabilities xmlns:vosi="http://www.ivoa.net/xml/VOSICapabilities/v1.0" '
        'xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        + capability(SODA_SYNC_ID, f"{soda}/sync", "1.0")
        + capability(SODA_ASYNC_ID, f"{soda}/async", "1.0")
        + capability(DATALINK_STANDARD_ID, f"{soda}/links", "1.1")
        + capability("ivo://ivoa.net/std/DALI#examples", f"{soda}/examples")
        + capability("ivo://ivoa.net/std/VOSI#capabilities", f"{soda}/capabilities")
        + capability("ivo://ivoa.net/std/VOSI#availability", f"{soda}/availability")
        + "</vosi:capabilities>\n"
    ).encode()


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


async def _examples(request: Request) -> Response:
    return Response(examples_xhtml(request.app.state.settings.base_url), media_type="application/xhtml+xml")


async def _capabilities(request: Request) -> Response:
    return Response(capabilities_xml(request.app.state.settings.base_url), media_type="text/xml")


async def _availability(request: Request) -> Response:
    body = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<vosi:availability xmlns:vosi="http://www.ivoa.net/xml/VOSIAvailability/v1.0">\n'
            b"<vosi:available>true</vosi:available>\n</vosi:availability>\n")
    return Response(body, media_type="text/xml")


def soda_routes() -> list[BaseRoute]:
    """Routes to mount at ``/soda``."""
    return [
        Route("/sync", _sync, methods=["GET", "POST"]),
        Route("/links", _links, methods=["GET", "POST"]),
        Route("/preview", _preview, methods=["GET"]),
        Route("/files/{tilename}/{filename}", _file, methods=["GET"]),
        Route("/examples", _examples, methods=["GET"]),
        Route("/capabilities", _capabilities, methods=["GET"]),
        Route("/availability", _availability, methods=["GET"]),
        *job_routes("soda-async", path="/async"),
        *job_routes("soda-bulk", path="/bulk"),
    ]
