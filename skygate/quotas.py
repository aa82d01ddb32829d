"""Each caller's share of the service: quotas (``auth.quotas``) for jobs, tables and requests, and ``/quota``.

``quota_book(settings, accounts)`` gives the site defaults (``SKYGATE_USER_MAX_ACTIVE_JOBS``,
``..._RUNNING_JOBS``, ``SKYGATE_USER_TABLE_MAX_BYTES``, ``SKYGATE_USER_REQUESTS_PER_MINUTE``,
``SKYGATE_USER_RESULT_MAX_BYTES``, ``SKYGATE_UPLOAD_MAX_BYTES``/``_ROWS``) overridden per user
from the account store (``skygate user quota``). The application hands it to the job system
(admission, the runner's fair share, result bytes), to TAP (user tables, uploads) and to
``RequestRate``, the ASGI middleware (inside ``Authentication``) that answers a caller's requests
beyond their requests per minute with 429, ``Retry-After`` and a DALI error document: a user is
counted by name, an anonymous caller by address, in each API process (N processes behind a proxy
admit up to N times the rate). ``GET /quota`` tells callers their limits and what they use.
Tests: tests/skygate/test_quotas.py.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from auth.accounts import AccountStore, open_accounts
from auth.identity import Identity
from auth.limits import RequestLimiter
from auth.quotas import Quota, QuotaBook
from dali.votable import ERROR_MEDIA_TYPE, error_document
from release.runtime import ReleaseRuntime
from release.user_tables import schema_for, table_owner
from skygate.settings import Settings
from uws import Phase
from uws.routes import JobsRuntime

__all__ = ["QuotaRuntime", "RequestRate", "default_quota", "quota_book", "quota_routes", "worker_quota_book"]

# VOSI availability answers monitors whatever their rate; the portal's files are not requests for data.
_EXEMPT_SUFFIXES = ("/availability",)
_EXEMPT_PREFIXES = ("/static/", "/sky/web/")


class QuotaRuntime(JobsRuntime, ReleaseRuntime, Protocol):
    """What ``/quota`` reads from the running application (``skygate.assembly.Runtime``)."""


def default_quota(settings: Settings) -> Quota:
    return Quota(max_active_jobs=settings.user_max_active_jobs, max_running_jobs=settings.user_max_running_jobs,
                 table_bytes=settings.user_table_max_bytes, requests_per_minute=settings.user_requests_per_minute,
                 result_bytes=settings.user_result_max_bytes, upload_bytes=settings.upload_max_bytes,
                 upload_rows=settings.upload_max_rows)


def quota_book(settings: Settings, accounts: AccountStore | None) -> QuotaBook:
    """The site's quotas, overridden per user from ``accounts`` when given."""
    return QuotaBook(default_quota(settings), accounts.quota if accounts is not None else None)


def worker_quota_book(settings: Settings) -> QuotaBook:
    """The quotas in a worker process: the account store is opened on first use, on the worker's
    event loop (where the runner asks), and lives as long as the process."""
    if settings.auth == "none":
        return QuotaBook(default_quota(settings))
    accounts = open_accounts(settings.effective_jobs_url)
    opened: list[bool] = []

    async def lookup(name: str) -> Quota | None:
        if not opened:
            await accounts.open()
            opened.append(True)
        return await accounts.quota(name)

    return QuotaBook(default_quota(settings), lookup)


class RequestRate:
    """ASGI middleware: at most the caller's ``requests_per_minute`` (see the module docstring)."""

    def __init__(self, app: Any, book: QuotaBook, *, limiter: RequestLimiter | None = None) -> None:
        self.app = app
        self.book = book
        self.limiter = limiter or RequestLimiter()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.endswith(_EXEMPT_SUFFIXES) or path.startswith(_EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        identity = scope.get("state", {}).get("identity")
        owner = identity.name if isinstance(identity, Identity) else None
        limit = (await self.book.of(owner)).requests_per_minute or 0
        key = f"user:{owner}" if owner is not None else f"address:{(scope.get('client') or ('unknown', 0))[0]}"
        wait = self.limiter.admit(key, limit)
        if wait > 0:
            message = (f"UsageFault: more than {limit} requests in a minute; "
                       f"try again in {math.ceil(wait)} s")
            response = Response(error_document(message), status_code=429, media_type=ERROR_MEDIA_TYPE,
                                headers={"Retry-After": str(math.ceil(wait))})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def quota_routes(settings: Settings, runtime: QuotaRuntime, book: QuotaBook) -> list[Route]:
    """``GET /quota``: the caller's limits and use, as JSON (``null``: no limit, or not applicable)."""

    async def quota(request: Request) -> Response:
        system = runtime.jobs
        if system is None:
            return PlainTextResponse("The job service is not running.\n", status_code=503)
        owner = system.owner_of(request)
        limits = await book.of(owner)
        active = await system.store.count_owned(owner, (Phase.QUEUED, Phase.EXECUTING))
        kept = await system.store.result_bytes(owner)
        keeper = table_owner(owner, settings.auth)
        store = getattr(runtime.release, "user_tables", None)
        tables, schema = {}, None
        if store is not None and keeper is not None:
            tables, schema = await store.list(keeper), schema_for(keeper)
        return JSONResponse({
            "user": owner, "mode": settings.auth,
            "jobs": {"active": active, "max_active": limits.max_active_jobs or None,
                     "max_running": limits.max_running_jobs or None},
            "results": {"bytes": kept, "max_bytes": limits.result_bytes or None},
            "tables": {"schema": schema, "count": len(tables), "bytes": sum(t.nbytes for t in tables.values()),
                       "max_bytes": (limits.table_bytes or None) if schema is not None else None},
            "uploads": {"max_bytes": limits.upload_bytes or settings.body_max_bytes,
                        "max_rows": limits.upload_rows or None},
            "requests": {"per_minute": limits.requests_per_minute or None},
        })

    return [Route("/quota", quota, methods=["GET"])]
