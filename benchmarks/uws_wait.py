"""CPU cost of blocked UWS ``WAIT`` requests: 200 waiters on PENDING jobs, before and after.

Builds the UWS routes of a trivial job kind over a SQLite job store in this process, creates
``--waiters`` PENDING jobs and blocks one ``GET {job}?WAIT=n`` on each (through ASGI). Halfway
through, half of the jobs are aborted: their waiters must wake at once (the phase-change
notification), the others sleep out their WAIT. Prints the process CPU seconds (every thread,
the store's included) and the wake latency, for the old schedule (re-read the phase every 20 ms)
and the current one (notifications, and a fallback poll backing off from 20 ms to ``poll_max``).

    .venv/bin/python benchmarks/uws_wait.py [--waiters 200] [--seconds 10]

Runs in about twice ``--seconds``; needs nothing outside this process. On the 2-core development
machine (shared), 200 waiters, WAIT=25: before 8.8 CPU-s (wake median 418 ms), after 0.64 CPU-s
(wake median 46 ms); WAIT=10: 4.0 and 0.38 CPU-s.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

# benchmarks/uws.py is named like the package measured here: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount

from skygate.settings import Settings
from skygate.worker import job_config
from uws.config import JobConfig
from uws.routes import job_routes
from uws.system import open_job_system
from uws.testing import job_kinds


async def measure(config: JobConfig, waiters: int, seconds: int) -> tuple[float, float, float]:
    """(CPU seconds while waiting, median and max wake latency of the aborted jobs' waiters)."""
    system = await open_job_system(config, job_kinds(), background=False)
    app = Starlette(routes=[Mount("/echo", routes=job_routes("uws-echo", SimpleNamespace(jobs=system)))])
    limits = httpx.Limits(max_connections=None)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench",
                                     limits=limits, timeout=seconds + 30) as client:
            jobs = []
            for _ in range(waiters):
                response = await client.post("/echo/async", data={"MESSAGE": "x"})
                jobs.append(response.headers["location"].rsplit("/", 1)[1])
            woken: dict[str, float] = {}

            async def wait(job_id: str) -> None:
                await client.get(f"/echo/async/{job_id}", params={"WAIT": str(seconds)})
                woken[job_id] = time.perf_counter()

            cpu = time.process_time()
            tasks = [asyncio.create_task(wait(job_id)) for job_id in jobs]
            await asyncio.sleep(seconds / 2)
            aborted = jobs[::2]
            started = time.perf_counter()
            for job_id in aborted:
                await system.abort(job_id)
            await asyncio.gather(*tasks)
            used = time.process_time() - cpu
            latencies = [woken[j] - started for j in aborted]
            return used, statistics.median(latencies), max(latencies)
    finally:
        await system.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--waiters", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = replace(job_config(Settings()), store_url=f"sqlite:///{Path(tmp) / 'jobs.sqlite'}",
                       results_dir=Path(tmp) / "results", wait_max=args.seconds * 2, sweep_interval=0)
        schedules = {"before: poll every 20 ms": replace(base, poll_interval=0.02, poll_max=0.02),
                     "after: notify + back-off": base}
        print(f"{args.waiters} waiters, WAIT={args.seconds}; half the jobs aborted at {args.seconds / 2:g} s")
        for name, config in schedules.items():
            used, median, worst = await measure(config, args.waiters, args.seconds)
            print(f"{name:28s} CPU {used:6.2f} s   wake latency median {median * 1000:6.1f} ms, "
                  f"max {worst * 1000:6.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
