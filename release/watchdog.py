"""A thread that stops statements at their deadline, whatever the event loop is doing.

The backends register each statement's stop function (DuckDB's ``interrupt``, libpq's cancel)
with a deadline. The watchdog calls it at the deadline and again every ``repeat`` seconds until
the statement ends: a stop that arrives while the statement is still waiting for a database
thread, or while DuckDB is between two checks of its interrupt flag, is repeated rather than
lost. It runs on its own thread so a busy event loop (8-way load, a large VOTable being written)
cannot delay it. No SQL, no I/O of its own.
Tests: tests/release/test_limits.py.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

__all__ = ["DaemonThreads", "Watch", "Watchdog"]

_T = TypeVar("_T")

_log = logging.getLogger(__name__)


_PURGE_AT = 1024  # heap entries at which ended statements are dropped from it


class Watch:
    """One statement's registration: ``fired`` tells whether its deadline passed."""

    __slots__ = ("deadline", "done", "fired", "stop")

    def __init__(self, deadline: float, stop: Callable[[], None]) -> None:
        self.deadline = deadline
        self.stop = stop
        self.fired = False
        self.done = False


class Watchdog:
    """Calls the stop functions of statements that outlive their deadline (``time.monotonic``).

    Parameters
    ----------
    repeat
        Seconds between repeated stops of a statement that has not ended yet.
    name
        The thread's name (seen in stack dumps).
    """

    def __init__(self, *, repeat: float = 0.25, name: str = "watchdog") -> None:
        self._repeat = repeat
        self._name = name
        self._heap: list[tuple[float, int, Watch]] = []
        self._purge_at = _PURGE_AT
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def watch(self, timeout: float, stop: Callable[[], None]) -> Watch:
        """Call ``stop`` in ``timeout`` seconds (and again until ``end`` is called)."""
        entry = Watch(time.monotonic() + timeout, stop)
        with self._wake:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            if len(self._heap) >= self._purge_at:
                self._purge()
            heapq.heappush(self._heap, (entry.deadline, next(self._order), entry))
            # The thread sleeps until the earliest deadline: only a new earliest one needs to wake
            # it (not every statement: waking a thread per query costs the event loop the GIL).
            if self._heap[0][2] is entry:
                self._wake.notify()
        return entry

    def _purge(self) -> None:
        """Drop ended statements (each stays in the heap until its deadline otherwise)."""
        self._heap = [item for item in self._heap if not item[2].done]
        heapq.heapify(self._heap)
        self._purge_at = max(_PURGE_AT, 2 * len(self._heap))  # amortised: never a purge per statement

    def expire(self, entry: Watch) -> None:
        """Stop the statement now (its consumer left), and again until ``end`` is called."""
        with self._wake:
            heapq.heappush(self._heap, (time.monotonic(), next(self._order), entry))
            self._wake.notify()

    @staticmethod
    def end(entry: Watch) -> None:
        """The statement ended: never call its stop function again."""
        entry.done = True

    def stop_all(self) -> int:
        """Stop every statement still running (server shutdown); returns how many were asked."""
        with self._wake:
            running = [entry for _, _, entry in self._heap if not entry.done]
        for entry in running:
            _stop(entry)
        return len(running)

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._heap.clear()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._wake.wait(timeout)
                if self._closed:
                    return
                _, _, entry = heapq.heappop(self._heap)
                if entry.done:
                    continue
                entry.fired = True
                heapq.heappush(self._heap, (time.monotonic() + self._repeat, next(self._order), entry))
            _stop(entry)


def _stop(entry: Watch) -> None:
    try:
        entry.stop()
    except Exception:  # noqa: BLE001 (a statement that ended meanwhile may refuse the stop)
        _log.debug("stopping a statement failed", exc_info=True)


class DaemonThreads(Executor):
    """A thread pool whose threads never hold up the process's exit.

    ``concurrent.futures.ThreadPoolExecutor`` joins its threads when the interpreter exits, so a
    DuckDB statement stuck in a planning pass that ignores interrupts would keep a stopped server
    alive for minutes. These threads are daemons: the process exits and takes them along.
    """

    def __init__(self, max_workers: int, *, name: str) -> None:
        self._max_workers = max_workers
        self._name = name
        self._work: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.SimpleQueue())
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()
        self._shut = False

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        if kwargs:
            fn = functools.partial(fn, **kwargs)
        future: Future[_T] = Future()
        with self._lock:
            if self._shut:
                raise RuntimeError("cannot schedule new work after shutdown")
            self._work.put((future, fn, args))
            if self._idle == 0 and len(self._threads) < self._max_workers:
                thread = threading.Thread(target=self._run, name=f"{self._name}-{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()
            else:
                self._idle -= 1
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shut = True
            threads = list(self._threads)
        for _ in threads:
            self._work.put(None)
        if wait:
            for thread in threads:
                thread.join()

    def _run(self) -> None:
        while True:
            item = self._work.get()
            if item is None:
                return
            future, fn, args = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:  # noqa: BLE001 (handed to whoever waits for the future)
                    future.set_exception(exc)
            with self._lock:
                self._idle += 1
