"""Ingest speed and peak memory for a large synthetic Parquet catalog (baseline: the `large` profile, 10 M rows).

    .venv/bin/python benchmarks/ingest.py --rows 10000000 [--postgres postgresql://postgres@127.0.0.1/skygate_bench]

Writes ``var/bench/ingest_<rows>.parquet`` (DR1-like: id, ra, dec, 5 float32 magnitudes, tilename;
row groups of 1 M rows) once, then ingests it into a fresh DuckDB file (and PostgreSQL when given)
with a position, printing rows/s and the process's peak RSS. Peak RSS is sampled every 0.1 s, so
it shows whether memory stays bounded (it should not grow with the number of rows).
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from pathlib import Path
from typing import Self

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from release.ingest import ingest_table
from release.sources import open_source
from release.stores import open_store

ROOT = Path(__file__).resolve().parents[1]


def make_parquet(rows: int) -> Path:
    path = ROOT / "var" / "bench" / f"ingest_{rows}.parquet"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    chunk = 1_000_000
    schema = pa.schema([("coadd_object_id", pa.int64()), ("ra", pa.float64()), ("dec", pa.float64()),
                        *[(f"mag_auto_{b}", pa.float32()) for b in "grizy"], ("tilename", pa.string())])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            ra = rng.uniform(64.8, 81.7, n)
            dec = rng.uniform(-50.7, -40.0, n)
            columns = [np.arange(start, start + n, dtype=np.int64) + 4_908_100_000, ra, dec,
                       *[rng.uniform(16, 26, n).astype(np.float32) for _ in range(5)],
                       pa.array(["DES0453-4457"] * n)]
            writer.write_table(pa.table(columns, schema=schema))
    return path


class PeakRSS:
    """Samples this process's resident memory in a thread."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        proc = psutil.Process()
        while not self._stop.is_set():
            self.peak = max(self.peak, proc.memory_info().rss)
            time.sleep(0.1)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def ingest(database_url: str, duckdb_path: Path, parquet: Path) -> tuple[int, float]:
    start = time.perf_counter()
    async with await open_store(database_url, duckdb_path, readonly_role="skygate_reader") as store:
        meta = await ingest_table(store, open_source(parquet), "bench.main", ra="ra", dec="dec")
    return meta.nrows or 0, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--postgres", default="", help="admin URL of an existing, scratch database")
    args = parser.parse_args()
    parquet = make_parquet(args.rows)
    print(f"source: {parquet} ({parquet.stat().st_size / 2**20:.0f} MB)")
    targets = [("duckdb", "", ROOT / "var" / "bench" / "ingest.duckdb")]
    if args.postgres:
        targets.append(("postgres", args.postgres, Path("unused")))
    for name, url, path in targets:
        path.unlink(missing_ok=True)
        base = psutil.Process().memory_info().rss
        with PeakRSS() as rss:
            rows, seconds = asyncio.run(ingest(url, path, parquet))
        print(f"{name}: {rows} rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s), "
              f"peak RSS +{(rss.peak - base) / 2**20:.0f} MB")


if __name__ == "__main__":
    main()
