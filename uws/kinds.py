"""A kind of job: its name, the function that runs it, and the services' hooks (``JobKind``).

Apart from ``uws.models`` because a job function's type names its ``JobContext``, which is built
from the models. Tests: tests/uws/test_system.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from uws.context import JobContext
from uws.models import ErrorInfo, Parameters, Result

__all__ = ["ErrorRenderer", "JobFunction", "JobKind", "text_error"]

JobFunction = Callable[[Parameters, JobContext], Sequence[Result] | Awaitable[Sequence[Result] | None] | None]
ErrorRenderer = Callable[[ErrorInfo], tuple[bytes, str]]


def text_error(error: ErrorInfo) -> tuple[bytes, str]:
    """The default ``/error`` document: the message as ``text/plain``."""
    return error.message.encode("utf-8") + b"\n", "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class JobKind:
    """A kind of job: a name (e.g. ``"tap"``), the function that runs it, and service hooks.

    Parameters
    ----------
    name
        Unique key in the job-kind table (``skygate/worker.py``) and in the job store.
    run
        ``run(params, ctx) -> list[Result] | None``, sync (run in a worker thread; call
        ``ctx.checkpoint()`` often) or ``async def`` (cancelled on abort or deadline).
        Raise ``dali.errors.UsageError`` for the caller's mistakes (ERROR, type fatal) and
        ``TransientError`` for try-again-later failures (ERROR, type transient).
    check
        Optional cheap validation ``check(params)`` run in the API process (on its event loop:
        parameter parsing only, no I/O) when the job is asked to run; a ``UsageError`` puts the
        job in ERROR without queueing it.
    error_document
        Renders ``{job}/error`` from an ``ErrorInfo`` as ``(body, content type)``; TAP gives a
        DALI error VOTable, the default is ``text/plain``.
    multi_valued
        Lower-case names of parameters that accumulate when POSTed to ``{job}/parameters``
        (e.g. ``{"upload"}``); every other name is replaced.
    resources
        Anything the worker wants to hand to the function (engine, settings); seen as
        ``ctx.resources``. Set by ``skygate/worker.py``, never by the services.
    """

    name: str
    run: JobFunction
    check: Callable[[Parameters], None] | None = None
    error_document: ErrorRenderer = text_error
    multi_valued: frozenset[str] = field(default_factory=frozenset)
    resources: Any = None
