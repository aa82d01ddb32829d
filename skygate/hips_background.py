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
from sky.hipsmeta import COLOUR_SURVEY, building_marker
from sky.hipsplan import find_coadds
from skygate.settings import Settings

__all__ = ["NICE", "PREVIEW", "BackgroundHips"]

NICE = 10  # below the API's priority: a query waits for no HiPS tile
# The first build when none exists: one order coarser than the demo coadds' (1.6 arcsec pixels for
# their 1.05), the colour survey's bands only; 31-44 s for the demo profile on two cores.
PREVIEW = ("--order", "8", "--bands", "i", "r", "g")
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
        """Start the builds when the release has coadd images; say so on stdout. False when there is nothing to build.

        With no colour survey yet, a quick preview comes first (``PREVIEW``: order 8, i r g and
        colour, about half a minute for the demo profile), so that Aladin and /sky show the sky
        soon; the full build then replaces each survey whole when it is done (a new order is a
        build from scratch, written beside the old survey and swapped in).
        """
        if not _has_coadds(self.settings.release_dir):
            return False
        hips_dir = self.settings.hips_dir
        hips_dir.mkdir(parents=True, exist_ok=True)
        builds = [["--workers", str(self.workers)]]
        if not (hips_dir / COLOUR_SURVEY / "properties").is_file():
            builds.insert(0, [*PREVIEW, "--workers", str(self.workers)])
        self.log_path.write_bytes(b"")
        building_marker(hips_dir).write_text(f"{os.getpid()} {int(time.time())}\n")
        print(f"building the HiPS for /sky and Aladin in the background (log: {self.log_path}); "
              "/hips/list lists each survey once it is written", flush=True)
        spawned = asyncio.Event()
        self._watch = asyncio.create_task(self._run(builds, spawned))
        # Return once ``process`` is the running build, or the build could not start at all.
        waiter = asyncio.ensure_future(spawned.wait())
        await asyncio.wait({waiter, self._watch}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if self._watch.done() and self._watch.exception() is not None:
            print(f"the background HiPS build could not start: {self._watch.exception()}", file=sys.stderr,
                  flush=True)
            building_marker(hips_dir).unlink(missing_ok=True)
            return False
        return True

    async def _run(self, builds: list[list[str]], spawned: asyncio.Event) -> None:
        """Each build in turn, then say how the last one ended; ``spawned`` is set once the first runs."""
        code = 0
        for arguments in builds:
            command = [sys.executable, "-c", "from skygate.cli import main; raise SystemExit(main())",
                       "hips", "build", *arguments]
            env = {**os.environ, "SKYGATE_DATA_DIR": str(self.settings.data_dir)}  # the build's folders are ours
            with self.log_path.open("ab") as log:
                self.process = await asyncio.create_subprocess_exec(
                    *command, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True, preexec_fn=functools.partial(os.nice, self.nice), env=env)
            spawned.set()
            code = await self.process.wait()
            if code < 0:  # stopped
                return
            if arguments[0] == PREVIEW[0] and code == 0:
                print(f"HiPS preview ready: {_last_line(self.log_path)}", flush=True)
        building_marker(self.settings.hips_dir).unlink(missing_ok=True)
        if code == 0:
            print(f"HiPS ready: {_last_line(self.log_path)}", flush=True)
        else:
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
