"""SODA job kinds: ``soda-async`` (one result per cutout) and ``soda-bulk`` (DESaccess-style lists).

Plain functions ``run(params, ctx)`` run by the UWS worker in a thread (they call
``ctx.checkpoint()`` between cutouts and report progress). ``ctx.resources`` is a ``SodaJobResources``
(``skygate/worker.py`` builds it from the settings): where the image files are, and the worker's
memory. Tests: tests/soda/test_jobs.py.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dali.errors import FatalError, UsageError
from soda.bulk import run_bulk
from soda.cutout import NoOverlapError, cut, write_fits
from soda.params import BulkPosition, parse_bulk_options, parse_positions, parse_soda
from soda.service import resolve
from uws import JobContext, Parameters, Result

__all__ = ["MAX_ASYNC_CUTOUTS", "SodaJobResources", "check_async", "check_bulk", "run_async", "run_bulk_job"]

MAX_ASYNC_CUTOUTS = 5000
# Position tables up to this size are parsed by the check (inline, a few ms per 10,000 rows).
_CHECKED_POSITIONS_BYTES = 2 * 1024 * 1024
_SAFE = re.compile(r"[^A-Za-z0-9._+-]")


@dataclass(frozen=True, slots=True)
class SodaJobResources:
    """What the SODA job kinds reach as ``ctx.resources``."""

    # the release folder the worker serves (``Settings.release_dir``): its coadd tiles
    release_dir: Path
    # bytes a bulk job may hold at once (``SKYGATE_WORKER_MEMORY``, resolved); None: no limit
    worker_memory: int | None = None


def _resources(ctx: JobContext) -> SodaJobResources:
    if not isinstance(ctx.resources, SodaJobResources):
        raise FatalError("the SODA job kinds were registered without their resources")
    return ctx.resources


def check_async(params: Parameters) -> None:
    """Cheap validation when the job is asked to run (no I/O)."""
    parse_soda(params.inline())


def run_async(params: Parameters, ctx: JobContext) -> list[Result]:
    """Every (image, region) combination as its own FITS result; ``result`` holds them all.

    A combination whose region misses the image gets a ``text/plain`` result starting with
    ``NoOverlap:`` (SODA 1.0 async rule). Each file is written to the job's results as its pixels are
    read, never held whole in memory: ``result`` may hold thousands of cutouts.
    """
    request = parse_soda(params.inline())
    release_dir = _resources(ctx).release_dir
    images = [image for did in request.ids for image in resolve(release_dir, did, request.bands)]
    combinations = [(image, region) for image in images for region in request.regions]
    if len(combinations) > MAX_ASYNC_CUTOUTS:
        raise UsageError(f"the request makes {len(combinations)} cutouts; at most {MAX_ASYNC_CUTOUTS} per job",
                         param="ID", hint="use /soda/bulk for position lists")
    cutouts = []
    for number, (image, region) in enumerate(combinations, start=1):
        ctx.checkpoint()
        ctx.progress(number - 1, len(combinations))
        try:
            one = cut(image.path, region)
        except NoOverlapError as exc:
            ctx.add_result(f"cutout-{number}", f"NoOverlap: {exc} ({image.tilename} {image.band})\n".encode(),
                           "text/plain")
            continue
        cutouts.append(one)
        ctx.add_result(f"cutout-{number}", functools.partial(write_fits, cutouts=[one]), "application/fits")
    if not cutouts:
        raise NoOverlapError("no requested region overlaps the requested images", param="POS")
    ctx.progress(len(combinations), len(combinations))
    ctx.add_result("result", functools.partial(write_fits, cutouts=cutouts), "application/fits")
    return ctx.results


def _positions(params: Parameters, *, up_to: int | None = None) -> tuple[BulkPosition, ...] | None:
    """The position table; None when it is a file larger than ``up_to`` bytes (left unread)."""
    files: Mapping[str, Path] = params.files
    for name in ("positions", "upload", "table"):
        if name in files:
            if up_to is not None and files[name].stat().st_size > up_to:
                return None
            return parse_positions(files[name].read_bytes())
    text = params.get("positions")
    if text:
        return parse_positions(text.encode())
    raise UsageError("POSITIONS is required: a CSV or VOTable with RA,DEC or COADD_OBJECT_ID columns",
                     param="POSITIONS", hint="send it as a multipart file part named positions")


def check_bulk(params: Parameters) -> None:
    """Validate the options and, when it is small (every table within ``MAX_BULK_POSITIONS`` rows
    is), the position table, so bad input is refused when the job is asked to run, naming the
    parameter; a larger table is read, and refused, when the job runs."""
    parse_bulk_options(params.inline())
    _positions(params, up_to=_CHECKED_POSITIONS_BYTES)


def run_bulk_job(params: Parameters, ctx: JobContext) -> list[Result]:
    """A DESaccess-style bulk cutout job: per-object FITS and PNG results, summary, log, archive."""
    options = parse_bulk_options(params.inline())
    positions = _positions(params)
    assert positions is not None
    resources = _resources(ctx)
    out_dir = ctx.scratch_path(ctx.job_id)
    outcome = run_bulk(resources.release_dir, positions, options, out_dir, job_id=ctx.job_id,
                       progress=ctx.progress, checkpoint=ctx.checkpoint, memory_limit=resources.worker_memory)
    if outcome.archive is not None:
        ctx.add_result("result", outcome.archive, "application/gzip")
    for path in outcome.files:
        relative = path.relative_to(out_dir)
        if path.name == "summary.json":
            ctx.add_result("summary.json", path, "application/json")
        elif path.name.endswith(".log"):
            ctx.add_result("log", path, "text/plain")
        elif path.name.startswith("positions_"):
            ctx.add_result("positions.csv" if outcome.archive is not None else "result", path, "text/csv")
        else:
            media = "application/fits" if path.suffix == ".fits" else "image/png"
            ctx.add_result(_SAFE.sub("_", "__".join(relative.parts)), path, media)
    return ctx.results
