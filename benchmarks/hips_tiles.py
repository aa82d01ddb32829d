"""HiPS tile latency over HTTP (a script: prints, asserts nothing).

    .venv/bin/python benchmarks/hips_tiles.py [--data-dir var] [--requests 400]

Serves ``--data-dir`` (its release and the HiPS that `skygate hips build` or `make serve` built in
``{data_dir}/hips``) with one uvicorn subprocess, lists every tile file of every survey, then asks
random ones one at a time after a warm-up, as Aladin does: FITS and PNG tiles of the band surveys,
PNG tiles of the colour survey, a conditional request (``If-None-Match`` -> 304) and a range request
(``Range: bytes=0-2879``, the first FITS block -> 206). Prints p50/p95 (ms) per kind and the mean
tile size. The issue's target: p50 <= 5 ms per tile.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "var")
    parser.add_argument("--requests", type=int, default=400, help="requests per kind")
    args = parser.parse_args()
    hips = args.data_dir / "hips"
    tiles = sorted(p.relative_to(hips).as_posix() for p in hips.glob("*/Norder*/Dir*/Npix*.*"))
    if not tiles:
        print(f"no HiPS tiles under {hips}: run `skygate hips build` first", file=sys.stderr)
        return 2
    kinds = {
        "band FITS": [t for t in tiles if t.endswith(".fits")],
        "band PNG": [t for t in tiles if t.endswith(".png") and "colour" not in t],
        "colour PNG": [t for t in tiles if t.endswith(".png") and "colour" in t],
    }
    server, url = serve(args.data_dir)
    rng = random.Random(1603)
    try:
        with httpx.Client(base_url=f"{url}/hips/", timeout=30) as client:
            for path in rng.sample(tiles, min(50, len(tiles))):  # warm-up
                client.get(path).raise_for_status()
            print(f"{len(tiles)} tile files under {hips}; {args.requests} requests per kind, one at a time")
            for kind, paths in kinds.items():
                times, sizes = timed(client, [rng.choice(paths) for _ in range(args.requests)], {}, 200)
                report(kind, times, f"mean {statistics.fmean(sizes) / 1024:.1f} KiB")
            fits = kinds["band FITS"]
            tags = {p: client.get(p).headers["etag"] for p in rng.sample(fits, min(100, len(fits)))}
            picks = [rng.choice(list(tags)) for _ in range(args.requests)]
            times, _ = timed(client, picks, tags, 304)
            report("If-None-Match -> 304", times, "")
            times, _ = timed(client, [rng.choice(fits) for _ in range(args.requests)], {"*": "bytes=0-2879"}, 206)
            report("Range first block -> 206", times, "")
    finally:
        server.terminate()
        server.wait()
    return 0


def timed(client: httpx.Client, paths: list[str], headers: dict[str, str],
          status: int) -> tuple[list[float], list[int]]:
    """Each request's wall time (ms) and body size; ``headers`` maps a path (or ``*``) to an ETag or a range."""
    times, sizes = [], []
    for path in paths:
        extra = {}
        if "*" in headers:
            extra["Range"] = headers["*"]
        elif path in headers:
            extra["If-None-Match"] = headers[path]
        start = time.perf_counter()
        response = client.get(path, headers=extra)
        times.append((time.perf_counter() - start) * 1000)
        if response.status_code != status:
            raise SystemExit(f"{path}: {response.status_code}, expected {status}")
        sizes.append(len(response.content))
    return times, sizes


def report(kind: str, times: list[float], extra: str) -> None:
    p95 = statistics.quantiles(times, n=20)[-1]
    print(f"  {kind:<26} p50 {statistics.median(times):6.2f} ms   p95 {p95:6.2f} ms   {extra}")


def serve(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "SKYGATE_DATA_DIR": str(data_dir.resolve()), "SKYGATE_BASE_URL": url}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "skygate.asgi:app", "--host", "127.0.0.1",
                             "--port", str(port), "--log-level", "warning"], env=env, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/tap/availability", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("the server did not start")


if __name__ == "__main__":
    sys.exit(main())
