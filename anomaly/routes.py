"""HTTP edge of anomaly scoring: ``/anomaly`` and ``/anomaly/`` (an index), ``/anomaly/async`` (a UWS
job list), ``/anomaly/availability``, ``/anomaly/capabilities``, all mounted by ``anomaly_routes``.

The job list is the generic UWS resource tree (``uws.routes.job_routes``) for the ``anomaly.score``
kind, so TOPCAT, pyvo and curl use it like any other UWS service. The job itself lives in
``anomaly/jobs.py``. The settings come as an ``AnomalyConfig``, the release and the job system through
the ``AnomalyRuntime`` the assembly fills in. Tests: tests/anomaly/test_routes.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Protocol

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
from release.runtime import ReleaseRuntime, unavailable_because
from uws.routes import JobsRuntime, job_routes
from uws.system import jobs_unavailable

__all__ = ["STANDARD_ID", "AnomalyConfig", "AnomalyRuntime", "anomaly_routes", "capabilities"]

# No IVOA standard describes anomaly scoring; the job list is plain UWS 1.1, so the capability names
# the UWS REST binding.
STANDARD_ID = "ivo://ivoa.net/std/UWS#rest-1.1"
_UP_SINCE = datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class AnomalyConfig:
    """The settings the anomaly routes use (no defaults: ``skygate.settings.Settings`` holds them);
    an empty ``base_url`` means the request's."""

    base_url: str


class AnomalyRuntime(JobsRuntime, ReleaseRuntime, Protocol):
    """What the routes read from the running application (``jobs`` too), once its lifespan opened them."""


def capabilities(base_url: str) -> bytes:
    """VOSI capabilities of ``{base_url}/anomaly``."""
    root = f"{base_url.rstrip('/')}/anomaly"
    async_cap = Capability(STANDARD_ID, (Interface(f"{root}/async", use="base", role="std", version="1.1"),))
    return capabilities_document((async_cap, *support_capabilities(root)))


def _index_page(root: str) -> str:
    links = "".join(f'<li><a href="{escape(root)}/{path}">{escape(path)}</a> — {escape(what)}</li>'
                    for path, what in (("async", "anomaly scoring jobs (UWS 1.1; QUERY, NTREES, ...)"),
                                       ("capabilities", "what this service supports (VOSI)"),
                                       ("availability", "is it up (VOSI)")))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Skygate anomaly scoring</title>'
            f"</head><body>\n<h1>Skygate anomaly scoring service</h1>\n<ul>{links}</ul>\n</body></html>\n")


def anomaly_routes(config: AnomalyConfig, runtime: AnomalyRuntime) -> list[BaseRoute]:
    """The routes to add to the application: ``/anomaly`` (a page), ``/anomaly/async`` (UWS) and the
    VOSI resources."""

    def base(request: Request) -> str:
        return config.base_url or str(request.base_url).rstrip("/")

    async def index(request: Request) -> Response:
        """A page linking the endpoints (what ``/anomaly`` answers when no portal page is in front)."""
        return Response(_index_page(f"{base(request)}/anomaly"), media_type="text/html")

    async def available(request: Request) -> Response:
        # Jobs query the release (the query engine) and run through the job store and broker.
        release, jobs = runtime.release, runtime.jobs
        body = await availability([lambda: unavailable_because(release), lambda: jobs_unavailable(jobs)],
                                  up_since=_UP_SINCE, ready="anomaly scoring is accepting jobs")
        return Response(body, media_type=XML_MEDIA_TYPE)

    async def capabilities_endpoint(request: Request) -> Response:
        return Response(capabilities(base(request)), media_type=XML_MEDIA_TYPE)

    # The root answers with and without the slash: a bare mount would redirect /anomaly to /anomaly/.
    return [Route("/anomaly", index, methods=["GET"]), Mount("/anomaly", routes=[
        Route("/", index, methods=["GET"]),
        *job_routes(SCORE_KIND, runtime, path="/async"),
        Route("/availability", available, methods=["GET"]),
        Route("/capabilities", capabilities_endpoint, methods=["GET"]),
    ])]
