"""HTTP edge of anomaly scoring: ``/anomaly/async`` (a UWS job list), ``/anomaly/availability``,
``/anomaly/capabilities``.

The job list is the generic UWS resource tree (``uws.routes.job_routes``) for the ``anomaly.score``
kind, so TOPCAT, pyvo and curl use it like any other UWS service. The job itself lives in
``anomaly/jobs.py``. Tests: tests/anomaly/test_routes.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from anomaly.jobs import SCORE_KIND
from dali.vosi import (
    XML_MEDIA_TYPE,
    Capability,
    Interface,
    availability_document,
    capabilities_document,
    support_capabilities,
)
from uws.routes import job_routes

__all__ = ["STANDARD_ID", "anomaly_routes", "capabilities"]

# No IVOA standard describes anomaly scoring; the job list is plain UWS 1.1, so the capability names
# the UWS REST binding (standards.md §0).
STANDARD_ID = "ivo://ivoa.net/std/UWS#rest-1.1"
_UP_SINCE = datetime.now(UTC)


def capabilities(base_url: str) -> bytes:
    """VOSI capabilities of ``{base_url}/anomaly``."""
    root = f"{base_url.rstrip('/')}/anomaly"
    async_cap = Capability(STANDARD_ID, (Interface(f"{root}/async", use="base", role="std", version="1.1"),))
    return capabilities_document((async_cap, *support_capabilities(root)))


def anomaly_routes() -> list[BaseRoute]:
    """The routes to add to the application: ``/anomaly/async`` (UWS) and the VOSI resources."""

    async def availability(request: Request) -> Response:
        uws = getattr(request.app.state, "uws", None)
        release = getattr(request.app.state, "release", None)
        notes = []
        if uws is None:
            notes.append("the job system is not running")
        if release is not None and getattr(release, "engine", None) is None:
            notes.append("no data release is loaded: anomaly jobs end in ERROR until one is ingested")
        body = availability_document(uws is not None, up_since=_UP_SINCE,
                                     notes=notes or ["anomaly scoring is accepting jobs"])
        return Response(body, media_type=XML_MEDIA_TYPE)

    async def capabilities_endpoint(request: Request) -> Response:
        settings = getattr(request.app.state, "settings", None)
        base = getattr(settings, "base_url", "") or str(request.base_url).rstrip("/")
        return Response(capabilities(base), media_type=XML_MEDIA_TYPE)

    return [Mount("/anomaly", routes=[
        *job_routes(SCORE_KIND, path="/async"),
        Route("/availability", availability, methods=["GET"]),
        Route("/capabilities", capabilities_endpoint, methods=["GET"]),
    ])]
