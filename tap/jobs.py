"""The async TAP job kind ``tap.query``: run the query and write the result document to a file
(and, with ``DESTINATION``, also store its rows as the owner's table: ``tap.user_tables``).

The job function, its cheap run-time check and its ``/error`` renderer, for the job-kind table in
``skygate/worker.py``. Worker resources arrive as ``ctx.resources``, a ``TapJobResources``: the open
release (``engine`` or ``problem``), ``tap`` (the ``TapConfig`` the assembly built from the settings)
and the owners' quotas.
Tests: tests/tap/test_clients.py (pyvo async, votlint), tests/tap/test_live.py (taplint).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol, runtime_checkable

from auth.quotas import QuotaBook
from dali.errors import FatalError, SkygateError
from dali.votable import error_document
from dali.writers import OutputFormat
from release.runtime import ReleaseRuntime
from release.user_tables import check_table_name, remaining_quota, table_owner
from tap.params import parse_tap
from tap.service import KeptRows, TapConfig, internal_error, load_uploads, require_engine, start_query
from tap.user_tables import caller_view, destination_name, store_destination
from uws import ErrorInfo, JobContext, Parameters, Result

__all__ = ["KIND", "MULTI_VALUED", "QUERY_STATUS_RESULT", "TapJobResources", "check", "error_renderer", "run_query"]

KIND = "tap.query"
QUERY_STATUS_RESULT = "query_status"
MULTI_VALUED = frozenset({"upload"})


@runtime_checkable
class TapJobResources(ReleaseRuntime, Protocol):
    """What the ``tap.query`` kind reaches as ``ctx.resources`` (``skygate.worker.WorkerResources``)."""

    @property
    def tap(self) -> TapConfig: ...

    @property
    def quotas(self) -> QuotaBook | None:
        """Each owner's limits (``skygate user quota``); None: the configuration's for everyone."""
        ...


def _resources(ctx: JobContext) -> TapJobResources:
    if not isinstance(ctx.resources, TapJobResources):
        raise FatalError(f"the {KIND} job kind was registered without its resources")
    return ctx.resources


def check(params: Parameters) -> None:
    """Run-time parameter check in the API process (TAP §2.7: checked when the job is run)."""
    tq = parse_tap(params.inline(), maxrec_default=1, maxrec_hard=1)
    if tq.destination:
        check_table_name(tq.destination.rsplit(".", 1)[-1], param="DESTINATION")


async def run_query(params: Parameters, ctx: JobContext) -> list[Result]:
    """Execute the job's query and publish the document as result ``result``."""
    resources = _resources(ctx)
    config = resources.tap
    if resources.quotas is not None:  # the owner's own limits (``skygate user quota``)
        config = config.for_caller(await resources.quotas.of(ctx.owner))
    release = resources.release
    engine = require_engine(release.engine if release is not None else None,
                            release.problem if release is not None else None)
    tq = parse_tap(params.inline(), maxrec_default=config.maxrec_default, maxrec_hard=config.maxrec_hard)
    files = {name: await asyncio.to_thread(path.read_bytes) for name, path in params.files.items()}
    uploads = await load_uploads(tq.uploads, files, config)
    view = await caller_view(release, table_owner(ctx.owner, config.auth))
    keep = destination = None
    if tq.destination:
        destination = destination_name(tq.destination, view)
        keep = KeptRows(max_rows=tq.maxrec, max_bytes=remaining_quota(view.tables, config.user_table_max_bytes))
    writer = await start_query(engine, tq, uploads, timeout=config.query_timeout, tables=view.statement, keep=keep)
    path = ctx.scratch_path("result")
    with path.open("wb") as out:
        async with contextlib.aclosing(writer.chunks()) as chunks:  # type: ignore[type-var]
            async for chunk in chunks:
                await asyncio.to_thread(out.write, chunk) if len(chunk) > 1 << 20 else out.write(chunk)
    if writer.error is not None:
        raise writer.error if isinstance(writer.error, SkygateError) else internal_error(writer.error)
    if destination is not None and keep is not None:
        await store_destination(destination, view, release, keep.columns, keep.batches, config)
    results = [ctx.add_result("result", path, tq.format.media_type)]
    if tq.format.kind in (OutputFormat.CSV, OutputFormat.TSV):
        # CSV and TSV have no place for QUERY_STATUS (README, "Truncated results"): the job lists it
        # as a second, text/plain result, after the primary one that clients fetch.
        status = f"OVERFLOW: Result truncated to MAXREC={tq.maxrec} rows\n" if writer.overflow else "OK\n"
        results.append(ctx.add_result(QUERY_STATUS_RESULT, status.encode(), "text/plain"))
    return results


def error_renderer(error: ErrorInfo) -> tuple[bytes, str]:
    """``{job}/error``: a DALI error VOTable (TAP §3.3), served with status 200 by UWS."""
    return error_document(error.message), "application/x-votable+xml"
