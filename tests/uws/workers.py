"""Start real ``skygate worker`` processes (and a private Redis) for the reliability tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKYGATE = Path(sys.executable).with_name("skygate")


class WorkerProcess:
    """One ``skygate worker --processes 1`` subprocess consuming ``queue``."""

    def __init__(self, *, broker_url: str, jobs_url: str, data_dir: Path, queue: str, threads: int = 2,
                 processes: int = 1, name: str = "w", settings: dict[str, str] | None = None) -> None:
        self.log = data_dir / f"worker-{name}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SKYGATE_")}
        env.update(SKYGATE_BROKER_URL=broker_url, SKYGATE_JOBS_URL=jobs_url, SKYGATE_DATA_DIR=str(data_dir))
        env.update(settings or {})
        data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(SKYGATE), "worker", "--processes", str(processes), "--threads", str(threads),
                 "--queue", queue, "--kinds", "uws.testing:job_kinds"],
                env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.expected = processes

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            if text.count("worker consuming queue") >= self.expected:
                return
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited early:\n{text}")
            time.sleep(0.05)
        raise AssertionError(f"worker not ready:\n{self.log.read_text(errors='replace')}")

    def kill(self) -> None:
        """SIGKILL the whole worker (its process group), as a crash or OOM kill would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """A throw-away ``redis-server`` (no persistence) so a test may restart it; the machine's
    shared Redis is never touched."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None
