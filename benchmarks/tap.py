"""TAP speed and memory figures against named baselines (a script: prints, asserts nothing).

    .venv/bin/python benchmarks/tap.py [--release var/demo-run] [--rows 1000000] [--workers 2]
                                       [--postgres postgresql://postgres@127.0.0.1:5432/skygate_bench]

Builds ``var/bench-tap/catalog.duckdb`` once: the given release (default: ``var/demo-run`` when it
exists, else the ``ci`` test release) plus ``bench.six_columns``, ``--rows`` rows x 6 columns (id, ra, dec,
mag_g, mag_r, tilename) made by repeating the release's objects, each copy moved north by a whole
number of the release's Dec spans so that the table keeps the release's density on the sky. With
``--postgres`` it builds the same into that PostgreSQL database (created when missing) and measures both
backends in one run. Each backend is served by uvicorn in a subprocess and measured for:

- cone search latency (p50/p95) and throughput at concurrency 1 and 8: cones of r = 0.05 deg on
  ``bench.six_columns``, each centred on one of its objects picked at random (so no cone is empty);
- the 6-column table through /sync as BINARY2, TABLEDATA, CSV and Parquet: rows/s (median of
  ``--repeats`` warm runs, read by a plain-socket client as curl would) and the server's peak RSS,
  beside the raw backend fetch rate (SQL -> Arrow batches, no encoding, measured the same way) and
  astropy's VOTable writer on the same rows;
- TABLEDATA, CSV and BINARY2 with and without ``Accept-Encoding: gzip``: bytes and loopback time
  measured, the time on a 100 Mbit/s link calculated from them;
- an async job end to end (POST with PHASE=RUN, WAIT, fetch): a cone (p50/p95 of 20) and the 1 M rows;
- with ``--workers N``, the cones again with N API processes (``skygate serve --workers N``).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
import numpy as np
import psutil
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dali.errors import FatalError
from release.backends import open_backend
from release.ingest import ingest_arrow
from release.layout import ingest_release, ingested_stamp, release_stamp
from release.stores import Store, open_store

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "var" / "bench-tap"
COLUMNS = "id, ra, dec, mag_g, mag_r, tilename"


def default_release() -> Path:
    demo = ROOT / "var" / "demo-run"
    return demo if (demo / "manifest.json").is_file() else ROOT / "var" / "test-cache" / "ci"


def bench_rows(release: Path, rows: int) -> pa.Table:
    main = pq.read_table(release / "catalog" / "dr1_main.parquet",
                         columns=["ra", "dec", "mag_auto_g", "mag_auto_r", "tilename"])
    reps = -(-rows // main.num_rows)
    table = pa.concat_tables([main] * reps).slice(0, rows)
    dec = main.column("dec").to_numpy()
    span = float(dec.max() - dec.min()) + 0.01
    copy = np.arange(rows) // main.num_rows
    return pa.table({
        "id": pa.array(np.arange(rows, dtype=np.int64)),
        "ra": table.column("ra"), "dec": pa.array(table.column("dec").to_numpy() + copy * span),
        "mag_g": table.column("mag_auto_g"), "mag_r": table.column("mag_auto_r"),
        "tilename": table.column("tilename"),
    })


READER_ROLE = "skygate_reader"  # the Settings default, as which a served PostgreSQL backend reads


async def build(database_url: str, path: Path, release: Path, table: pa.Table) -> None:
    """Ingest the release and ``table`` as bench.six_columns into the store unless both are already there."""
    if database_url:
        await create_database(database_url)
    async with await open_store(database_url, path, readonly_role=READER_ROLE) as store:
        if await ingested_stamp(store) == release_stamp(release) and await bench_rows_in(store) == _shape(table):
            return
        start = time.perf_counter()
        await ingest_arrow(store, "bench.six_columns", table, ra="ra", dec="dec",
                           description="benchmark rows: the release's objects repeated")
        await ingest_release(store, release)
        print(f"built {database_url or path} from {release} in {time.perf_counter() - start:.0f} s")


def _shape(table: pa.Table) -> tuple[int, float]:
    """Rows and largest Dec: a table stored by an earlier layout (copies not moved north) differs."""
    return table.num_rows, float(pc.max(table.column("dec")).as_py())


async def bench_rows_in(store: Store) -> tuple[int, float] | None:
    try:
        found = await store.fetch("SELECT count(*) AS n, max(dec) AS top FROM bench.six_columns")
    except FatalError:
        return None
    return int(found.column("n")[0].as_py()), float(found.column("top")[0].as_py())


async def create_database(database_url: str) -> None:
    import asyncpg

    name = database_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(database_url.rsplit("/", 1)[0] + "/postgres")
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """uvicorn in a subprocess, with an RSS sampler."""

    def __init__(self, data_dir: Path, database_url: str, rows: int, workers: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "SKYGATE_DATA_DIR": str(data_dir), "SKYGATE_DATABASE_URL": database_url,
               "SKYGATE_BASE_URL": self.url, "SKYGATE_MAXREC_HARD": str(rows + 10), "SKYGATE_MAXREC_DEFAULT": "1000",
               "SKYGATE_GZIP_LOOPBACK": "1"}  # the gzip figures are measured on loopback
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "skygate.asgi:app", "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "warning", "--workers", str(workers)], env=env, cwd=ROOT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/tap/availability", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        self.ps = psutil.Process(self.proc.pid)

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)

    def sample_peak(self) -> PeakSampler:
        return PeakSampler(self.ps)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


class PeakSampler:
    def __init__(self, ps: psutil.Process) -> None:
        self.ps, self.peak, self._stop = ps, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.ps.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


Positions = tuple[np.ndarray, np.ndarray]


def cone_query(rng: np.random.Generator, positions: Positions) -> str:
    """A cone of r = 0.05 deg around one of the table's objects picked at random."""
    k = int(rng.integers(len(positions[0])))
    x, y = float(positions[0][k]), float(positions[1][k])
    return ("SELECT id, ra, dec, mag_g FROM bench.six_columns "
            f"WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', {x:.5f}, {y:.5f}, 0.05))")


async def cones(url: str, concurrency: int, total: int, positions: Positions) -> None:
    rng = np.random.default_rng(concurrency)
    warm_up = [cone_query(rng, positions) for _ in range(concurrency)]
    queries = [cone_query(rng, positions) for _ in range(total)]
    latencies: list[float] = []
    rows = 0

    async with httpx.AsyncClient(timeout=60) as client:
        async def one(query: str) -> None:
            start = time.perf_counter()
            response = await client.post(f"{url}/tap/sync", data={"LANG": "ADQL", "QUERY": query})
            response.raise_for_status()
            latencies.append(time.perf_counter() - start)

        queue: asyncio.Queue[str] = asyncio.Queue()
        for q in queries:
            queue.put_nowait(q)

        async def worker() -> None:
            while not queue.empty():
                await one(queue.get_nowait())

        # Warm-up at the measured concurrency: the server's pools (DuckDB cursors, PostgreSQL connections,
        # ~50 ms each to open through ADBC) then hold what steady traffic at this concurrency uses.
        await asyncio.gather(*(one(q) for q in warm_up))
        latencies.clear()
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
        # Rows per cone, counted afterwards (as CSV) so that counting costs nothing above.
        for query in queries[:20]:
            response = await client.post(f"{url}/tap/sync", data={"LANG": "ADQL", "QUERY": query,
                                                                  "RESPONSEFORMAT": "csv"})
            rows += response.text.count("\n") - 1
    ms = sorted(x * 1000 for x in latencies)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    print(f"cone r=0.05 deg, concurrency {concurrency}: {len(ms)} requests, p50 {statistics.median(ms):.1f} ms, "
          f"p95 {p95:.1f} ms, {len(ms) / elapsed:.1f} req/s, {rows / 20:.0f} rows/request")


def fetch_raw_http(url: str, form: dict[str, str], headers: str = "") -> tuple[int, bytes]:
    """POST ``form`` and read the whole response with a plain socket: (bytes read, last bytes).

    Like curl, and unlike httpx (whose chunked-transfer parsing in Python costs the 2-core
    machine about a third of the server's time), it keeps the figure about the server. The
    response must be a 200 whose chunked body ends with the end of the document.
    """
    where = urlsplit(url)
    body = urlencode(form).encode()
    head = (f"POST {where.path} HTTP/1.1\r\nHost: {where.netloc}\r\nConnection: close\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"{headers}Content-Length: {len(body)}\r\n\r\n").encode()
    buffer = bytearray(1 << 20)
    size, first, last = 0, b"", b""
    with socket.create_connection((where.hostname, where.port)) as sock:
        sock.sendall(head + body)
        while n := sock.recv_into(buffer):
            if not first:
                first = bytes(buffer[:16])
            last = (last + bytes(buffer[max(0, n - 64):n]))[-64:]
            size += n
    if not first.startswith(b"HTTP/1.1 200") or not last.endswith(b"\r\n0\r\n\r\n"):
        raise RuntimeError(f"incomplete or failed response: {first!r} ... {last!r}")
    return size, last


def stream_format(server: Server, fmt: str, rows: int, repeats: int) -> float:
    """Median rows/s of ``repeats`` runs after one warm-up, and the server's peak RSS meanwhile."""
    form = {"LANG": "ADQL", "QUERY": f"SELECT {COLUMNS} FROM bench.six_columns", "MAXREC": str(rows),
            "RESPONSEFORMAT": fmt}
    fetch_raw_http(f"{server.url}/tap/sync", form)
    base = server.rss()
    times = []
    with server.sample_peak() as peak:
        for _ in range(repeats):
            start = time.perf_counter()
            size, _ = fetch_raw_http(f"{server.url}/tap/sync", form)
            times.append(time.perf_counter() - start)
    elapsed = statistics.median(times)
    print(f"/sync {fmt:11s}: {rows / elapsed / 1e6:.2f} M rows/s (median of {repeats}: {elapsed:.3f} s, "
          f"{size / 1e6:.0f} MB), server RSS {base / 1e6:.0f} MB before, peak {peak.peak / 1e6:.0f} MB")
    return rows / elapsed


LINK_BYTES_PER_S = 100e6 / 8  # the 100 Mbit/s link of the calculation


def gzip_tradeoff(server: Server, rows: int, repeats: int) -> None:
    """Each format with and without ``Accept-Encoding: gzip``: the loopback time and the bytes sent
    (measured), and the time on a 100 Mbit/s link (calculated: the slower of making the document,
    as on loopback, and carrying its bytes)."""
    for fmt in ("votable", "csv", "votable/b2"):
        form = {"LANG": "ADQL", "QUERY": f"SELECT {COLUMNS} FROM bench.six_columns", "MAXREC": str(rows),
                "RESPONSEFORMAT": fmt}
        figures = []
        for headers in ("", "Accept-Encoding: gzip\r\n"):
            fetch_raw_http(f"{server.url}/tap/sync", form, headers)
            times, size = [], 0
            for _ in range(repeats):
                start = time.perf_counter()
                size, _ = fetch_raw_http(f"{server.url}/tap/sync", form, headers)
                times.append(time.perf_counter() - start)
            loopback = statistics.median(times)
            figures.append((loopback, size, max(loopback, size / LINK_BYTES_PER_S)))
        (plain, plain_bytes, plain_link), (packed, packed_bytes, packed_link) = figures
        print(f"/sync {fmt:10s} gzip: {plain_bytes / 1e6:.0f} -> {packed_bytes / 1e6:.0f} MB; loopback "
              f"{plain:.2f} -> {packed:.2f} s; 100 Mbit/s (calculated) {plain_link:.2f} -> {packed_link:.2f} s")


async def raw_fetch(database_url: str, duckdb_path: Path, repeats: int) -> tuple[pa.Table, float]:
    """The backend's own rate (SQL -> Arrow batches, no encoding): median of ``repeats`` after a
    warm-up, like the /sync figures."""
    backend = open_backend(database_url, duckdb_path, base_url="http://x", readonly_role=READER_ROLE)
    times = []
    try:
        for i in range(repeats + 1):
            start = time.perf_counter()
            batches = [b async for b in backend.stream(f"SELECT {COLUMNS} FROM bench.six_columns", timeout=600)]
            if i:
                times.append(time.perf_counter() - start)
    finally:
        await backend.close()
    table = pa.Table.from_batches(batches)
    rate = table.num_rows / statistics.median(times)
    print(f"raw backend fetch ({backend.dialect} -> Arrow, no encoding): {rate / 1e6:.2f} M rows/s "
          f"(median of {repeats})")
    return table, rate


def astropy_baseline(table: pa.Table) -> None:
    from astropy.io.votable import from_table
    from astropy.table import Table

    astropy_table = Table({name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names})
    for fmt in ("binary2", "tabledata"):
        votable = from_table(astropy_table)
        votable.get_first_table().format = fmt
        start = time.perf_counter()
        votable.to_xml(io.BytesIO())
        elapsed = time.perf_counter() - start
        print(f"astropy VOTable writer ({fmt}), same rows in memory: {table.num_rows / elapsed / 1e6:.2f} M rows/s")


def dali_in_process(table: pa.Table) -> None:
    from dali.values import Column
    from dali.writers import OutputFormat, write_table

    cols = (Column("id", "long"), Column("ra", "double"), Column("dec", "double"), Column("mag_g", "float"),
            Column("mag_r", "float"), Column("tilename", "char", arraysize="12"))

    async def source():  # type: ignore[no-untyped-def]
        for batch in table.to_batches(max_chunksize=65536):
            yield batch

    async def run(kind: OutputFormat) -> None:
        async for _ in write_table(kind, cols, source()).chunks():
            pass

    for kind in (OutputFormat.VOTABLE_B2, OutputFormat.VOTABLE_TD, OutputFormat.CSV, OutputFormat.PARQUET):
        start = time.perf_counter()
        asyncio.run(run(kind))
        rate = table.num_rows / (time.perf_counter() - start) / 1e6
        print(f"dali writer in process ({kind.value}): {rate:.2f} M rows/s")


PHASE = re.compile(r"<uws:phase>(\w+)</uws:phase>")
FINAL = ("COMPLETED", "ERROR", "ABORTED")


def run_async(client: httpx.Client, url: str, query: str, rows: int, fmt: str) -> tuple[str, int]:
    """POST with PHASE=RUN, WAIT until the job ends, fetch the result: as pyvo's run_async does."""
    created = client.post(f"{url}/tap/async", data={"LANG": "ADQL", "QUERY": query, "MAXREC": str(rows),
                                                   "RESPONSEFORMAT": fmt, "PHASE": "RUN"})
    job = created.headers["location"]
    phase = ""
    while phase not in FINAL:
        match = PHASE.search(client.get(f"{job}?WAIT=30", timeout=60).text)
        phase = match.group(1) if match else ""
    size = len(client.get(f"{job}/results/result", timeout=600).content) if phase == "COMPLETED" else 0
    client.delete(job)
    return phase, size


def async_jobs(server: Server, rows: int, positions: Positions) -> None:
    rng = np.random.default_rng(3)
    with httpx.Client(timeout=600) as client:
        latencies = []
        for i in range(21):
            start = time.perf_counter()
            phase, _ = run_async(client, server.url, cone_query(rng, positions), 1000, "votable/b2")
            if i:  # the first is a warm-up
                latencies.append((time.perf_counter() - start) * 1000)
            assert phase == "COMPLETED", phase
        latencies.sort()
        print(f"async cone job end to end (POST PHASE=RUN, WAIT, fetch): p50 {statistics.median(latencies):.1f} ms, "
              f"p95 {latencies[int(0.95 * len(latencies)) - 1]:.1f} ms over {len(latencies)} jobs")
        start = time.perf_counter()
        phase, size = run_async(client, server.url, f"SELECT {COLUMNS} FROM bench.six_columns", rows, "votable/b2")
        total = time.perf_counter() - start
    print(f"async job ({rows} rows, BINARY2): {phase}, fetched {size / 1e6:.0f} MB, "
          f"{total:.2f} s end to end ({rows / total / 1e6:.2f} M rows/s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--release", type=Path, default=default_release())
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cones", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5, help="runs of each streamed format and of the raw fetch")
    parser.add_argument("--workers", type=int, default=1,
                        help="also measure the cones with this many API processes (skygate serve --workers)")
    parser.add_argument("--postgres", default="", metavar="URL",
                        help="also measure PostgreSQL: an admin URL naming the benchmark database")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / "catalog.duckdb"
    main_rows = pq.read_metadata(args.release / "catalog" / "dr1_main.parquet").num_rows
    print(f"data: release {args.release} ({main_rows} objects in des_dr1.main); "
          f"bench.six_columns = {args.rows} x 6 columns")
    rows = bench_rows(args.release, args.rows)
    positions = (rows.column("ra").to_numpy(), rows.column("dec").to_numpy())

    table = None
    for database_url in ("", args.postgres) if args.postgres else ("",):
        asyncio.run(build(database_url, path, args.release, rows))
        print(f"\n== {'PostgreSQL ' + database_url if database_url else 'DuckDB ' + str(path)}")
        server = Server(WORK, database_url, args.rows)
        try:
            for concurrency in (1, 8):
                asyncio.run(cones(server.url, concurrency, args.cones, positions))
            rates = {fmt: stream_format(server, fmt, args.rows, args.repeats)
                     for fmt in ("votable/b2", "votable", "csv", "parquet")}
            gzip_tradeoff(server, args.rows, args.repeats)
            async_jobs(server, args.rows, positions)
        finally:
            server.close()
        if args.workers > 1:
            # As `skygate serve --workers N` runs it: one API process per core.
            server = Server(WORK, database_url, args.rows, workers=args.workers)
            try:
                print(f"-- {args.workers} API processes")
                for concurrency in (1, 8):
                    asyncio.run(cones(server.url, concurrency, args.cones, positions))
            finally:
                server.close()
        table, raw_rate = asyncio.run(raw_fetch(database_url, path, args.repeats))
        print(f"BINARY2 through /sync at {rates['votable/b2'] / raw_rate:.0%} of the raw backend rate")

    assert table is not None
    print("\n== baselines on the same rows in memory")
    dali_in_process(table)
    astropy_baseline(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
