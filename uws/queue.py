"""Getting a job id from the API to a runner: the dramatiq actor on Redis, or an in-process queue.

Production: the API sends ``uws_run_job(job_id)`` to a Redis queue; ``skygate worker`` processes
run ``run_worker_process``, a dramatiq ``Worker`` whose one actor hands the id to a ``Runner`` on
the process's own event loop. Embedded default: ``LocalQueue`` runs jobs as tasks on the API's
event loop (DuckDB allows one process per database file, so the embedded worker must live in the
API process). Messages carry only the job id; the store is the truth, so a lost or duplicated
message is harmless (the janitor re-sends, the runner's compare-and-set ignores duplicates).
Tests: tests/uws/test_reliability.py (Redis, worker processes), tests/uws/test_system.py (in-process).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Future
from contextlib import AbstractAsyncContextManager
from typing import Protocol

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from uws.config import JobConfig
from uws.kinds import JobKind
from uws.limits import OwnerLimits, SiteLimits
from uws.runner import Runner
from uws.store import open_store

__all__ = ["ACTOR_NAME", "JobQueue", "LocalQueue", "RedisQueue", "make_queue", "run_worker_process"]

log = logging.getLogger(__name__)

ACTOR_NAME = "uws_run_job"


class JobQueue(Protocol):
    async def start(self) -> None: ...

    async def send(self, job_id: str) -> None:
        """Hand the job to a worker; raises (any exception) when the broker is unreachable."""

    async def ping(self) -> None:
        """Raise (any exception) when jobs could not be handed over now (VOSI availability)."""

    async def close(self) -> None: ...


def make_queue(config: JobConfig, runner: Runner) -> JobQueue:
    """Redis when ``config.broker_url`` is set, else the in-process queue running ``runner``."""
    if config.broker_url:
        return RedisQueue(config.broker_url, config.queue_name)
    return LocalQueue(runner, config.local_workers, defer_seconds=config.defer_seconds)


# An idle consumer blocks this long on its wake-up list before fetching again.
WAKE_TIMEOUT = 1.0
# Bound on wake-up tokens piling up while every consumer is busy.
WAKE_TOKENS = 64


class _Broker(RedisBroker):
    """dramatiq's Redis broker, with idle consumers blocking instead of polling.

    The stock consumer polls Redis with an exponential back-off when its queue is empty: a few
    percent of a core per idle worker process at the short back-off low latency needs. Here an
    empty fetch blocks on a per-queue wake-up list (``BLPOP``) that every send pushes to, so an
    idle worker costs nothing and wakes within a millisecond of a send.
    """

    def __init__(self, url: str) -> None:
        # No default middleware: dramatiq's TimeLimit (10 min) and Retries would fight our own
        # execution-duration limit and janitor; the store decides what runs again.
        super().__init__(url=url, middleware=[])  # type: ignore[no-untyped-call]

    def wake_key(self, queue_name: str) -> str:
        return f"{self.namespace}:{queue_name}.wake"

    def do_fetch(self, queue_name: str, prefetch: int) -> list[bytes]:
        fetch = self._dispatch("fetch")  # type: ignore[no-untyped-call]
        messages: list[bytes] = fetch(queue_name, prefetch)
        if messages:
            return messages
        self.client.blpop([self.wake_key(queue_name)], timeout=WAKE_TIMEOUT)
        messages = fetch(queue_name, prefetch)
        return messages

    def send_and_wake(self, actor: dramatiq.Actor, job_id: str) -> None:  # type: ignore[type-arg]
        actor.send(job_id)
        key = self.wake_key(actor.queue_name)
        pipe = self.client.pipeline(transaction=False)
        pipe.lpush(key, 1)
        pipe.ltrim(key, 0, WAKE_TOKENS - 1)
        pipe.execute()


def _broker(url: str) -> _Broker:
    return _Broker(url)


def _declare(broker: _Broker, queue_name: str, fn: Callable[[str], None]) -> dramatiq.Actor:  # type: ignore[type-arg]
    return dramatiq.Actor(fn, broker=broker, actor_name=ACTOR_NAME, queue_name=queue_name, priority=0,
                          options={})


class RedisQueue:
    """The API side of the Redis broker: only sends."""

    def __init__(self, url: str, queue_name: str) -> None:
        self.url = url
        self.queue_name = queue_name
        self._broker: _Broker | None = None
        self._actor: dramatiq.Actor | None = None  # type: ignore[type-arg]

    async def start(self) -> None:
        self._broker = _broker(self.url)
        self._actor = _declare(self._broker, self.queue_name, _not_here)

    async def send(self, job_id: str) -> None:
        if self._actor is None or self._broker is None:
            raise RuntimeError("the job queue is not started")
        await asyncio.to_thread(self._broker.send_and_wake, self._actor, job_id)  # redis-py blocks

    async def ping(self) -> None:
        if self._broker is None:
            raise RuntimeError("the job queue is not started")
        await asyncio.to_thread(self._broker.client.ping)  # redis-py blocks

    async def close(self) -> None:
        if self._broker is not None:
            await asyncio.to_thread(self._broker.close)
            self._broker = None


def _not_here(job_id: str) -> None:
    raise RuntimeError("jobs run in `skygate worker` processes, not in the API")


class LocalQueue:
    """Runs jobs as tasks on this event loop, ``concurrency`` at a time."""

    def __init__(self, runner: Runner, concurrency: int, *, defer_seconds: float = 1.0) -> None:
        self.runner = runner
        self.concurrency = max(1, concurrency)
        self.defer_seconds = defer_seconds
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work(), name=f"uws-local-{i}") for i in range(self.concurrency)]

    async def send(self, job_id: str) -> None:
        self._queue.put_nowait(job_id)

    async def ping(self) -> None:
        if not self._tasks or all(task.done() for task in self._tasks):
            raise RuntimeError("no local job runner is running")

    async def _work(self) -> None:
        while True:
            job_id = await self._queue.get()
            try:
                if await self.runner.should_defer(job_id):
                    asyncio.get_running_loop().call_later(self.defer_seconds, self._queue.put_nowait, job_id)
                    continue
                await self.runner.execute(job_id)
            except Exception:
                # The store is the truth: a job left EXECUTING is recovered by the janitor.
                log.exception("running job %s failed", job_id)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []


class _LoopThread:
    """An event loop in a thread: the worker process's store, runner and async job functions live
    here, while dramatiq's worker threads block on ``run``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="uws-loop", daemon=True)
        self.thread.start()

    def call(self, coro: Awaitable[object]) -> object:
        future: Future[object] = asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]
        return future.result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


def run_worker_process(
    config: JobConfig,
    kinds: Iterable[JobKind] | Callable[[], AbstractAsyncContextManager[Iterable[JobKind]]],
    *,
    threads: int = 4,
    stop: threading.Event | None = None,
    on_start: Callable[[], None] | None = None,
    limits: OwnerLimits | None = None,
) -> None:
    """Consume jobs from ``config.broker_url`` until SIGTERM/SIGINT (or ``stop`` is set).

    Parameters
    ----------
    config
        The job configuration (``broker_url`` must be set).
    kinds
        The job kinds, or a factory of an async context manager giving them: it is entered on
        the worker's event loop (so database pools the functions use live there) and exited
        when the worker stops.
    threads
        How many jobs this process runs at once.
    stop
        Set it to stop (tests); signals are handled only in the main thread.
    on_start
        Called once the worker consumes (tests and the CLI log it).
    limits
        Each owner's limits (``uws.limits``: jobs executing at once, result bytes), asked on the
        worker's event loop. None: the configuration's, the same for everybody.
    """
    if not config.broker_url:
        raise ValueError("a worker process needs a broker URL (SKYGATE_BROKER_URL)")
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    loop = _LoopThread()
    resources = kinds() if callable(kinds) else None
    table: Iterable[JobKind]
    table = loop.call(resources.__aenter__()) if resources is not None else kinds  # type: ignore[assignment]
    store = open_store(config.store_url)
    loop.call(store.open())
    by_name = {k.name: k for k in table}
    runner = Runner(store, by_name, config.results_dir, heartbeat_interval=config.heartbeat_interval,
                    max_running_per_owner=config.max_running_per_owner,
                    limits=limits or (SiteLimits(config) if config.max_result_bytes_per_owner else None))

    def run_job(job_id: str) -> None:
        if loop.call(runner.should_defer(job_id)):
            # Back of the line for a while: dramatiq holds delayed messages in its delay queue.
            actor.send_with_options(args=(job_id,), delay=int(config.defer_seconds * 1000))
            return
        loop.call(runner.execute(job_id))

    broker = _broker(config.broker_url)
    actor = _declare(broker, config.queue_name, run_job)
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=config.worker_poll_ms)
    worker.start()
    log.info("worker consuming queue %s with %d threads; job kinds: %s", config.queue_name, threads,
             ", ".join(sorted(by_name)))
    if on_start is not None:
        on_start()
    try:
        while not stop.wait(0.5):  # a timed wait lets signal handlers run promptly
            pass
    finally:
        worker.stop(timeout=30_000)
        broker.close()
        loop.call(store.close())
        if resources is not None:
            loop.call(resources.__aexit__(None, None, None))
        loop.stop()
