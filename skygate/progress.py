"""Progress bars on stderr for ``skygate demo`` and ``skygate ingest`` (tqdm), one per phase.

The release layer reports counts through ``release.progress.Progress``; this draws them: the phase,
done/total, rate and ETA. Bars go to stderr so the command's own report on stdout stays clean.
Tests: tests/skygate/test_progress.py.
"""

from __future__ import annotations

import sys
import threading
from typing import IO

from tqdm import tqdm

__all__ = ["Bars"]

# Units per phase; row phases use k/M prefixes.
_UNITS = {"tiles": "tile", "band images": "image"}


class Bars:
    """A ``release.progress.Progress`` drawing one bar per phase; ``close()`` ends those still open."""

    def __init__(self, stream: IO[str] | None = None, *, disable: bool = False) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.disable = disable
        self.bars: dict[str, tqdm[None]] = {}
        self.lock = threading.Lock()  # band images are counted on a thread of their own

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        with self.lock:
            bar = self.bars.get(phase)
            if bar is None:
                unit = _UNITS.get(phase, "row")
                bar = tqdm(total=total, desc=phase, unit=unit, unit_scale=unit == "row", file=self.stream,
                           mininterval=0.5, dynamic_ncols=True, disable=self.disable, leave=True)
                self.bars[phase] = bar
            if done > bar.n:
                bar.update(done - bar.n)
            if total is not None and done >= total:
                bar.close()

    def close(self) -> None:
        with self.lock:
            for bar in self.bars.values():
                bar.close()
