"""HTTP edge of the portal: the pages and ``/static``.

The pages read only what the public endpoints publish: the release's table metadata (the content
of ``/tap/tables``) from the ``ReleaseRuntime`` (filled in once the application's lifespan opened the
release) and the base URL, MAXREC default and access mode from the ``PortalConfig``, both handed to
``portal_routes`` by the assembly. Everything else a page does happens in the browser, against the
VO endpoints. ``/sia``, ``/soda`` and ``/anomaly`` (the service roots) answer with the service's page:
the portal's routes go before the services', whose own index pages answer there when no portal does.

A site without anonymous access (``SKYGATE_ANONYMOUS=none``) still lets a browser reach what logging
in needs: ``BEFORE_LOGIN`` (the home page, which then shows "log in" and no tables, the login page,
the icon) and ``/static``. The token a person logs in with travels as ``Authorization: Bearer`` on
the pages' requests and as the ``TOKEN_COOKIE`` on page loads (``skygate.identity`` reads it on GET
and HEAD only); ``PAGES`` are sent to the login page instead of a 401.
Tests: tests/portal/test_pages.py, tests/portal/test_browser.py.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from portal.pages import (
    SERVICES,
    Service,
    cutouts_page,
    examples_page,
    footprint_page,
    home_page,
    jobs_page,
    login_page,
    query_page,
    service_page,
    tables_page,
)
from release.runtime import ReleaseRuntime

__all__ = ["BEFORE_LOGIN", "LOGIN_PAGE", "PAGES", "STATIC_DIR", "STATIC_PREFIX", "TOKEN_COOKIE", "PortalConfig",
           "portal_routes"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_PREFIX = "/static/"
LOGIN_PAGE = "/login"
BEFORE_LOGIN = frozenset({"/", LOGIN_PAGE, "/favicon.ico"})
PAGES = frozenset({"/query", "/tables", "/examples", "/jobs", "/cutouts", "/footprint",
                   *(f"/{s.key}{slash}" for s in SERVICES if s.key != "tap" for slash in ("", "/"))})
TOKEN_COOKIE = "skygate_token"  # set by static/portal.js
_NO_RELEASE = "no release loaded — run `skygate demo`"
_QUERY_MAX = 20_000  # characters of a prefilled query taken from the URL
# Browsers ask for /favicon.ico on every document, the XML ones shown through XSLT included.
_FAVICON = (b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="6" fill="#0b5cad"/>'
            b'<circle cx="11" cy="5" r="1.5" fill="#fff"/></svg>')


@dataclass(frozen=True, slots=True)
class PortalConfig:
    """The settings the pages use (no defaults: ``skygate.settings.Settings`` holds them); an empty
    ``base_url`` means the request's."""

    base_url: str
    maxrec_default: int
    auth: str
    anonymous: str


@dataclass(frozen=True, slots=True)
class _Portal:
    """What every page handler is bound to."""

    config: PortalConfig
    runtime: ReleaseRuntime


Handler = Callable[[_Portal, Request], Awaitable[Response]]


def portal_routes(config: PortalConfig, runtime: ReleaseRuntime) -> list[BaseRoute]:
    """The portal's routes; put them before the services' mounts so ``/sia`` etc. reach a page."""
    portal = _Portal(config, runtime)

    def bound(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        return functools.partial(handler, portal)

    routes: list[BaseRoute] = [
        Route("/", bound(_home), methods=["GET"]),
        Route("/query", bound(_query), methods=["GET"]),
        Route("/tables", bound(_tables), methods=["GET"]),
        Route("/examples", bound(_examples), methods=["GET"]),
        Route("/jobs", bound(_jobs), methods=["GET"]),
        Route("/cutouts", bound(_cutouts), methods=["GET"]),
        Route("/footprint", bound(_footprint), methods=["GET"]),
        Route(LOGIN_PAGE, bound(_login), methods=["GET"]),
        Route("/favicon.ico", _favicon, methods=["GET"]),
        # Compressed on the wire (the editor bundle: 400 KB, 135 KB gzipped); the services' answers are not touched.
        Mount("/static", app=GZipMiddleware(StaticFiles(directory=STATIC_DIR), minimum_size=1024), name="static"),
    ]
    for service in SERVICES:
        if service.key != "tap":  # /tap has its own page (TAP §2), written by tap.routes
            endpoint = bound(_service_endpoint(service))
            routes += [Route(f"/{service.key}", endpoint, methods=["GET"]),
                       Route(f"/{service.key}/", endpoint, methods=["GET"])]
    return routes


def _base(portal: _Portal, request: Request) -> str:
    return portal.config.base_url or str(request.base_url).rstrip("/")


def _release(portal: _Portal) -> tuple[dict[str, Any], str | None]:
    """The published tables and, when nothing is loaded, why."""
    release = portal.runtime.release
    if release is None:
        return {}, _NO_RELEASE
    return dict(release.metadata), release.problem


def _html(text: str) -> Response:
    return HTMLResponse(text, headers={"Cache-Control": "no-cache"})


def _login_needed(portal: _Portal, request: Request) -> bool:
    """An anonymous caller of a site that serves nobody anonymously (only BEFORE_LOGIN reaches a page)."""
    config = portal.config
    return config.auth != "none" and config.anonymous == "none" and getattr(request.state, "identity", None) is None


async def _home(portal: _Portal, request: Request) -> Response:
    if _login_needed(portal, request):
        return _html(home_page(_base(portal, request), {}, None, login_needed=True))
    metadata, problem = _release(portal)
    return _html(home_page(_base(portal, request), metadata, problem))


async def _login(portal: _Portal, request: Request) -> Response:
    return _html(login_page(_base(portal, request)))


async def _footprint(portal: _Portal, request: Request) -> Response:
    return _html(footprint_page(_base(portal, request)))


async def _tables(portal: _Portal, request: Request) -> Response:
    metadata, problem = _release(portal)
    return _html(tables_page(_base(portal, request), metadata, problem))


async def _query(portal: _Portal, request: Request) -> Response:
    metadata, _ = _release(portal)
    query = request.query_params.get("query", "")[:_QUERY_MAX]
    table = request.query_params.get("table", "")
    if not query and table in metadata:
        query = f"SELECT TOP 100 * FROM {table}"
    elif not query:
        query = "SELECT TOP 10 schema_name, table_name, description FROM TAP_SCHEMA.tables"
    maxrec = portal.config.maxrec_default
    editor = (STATIC_DIR / "build" / "editor.js").is_file()
    return _html(query_page(_base(portal, request), metadata, query, maxrec, editor=editor))


async def _examples(portal: _Portal, request: Request) -> Response:
    return _html(examples_page(_base(portal, request)))


async def _favicon(request: Request) -> Response:
    return Response(_FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})


async def _cutouts(portal: _Portal, request: Request) -> Response:
    positions = request.query_params.get("positions", "")[:_QUERY_MAX]
    return _html(cutouts_page(_base(portal, request), positions))


async def _jobs(portal: _Portal, request: Request) -> Response:
    return _html(jobs_page(_base(portal, request)))


def _service_endpoint(service: Service) -> Handler:
    async def page(portal: _Portal, request: Request) -> Response:
        return _html(service_page(_base(portal, request), service))
    return page
