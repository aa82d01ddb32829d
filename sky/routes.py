"""HTTP edge of the sky: footprints at ``/moc`` and ``/moc/{name}``, HiPS surveys under ``/hips``.

``/moc/{name}?format=fits|json|ascii`` answers the stored MOC 2.0 in that serialisation (FITS when
omitted), with its sky area in ``X-Sky-Area`` (square degrees) and ``X-Sky-Fraction`` headers and an
``ETag`` from the stored file, so clients revalidate cheaply. Unknown names are a 404 and unknown
formats a 400, both as ``text/plain`` (``UsageError: ...``), the form SODA uses outside VOTable.

``/hips/list`` is the HiPS 1.0 §4.5 list of the built surveys; ``/hips/{survey}/...`` serves their
files as they lie on disk (Starlette ``StaticFiles``: ``ETag``/``Last-Modified`` revalidation and
byte ranges), with the HiPS media types, a day of caching for tiles and CORS open, since Aladin
Lite pages on other sites load tiles from here.
Tests: tests/sky/test_routes.py, tests/sky/test_hips_routes.py.
"""

from __future__ import annotations

import asyncio
import os
from html import escape
from pathlib import Path
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from sky.hipsmeta import hipslist
from sky.moc import FORMATS, Footprint, read_footprints, serialize

__all__ = ["hips_routes", "moc_routes"]

_CACHE_CONTROL = "public, max-age=300"


def moc_routes(moc_dir: Path, base_url: str) -> list[BaseRoute]:
    """The ``/moc`` routes serving the footprints stored in ``moc_dir`` (read again when they change);
    links in the index start with ``base_url``."""
    cache = _MocCache(moc_dir)

    async def index(request: Request) -> Response:
        footprints = await asyncio.to_thread(cache.footprints)
        if request.query_params.get("format", "html").lower() == "json":
            return JSONResponse([_summary(base_url, f) for f in footprints.values()],
                                headers={"Cache-Control": _CACHE_CONTROL})
        return HTMLResponse(_index_html(base_url, list(footprints.values())),
                            headers={"Cache-Control": _CACHE_CONTROL})

    async def one(request: Request) -> Response:
        name = request.path_params["name"]
        fmt = request.query_params.get("format", "fits").strip().lower()
        if fmt not in FORMATS:
            return _error(400, f"unknown MOC format {fmt!r}; use one of {', '.join(FORMATS)}")
        footprint = (await asyncio.to_thread(cache.footprints)).get(name)
        if footprint is None:
            return _error(404, f"no footprint named {name!r}; see /moc for the list")
        body, etag = await asyncio.to_thread(cache.body, footprint, fmt)
        headers = {"ETag": etag, "Cache-Control": _CACHE_CONTROL, "X-Sky-Area": f"{footprint.area_deg2:.6f}",
                   "X-Sky-Fraction": f"{footprint.sky_fraction:.9g}", "Vary": "Accept-Encoding"}
        if fmt == "fits":
            headers["Content-Disposition"] = f'inline; filename="{footprint.file_name}"'
        if etag in _etags(request.headers.get("if-none-match", "")):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=FORMATS[fmt], headers=headers)

    return [Route("/moc", index), Route("/moc/", index), Route("/moc/{name:path}", one)]


class _MocCache:
    """The index and the serialised MOCs, kept while the stored index file is unchanged."""

    def __init__(self, moc_dir: Path) -> None:
        self.moc_dir = moc_dir
        self._stamp: tuple[int, int] | None = None
        self._footprints: dict[str, Footprint] = {}
        self._bodies: dict[tuple[str, str], tuple[bytes, str]] = {}

    def footprints(self) -> dict[str, Footprint]:
        try:
            stat = (self.moc_dir / "index.json").stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamp = None
        if stamp != self._stamp:
            self._footprints = read_footprints(self.moc_dir)
            self._bodies = {}
            self._stamp = stamp
        return self._footprints

    def body(self, footprint: Footprint, fmt: str) -> tuple[bytes, str]:
        key = (footprint.name, fmt)
        if key not in self._bodies:
            from mocpy import MOC

            path = self.moc_dir / footprint.file_name
            body = path.read_bytes() if fmt == "fits" else serialize(MOC.from_fits(path), fmt)
            stat = path.stat()
            self._bodies[key] = (body, f'"{stat.st_mtime_ns:x}-{stat.st_size:x}-{fmt}"')
        return self._bodies[key]


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def _error(status: int, message: str) -> Response:
    return PlainTextResponse(f"UsageError: {message}\n", status_code=status)


def _summary(base_url: str, footprint: Footprint) -> dict[str, object]:
    url = _moc_url(base_url, footprint.name)
    return {"name": footprint.name, "description": footprint.description, "order": footprint.order,
            "sky_fraction": footprint.sky_fraction, "area_deg2": footprint.area_deg2, "url": url}


def _moc_url(base_url: str, name: str) -> str:
    return f"{base_url}/moc/{quote(name)}"


def _index_html(base_url: str, footprints: list[Footprint]) -> str:
    rows = []
    for f in footprints:
        url = escape(_moc_url(base_url, f.name))
        links = " · ".join(f'<a href="{url}?format={fmt}">{fmt.upper()}</a>' for fmt in FORMATS)
        rows.append(f"<tr><td><code>{escape(f.name)}</code></td><td>{escape(f.description)}</td>"
                    f"<td>{f.order}</td><td>{f.area_deg2:.3f}</td><td>{f.sky_fraction:.3e}</td><td>{links}</td></tr>")
    body = "\n".join(rows) or '<tr><td colspan="6">no footprints built yet — run `skygate demo`</td></tr>'
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Skygate footprints (MOC)</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:.2em .8em;text-align:left}</style></head>"
        "<body><h1>Footprints</h1><p>IVOA MOC 2.0 coverage of each positional table and of the image "
        "collection (HEALPix NESTED, ICRS). Each MOC is served as FITS (default), JSON or ASCII; the "
        "<code>X-Sky-Area</code> header gives its area in square degrees.</p>"
        "<table><thead><tr><th>name</th><th>covers</th><th>order</th><th>area (deg²)</th><th>sky fraction</th>"
        f"<th>download</th></tr></thead><tbody>\n{body}\n</tbody></table></body></html>\n"
    )


_HIPS_MEDIA = {".fits": "application/fits", ".png": "image/png", ".jpg": "image/jpeg", ".html": "text/html"}
_TILE_CACHE = "public, max-age=86400"
# A FITS tile is 1 MiB (512 x 512 float32): sent in one read and one ASGI message rather than
# Starlette's 16 of 64 KiB, its p50 on loopback goes from 3.4-3.8 ms to 1.9 ms (benchmarks/hips_tiles.py).
_TILE_CHUNK = 1024 * 1024 + 2880 * 2


def hips_routes(hips_dir: Path, base_url: str) -> list[BaseRoute]:
    """``/hips/list`` and the surveys' files under ``/hips`` (built into ``hips_dir`` by ``skygate hips build``)."""

    async def listing(request: Request) -> Response:
        text = await asyncio.to_thread(hipslist, hips_dir, base_url)
        return PlainTextResponse(text, headers={"Cache-Control": _CACHE_CONTROL, "Access-Control-Allow-Origin": "*"})

    return [Route("/hips/list", listing), Mount("/hips", app=_HipsFiles(directory=hips_dir, check_dir=False))]


class _HipsFiles(StaticFiles):
    """Static HiPS files with their media types, caching and CORS headers."""

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        path = Path(full_path)
        media = _HIPS_MEDIA.get(path.suffix.lower())
        if path.name == "properties":
            media = "text/plain; charset=utf-8"
        if media is not None and response.status_code != 304:
            response.headers["content-type"] = media
        tile = path.name.startswith(("Npix", "Allsky"))
        if tile and isinstance(response, FileResponse):
            response.chunk_size = _TILE_CHUNK
        response.headers["cache-control"] = _TILE_CACHE if tile else _CACHE_CONTROL
        response.headers["access-control-allow-origin"] = "*"
        return response
