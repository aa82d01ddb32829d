"""``skygate hips build``: the HiPS surveys of the release's coadds, with a progress bar.

Argument parsing and printing only; the work is ``sky.hips.build_hips`` (incremental: only the tiles of
coadds changed since the last build; ``--force`` rebuilds all). ``report_hips`` prints what a build did,
here and after ``skygate demo``. Errors become one line on stderr and exit status 2.
Tests: tests/sky/test_cli_hips.py (beside the small release it builds).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import TYPE_CHECKING, TextIO

from dali.errors import SkygateError
from skygate.settings import Settings

if TYPE_CHECKING:
    from sky.hips import HipsReport

__all__ = ["ProgressBar", "add_sky_commands", "report_hips", "run_hips_build"]


def add_sky_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``hips build`` on the ``skygate`` sub-command parser."""
    hips = sub.add_parser("hips", help="HiPS surveys of the coadds, for Aladin")
    what = hips.add_subparsers(dest="what", required=True)
    build = what.add_parser("build", help="build the band and colour HiPS of the release into {data_dir}/hips")
    build.add_argument("--bands", nargs="+", default=None, metavar="BAND",
                       help="bands to build (default: all with coadds; g, r and i also give the colour HiPS)")
    build.add_argument("--order", type=int, default=None,
                       help="deepest HiPS order (default: the first whose pixels are no larger than the coadds')")
    build.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1),
                       help="processes reprojecting coadds (default: the cores, at most 4)")
    build.add_argument("--force", action="store_true",
                       help="rebuild every tile (default: only those of coadds new or changed since the last build)")
    build.set_defaults(handler="skygate.cli_sky:run_hips_build")


def run_hips_build(args: argparse.Namespace) -> int:
    from sky.hips import build_hips

    settings = Settings.from_env()
    bar = ProgressBar(sys.stderr)
    try:
        report = build_hips(settings.release_dir, settings.hips_dir, bands=args.bands, order=args.order,
                            workers=max(1, args.workers), progress=bar, force=args.force)
    except SkygateError as exc:
        bar.close()
        print(f"skygate hips build: {exc}", file=sys.stderr)
        return 2
    bar.close()
    report_hips(report, settings)
    return 0


def report_hips(report: HipsReport, settings: Settings) -> None:
    """What a build did: each survey rebuilt, or that nothing had changed."""
    if not report.surveys:
        print(f"HiPS in {settings.hips_dir} up to date: none of the {report.checked} coadds changed since the "
              f"last build, nothing reprojected ({report.seconds:.1f} s; --force rebuilds everything)")
        return
    for info in report.surveys:
        print(f"  {info.name}: order {info.order}, {report.tiles.get(info.name, 0)} tiles at the deepest order, "
              f"{report.rebuilt.get(info.name, 0)} written at all orders, {info.sky_fraction * 41252.96:.2f} deg²")
    print(f"built {len(report.surveys)} HiPS in {settings.hips_dir} in {report.seconds:.1f} s "
          f"({report.changed} of {report.checked} coadds new or changed, {report.reprojected} tiles reprojected; "
          f"served at {settings.base_url}/hips/list)")


class ProgressBar:
    """``step [#####.....] done/total`` on one line of a terminal; a line per finished step elsewhere."""

    def __init__(self, out: TextIO, width: int = 30) -> None:
        self.out, self.width = out, width
        self.tty = out.isatty()
        self.step: str | None = None
        self.last = 0.0

    def __call__(self, step: str, done: int, total: int) -> None:
        now = time.monotonic()
        finished = done >= total
        if self.tty and (finished or now - self.last > 0.1 or step != self.step):
            filled = int(self.width * done / max(total, 1))
            self.out.write(f"\r{step:<28} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total}")
            if finished:
                self.out.write("\n")
            self.out.flush()
            self.last = now
        elif not self.tty and finished:
            self.out.write(f"{step}: {done}/{total}\n")
            self.out.flush()
        self.step = step

    def close(self) -> None:
        self.out.flush()
