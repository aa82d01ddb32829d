"""An 8-way mixed load against a live server: errors, limit accuracy and peak memory (a script: prints).

    .venv/bin/python benchmarks/load.py [--seconds 60] [--clients 8] [--limit 2] [--profile ci]

Starts ``skygate serve`` on 127.0.0.1 in a subprocess on its own data directory (``var/bench-load``:
the ``ci`` release from the test cache when present, else ``skygate demo --profile ci|demo``), with a
small sync time limit (``--limit`` seconds, SKYGATE_SYNC_TIMEOUT) so pathological queries reach it
often. ``--clients`` clients then run for ``--seconds`` a mix of cone searches, sync queries, TAP async
jobs, SIA queries, SODA cutouts, queries abandoned before their first row, and pathological queries
(cross joins) that must end in a time-limit error. It prints per kind the requests and their median
latency; the error count (5xx, transport errors, or an unexpected answer: a pathological query that
does not end in its limit counts too); the limit accuracy (time to the timeout error against the
configured limit); and the server's peak RSS (sampled every 20 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "var" / "bench-load"
CACHE = ROOT / "var" / "test-cache"
CONE = ("SELECT coadd_object_id, ra, dec, mag_auto_g FROM des_dr1.main "
        "WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', {ra:.4f}, {dec:.4f}, 0.05))")
SYNC = ("SELECT tilename, COUNT(*) AS n, AVG(mag_auto_r) AS r FROM des_dr1.main "
        "WHERE mag_auto_r BETWEEN {low:.2f} AND 24 GROUP BY tilename ORDER BY n DESC")
PATHOLOGICAL = ("SELECT COUNT(*) FROM des_dr1.main AS a, des_dr1.main AS b, des_dr1.main AS c "
                "WHERE a.ra + b.dec + c.mag_auto_g < {cut}")


def prepare(profile: str) -> Path:
    """The data directory: a copy of the test cache's ingested ``ci`` release, or a generated one."""
    data = WORK / profile
    if (data / "catalog.duckdb").is_file():
        return data
    data.mkdir(parents=True, exist_ok=True)
    cached = CACHE / "ci-duckdb" / "catalog.duckdb"
    if profile == "ci" and cached.is_file() and (CACHE / "ci" / "manifest.json").is_file():
        shutil.copyfile(cached, data / "catalog.duckdb")
        (data / "release").symlink_to(CACHE / "ci")
        return data
    env = {**_clean_env(), "SKYGATE_DATA_DIR": str(data)}
    subprocess.run([_skygate(), "demo", "--profile", profile], env=env, cwd=ROOT, check=True)
    return data


def _skygate() -> str:
    return str(Path(sys.executable).with_name("skygate"))


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SKYGATE_")}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``skygate serve`` in a subprocess, with a peak-RSS sampler (process and children)."""

    def __init__(self, data: Path, limit: float) -> None:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {**_clean_env(), "SKYGATE_DATA_DIR": str(data), "SKYGATE_BASE_URL": self.url,
               "SKYGATE_SYNC_TIMEOUT": str(limit), "SKYGATE_MAXREC_DEFAULT": "10000"}
        self.log = (WORK / "server.log").open("wb")
        self.proc = subprocess.Popen([_skygate(), "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                                     cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{self.url}/tap/availability", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start; see {WORK / 'server.log'}")
            time.sleep(0.3)
        self.ps = psutil.Process(self.proc.pid)
        self.peak = 0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                rss = self.ps.memory_info().rss + sum(c.memory_info().rss for c in self.ps.children(recursive=True))
            except psutil.Error:
                return
            self.peak = max(self.peak, rss)
            time.sleep(0.02)

    def close(self) -> float:
        """Stop with SIGTERM; returns how long the server took to exit."""
        self._stop.set()
        start = time.monotonic()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        return time.monotonic() - start


class Tally:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []
        self.to_limit: list[float] = []

    def error(self, kind: str, what: str) -> None:
        self.errors.append(f"{kind}: {what}"[:300])


async def run_load(url: str, clients: int, seconds: float, limit: float, cutouts: list[tuple[str, float, float]],
                   tally: Tally) -> None:
    deadline = time.monotonic() + seconds
    kinds = (["cone"] * 5 + ["sync"] * 3 + ["sia"] * 3 + ["soda"] * 2 + ["async"] + ["abandon"]
             + ["pathological"])

    async def client(number: int) -> None:
        rng = random.Random(number)
        async with httpx.AsyncClient(base_url=url, timeout=limit * 3 + 30) as http:
            while time.monotonic() < deadline:
                kind = rng.choice(kinds)
                start = time.monotonic()
                try:
                    ok = await ONE[kind](http, rng, limit, cutouts, tally)
                except httpx.HTTPError as exc:
                    tally.error(kind, f"{type(exc).__name__} {exc}")
                    continue
                if ok:
                    tally.latency[kind].append(time.monotonic() - start)

    await asyncio.gather(*(client(i) for i in range(clients)))


async def _tap(http: httpx.AsyncClient, query: str, kind: str, tally: Tally) -> bool:
    response = await http.post("/tap/sync", data={"LANG": "ADQL", "QUERY": query, "RESPONSEFORMAT": "csv"})
    if response.status_code != 200:
        tally.error(kind, f"HTTP {response.status_code} {response.text[:200]}")
        return False
    return True


async def _cone(http: httpx.AsyncClient, rng: random.Random, limit: float, cutouts: list[tuple[str, float, float]],
                tally: Tally) -> bool:
    _, ra, dec = rng.choice(cutouts)
    return await _tap(http, CONE.format(ra=ra + rng.uniform(-0.3, 0.3), dec=dec + rng.uniform(-0.3, 0.3)), "cone",
                      tally)


async def _sync(http: httpx.AsyncClient, rng: random.Random, limit: float, cutouts: list[tuple[str, float, float]],
                tally: Tally) -> bool:
    return await _tap(http, SYNC.format(low=rng.uniform(16, 22)), "sync", tally)


async def _sia(http: httpx.AsyncClient, rng: random.Random, limit: float, cutouts: list[tuple[str, float, float]],
               tally: Tally) -> bool:
    _, ra, dec = rng.choice(cutouts)
    response = await http.get("/sia/query", params={"POS": f"CIRCLE {ra:.4f} {dec:.4f} 0.1"})
    if response.status_code != 200:
        tally.error("sia", f"HTTP {response.status_code} {response.text[:200]}")
        return False
    return True


async def _soda(http: httpx.AsyncClient, rng: random.Random, limit: float, cutouts: list[tuple[str, float, float]],
                tally: Tally) -> bool:
    did, ra, dec = rng.choice(cutouts)
    response = await http.get("/soda/sync", params={"ID": did, "CIRCLE": f"{ra:.5f} {dec:.5f} 0.01"})
    if response.status_code != 200 or not response.content.startswith(b"SIMPLE"):
        tally.error("soda", f"HTTP {response.status_code} {response.text[:200]}")
        return False
    return True


async def _async(http: httpx.AsyncClient, rng: random.Random, limit: float, cutouts: list[tuple[str, float, float]],
                 tally: Tally) -> bool:
    _, ra, dec = rng.choice(cutouts)
    created = await http.post("/tap/async", data={"LANG": "ADQL", "PHASE": "RUN", "RESPONSEFORMAT": "csv",
                                                  "QUERY": CONE.format(ra=ra, dec=dec)})
    if created.status_code != 303:
        tally.error("async", f"create: HTTP {created.status_code} {created.text[:200]}")
        return False
    job = created.headers["location"]
    for _ in range(30):
        phase = (await http.get(f"{job}/phase")).text.strip()
        if phase in ("COMPLETED", "ERROR", "ABORTED"):
            break
        await http.get(job, params={"WAIT": "5", "PHASE": phase})
    if phase != "COMPLETED":
        tally.error("async", f"job ended {phase}")
        return False
    result = await http.get(f"{job}/results/result")
    await http.delete(job)
    if result.status_code != 200:
        tally.error("async", f"result: HTTP {result.status_code}")
        return False
    return True


async def _abandon(http: httpx.AsyncClient, rng: random.Random, limit: float, cutouts: list[tuple[str, float, float]],
                   tally: Tally) -> bool:
    """A slow query whose client hangs up before the first row (the server must stop it)."""
    try:
        await http.post("/tap/sync", data={"LANG": "ADQL", "QUERY": PATHOLOGICAL.format(cut=-rng.random())},
                        timeout=0.3)
    except httpx.TimeoutException:
        return True
    tally.error("abandon", "a slow query answered within 0.3 s")
    return False


async def _pathological(http: httpx.AsyncClient, rng: random.Random, limit: float,
                        cutouts: list[tuple[str, float, float]], tally: Tally) -> bool:
    start = time.monotonic()
    response = await http.post("/tap/sync", data={"LANG": "ADQL", "QUERY": PATHOLOGICAL.format(cut=-rng.random())})
    took = time.monotonic() - start
    if response.status_code == 400 and "time limit" in response.text:
        tally.to_limit.append(took)
        return True
    tally.error("pathological", f"HTTP {response.status_code} after {took:.2f} s: {response.text[:200]}")
    return False


ONE = {"cone": _cone, "sync": _sync, "sia": _sia, "soda": _soda, "async": _async, "abandon": _abandon,
       "pathological": _pathological}


def images(url: str) -> list[tuple[str, float, float]]:
    """(publisher DID, ra, dec) of some coadd images, for cone centres and cutouts."""
    query = ("SELECT TOP 20 obs_publisher_did, s_ra, s_dec FROM ivoa.obscore "
             "WHERE dataproduct_type = 'image' AND obs_publisher_did LIKE '%_g%'")
    response = httpx.post(f"{url}/tap/sync", data={"LANG": "ADQL", "QUERY": query, "RESPONSEFORMAT": "csv"},
                          timeout=60)
    response.raise_for_status()
    rows = [line.split(",") for line in response.text.strip().splitlines()[1:]]
    return [(did, float(ra), float(dec)) for did, ra, dec in rows]


def report(tally: Tally, server: Server, seconds: float, limit: float, clients: int, stop_s: float) -> None:
    total = sum(len(v) for v in tally.latency.values()) + len(tally.errors)
    print(f"{clients}-way mixed load for {seconds:g} s against {server.url} (sync time limit {limit:g} s)")
    print(f"{'kind':<14}{'ok':>6}{'p50 s':>9}{'p95 s':>9}")
    for kind, values in sorted(tally.latency.items()):
        values = sorted(values)
        p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
        print(f"{kind:<14}{len(values):>6}{statistics.median(values):>9.3f}{p95:>9.3f}")
    print(f"requests: {total}, errors: {len(tally.errors)}")
    for line in tally.errors[:10]:
        print("  ", line)
    if tally.to_limit:
        hits = sorted(tally.to_limit)
        worst = max(abs(t - limit) for t in hits) / limit
        print(f"limit accuracy: {len(hits)} timeouts, time to error min {hits[0]:.3f} s, median "
              f"{statistics.median(hits):.3f} s, max {hits[-1]:.3f} s against {limit:g} s "
              f"(worst deviation {100 * worst:.1f} %)")
    print(f"server peak RSS: {server.peak / 2**20:.0f} MiB")
    print(f"SIGTERM to exit: {stop_s:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--limit", type=float, default=2.0, help="the server's sync time limit in seconds")
    parser.add_argument("--profile", choices=("ci", "demo"), default="ci")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    data = prepare(args.profile)
    server = Server(data, args.limit)
    try:
        cutouts = images(server.url)
        tally = Tally()
        asyncio.run(run_load(server.url, args.clients, args.seconds, args.limit, cutouts, tally))
        # The server still answers at once after the load (abandoned queries were stopped).
        start = time.monotonic()
        httpx.get(f"{server.url}/tap/availability", timeout=10).raise_for_status()
        print(f"availability after the load: {time.monotonic() - start:.3f} s")
    finally:
        stop_s = server.close()
    report(tally, server, args.seconds, args.limit, args.clients, stop_s)


if __name__ == "__main__":
    main()
