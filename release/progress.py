"""How long release work (demo generation, ingest) reports how far it has got.

The release layer only counts; whoever called it decides how to show the counts (``skygate demo``
and ``skygate ingest`` draw a bar per phase on stderr). No output here.
Tests: tests/release/test_progress.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import pyarrow as pa

__all__ = ["Progress", "counted_batches"]


class Progress(Protocol):
    """``progress(phase, done, total)``: ``done`` units of ``phase`` are finished, of ``total``
    (None when unknown). ``done`` only grows; calls may come from a worker thread."""

    def __call__(self, phase: str, done: int, total: int | None) -> None: ...


def counted_batches(batches: Iterator[pa.RecordBatch], progress: Progress, phase: str,
                    total: int | None) -> Iterator[pa.RecordBatch]:
    """``batches`` unchanged, reporting the rows handed out so far as ``phase``."""
    done = 0
    progress(phase, done, total)
    for batch in batches:
        yield batch
        done += batch.num_rows
        progress(phase, done, total)
