"""What a new user waits for: clone -> install -> demo generation and ingest -> ``/tap/availability``.

Runs the README's own steps in a temporary folder, as a newcomer would: ``git clone`` of this
repository (or ``--source``), ``make venv`` with an empty pip cache (a temporary ``PIP_CACHE_DIR``;
wheels the machine's pip configuration points at are still used), then ``make serve`` until
``/tap/availability`` says the service is available, then until ``/hips/list`` lists the colour
survey that ``make serve`` builds in the background. Prints each phase's wall time and the load
average (the figures depend on what else runs on the machine), then stops the server and removes
the folder (``--keep`` keeps it). ``--busy`` first starts one CPU-bound process per core, kept
running throughout, for the budget "when another process keeps both cores busy".

Budgets (issue 21, 2 cores, no pip cache): install <= 75 s, demo generation + ingest <= 40 s,
clone -> answering <= 2 min; at most twice that when another process keeps both cores busy.

    python3 benchmarks/first_run.py [--source PATH_OR_URL] [--profile demo|ci] [--port 8765] [--keep] [--busy]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGETS = {"install": 75.0, "demo generation + ingest": 40.0, "clone -> /tap/availability": 120.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=str(ROOT), help="what to clone (default: this checkout)")
    parser.add_argument("--profile", default="demo", choices=("ci", "demo"), help="demo profile to serve")
    parser.add_argument("--port", type=int, default=0, help="port for make serve (default: a free one)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--timeout", type=float, default=1800.0, help="give up after this many seconds")
    parser.add_argument("--busy", action="store_true", help="keep every core busy with another process meanwhile")
    args = parser.parse_args()
    scale = 2.0 if args.busy else 1.0
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)
               ] if args.busy else []

    work = Path(tempfile.mkdtemp(prefix="skygate-first-run-"))
    port = args.port or _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SKYGATE_", "PYTEST_", "VIRTUAL_ENV"))}
    env["PIP_CACHE_DIR"] = str(work / "pip-cache")
    figures: dict[str, float] = {}
    print(f"first run in {work} (load average {_load()})", flush=True)
    began = time.monotonic()
    server: subprocess.Popen[str] | None = None
    try:
        checkout = work / "skygate"
        figures["clone"] = _timed(["git", "clone", "--quiet", args.source, str(checkout)], work, env)
        figures["install"] = _timed(["make", "venv"], checkout, env)
        server, lines = _start_serve(checkout, env, args.profile, port)
        url = f"http://127.0.0.1:{port}/tap/availability"
        demo_started = time.monotonic()
        while not _available(url):
            if server.poll() is not None:
                raise SystemExit("make serve stopped:\n" + "".join(lines[-30:]))
            if time.monotonic() - began > args.timeout:
                raise SystemExit(f"no answer from {url} after {args.timeout:.0f} s")
            time.sleep(0.5)
        answered = time.monotonic()
        figures["demo generation + ingest"] = answered - demo_started
        figures["clone -> /tap/availability"] = answered - began
        hips = url.replace("/tap/availability", "/hips/list")
        while args.profile == "demo" and server.poll() is None and time.monotonic() - began < args.timeout:
            listed = _text(hips)
            if "des_dr1_colour_irg" in listed and "HiPS preview (background) after answering" not in figures:
                figures["HiPS preview (background) after answering"] = time.monotonic() - answered
            if "des_dr1_colour_irg" in listed and "being built" not in listed:
                figures["HiPS complete (background) after answering"] = time.monotonic() - answered
                break
            time.sleep(1.0)
        output = "".join(lines)
        for name, pattern in (("  generation", r"generated the \w+ release in .* \(([\d.]+) s\)"),
                              ("  ingest", r"ingested into .* in ([\d.]+) s")):
            if match := re.search(pattern, output):
                figures[name] = float(match.group(1))
    finally:
        for burner in burners:
            burner.kill()
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    busy = f", {len(burners)} CPU-bound processes beside it (budgets doubled)" if burners else ""
    print(f"\nfirst run, profile {args.profile}, {os.cpu_count()} cores{busy}, load average now {_load()}:")
    for name, seconds in figures.items():
        budget = BUDGETS[name] * scale if name in BUDGETS else None
        verdict = "" if budget is None else (
            f"  (budget {budget:.0f} s: {'ok' if seconds <= budget else 'OVER'})")
        print(f"  {name:<28} {seconds:7.1f} s{verdict}")
    return 0


def _timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Run ``command``, echoing its output, and return its wall time."""
    start = time.monotonic()
    print(f"$ {' '.join(command)}", flush=True)
    subprocess.run(command, cwd=cwd, env=env, check=True)
    return time.monotonic() - start


def _start_serve(checkout: Path, env: dict[str, str], profile: str, port: int
                 ) -> tuple[subprocess.Popen[str], list[str]]:
    """``make serve`` in its own process group, its output echoed and kept."""
    command = ["make", "serve", f"PROFILE={profile}", f"PORT={port}"]
    print(f"$ {' '.join(command)}", flush=True)
    server = subprocess.Popen(command, cwd=checkout, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []

    def echo() -> None:
        assert server.stdout is not None
        for line in server.stdout:
            lines.append(line)
            sys.stdout.write(line)
            sys.stdout.flush()

    threading.Thread(target=echo, daemon=True).start()
    return server, lines


def _available(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200 and b"<vosi:available>true" in response.read()
    except OSError:
        return False


def _text(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())
    except OSError:
        return ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
