"""Time a partitioned release on DuckDB (in place) and, given a Spark Connect URL, on Spark.

Generates a synthetic DES-shaped catalogue (uniform over RA 0-60, Dec -60-0; id, ra, dec, five
float32 magnitudes), writes it with ``ingest --partitioned`` (HATS, ``--max-rows`` rows per
partition), then runs through the query engine, per backend: cone searches (radius 0.1 deg,
random centres; p50 and the number of partitions each opens), a full-scan aggregate, and a
1 M-row result (rows/s). The issue's targets (2 cores, ``large`` = 10 M rows): cone <= 1.5 s
reading <= 4 partitions, full-scan aggregate <= 5 s.

    .venv/bin/python benchmarks/spark.py [--rows 1000000] [--max-rows 100000] [--spark sc://127.0.0.1:15002]

The Spark Connect server must see the files at the same path (a local server does).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from release.engine import QueryEngine
from release.ingest import ingest_arrow
from release.partitioned import PartitionedStore, files_variable
from release.runtime import open_release
from release.stores import open_store


def catalogue(rows: int, seed: int = 1) -> pa.Table:
    rng = np.random.default_rng(seed)
    dec = np.degrees(np.arcsin(rng.uniform(np.sin(np.radians(-60)), 0.0, rows)))
    columns: dict[str, object] = {"id": np.arange(rows, dtype=np.int64), "ra": rng.uniform(0, 60, rows), "dec": dec}
    for band in "grizy":
        columns[f"mag_{band}"] = rng.uniform(16, 25, rows).astype(np.float32)
    return pa.table(columns)


async def drain(engine: QueryEngine, adql: str, maxrec: int | None = None) -> int:
    result = await engine.execute(adql, maxrec=maxrec, timeout=600)
    return sum([batch.num_rows async for batch in result.batches])


async def measure(name: str, url: str, catalog: Path, cones: int) -> None:
    opened = await open_release(url, catalog, base_url="http://x", readonly_role="")
    assert opened.engine is not None, opened.problem
    engine = opened.engine
    rng = np.random.default_rng(7)
    timings, opened_files = [], []
    partitioned = getattr(opened.backend, "partitioned", None)
    for _ in range(cones):
        ra, dec = rng.uniform(1, 59), rng.uniform(-59, -1)
        adql = (f"SELECT id, ra, dec, mag_g FROM bench.objects "
                f"WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', {ra:.5f}, {dec:.5f}, 0.1))")
        start = time.perf_counter()
        await drain(engine, adql)
        timings.append(time.perf_counter() - start)
        if partitioned is not None and opened.backend is not None and opened.backend.dialect == "duckdb":
            sql = (await engine.execute(adql, maxrec=0, timeout=60)).sql
            opened_files.append(len(partitioned.variables(sql)[files_variable("bench.objects")]))
    start = time.perf_counter()
    await drain(engine, "SELECT COUNT(*) AS n, AVG(mag_g) AS g, MAX(mag_r) AS r FROM bench.objects")
    scan = time.perf_counter() - start
    start = time.perf_counter()
    got = await drain(engine, "SELECT TOP 1000000 id, ra, dec, mag_g FROM bench.objects")
    rate = got / (time.perf_counter() - start)
    files = f", partitions per cone max {max(opened_files)}" if opened_files else ""
    print(f"{name}: cone p50 {statistics.median(timings[1:] or timings) * 1000:.0f} ms "
          f"(first {timings[0] * 1000:.0f} ms{files}); full-scan aggregate {scan:.2f} s; "
          f"{got} rows at {rate:,.0f} rows/s")
    await opened.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--max-rows", type=int, default=100_000)
    parser.add_argument("--cones", type=int, default=11)
    parser.add_argument("--spark", default="", help="sc://host:port of a Spark Connect server")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="skygate-bench-") as where:
        catalog = Path(where) / "catalog.duckdb"
        data = catalogue(args.rows)
        start = time.perf_counter()
        async with await open_store("", catalog, readonly_role="") as store:
            await ingest_arrow(PartitionedStore(store, Path(where) / "hats", max_rows=args.max_rows),
                               "bench.objects", data, ra="ra", dec="dec")
        seconds = time.perf_counter() - start
        files = len(list((Path(where) / "hats").glob("bench/objects/dataset/Norder=*/Dir=*/*.parquet")))
        print(f"ingest --partitioned: {args.rows} rows in {seconds:.1f} s ({args.rows / seconds:,.0f} rows/s), "
              f"{files} partitions of at most {args.max_rows} rows")
        await measure("DuckDB (in place)", "", catalog, args.cones)
        if args.spark:
            await measure("Spark", args.spark, catalog, args.cones)


if __name__ == "__main__":
    asyncio.run(main())
