"""Build the Starlette application: one ASGI app serving every service (the README's "URL map").

Nothing is built at import time; ``create_app`` hands each service its configuration (built from the
settings by ``skygate.assembly``) and the one ``Runtime`` that the lifespan fills in when it opens the
shared resources (release and backend pool, job store, broker) and that every handler reads; each
service mounts itself under its own prefix. The application's state keeps only the settings and the
runtime (``runtime_of``), for the server and the tests.
Tests: tests/skygate/test_app.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import BaseRoute

from anomaly.routes import AnomalyConfig, anomaly_routes
from auth.accounts import open_accounts
from dali.deadline import BodyDeadline
from portal.readable import STYLESHEET_PATH, ReadableXml
from portal.routes import PortalConfig, portal_routes
from registry.coverage import CoverageCache
from registry.routes import Publishing, RegistryConfig, registry_routes
from registry.service import Publisher
from release.runtime import open_release
from sia.routes import SiaConfig, sia_routes
from sky.routes import hips_routes, moc_routes
from sky.viewer import viewer_routes
from skygate import __version__
from skygate.assembly import Runtime, service_config, tap_config
from skygate.identity import Authentication, build_authenticator, identity_of, identity_routes
from skygate.quotas import RequestRate, quota_book, quota_routes
from skygate.registry_sources import footprint_urls, registry_sources, served_tables
from skygate.settings import Settings
from skygate.worker import WorkerResources, job_config, job_kinds
from soda.routes import SodaConfig, soda_routes
from tap.routes import tap_routes
from uws.system import open_job_system

__all__ = ["SERVER_HEADER", "create_app", "runtime_of"]

SERVER_HEADER = f"Skygate/{__version__}"

def create_app(settings: Settings | None = None) -> Starlette:
    """The application for ``settings`` (read from the environment when omitted)."""
    settings = settings or Settings.from_env()
    authenticator, accounts = build_authenticator(settings)
    # Per-user quota overrides live in the account store, in every authenticated mode (OIDC too).
    quota_accounts = accounts or (open_accounts(settings.effective_jobs_url) if settings.auth != "none" else None)
    quotas = quota_book(settings, quota_accounts)

    runtime = Runtime(quotas=quotas)
    publishing = Publishing(Publisher.from_settings(settings, footprints=footprint_urls(settings)),
                            sources=lambda release: registry_sources(settings, release), coverage=CoverageCache())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The release: backend, metadata and query engine (release.engine is None, with .problem
        # saying why, when nothing was ingested yet).
        release = runtime.release = await open_release(
            settings.database_url, settings.duckdb_path, base_url=settings.base_url,
            readonly_role=settings.readonly_role,
            limits=settings.memory_limits(), user_tables_dir=settings.user_tables_dir)
        # What TAP serves beside the release for every caller: RegTAP's rr tables built from the
        # published records, and the footprint MOCs (release.served); the coverage measured for them
        # is the one the registry's routes then use.
        release.served = await served_tables(settings, release, publishing.publisher, publishing.coverage)
        # The job system (uws): store, queue, janitor and sweeper; job kinds from skygate/worker.py.
        # Without a broker the jobs run in this process, with this process's release.
        resources = WorkerResources(settings, release, quotas=quotas)
        jobs = runtime.jobs = await open_job_system(job_config(settings), job_kinds(resources))
        resources.jobs = jobs  # job kinds that create jobs (anomaly chunks) use it
        jobs.owner_of = _owner_name
        jobs.is_admin = _is_admin
        jobs.use_limits(quotas)
        if quota_accounts is not None:
            await quota_accounts.open()
        try:
            yield
        finally:
            if quota_accounts is not None:
                await quota_accounts.close()
            await jobs.close()
            await release.close()

    # The portal first: its pages answer at the service roots (/sia, /soda, /anomaly), where each
    # service's own index page answers when no portal is in front.
    routes: list[BaseRoute] = [*portal_routes(service_config(PortalConfig, settings), runtime),
                               *tap_routes(tap_config(settings), runtime),
                               *anomaly_routes(service_config(AnomalyConfig, settings), runtime),
                               *sia_routes(service_config(SiaConfig, settings), runtime),
                               *soda_routes(service_config(SodaConfig, settings), runtime),
                               *identity_routes(authenticator), *quota_routes(settings, runtime, quotas),
                               *registry_routes(service_config(RegistryConfig, settings), runtime, publishing),
                               *moc_routes(settings.moc_dir, settings.base_url),
                               *hips_routes(settings.hips_dir, settings.base_url),
                               *viewer_routes(settings.base_url)]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.settings = settings
    app.state.runtime = runtime
    app.add_middleware(RequestRate, book=quotas)  # inside Authentication: it counts the identified caller
    app.add_middleware(Authentication, authenticator=authenticator)
    # Outside Authentication: the clock starts when the request arrives, whatever answers it.
    app.add_middleware(BodyDeadline, seconds=settings.body_timeout)
    # Browsers show UWS, VOSI and error documents through the portal's XSLT; clients get the same XML.
    app.add_middleware(ReadableXml, stylesheet_url=settings.base_url + STYLESHEET_PATH)
    app.add_middleware(_ServerHeader)
    return app


def runtime_of(app: Starlette) -> Runtime:
    """The runtime ``create_app`` handed the services (its release and job system once started)."""
    runtime = app.state.runtime
    if not isinstance(runtime, Runtime):
        raise TypeError("not an application made by create_app")
    return runtime


def _owner_name(request: Request) -> str | None:
    identity = identity_of(request)
    return identity.name if identity is not None else None


def _is_admin(request: Request) -> bool:
    identity = identity_of(request)
    return identity is not None and identity.admin


class _ServerHeader:
    """Add the ``Server`` header naming the software and version to every response."""

    def __init__(self, app: object) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # type: ignore[operator]
            return

        async def send_with_server(message: dict) -> None:  # type: ignore[type-arg]
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"server"]
                headers.append((b"server", SERVER_HEADER.encode()))
                message = {**message, "headers": headers}
            await send(message)  # type: ignore[operator]

        await self.app(scope, receive, send_with_server)  # type: ignore[operator]
