"""What a HiPS build has to do: the release's coadds, compared with the build record of the last build.

``find_coadds`` lists the coadd files by band; ``plan_band`` compares one band's with the record
(``hipsmeta.BuildRecord``) by size and modification time, and names the deepest-order tiles that any
new, changed or removed coadd touches (its old corners and its new: a coadd that moved leaves tiles
too), with the reprojections that rebuild them: every coadd touching such a tile, for those tiles
only. No record for the band, no cut kept or no survey there: everything. ``forget`` and ``remember``
keep the record true across an interrupted build. Reads coadd headers; writes only the record.
Tests: tests/sky/test_hips_incremental.py.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from dali.errors import UsageError
from release.obscore import BANDS, find_image_file
from sky.hipsmeta import COLOUR_SURVEY, BuildRecord, CoaddStamp, survey_name

__all__ = [
    "COLOUR_BANDS",
    "BandPlan",
    "coadd_corners",
    "coadd_pixscale",
    "colour_missing",
    "find_coadds",
    "forget",
    "plan_band",
    "polygons",
    "remember",
    "touched_cells",
]

COLOUR_BANDS = ("i", "r", "g")  # red, green, blue: the irg composite


@dataclass(frozen=True, slots=True)
class BandPlan:
    """What one band's build does: rebuild ``tiles`` (deepest order) from ``jobs``; ``full`` from scratch."""

    band: str
    full: bool
    stamps: dict[str, CoaddStamp]  # the coadds now, by path relative to the release
    tiles: frozenset[int]
    jobs: tuple[tuple[str, str, tuple[int, ...]], ...]  # (coadd path, scratch folder name, tiles to reproject)
    cut: tuple[float, float] | None  # kept from the last full build; None when computed here
    changed: int  # coadds new, changed or removed


def plan_band(release_dir: Path, hips_dir: Path, band: str, paths: list[Path], record: BuildRecord | None,
              deepest: int) -> BandPlan:
    """Compare the band's coadds with the record: the deepest tiles any new, changed or removed coadd touches."""
    old = record.coadds.get(band) if record is not None else None
    cut = record.cuts.get(band) if record is not None else None
    full = old is None or cut is None or not (hips_dir / survey_name(band) / "properties").is_file()
    stamps: dict[str, CoaddStamp] = {}
    cells: set[int] = set()
    changed = 0
    for path in paths:
        name = _relative(path, release_dir)
        stat = path.stat()
        before = (old or {}).get(name)
        if before is not None and before.same_file(stat):
            stamps[name] = before
            continue
        stamps[name] = CoaddStamp.of(stat, coadd_corners(path))
        changed += 1
        cells |= touched_cells(stamps[name].corners, deepest)
        if before is not None:  # it may have moved: its old tiles lose what it gave
            cells |= touched_cells(before.corners, deepest)
    for name, before in (old or {}).items():
        if name not in stamps:
            changed += 1
            cells |= touched_cells(before.corners, deepest)
    if full:
        cells = set().union(*(touched_cells(s.corners, deepest) for s in stamps.values()))  # everything
    jobs = []
    for name, stamp in stamps.items():
        wanted = tuple(sorted(touched_cells(stamp.corners, deepest) & cells))
        if wanted:
            jobs.append((str(release_dir / name), Path(name).name.split(".")[0], wanted))
    return BandPlan(band=band, full=full, stamps=stamps, tiles=frozenset(cells), jobs=tuple(jobs),
                    cut=None if full else cut, changed=changed)


def _relative(path: Path, release_dir: Path) -> str:
    try:
        return path.relative_to(release_dir).as_posix()
    except ValueError:
        return path.as_posix()


@functools.lru_cache(maxsize=4096)
def touched_cells(corners: tuple[tuple[float, float], ...], order: int) -> frozenset[int]:
    """The HEALPix cells at ``order`` a coadd's polygon overlaps (the tiles reprojection can fill)."""
    import astropy.units as u
    from astropy.coordinates import Latitude, Longitude
    from cdshealpix.nested import polygon_search

    ra, dec = np.array([c[0] for c in corners]), np.array([c[1] for c in corners])
    # flat: every cell at ``order``. The default answers a MOC, whose cells inside the polygon come merged
    # into coarser ones (their indices at another order): read as tiles, those were wrong tiles, and the
    # coadd's inner tiles were missing (demo profile: 3.82 of its 5.30 deg² at order 9).
    cells, _, _ = polygon_search(Longitude(ra, u.deg), Latitude(dec, u.deg), order, flat=True)
    return frozenset(int(i) for i in cells)


def polygons(plan: BandPlan) -> list[list[tuple[float, float]]]:
    """The corners of the band's coadds, in name order (for the survey's MOC)."""
    return [list(stamp.corners) for _, stamp in sorted(plan.stamps.items())]


def colour_missing(hips_dir: Path, bands: Iterable[str]) -> bool:
    """i, r and g are built here and the colour survey is not (yet) there."""
    wanted = set(bands)
    return all(b in wanted for b in COLOUR_BANDS) and not (hips_dir / COLOUR_SURVEY / "properties").is_file()


def forget(hips_dir: Path, record: BuildRecord | None, plans: list[BandPlan], deepest: int, scale: float) -> None:
    """Before a build: drop from the record the bands about to be rebuilt from scratch (interrupted,
    the next build starts them again), and the record itself when it is not for this order."""
    if record is None:
        BuildRecord.remove(hips_dir)
        return
    full = {p.band for p in plans if p.full}
    BuildRecord(order=deepest, pixscale=scale,
                coadds={b: s for b, s in record.coadds.items() if b not in full},
                cuts={b: c for b, c in record.cuts.items() if b not in full}).write(hips_dir)


def remember(hips_dir: Path, record: BuildRecord | None, plans: list[BandPlan],
             cuts: dict[str, tuple[float, float]], deepest: int, scale: float) -> None:
    """After a build: the record of what it was built from (bands not built here kept as they were)."""
    coadds = dict(record.coadds) if record is not None else {}
    kept = dict(record.cuts) if record is not None else {}
    coadds.update({p.band: p.stamps for p in plans})
    kept.update(cuts)
    BuildRecord(order=deepest, pixscale=scale, coadds=coadds, cuts=kept).write(hips_dir)


def find_coadds(release_dir: Path, bands: Sequence[str] | None) -> dict[str, list[Path]]:
    """Coadd files by band (lower-case), in tile order, for the requested bands."""
    wanted = [b.lower() for b in (bands or [b.lower() for b in BANDS])]
    known = {b.lower(): b for b in BANDS}
    unknown = [b for b in wanted if b not in known]
    if unknown:
        raise UsageError(f"unknown band {unknown[0]!r}", param="bands", hint=f"one of {', '.join(known)}")
    info = release_dir / "catalog" / "dr1_tile_info.parquet"
    if not info.is_file():
        raise UsageError(f"no release in {release_dir}", param="release_dir", hint="run `skygate demo` first")
    names = [str(n).strip() for n in pq.read_table(info, columns=["tilename"]).column("tilename").to_pylist()]
    coadds: dict[str, list[Path]] = {}
    for band in wanted:
        paths = [p for p in (find_image_file(release_dir, name, known[band]) for name in names) if p is not None]
        if paths:
            coadds[band] = paths
    if not coadds:
        raise UsageError("the release has no coadd images for those bands", param="bands")
    return coadds


def coadd_pixscale(path: Path) -> float:
    """The coadd's pixel scale in arcsec (mean of the two axes)."""
    from astropy.io import fits
    from astropy.wcs import WCS
    from astropy.wcs.utils import proj_plane_pixel_scales

    with fits.open(path) as hdul:
        header = hdul["SCI"].header
    return float(np.mean(proj_plane_pixel_scales(WCS(header))) * 3600.0)


def coadd_corners(path: Path) -> tuple[tuple[float, float], ...]:
    """The coadd's four corners (ra, dec), from its WCS."""
    from astropy.io import fits
    from astropy.wcs import WCS

    with fits.open(path) as hdul:
        header = hdul["SCI"].header
        shape = (int(header["ZNAXIS2"]), int(header["ZNAXIS1"])) if "ZNAXIS1" in header else hdul["SCI"].shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FITSFixedWarning on DES headers
        corners = WCS(header).calc_footprint(axes=(shape[1], shape[0]))
    return tuple((float(ra), float(dec)) for ra, dec in corners)
