"""Time a partitioned release on DuckDB (in place) and on Spark: queries, then anomaly scoring.

Generates a synthetic DES-shaped catalogue (uniform over RA 0-60, Dec -60-0; id, ra, dec, five
float32 magnitudes), writes it with ``ingest --partitioned`` (HATS, ``--max-rows`` rows per
partition), then runs through the query engine, per backend: cone searches (radius 0.1 deg,
random centres; p50 and the number of partitions each opens), a full-scan aggregate, and a
1 M-row result (rows/s). With ``--anomaly``, the ``anomaly.score`` job function itself (what a
dramatiq worker runs) scores every row (four colours and a magnitude, NTREES=200, SAMPLE_SIZE=256):
on DuckDB in one process (its scoring is one core's work), on Spark in the executors
(anomaly/spark.py); rows/s per core is rows / score_s / cores, and both jobs' scores are compared.
The same rows, QUERY and parameters go to both, and score_s means the same in both: from the fitted
model to every row's score in hand, the rows having been read and selected before the fit (the
local path's query into memory; Spark's sample pass, which keeps them in the job's scratch). Spark's
score_s also holds its tasks sorting and writing their Parquet files, which the local path does
later (in ``results``); the other stages are printed beside it.
On a shared machine the wall clock says more about the neighbours than about the code, so the CPU
seconds spent while the job scores are given too (this process for DuckDB; the local Spark server's
JVM and Python workers for Spark), and rows per CPU second beside the wall-clock rate.
The issue's targets (2 cores, ``large`` = 10 M rows): cone <= 1.5 s reading <= 4 partitions,
full-scan aggregate <= 5 s, Spark scoring >= 0.8 x the dramatiq path's rate per core.

    .venv/bin/python benchmarks/spark.py [--rows 1000000] [--max-rows 100000] [--anomaly]
        [--spark local | --spark sc://127.0.0.1:15002 --cores N]

``--spark local`` starts a Spark Connect server (``local[2]``, from pyspark's jars; Java 17) for the run;
a server of your own must see the files at the same path (a local one does) and run skygate's Python.
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/anomaly.py is named like the package this imports: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import contextlib
import functools
import json
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from anomaly.jobs import SCORE_KIND, AnomalyResources, run_score
from release.engine import QueryEngine
from release.ingest import ingest_arrow
from release.partitioned import PartitionedStore, files_variable
from release.runtime import open_release
from release.stores import open_store
from uws import JobContext, Parameter, Parameters

TABLE = "bench.objects"
ANOMALY_QUERY = (f"SELECT id, mag_g - mag_r AS g_r, mag_r - mag_i AS r_i, mag_i - mag_z AS i_z, "
                 f"mag_z - mag_y AS z_y, mag_r FROM {TABLE}")


def catalogue(rows: int, seed: int = 1) -> pa.Table:
    rng = np.random.default_rng(seed)
    dec = np.degrees(np.arcsin(rng.uniform(np.sin(np.radians(-60)), 0.0, rows)))
    columns: dict[str, object] = {"id": np.arange(rows, dtype=np.int64), "ra": rng.uniform(0, 60, rows), "dec": dec}
    for band in "grizy":
        columns[f"mag_{band}"] = rng.uniform(16, 25, rows).astype(np.float32)
    return pa.table(columns)


def load() -> str:
    """The 1, 5 and 15 minute load averages (other work on the machine skews every figure)."""
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def session_cpu(session: int) -> float:
    """CPU seconds (user + system) of the live processes of a Unix session (the local Spark server's)."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended
        if int(fields[3]) == session:  # after the command: state, ppid, pgrp, session, ..., utime, stime
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


async def scoring_cpu(ctx: JobContext, cpu: Callable[[], float]) -> tuple[float, float]:
    """CPU and wall seconds between the job's progress (0, n) and (n, n): its scoring."""
    start: tuple[float, float] | None = None
    while True:
        progress = ctx.last_progress
        if progress is not None and progress[1] > 0:
            if start is None and progress[0] < progress[1]:
                start = cpu(), time.perf_counter()
            elif start is not None and progress[0] == progress[1]:
                return cpu() - start[0], time.perf_counter() - start[1]
        await asyncio.sleep(0.02)


@contextlib.contextmanager
def local_server(cores: int, log: Path) -> Iterator[tuple[str, int]]:
    """A Spark Connect server (``local[cores]``) for the run, its Python workers on this interpreter."""
    import pyspark

    home = Path(pyspark.__file__).parent
    jar = sorted((home / "jars").glob("spark-connect_*.jar"))[0]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {**os.environ, "SPARK_HOME": str(home), "PYSPARK_PYTHON": sys.executable}
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(home / "bin" / "spark-submit"), "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
             "--master", f"local[{cores}]", "--driver-memory", "3g",
             "--conf", f"spark.connect.grpc.binding.port={port}", "--conf", "spark.ui.enabled=false", str(jar)],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        started = time.monotonic()
        while time.monotonic() - started < 180:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if server.poll() is not None:
                raise RuntimeError(f"the Spark Connect server stopped: {log.read_text()[-2000:]}")
            time.sleep(0.25)
        print(f"Spark Connect server local[{cores}] up in {time.monotonic() - started:.1f} s")
        yield f"sc://127.0.0.1:{port}", server.pid
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


async def drain(engine: QueryEngine, adql: str, maxrec: int | None = None) -> int:
    result = await engine.execute(adql, maxrec=maxrec, timeout=600)
    return sum([batch.num_rows async for batch in result.batches])


async def measure(name: str, url: str, catalog: Path, cones: int) -> None:
    opened = await open_release(url, catalog, base_url="http://x", readonly_role="")
    assert opened.engine is not None, opened.problem
    engine, backend = opened.engine, opened.backend
    rng = np.random.default_rng(7)
    timings, opened_files = [], []
    for _ in range(cones):
        ra, dec = rng.uniform(1, 59), rng.uniform(-59, -1)
        adql = (f"SELECT id, ra, dec, mag_g FROM {TABLE} "
                f"WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', {ra:.5f}, {dec:.5f}, 0.1))")
        start = time.perf_counter()
        await drain(engine, adql)
        timings.append(time.perf_counter() - start)
        sql = (await engine.prepare(adql, maxrec=None)).sql
        files = getattr(backend, "files", None)
        partitioned = getattr(backend, "partitioned", None)
        if backend is not None and backend.dialect == "spark" and files is not None:
            opened_files.append(len(files(sql)[TABLE]))
        elif partitioned is not None:
            opened_files.append(len(partitioned.variables(sql)[files_variable(TABLE)]))
    start = time.perf_counter()
    await drain(engine, f"SELECT COUNT(*) AS n, AVG(mag_g) AS g, MAX(mag_r) AS r FROM {TABLE}")
    scan = time.perf_counter() - start
    start = time.perf_counter()
    got = await drain(engine, f"SELECT TOP 1000000 id, ra, dec, mag_g FROM {TABLE}")
    rate = got / (time.perf_counter() - start)
    files = f", partitions per cone max {max(opened_files)}" if opened_files else ""
    print(f"{name}: cone p50 {statistics.median(timings[1:] or timings) * 1000:.0f} ms "
          f"(first {timings[0] * 1000:.0f} ms{files}); full-scan aggregate {scan:.2f} s; "
          f"{got} rows at {rate:,.0f} rows/s  [{load()}]")
    await opened.close()


async def score(name: str, url: str, catalog: Path, where: Path, cores: int,
                cpu: Callable[[], float] | None) -> tuple[float, float, Path]:
    """Run the anomaly job over every row; print its timings; return rows/s per core (wall clock and
    CPU time, NaN when unknown) and its result."""
    opened = await open_release(url, catalog, base_url="http://x", readonly_role="")
    engine = opened.engine
    assert engine is not None, opened.problem
    resources = AnomalyResources(engine=lambda: engine, max_rows=10**10, query_timeout=3600)
    job_dir = where / name.split()[0].lower()
    ctx = JobContext(job_id=job_dir.name, kind=SCORE_KIND, parameters=Parameters(), job_dir=job_dir,
                     resources=resources)
    params = Parameters([Parameter("QUERY", ANOMALY_QUERY), Parameter("RESPONSEFORMAT", "parquet"),
                         Parameter("SEED", "3")])
    start = time.perf_counter()
    watch = asyncio.create_task(scoring_cpu(ctx, cpu)) if cpu is not None else None
    await run_score(params, ctx)
    total = time.perf_counter() - start
    cpu_s = (await asyncio.wait_for(watch, 10))[0] if watch is not None else float("nan")
    summary = json.loads((job_dir / "results" / "summary.json").read_text())
    rows, timings = summary["rows"]["scored"], summary["timings"]
    per_core, per_cpu = rows / timings["score_s"] / cores, rows / cpu_s
    ranking = f", rank {timings['rank_s']:.1f} s" if "rank_s" in timings else ""
    print(f"{name}: anomaly job over {rows:,} rows in {total:.1f} s (query/sample {timings['query_s']:.1f} s, "
          f"fit {timings['fit_s']:.1f} s, score {timings['score_s']:.1f} s{ranking}, results "
          f"{timings['write_s']:.1f} s); scoring {per_core:,.0f} rows/s per core on {cores} core(s) by the clock, "
          f"{per_cpu:,.0f} rows per CPU second ({cpu_s:.1f} CPU s)  [{load()}]")
    await opened.close()
    return per_core, per_cpu, job_dir / "results" / "result"


def same_scores(one: Path, other: Path) -> bool:
    """Whether two jobs' results give every id the same score (row order may differ)."""
    a, b = (pq.read_table(p, columns=["id", "score"]).sort_by("id") for p in (one, other))
    return bool(a.equals(b))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--max-rows", type=int, default=100_000)
    parser.add_argument("--cones", type=int, default=11)
    parser.add_argument("--spark", default="", help="'local' (start local[--cores]) or sc://host:port")
    parser.add_argument("--cores", type=int, default=2, help="the Spark executors' cores (for rows/s per core)")
    parser.add_argument("--anomaly", action="store_true", help="also time the anomaly job on each backend")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; {load()}")
    with tempfile.TemporaryDirectory(prefix="skygate-bench-") as temp:
        where = Path(temp)
        catalog = where / "catalog.duckdb"
        data = catalogue(args.rows)
        start = time.perf_counter()
        async with await open_store("", catalog, readonly_role="") as store:
            await ingest_arrow(PartitionedStore(store, where / "hats", max_rows=args.max_rows), TABLE, data,
                               ra="ra", dec="dec")
        seconds = time.perf_counter() - start
        del data
        files = len(list((where / "hats").glob("bench/objects/dataset/Norder=*/Dir=*/*.parquet")))
        print(f"ingest --partitioned: {args.rows} rows in {seconds:.1f} s ({args.rows / seconds:,.0f} rows/s), "
              f"{files} partitions of at most {args.max_rows} rows")
        with contextlib.ExitStack() as stack:
            url, spark_cpu = args.spark, None
            if url == "local":
                url, pid = stack.enter_context(local_server(args.cores, where / "spark.log"))
                spark_cpu = functools.partial(session_cpu, pid)
            await measure("DuckDB (in place)", "", catalog, args.cones)
            if url:
                await measure(f"Spark local[{args.cores}]" if args.spark == "local" else "Spark", url, catalog,
                              args.cones)
            if args.anomaly:
                local_rate, local_cpu, local_result = await score("DuckDB job (the dramatiq path)", "", catalog,
                                                                  where, 1, time.process_time)
                if url:
                    spark_rate, spark_cpu_rate, spark_result = await score("Spark job", url, catalog, where,
                                                                           args.cores, spark_cpu)
                    print(f"Spark scoring / dramatiq path, per core by the clock: {spark_rate / local_rate:.2f}, "
                          f"per CPU second: {spark_cpu_rate / local_cpu:.2f}; "
                          f"scores identical: {same_scores(local_result, spark_result)}")


if __name__ == "__main__":
    asyncio.run(main())
