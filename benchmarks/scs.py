"""Cone search latency: Simple Cone Search beside the same cone through TAP /sync (a script: prints, asserts nothing).

    .venv/bin/python benchmarks/scs.py [--rows 1000000] [--cones 200] [--radius 0.05]

Builds ``var/bench-scs/catalog.duckdb`` once: ``bench.points``, ``--rows`` random positions over a
20 x 20 degree field (id, ra, dec, mag), ingested with its HEALPix index as any positional table is.
One uvicorn subprocess serves it; the same random cones are then asked alternately as
``GET /scs/bench.points?RA=&DEC=&SR=`` (VERB=2: id, ra, dec, mag, the identifier sent as text) and as
``POST /tap/sync`` with the ADQL CONTAINS the cone search runs, one request at a time after a warm-up,
and p50/p95 latencies (ms) are printed for both.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa

from release.ingest import ingest_table
from release.sources import Source
from release.stores import open_store

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "var" / "bench-scs"
FIELD = ((150.0, 170.0), (-10.0, 10.0))


def points(rows: int) -> pa.Table:
    rng = np.random.default_rng(1603)
    schema = pa.schema([
        pa.field("id", pa.int64(), metadata={"ucd": "meta.id;meta.main", "principal": "true"}),
        pa.field("ra", pa.float64(), metadata={"ucd": "pos.eq.ra;meta.main", "unit": "deg", "principal": "true"}),
        pa.field("dec", pa.float64(), metadata={"ucd": "pos.eq.dec;meta.main", "unit": "deg", "principal": "true"}),
        pa.field("mag", pa.float32(), metadata={"ucd": "phot.mag", "unit": "mag", "principal": "true"}),
    ])
    return pa.table([np.arange(rows, dtype=np.int64), rng.uniform(*FIELD[0], rows), rng.uniform(*FIELD[1], rows),
                     rng.uniform(15, 25, rows).astype(np.float32)], schema=schema)


async def build(path: Path, rows: int) -> None:
    stamp = path.with_suffix(".rows")
    if path.is_file() and stamp.is_file() and stamp.read_text() == str(rows):
        return
    path.unlink(missing_ok=True)
    table = points(rows)
    start = time.perf_counter()
    async with await open_store("", path, readonly_role="") as store:
        await ingest_table(store, Source(schema=table.schema, batches=iter(table.to_batches(max_chunksize=100_000))),
                           "bench.points", ra="ra", dec="dec")
    stamp.write_text(str(rows))
    print(f"built bench.points ({rows} rows) in {time.perf_counter() - start:.1f} s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "SKYGATE_DATA_DIR": str(data_dir), "SKYGATE_BASE_URL": url}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "skygate.asgi:app", "--host", "127.0.0.1",
                             "--port", str(port), "--log-level", "warning"], env=env, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/tap/availability", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    return proc, url


def measure(url: str, cones: int, radius: float) -> None:
    rng = np.random.default_rng(7)
    centres = [(rng.uniform(FIELD[0][0] + 1, FIELD[0][1] - 1), rng.uniform(FIELD[1][0] + 1, FIELD[1][1] - 1))
               for _ in range(cones + 10)]
    timings: dict[str, list[float]] = {"SCS": [], "TAP": []}
    rows = 0
    with httpx.Client(timeout=60) as client:
        for i, (ra, dec) in enumerate(centres):
            adql = ("SELECT CAST(id AS VARCHAR) AS id, ra, dec, mag FROM bench.points WHERE "
                    f"1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', {ra!r}, {dec!r}, {radius!r}))")
            order = ("SCS", "TAP") if i % 2 else ("TAP", "SCS")
            for kind in order:
                start = time.perf_counter()
                if kind == "SCS":
                    response = client.get(f"{url}/scs/bench.points", params={"RA": ra, "DEC": dec, "SR": radius})
                else:
                    response = client.post(f"{url}/tap/sync", data={"LANG": "ADQL", "QUERY": adql})
                response.raise_for_status()
                elapsed = time.perf_counter() - start
                if i >= 10:  # the first ten pairs warm the pools up
                    timings[kind].append(elapsed * 1000)
                    rows += response.text.count("<TR>") if kind == "SCS" else 0
    for kind, ms in timings.items():
        ms.sort()
        p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
        print(f"{kind} cone r={radius} deg: {len(ms)} requests, p50 {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms")
    print(f"{rows / cones:.0f} rows per cone")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cones", type=int, default=200)
    parser.add_argument("--radius", type=float, default=0.05)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    asyncio.run(build(WORK / "catalog.duckdb", args.rows))
    proc, url = serve(WORK)
    try:
        measure(url, args.cones, args.radius)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
