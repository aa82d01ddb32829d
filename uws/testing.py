"""Trivial job kinds for tests, benchmarks and smoke checks of a deployment.

``skygate worker --kinds uws.testing:job_kinds`` adds them to a worker; they are never mounted
by a service. Tests: tests/uws/test_routes.py and the reliability tests use them.
"""

from __future__ import annotations

import asyncio
import time

from dali.errors import TransientError, UsageError
from uws.context import JobContext
from uws.kinds import JobKind
from uws.models import Parameters, Result

__all__ = ["async_sleep", "check_echo", "echo", "job_kinds", "sleep"]


def echo(params: Parameters, ctx: JobContext) -> list[Result]:
    """Publish ``MESSAGE`` as the primary result; ``FAIL=usage|transient|crash`` fails instead.
    ``EXTRA=<name>`` adds a second result."""
    fail = params.get("fail")
    if fail == "usage":
        raise UsageError("FAIL=usage was asked for", param="FAIL")
    if fail == "transient":
        raise TransientError("FAIL=transient was asked for")
    if fail == "crash":
        raise RuntimeError("secret internal detail")
    results = [ctx.add_result("result", params.get("message", "ok").encode(), "text/plain")]
    if "extra" in params:
        results.append(ctx.add_result(params["extra"], b"extra", "application/octet-stream"))
    for name, path in params.files.items():
        results.append(ctx.add_result(f"file-{name}", path.read_bytes(), "application/octet-stream"))
    return results


def check_echo(params: Parameters) -> None:
    if params.get("check") == "refuse":
        raise UsageError("CHECK=refuse was asked for", param="CHECK")


def sleep(params: Parameters, ctx: JobContext) -> list[Result]:
    """Sleep ``SECONDS`` (default 1) in small steps, checking for abort and deadline;
    ``RETRY_SECONDS`` instead when this is a second run (after a worker died)."""
    seconds = float(params.get("seconds", "1"))
    if ctx.attempt > 1 and "retry_seconds" in params:
        seconds = float(params["retry_seconds"])
    end = time.monotonic() + seconds
    steps = 0
    while time.monotonic() < end:
        ctx.checkpoint()
        ctx.progress(steps, int(seconds * 20))
        time.sleep(0.05)
        steps += 1
    return [ctx.add_result("result", f"slept {seconds}".encode(), "text/plain")]


async def async_sleep(params: Parameters, ctx: JobContext) -> list[Result]:
    """Like ``sleep`` but ``async def``: stopped by cancellation, with no checkpoint calls."""
    seconds = float(params.get("seconds", "1"))
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        ctx.job_dir.mkdir(parents=True, exist_ok=True)
        (ctx.job_dir / "cancelled").write_text("yes")  # lets tests see the cancellation happened
        raise
    return [ctx.add_result("result", f"slept {seconds}".encode(), "text/plain")]


def job_kinds() -> list[JobKind]:
    return [
        JobKind("uws-echo", echo, check=check_echo, multi_valued=frozenset({"upload"})),
        JobKind("uws-sleep", sleep),
        JobKind("uws-async-sleep", async_sleep),
    ]
