"""The job-kind table and the ``skygate worker`` entry point.

``job_kinds(resources)`` is THE table of job kinds: one ``uws.JobKind`` per kind, binding the
service's plain function to worker-side resources (``resources=`` becomes ``ctx.resources`` in
the function). The API process (embedded worker, ``check`` and ``/error`` rendering) and every
``skygate worker`` process build their kinds from it. ``run_worker`` starts dramatiq worker
processes on the Redis broker. Tests: tests/uws/test_worker.py, tests/uws/test_reliability.py.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from anomaly import jobs as anomaly_jobs
from anomaly.jobs import AnomalyResources
from auth.quotas import QuotaBook
from registry.coverage import CoverageCache
from registry.service import Publisher
from release.engine import StatementTable
from release.runtime import OpenRelease, open_release
from release.user_tables import caller_tables, table_owner
from skygate.assembly import tap_config
from skygate.logs import configure_logging
from skygate.quotas import worker_quota_book
from skygate.registry_sources import footprint_urls, served_tables
from skygate.settings import Settings
from soda import jobs as soda_jobs
from tap import jobs as tap_jobs
from tap.service import TapConfig
from uws import JobKind
from uws.config import JobConfig
from uws.queue import run_worker_process
from uws.system import JobSystem

__all__ = ["WorkerResources", "job_config", "job_kinds", "load_extra_kinds", "run_worker", "worker_kinds"]

log = logging.getLogger(__name__)


@dataclass
class WorkerResources:
    """What job functions reach as ``ctx.resources``: the settings and the open release
    (``release.engine`` runs ADQL; ``None`` when nothing is loaded)."""

    settings: Settings
    release: OpenRelease | None = None
    # This process's job system, for job kinds that create jobs of their own (anomaly chunks);
    # set once it is open (API lifespan, or ``worker_kinds`` in a worker process).
    jobs: JobSystem | None = None
    # Each owner's limits (``skygate.quotas``): a DESTINATION table's quota.
    quotas: QuotaBook | None = None

    @property
    def tap(self) -> TapConfig:
        """TAP's configuration, for the ``tap.query`` job kind (``tap.jobs``)."""
        return tap_config(self.settings)

    async def owner_tables(self, owner: str | None) -> dict[str, StatementTable]:
        """The tables a job's owner sees besides the release: those the service serves for everyone
        (``release.served``) and their own (``release.user_tables``)."""
        release = self.release
        if release is None or release.engine is None:
            return {}
        store = release.user_tables
        keeper = table_owner(owner, self.settings.auth)
        tables = await store.list(keeper) if store is not None and keeper is not None else {}
        return caller_tables(store, tables, release.metadata, release.schema_descriptions, release.served)


def job_kinds(resources: WorkerResources) -> list[JobKind]:
    """The job-kind table. Add one entry per job kind, e.g.::

        JobKind("tap", tap.jobs.run_query, check=tap.jobs.check,
                error_document=tap.jobs.error_votable, multi_valued=frozenset({"upload"}),
                resources=resources),

    The name is what the service passes to ``uws.routes.job_routes(name, path)``.
    """
    kinds: list[JobKind] = [
        JobKind(tap_jobs.KIND, tap_jobs.run_query, check=tap_jobs.check, error_document=tap_jobs.error_renderer,
                multi_valued=tap_jobs.MULTI_VALUED, resources=resources),
    ]
    worker_memory = resources.settings.limits().worker_memory
    anomaly_resources = AnomalyResources(
        engine=lambda: resources.release.engine if resources.release is not None else None,
        jobs=lambda: resources.jobs,
        chunk_rows=resources.settings.anomaly_chunk_rows,
        max_rows=resources.settings.maxrec_hard,
        query_timeout=resources.settings.query_timeout,
        memory_limit=worker_memory,
        tables=resources.owner_tables,
    )
    soda_resources = soda_jobs.SodaJobResources(release_dir=resources.settings.release_dir, worker_memory=worker_memory)
    kinds += [
        JobKind(anomaly_jobs.SCORE_KIND, anomaly_jobs.run_score,
                check=functools.partial(anomaly_jobs.check, memory_limit=anomaly_resources.memory_limit),
                resources=anomaly_resources),
        JobKind(anomaly_jobs.CHUNK_KIND, anomaly_jobs.run_chunk, resources=anomaly_resources),
        JobKind("soda-async", soda_jobs.run_async, check=soda_jobs.check_async,
                multi_valued=frozenset({"id", "pos", "circle", "polygon", "band"}), resources=soda_resources),
        JobKind("soda-bulk", soda_jobs.run_bulk_job, check=soda_jobs.check_bulk, resources=soda_resources),
    ]
    return kinds


def job_config(settings: Settings, *, queue_name: str | None = None) -> JobConfig:
    """The job-system configuration the settings describe (same in API and workers)."""
    config = JobConfig(
        store_url=settings.effective_jobs_url,
        results_dir=settings.results_dir.resolve(),
        broker_url=settings.broker_url,
        base_url=settings.base_url,
        execution_duration=settings.execution_duration,
        execution_duration_max=settings.execution_duration_max,
        destruction_days=settings.destruction_days,
        wait_max=settings.wait_max,
        body_max_bytes=settings.body_max_bytes,
        gzip_loopback=settings.gzip_loopback,
        max_active_per_owner=settings.user_max_active_jobs,
        max_running_per_owner=settings.user_max_running_jobs,
        max_result_bytes_per_owner=settings.user_result_max_bytes,
        queue_name=queue_name or settings.queue_name,
    )
    return config


def load_extra_kinds(specs: Sequence[str]) -> list[JobKind]:
    """Job kinds from ``module:function`` specs (``--kinds uws.testing:job_kinds``), for tests,
    benchmarks and smoke checks."""
    kinds: list[JobKind] = []
    for spec in specs:
        module_name, _, attr = spec.partition(":")
        factory: Callable[[], list[JobKind]] = getattr(importlib.import_module(module_name), attr or "job_kinds")
        kinds.extend(factory())
    return kinds


def worker_kinds(
    settings: Settings, extra: Sequence[JobKind] = (), *, queue_name: str | None = None,
    quotas: QuotaBook | None = None,
) -> Callable[[], AbstractAsyncContextManager[list[JobKind]]]:
    """A factory of the async context a worker process runs in: opens the release on the
    worker's event loop, yields the job kinds, closes the release at the end."""

    @asynccontextmanager
    async def open_kinds() -> AsyncIterator[list[JobKind]]:
        release = await open_release(settings.database_url, settings.duckdb_path, base_url=settings.base_url,
                                     readonly_role=settings.readonly_role,
                                     limits=settings.memory_limits(), user_tables_dir=settings.user_tables_dir)
        # The same rr tables and footprints as the API process (its ledger's dates, never written here).
        publisher = Publisher.from_settings(settings, footprints=footprint_urls(settings), readonly=True)
        release.served = await served_tables(settings, release, publisher, CoverageCache())
        resources = WorkerResources(settings, release, quotas=quotas)
        kinds = [*job_kinds(resources), *extra]
        # A sender and runner for jobs that job functions create (anomaly chunks); not started
        # with ``start()``: re-sending and sweeping is the API's janitor's work.
        resources.jobs = JobSystem(job_config(settings, queue_name=queue_name), kinds)
        await resources.jobs.store.open()
        await resources.jobs.queue.start()
        try:
            yield kinds
        finally:
            await resources.jobs.close()
            await release.close()

    return open_kinds


def run_worker(args: argparse.Namespace) -> int:
    """``skygate worker``: ``--processes`` dramatiq worker processes of ``--threads`` each."""
    configure_logging()
    settings = Settings.from_env()
    if not settings.broker_url:
        print("skygate worker needs SKYGATE_BROKER_URL (redis://...); without it the API runs jobs itself.",
              file=sys.stderr)
        return 2
    options = {"threads": args.threads, "queue": getattr(args, "queue", None),
               "kinds": list(getattr(args, "kinds", None) or [])}
    if args.processes <= 1:
        _worker_process(options)
        return 0
    context = multiprocessing.get_context("spawn")
    children = [context.Process(target=_worker_process, args=(options,), name=f"worker-{i}")
                for i in range(args.processes)]
    for child in children:
        child.start()

    def forward(signum: int, frame: Any) -> None:
        for child in children:
            if child.is_alive() and child.pid is not None:
                os.kill(child.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for child in children:
        child.join()
    return max((child.exitcode or 0) for child in children)


def _worker_process(options: dict[str, Any]) -> None:
    configure_logging()
    settings = Settings.from_env()
    config = job_config(settings, queue_name=options["queue"])
    extra = load_extra_kinds(options["kinds"])
    quotas = worker_quota_book(settings)
    run_worker_process(config, worker_kinds(settings, extra, queue_name=options["queue"], quotas=quotas),
                       threads=options["threads"], limits=quotas)
