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
    availability,
    capabilities_document,
    support_capabilities,
)
from release.runtime import unavailable_because
from uws.routes import job_routes
from uws.system import jobs_unavailable

__all__ = ["STANDARD_ID", "anomaly_routes", "capabilities"]

# No IVOA standard describes anomaly scoring; the job list is plain UWS 1.1, so the capability names
# the UWS REST binding.
STANDARD_ID = "ivo://ivoa.net/std/UWS#rest-1.1"
_UP_SINCE = datetime.now(UTC)


def capabilities(base_url: str) -> bytes:
    """VOSI capabilities of ``{base_url}/anomaly``."""
    root = f"{base_url.rstrip('/')}/anomaly"
    async_cap = Capability(STANDARD_ID, (Interface(f"{root}/async", use="base", role="std", version="1.1"),))
    return capabilities_document((async_cap, *support_capabilities(root)))


def anomaly_routes() -> list[BaseRoute]:
    """The routes to add to the application: ``/anomaly/async`` (UWS) and the VOSI resources."""

    async def available(request: Request) -> Response:
        # Jobs query the release (the query engine) and run through the job store and broker.
        release, jobs = getattr(request.app.state, "release", None), getattr(request.app.state, "uws", None)
        body = await availability([lambda: unavailable_because(release), lambda: jobs_unavailable(jobs)],
                                  up_since=_UP_SINCE, ready="anomaly scoring is accepting jobs")
        return Response(body, media_type=XML_MEDIA_TYPE)

    async def capabilities_endpoint(request: Request) -> Response:
        settings = getattr(request.app.state, "settings", None)
        base = getattr(settings, "base_url", "") or str(request.base_url).rstrip("/")
        return Response(capabilities(base), media_type=XML_MEDIA_TYPE)

    return [Mount("/anomaly", routes=[
        *job_routes(SCORE_KIND, path="/async"),
        Route("/availability", available, methods=["GET"]),
        Route("/capabilities", capabilities_endpoint, methods=["GET"]),
    ])]
