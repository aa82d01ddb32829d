"""Where a cone search's time goes, stage by stage (a script: prints, asserts nothing).

    .venv/bin/python benchmarks/cone_profile.py [--cones 300]

On the catalogue ``benchmarks/tap.py`` builds (``var/bench-tap/catalog.duckdb``, DuckDB; run that
first), the same cones as its cone figures (r = 0.05 deg around objects of ``bench.six_columns``),
each stage timed on its own, in this process, warm, as medians per cone of wall-clock and CPU time:

- ADQL parsing (``adql.dialect.parse``), and the whole translation (parsing, checks, compiling
  to a SQL tree, the HEALPix ranges, generating the SQL text);
- DuckDB planning (``EXPLAIN`` of the SQL: parsing, binding, optimising) and the statement run to
  its last row as Arrow (planning included);
- encoding the rows as the default VOTable (TABLEDATA) document;
- the whole request through HTTP to ``skygate.asgi`` under uvicorn (one process), one at a time,
  and what is left when the stages above are taken from it: HTTP, Starlette, the middleware, the
  parameter reading and the trips between the event loop and the database threads.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tap as bench
from adql import translate
from adql.dialect import parse
from dali.writers import OutputFormat, write_table
from release.runtime import open_release


def timed(label: str, calls: list[Callable[[], Any]], results: dict[str, tuple[float, float]]) -> list[Any]:
    """Run every call once (after a warm-up of the first 20); keep the median wall and CPU ms of one."""
    for call in calls[:20]:
        call()
    walls, cpus, out = [], [], []
    for call in calls:
        wall, cpu = time.perf_counter(), time.process_time()
        out.append(call())
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    results[label] = (statistics.median(walls) * 1e3, statistics.median(cpus) * 1e3)
    return out


def encode(columns: Any, table: pa.Table) -> int:
    async def run() -> int:
        async def batches():  # type: ignore[no-untyped-def]
            for batch in table.to_batches() or [pa.RecordBatch.from_pylist([], schema=table.schema)]:
                yield batch
        writer = write_table(OutputFormat.VOTABLE_TD, columns, batches(), maxrec=1000)
        return sum([len(chunk) async for chunk in writer.chunks()])
    return asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cones", type=int, default=300)
    parser.add_argument("--release", type=Path, default=bench.default_release())
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    path = bench.WORK / "catalog.duckdb"
    if not path.is_file():
        print(f"{path} is missing: run benchmarks/tap.py first")
        return 1
    rows = bench.bench_rows(args.release, args.rows)
    positions = (rows.column("ra").to_numpy(), rows.column("dec").to_numpy())
    rng = np.random.default_rng(1)
    queries = [bench.cone_query(rng, positions) for _ in range(args.cones)]

    async def metadata() -> Any:
        release = await open_release("", path, base_url="http://127.0.0.1", readonly_role=bench.READER_ROLE)
        try:
            return release.engine.metadata
        finally:
            await release.close()

    meta = asyncio.run(metadata())
    results: dict[str, tuple[float, float]] = {}
    timed("ADQL parsing", [lambda q=q: parse(q) for q in queries], results)
    translations = timed("ADQL translation (parsing included)",
                         [lambda q=q: translate(q, meta, "duckdb", maxrec=1000) for q in queries], results)
    with duckdb.connect(str(path), read_only=True) as conn:
        cursor = conn.cursor()
        timed("DuckDB planning (EXPLAIN)", [lambda t=t: cursor.execute("EXPLAIN " + t.sql).fetchall()
                                            for t in translations], results)
        tables = timed("DuckDB statement to its last row (planning included)",
                       [lambda t=t: cursor.execute(t.sql).to_arrow_reader(65536).read_all() for t in translations],
                       results)
    timed("encoding as VOTable TABLEDATA", [lambda t=t, tb=tb: encode(t.columns, tb)
                                            for t, tb in zip(translations, tables, strict=True)], results)
    print(f"{args.cones} cones of r = 0.05 deg on bench.six_columns ({args.rows:,} rows), "
          f"{statistics.mean(t.num_rows for t in tables):.0f} rows each on average")
    server = bench.Server(bench.WORK, "", args.rows)
    try:
        latencies: list[float] = []

        async def requests() -> None:
            import httpx
            async with httpx.AsyncClient(timeout=60) as client:
                for query in queries[:20] + queries:
                    start = time.perf_counter()
                    response = await client.post(f"{server.url}/tap/sync", data={"LANG": "ADQL", "QUERY": query})
                    response.raise_for_status()
                    latencies.append(time.perf_counter() - start)
        asyncio.run(requests())
        whole = statistics.median(latencies[20:]) * 1e3
    finally:
        server.close()
    for label, (wall, cpu) in results.items():
        print(f"  {label:55s} {wall:6.2f} ms  (CPU {cpu:.2f} ms)")
    stages = sum(results[k][0] for k in ("ADQL translation (parsing included)",
                                          "DuckDB statement to its last row (planning included)",
                                          "encoding as VOTable TABLEDATA"))
    print(f"  {'the whole request over HTTP (uvicorn, httpx client)':55s} {whole:6.2f} ms")
    print(f"  {'left: HTTP, Starlette, middleware, parameters, thread trips':55s} {whole - stages:6.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
