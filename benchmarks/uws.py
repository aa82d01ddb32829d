"""UWS job-system throughput and latency: Redis broker, two worker processes, a trivial job kind.

Starts a uvicorn API (this script with ``--serve``) whose job system uses PostgreSQL and Redis,
and ``skygate worker --processes 2``; then clients POST jobs with ``PHASE=RUN`` and block with
``WAIT=-1`` until COMPLETED. Prints jobs/s (POST to COMPLETED, many clients) and the p50/p95
latency of POST+WAIT (one client, and under load). Targets: p50 <= 50 ms, >= 200 jobs/s.

    .venv/bin/python benchmarks/uws.py [--jobs 600] [--clients 16]

Needs PostgreSQL and Redis on 127.0.0.1 (a unique queue name and its own database are used).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
# This script is named like the package it measures: keep its own folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
SKYGATE = Path(sys.executable).with_name("skygate")
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DB = "skygate_bench_uws"
LIST = "/bench/async"


def serve(args: argparse.Namespace) -> None:
    """The API process: the UWS routes of the trivial ``uws-echo`` kind, Redis + PostgreSQL."""
    from dataclasses import replace

    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from skygate.assembly import Runtime
    from skygate.settings import Settings
    from skygate.worker import job_config
    from uws.routes import job_routes
    from uws.system import open_job_system
    from uws.testing import job_kinds

    config = replace(job_config(Settings()), store_url=args.jobs_url, results_dir=Path(args.data_dir) / "results",
                     broker_url=args.broker_url, queue_name=args.queue)
    runtime = Runtime()

    async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
        jobs = runtime.jobs = await open_job_system(config, job_kinds())
        yield
        await jobs.close()

    app = Starlette(routes=[Mount("/bench", routes=job_routes("uws-echo", runtime))], lifespan=lifespan)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


class _Connection:
    """A minimal keep-alive HTTP/1.1 client (one per simulated user). httpx costs the client
    about as much CPU per job as the server spends; this one keeps the measurement about the
    server on a 2-core machine."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, target: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = f"{method} {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        if body:
            head += f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        data = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers, data

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


async def one_job(conn: _Connection) -> float:
    started = time.perf_counter()
    status, headers, body = await conn.request("POST", LIST, b"PHASE=RUN&MESSAGE=hello")
    if status != 303:
        raise RuntimeError(f"POST answered {status}: {body!r}")
    job = urlsplit(headers["location"]).path
    while True:
        _, _, doc = await conn.request("GET", f"{job}?WAIT=-1")
        if b"<uws:phase>COMPLETED</uws:phase>" in doc:
            return time.perf_counter() - started
        if b"<uws:phase>ERROR" in doc or b"<uws:phase>ABORTED" in doc:
            raise RuntimeError(f"job failed: {doc!r}")


async def run_clients(base: str, jobs: int, clients: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    remaining = iter(range(jobs))
    where = urlsplit(base)

    async def client_loop() -> None:
        conn = _Connection(where.hostname or "127.0.0.1", where.port or 80)
        try:
            for _ in remaining:
                latencies.append(await one_job(conn))
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(clients)))
    return time.perf_counter() - started, latencies


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def cpu_seconds(process: subprocess.Popen[bytes]) -> float:
    """User+system CPU of a process and its children so far."""
    import psutil

    root = psutil.Process(process.pid)
    total = 0.0
    for p in [root, *root.children(recursive=True)]:
        try:
            times = p.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


async def store_timings(jobs_url: str, last: int) -> tuple[float, float]:
    """Median queue wait and run time (ms) of the last ``last`` jobs, as the store recorded them."""
    import asyncpg

    conn = await asyncpg.connect(jobs_url)
    try:
        row = await conn.fetchrow(
            "WITH j AS (SELECT * FROM uws.jobs ORDER BY creation_time DESC LIMIT $1) SELECT "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY start_time - creation_time) * 1000, "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY end_time - start_time) * 1000 FROM j", last)
    finally:
        await conn.close()
    return float(row[0]), float(row[1])


def pids_cpu(pids: list[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def redis_pids() -> list[int]:
    import psutil

    return [p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == "redis-server"]


async def backend_pids(jobs_url: str) -> list[int]:
    """The PostgreSQL backends serving the benchmark's job store (its own database)."""
    import asyncpg

    conn = await asyncpg.connect(jobs_url)
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                "AND pid <> pg_backend_pid()")
    finally:
        await conn.close()
    return [int(r["pid"]) for r in rows]


def recreate_database() -> str:
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
            await conn.execute(f"CREATE DATABASE {PG_DB}")
        finally:
            await conn.close()

    asyncio.run(go())
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{PG_DB}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=600)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--latency-jobs", type=int, default=100)
    parser.add_argument("--worker-threads", type=int, default=8)
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--jobs-url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", default="", help=argparse.SUPPRESS)
    parser.add_argument("--queue", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return 0

    jobs_url = recreate_database()
    queue = f"uws-bench-{secrets.token_hex(4)}"
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="uws-bench-") as data_dir:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SKYGATE_")}
        env.update(SKYGATE_BROKER_URL=args.broker_url, SKYGATE_JOBS_URL=jobs_url, SKYGATE_DATA_DIR=data_dir)
        api = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--port", str(port), "--jobs-url", jobs_url,
             "--data-dir", data_dir, "--queue", queue, "--broker-url", args.broker_url],
            cwd=ROOT, env=env, start_new_session=True,
        )
        workers = subprocess.Popen(
            [str(SKYGATE), "worker", "--processes", "2", "--threads", str(args.worker_threads), "--queue", queue,
             "--kinds", "uws.testing:job_kinds"],
            cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(f"{base}{LIST}")
            time.sleep(3)  # the two worker processes boot
            asyncio.run(run_clients(base, 40, 4))  # warm-up
            _, single = asyncio.run(run_clients(base, args.latency_jobs, 1))
            backends = asyncio.run(backend_pids(jobs_url))
            cpu_before = (cpu_seconds(api), cpu_seconds(workers), time.process_time(),
                          pids_cpu(backends), pids_cpu(redis_pids()))
            elapsed, loaded = asyncio.run(run_clients(base, args.jobs, args.clients))
            cpu_after = (cpu_seconds(api), cpu_seconds(workers), time.process_time(),
                         pids_cpu(backends), pids_cpu(redis_pids()))
            queue_ms, run_ms = asyncio.run(store_timings(jobs_url, len(loaded)))
        finally:
            for process in (workers, api):
                os.killpg(process.pid, signal.SIGTERM)
            for process in (workers, api):
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
    ms = 1000.0
    print("UWS benchmark: Redis broker, 2 worker processes "
          f"x {args.worker_threads} threads, PostgreSQL job store, trivial job kind (uws-echo)")
    print(f"  one client, POST PHASE=RUN + WAIT until COMPLETED ({len(single)} jobs): "
          f"p50 {percentile(single, 50) * ms:.1f} ms, p95 {percentile(single, 95) * ms:.1f} ms")
    print(f"  {args.clients} clients, {len(loaded)} jobs: {len(loaded) / elapsed:.0f} jobs/s POST->COMPLETED; "
          f"latency p50 {percentile(loaded, 50) * ms:.1f} ms, p95 {percentile(loaded, 95) * ms:.1f} ms")
    api_ms = (cpu_after[0] - cpu_before[0]) / len(loaded) * ms
    worker_ms = (cpu_after[1] - cpu_before[1]) / len(loaded) * ms
    client_ms = (cpu_after[2] - cpu_before[2]) / len(loaded) * ms
    pg_ms = (cpu_after[3] - cpu_before[3]) / len(loaded) * ms
    redis_ms = (cpu_after[4] - cpu_before[4]) / len(loaded) * ms
    total_ms = api_ms + worker_ms + client_ms + pg_ms + redis_ms
    print(f"  loaded run, from the job store: p50 queue wait (created -> EXECUTING) {queue_ms:.1f} ms, "
          f"p50 run (EXECUTING -> COMPLETED) {run_ms:.1f} ms")
    print(f"  CPU per job: API process {api_ms:.1f} ms, worker processes {worker_ms:.1f} ms, "
          f"HTTP clients {client_ms:.1f} ms, PostgreSQL backends {pg_ms:.1f} ms, Redis {redis_ms:.1f} ms "
          f"(shared server); total {total_ms:.1f} ms = at most {(os.cpu_count() or 1) * 1000 / total_ms:.0f} "
          "jobs/s if these processes had the CPUs to themselves")
    print(f"  machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other users included)")
    print("  targets: p50 <= 50 ms, >= 200 jobs/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
