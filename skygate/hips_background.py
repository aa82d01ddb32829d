"""``skygate serve --build-hips``: build or update the release's HiPS in a child process while the service answers.

`make serve` uses it so that a first run does not wait for the HiPS: the service answers as soon as
the catalogue is loaded, and `/hips/list` and `/sky` show the surveys once the build (about 2.5
minutes for the demo profile on two cores) has written them. The build is `skygate hips build`
itself, incremental, so a later start with nothing changed costs a second and reprojects nothing.
It runs niced in its own process group (so queries keep the CPU first, and stopping the service
stops it with its workers), writes its output to ``{hips_dir}/.build.log`` and a marker
``{hips_dir}/.building`` that ``/hips/list`` and ``/sky`` read to say a build is under way. A
service with several replicas should not use it: one `skygate hips build` per release is enough.
Tests: tests/sky/test_hips_background.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import sys
import time
from pathlib import Path

from dali.errors import UsageError
from sky.hipsmeta import building_marker
from sky.hipsplan import find_coadds
from skygate.settings import Settings

__all__ = ["NICE", "BackgroundHips"]

NICE = 10  # below the API's priority: a query waits for no HiPS tile
_log = logging.getLogger(__name__)


class BackgroundHips:
    """One background `skygate hips build` for the service's lifetime: ``start`` it, ``stop`` it."""

    def __init__(self, settings: Settings, *, workers: int | None = None, nice: int = NICE) -> None:
        self.settings = settings
        self.workers = workers or min(4, os.cpu_count() or 1)
        self.nice = nice
        self.process: asyncio.subprocess.Process | None = None
        self._watch: asyncio.Task[None] | None = None

    @property
    def log_path(self) -> Path:
        return self.settings.hips_dir / ".build.log"

    async def start(self) -> bool:
        """Start the build when the release has coadd images; say so on stdout. False when there is nothing to build."""
        if not _has_coadds(self.settings.release_dir):
            return False
        hips_dir = self.settings.hips_dir
        hips_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-c", "from skygate.cli import main; raise SystemExit(main())",
                   "hips", "build", "--workers", str(self.workers)]
        env = {**os.environ, "SKYGATE_DATA_DIR": str(self.settings.data_dir)}  # the build's folders are ours
        with self.log_path.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                *command, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True, preexec_fn=functools.partial(os.nice, self.nice), env=env)
        building_marker(hips_dir).write_text(f"{self.process.pid} {int(time.time())}\n")
        print(f"building the HiPS for /sky and Aladin in the background (log: {self.log_path}); "
              "/hips/list lists each survey once it is written", flush=True)
        self._watch = asyncio.create_task(self._report())
        return True

    async def _report(self) -> None:
        assert self.process is not None
        code = await self.process.wait()
        building_marker(self.settings.hips_dir).unlink(missing_ok=True)
        if code == 0:
            print(f"HiPS ready: {_last_line(self.log_path)}", flush=True)
        elif code > 0:
            print(f"the background HiPS build failed (exit {code}): {_last_line(self.log_path)}; "
                  "run `skygate hips build` to see why", file=sys.stderr, flush=True)

    async def stop(self) -> None:
        """Stop the build and its worker processes (a later build redoes what this one left unfinished)."""
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout=5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                await self.process.wait()
            _log.info("background HiPS build stopped")
        if self._watch is not None:
            self._watch.cancel()
        building_marker(self.settings.hips_dir).unlink(missing_ok=True)


def _has_coadds(release_dir: Path) -> bool:
    """Whether the release has coadd images, which `skygate hips build` reprojects (the `large` profile has none)."""
    try:
        find_coadds(release_dir, None)
    except UsageError:
        return False
    return True


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(no log)"
    return lines[-1].split("\r")[-1] if lines else "(no output)"
