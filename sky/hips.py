"""HiPS 1.0 surveys of the coadds: one per band (FITS tiles, PNG previews) and a Lupton colour survey.

Each deepest-order tile a coadd touches (cdshealpix polygon search of its corners) is reprojected
onto the tile WCS of ``reproject.hips`` with ``reproject_interp`` (bilinear), one coadd per job in a
pool of worker processes. Coadds overlap by 1 arcmin, so a tile can come from two of them: such
tiles are the pixel-wise mean of what each gave, taken in the coadds' name order (NaN where none
covers). Lower orders are 2x2 means of their four children, down to order 3 (the ``Allsky``
order), in the layout reproject uses. PNG tiles are rendered from the FITS tile of the same order:
band surveys with an asinh stretch between the survey's ``hips_pixel_cut``, the colour survey (i,
r, g as red, green, blue) with ``release.colour.lupton_rgb``, the bulk cutouts' stretch; both
transparent where there is no data.

Builds are incremental. The build record (``hipsmeta.BuildRecord``: per band each coadd's size,
modification time and corners; the order; each band's cut) lies beside the surveys; the next build
rebuilds only the deepest tiles touched by a new, changed or removed coadd (its old corners and its
new ones), each from every coadd touching it, so the tile is what a full build makes; then their
parents at every order, their PNG and colour tiles, and ``Allsky``, ``Moc.fits`` and
``properties``. The stretch stays that of the band's last full build, so old and new PNG tiles
match; ``force`` (or another order) rebuilds everything. Nothing changed: nothing is reprojected.

Files only: coadds in, HiPS folders out (``properties``, ``Moc.fits``, ``Norder3/Allsky.*``,
``NorderK/DirD/NpixN.*``). No HTTP. Properties, the hipslist, the record: ``hipsmeta.py``; which
tiles to rebuild: ``hipsplan.py``.
Tests: tests/sky/test_hips.py, tests/sky/test_hips_incremental.py.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import multiprocessing
import shutil
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np

from dali.errors import FatalError, UsageError
from release.colour import lupton_rgb
from sky.hipsmeta import (
    COLOUR_SURVEY,
    BuildRecord,
    SurveyInfo,
    band_survey,
    colour_survey,
    survey_name,
    write_properties,
)
from sky.hipsplan import (
    COLOUR_BANDS,
    BandPlan,
    coadd_pixscale,
    colour_missing,
    find_coadds,
    forget,
    plan_band,
    polygons,
    remember,
)
from sky.moc import cells_moc, polygons_moc, serialize

__all__ = [
    "ALLSKY_ORDER",
    "COLOUR_BANDS",
    "TILE_WIDTH",
    "HipsReport",
    "build_hips",
    "hips_order_for",
    "tile_path",
]

TILE_WIDTH = 512
ALLSKY_ORDER = 3
_ALLSKY_COLUMNS = 27  # HiPS 1.0 §4.3.2: tiles per row of Allsky
_ALLSKY_TILE = 64
_MOC_EXTRA_ORDERS = 4  # the survey MOC is 16x finer than its tiles
_HEALPIX_PIXEL_DEG = float(np.degrees(np.sqrt(np.pi / 3.0)))  # a cell of nside N is this / N degrees wide


@dataclass
class HipsReport:
    """What ``build_hips`` did: the surveys it (re)built, their tiles at the deepest order, the tiles
    written or removed at every order, the tile reprojections, the coadds that had changed, seconds spent.
    ``surveys`` is empty when nothing had changed (``checked`` coadds, none new, changed or removed)."""

    surveys: list[SurveyInfo] = field(default_factory=list)
    tiles: dict[str, int] = field(default_factory=dict)
    rebuilt: dict[str, int] = field(default_factory=dict)
    reprojected: int = 0
    changed: int = 0
    checked: int = 0
    seconds: float = 0.0


Progress = Callable[[str, int, int], None]
_Tile = tuple[int, int]  # (order, index)


def hips_order_for(pixscale_arcsec: float, tile_width: int = TILE_WIDTH) -> int:
    """The lowest order whose HiPS pixels are no larger than the coadd pixels (no information lost)."""
    order = 0
    while _HEALPIX_PIXEL_DEG * 3600.0 / (tile_width * 2**order) > pixscale_arcsec:
        order += 1
    return order


def tile_path(root: Path, order: int, index: int, ext: str) -> Path:
    """HiPS 1.0 §4.2: ``NorderK/DirD/NpixN.ext`` with D = (N // 10000) * 10000."""
    return root / f"Norder{order}" / f"Dir{(index // 10000) * 10000}" / f"Npix{index}.{ext}"


def build_hips(release_dir: Path, hips_dir: Path, *, bands: Sequence[str] | None = None, order: int | None = None,
               workers: int = 2, progress: Progress | None = None, pixscale: float | None = None,
               force: bool = False) -> HipsReport:
    """Build or update the band surveys (and the colour survey when i, r and g are among them) in ``hips_dir``.

    Parameters
    ----------
    release_dir
        The release folder (``catalog/dr1_tile_info.parquet`` and ``tiles/``).
    hips_dir
        Output root; each survey is a folder there (``des_dr1_r``, ``des_dr1_colour_irg``), beside the
        build record. A survey built from scratch replaces the old folder whole; an update edits it in place.
    bands
        Bands to build (default: every band with coadds); the surveys of other bands are left as they are.
    order
        Deepest HiPS order (default: ``hips_order_for`` the coadds' pixel scale).
    workers
        Processes reprojecting coadds, then making the band surveys and the colour tiles (1: this process).
    progress
        Called as ``progress(step, done, total)``.
    pixscale
        The coadds' pixel scale in arcsec (default: read from the first coadd).
    force
        Rebuild everything, whatever the build record says.

    Raises
    ------
    UsageError
        For an unknown band, an order out of range or a release without coadds.
    FatalError
        When the files cannot be written.
    """
    start = time.perf_counter()
    coadds = find_coadds(release_dir, bands)
    scale = pixscale or coadd_pixscale(next(iter(coadds.values()))[0])
    deepest = hips_order_for(scale) if order is None else int(order)
    if not ALLSKY_ORDER <= deepest <= 13:
        raise UsageError("HiPS order out of range", param="order", hint=f"{ALLSKY_ORDER} ... 13")
    with _only_build(hips_dir):
        return _build_locked(release_dir, hips_dir, coadds, deepest, scale, workers, progress, force, start)


@contextlib.contextmanager
def _only_build(hips_dir: Path) -> Iterator[None]:
    """Hold ``{hips_dir}/.lock`` for the build: two builds in one folder would delete each other's scratch."""
    try:
        hips_dir.mkdir(parents=True, exist_ok=True)
        lock = (hips_dir / ".lock").open("a")  # "a": opening it changes no file time
    except OSError as exc:
        raise FatalError("could not write the HiPS surveys", param="hips_dir",
                         hint=f"check space and permissions under {hips_dir}") from exc
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"another HiPS build is running in {hips_dir}", param="hips_dir",
                             hint="wait for it to end (`skygate serve --build-hips` runs one in the "
                                  "background)") from None
        yield


def _build_locked(release_dir: Path, hips_dir: Path, coadds: dict[str, list[Path]], deepest: int, scale: float,
                  workers: int, progress: Progress | None, force: bool, start: float) -> HipsReport:
    record = None if force else BuildRecord.read(hips_dir)
    if record is not None and (record.order != deepest or not np.isclose(record.pixscale, scale)):
        record = None
    report = HipsReport()
    try:
        plans = [plan_band(release_dir, hips_dir, band, paths, record, deepest) for band, paths in coadds.items()]
        report.checked = sum(len(p.stamps) for p in plans)
        report.changed = sum(p.changed for p in plans)
        if any(p.tiles or p.full for p in plans) or colour_missing(hips_dir, coadds):
            forget(hips_dir, record, plans, deepest, scale)
            with _Pool(workers) as pool:
                cuts = _build(plans, hips_dir, deepest, scale, pool, progress or _quiet, report)
            remember(hips_dir, record, plans, cuts, deepest, scale)
    except OSError as exc:
        raise FatalError("could not write the HiPS surveys", param="hips_dir",
                         hint=f"check space and permissions under {hips_dir}") from exc
    except BrokenProcessPool as exc:
        raise FatalError("a HiPS worker process died (out of memory?)", param="workers",
                         hint="try fewer workers") from exc
    report.seconds = time.perf_counter() - start
    return report


def _build(plans: list[BandPlan], hips_dir: Path, deepest: int, scale: float, pool: _Pool, progress: Progress,
           report: HipsReport) -> dict[str, tuple[float, float]]:
    """Reproject, then the band surveys with work to do, then the colour tiles; returns each band's cut."""
    scratch = hips_dir / ".scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    jobs = [(path, str(scratch / plan.band / key), deepest, tiles) for plan in plans for path, key, tiles in plan.jobs]
    progress("reproject", 0, len(jobs))
    for done, count in enumerate(pool.run(_reproject_coadd, jobs), start=1):
        report.reprojected += count
        progress("reproject", done, len(jobs))
    moc_order = min(deepest + _MOC_EXTRA_ORDERS, 29)
    todo = [p for p in plans if p.tiles or p.full]
    band_jobs = [(p.band, str(scratch / p.band), str(hips_dir), deepest, scale, polygons(p), moc_order,
                  sorted(p.tiles), p.cut) for p in todo]
    cuts: dict[str, tuple[float, float]] = {}
    changed: dict[str, set[_Tile]] = {}
    for done, (info, count, written, tiles) in enumerate(pool.run(_band_survey_job, band_jobs), start=1):
        band = band_jobs[done - 1][0]
        report.surveys.append(info)
        report.tiles[info.name], report.rebuilt[info.name] = count, written
        cuts[band] = info.cut or (0.0, 1.0)
        changed[band] = set(tiles)
        progress("band surveys", done, len(band_jobs))
    by_band = {p.band: p for p in plans}
    if all(b in by_band for b in COLOUR_BANDS) and (changed or colour_missing(hips_dir, by_band)):
        _colour(by_band, changed, hips_dir, deepest, scale, moc_order, pool, progress, report)
    elif any(b in changed for b in COLOUR_BANDS):
        # Not all of i, r, g in this build: their colour tiles would stay stale. Unlisted, the colour survey
        # is made again whole by the next build of all three (its PNG tiles only).
        (hips_dir / COLOUR_SURVEY / "properties").unlink(missing_ok=True)
    shutil.rmtree(scratch, ignore_errors=True)
    return cuts


def _colour(plans: dict[str, BandPlan], changed: dict[str, set[_Tile]], hips_dir: Path, deepest: int,
            scale: float, moc_order: int, pool: _Pool, progress: Progress, report: HipsReport) -> None:
    """The colour tiles of the changed band tiles (all of them when a colour band was built from scratch)."""
    sources = [hips_dir / survey_name(b) for b in COLOUR_BANDS]
    moc = _survey_moc(polygons(plans[COLOUR_BANDS[0]]), moc_order, sources[0], deepest)
    info = colour_survey(deepest, scale, moc)
    if colour_missing(hips_dir, plans) or any(plans[b].full for b in COLOUR_BANDS):
        root = _fresh(hips_dir, info.name)
        tiles = _tile_jobs(sources[0], deepest)
    else:
        root = hips_dir / info.name
        touched = set().union(*changed.values())
        tiles = [t for t in sorted(touched, key=lambda t: (-t[0], t[1])) if _has_tile(sources[0], t)]
        for level, index in touched.difference(tiles):
            tile_path(root, level, index, "png").unlink(missing_ok=True)
    chunks = [([str(s) for s in sources], str(root), tiles[k::pool.n]) for k in range(pool.n)]
    written = sum(pool.run(_colour_job, chunks))
    progress(f"{info.name}: png", len(tiles), len(tiles))
    _finish(root, info, moc)
    report.surveys.append(info)
    report.tiles[info.name] = sum(1 for level, _ in _tile_jobs(sources[0], deepest) if level == deepest)
    report.rebuilt[info.name] = written


def _quiet(step: str, done: int, total: int) -> None:
    return None


# --- reprojection (worker processes) -----------------------------------------------------------------

class _Pool:
    """``run(fn, jobs)`` yielding results in job order, in one pool of 1..workers processes for the whole build
    (a spawned worker spends seconds importing astropy and reproject: pay that once)."""

    def __init__(self, workers: int) -> None:
        self.n = max(1, workers)
        self.executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> Self:
        if self.n > 1:
            # spawn: the parent may hold threads (uvicorn, DuckDB), which fork would copy in a bad state.
            self.executor = ProcessPoolExecutor(self.n, mp_context=multiprocessing.get_context("spawn"))
        return self

    def run(self, fn: Callable[[Any], Any], jobs: list[Any]) -> Iterator[Any]:
        if self.executor is None or len(jobs) <= 1:
            return map(fn, jobs)
        return self.executor.map(fn, jobs)

    def __exit__(self, *exc: object) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)


def _reproject_coadd(job: tuple[str, str, int, tuple[int, ...]]) -> int:
    """The given deepest-order tiles of one coadd, each saved as ``{out}/{index}.npy`` when it covers any of it."""
    from astropy.io import fits
    from astropy.wcs import WCS

    path, out, order, tiles = job
    with fits.open(path) as hdul:
        header = hdul["SCI"].header.copy()
        data = np.asarray(hdul["SCI"].data, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FITSFixedWarning on DES headers
        wcs = WCS(header)
    Path(out).mkdir(parents=True, exist_ok=True)
    written = 0
    for index in tiles:
        array = _reproject_tile(data, wcs, order, index)
        if array is not None:
            np.save(Path(out) / f"{index}.npy", array)
            written += 1
    return written


def _reproject_tile(data: np.ndarray, wcs: Any, order: int, index: int) -> np.ndarray | None:
    """One tile as ``reproject.hips.reproject_to_hips`` makes it with ``reproject_interp`` (bilinear, NaN
    outside the coadd); None when it misses the coadd."""
    from reproject import reproject_interp

    header = _tile_header(order, index, both=True)
    # TAN -> HPX over less than a degree: the round-trip check of reproject only doubles the cost.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if isinstance(header, tuple):  # a tile across an edge of the HPX plane: reproject's two halves
            array1, footprint1 = reproject_interp((data, wcs), header[0], roundtrip_coords=False)
            array2, footprint2 = reproject_interp((data, wcs), header[1], roundtrip_coords=False)
            with np.errstate(invalid="ignore"):
                array = (np.nan_to_num(array1) * footprint1 + np.nan_to_num(array2) * footprint2) / (
                    footprint1 + footprint2)
                footprint = (footprint1 + footprint2) / 2
        else:
            array, footprint = reproject_interp((data, wcs), header, roundtrip_coords=False)
    if np.all(footprint == 0):
        return None
    array[footprint == 0] = np.nan
    return np.asarray(array, dtype=np.float32)


def _tile_header(order: int, index: int, *, both: bool = False) -> Any:
    """The tile WCS reproject writes (both halves of an HPX edge tile when ``both``, else the first)."""
    from astropy.coordinates import ICRS
    from reproject.hips._utils import tile_header

    header = tile_header(level=order, index=index, frame=ICRS(), tile_dims=TILE_WIDTH)
    return header if both or not isinstance(header, tuple) else header[0]


# --- merging and the pyramid -------------------------------------------------------------------------

def _fresh(hips_dir: Path, name: str) -> Path:
    root = hips_dir / name
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    return root


def _merge_band(scratch: Path, root: Path, order: int, tiles: Iterable[int]) -> tuple[set[_Tile], list[np.ndarray]]:
    """The deepest-order ``tiles`` from every coadd's reprojections (mean where they overlap, in the coadds'
    name order); a tile none covers any more is removed. Returns the tiles written or removed, and a
    sample of their pixels (for the cut)."""
    groups: dict[int, list[Path]] = {}
    for path in sorted(scratch.glob("*/*.npy")):  # sorted: coadd folder, then tile
        groups.setdefault(int(path.stem), []).append(path)
    changed: set[_Tile] = set()
    samples: list[np.ndarray] = []
    for index in sorted(tiles):
        changed.add((order, index))
        target = tile_path(root, order, index, "fits")
        arrays = [np.load(p) for p in groups.get(index, [])]
        if not arrays:
            _remove_tile(target)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels stay NaN
            data = arrays[0] if len(arrays) == 1 else np.nanmean(np.stack(arrays), axis=0)
        _write_fits(target, data, _tile_header(order, index))
        finite = data[np.isfinite(data)]
        if finite.size:
            samples.append(finite[:: max(1, finite.size // 4096)])
    return changed, samples


def _cut(samples: list[np.ndarray]) -> tuple[float, float]:
    """``hips_pixel_cut``: the 1st and 99.8th percentiles of the sampled pixels."""
    values = np.concatenate(samples) if samples else np.zeros(1, dtype=np.float32)
    return float(np.percentile(values, 1.0)), float(np.percentile(values, 99.8))


def _write_fits(path: Path, data: np.ndarray, header: Any) -> None:
    from astropy.io import fits

    path.parent.mkdir(parents=True, exist_ok=True)
    fits.PrimaryHDU(np.asarray(data, dtype=np.float32), header).writeto(path, overwrite=True)


def _remove_tile(fits_path: Path) -> None:
    fits_path.unlink(missing_ok=True)
    fits_path.with_suffix(".png").unlink(missing_ok=True)


def _pyramid(root: Path, order: int, indices: Iterable[int]) -> set[_Tile]:
    """Orders ``order - 1`` ... 3 above ``indices``: each tile the 2x2 mean of its four children (reproject's
    layout), removed when none is left. Returns the tiles written or removed."""
    from astropy.io import fits
    from astropy.nddata import block_reduce

    half = TILE_WIDTH // 2
    # Child k of a tile lands in this quadrant (rows, columns) of the parent: reproject.hips layout.
    quadrant = {0: (slice(half, None), slice(None, half)), 1: (slice(None, half), slice(None, half)),
                2: (slice(half, None), slice(half, None)), 3: (slice(None, half), slice(half, None))}
    current = set(indices)
    changed: set[_Tile] = set()
    for level in range(order - 1, ALLSKY_ORDER - 1, -1):
        parents = sorted({i // 4 for i in current})
        for parent in parents:
            changed.add((level, parent))
            array = np.full((TILE_WIDTH, TILE_WIDTH), np.nan, dtype=np.float32)
            children = 0
            for k in range(4):
                child = tile_path(root, level + 1, 4 * parent + k, "fits")
                if child.is_file():
                    children += 1
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)
                        array[quadrant[k]] = block_reduce(fits.getdata(child), 2, func=np.nanmean)
            target = tile_path(root, level, parent, "fits")
            if children:
                _write_fits(target, array, _tile_header(level, parent))
            else:
                _remove_tile(target)
        current = set(parents)
    return changed


# --- PNG tiles ---------------------------------------------------------------------------------------

def _band_survey_job(job: tuple[str, str, str, int, float, list[list[tuple[float, float]]], int, list[int],
                                tuple[float, float] | None]) -> tuple[SurveyInfo, int, int, list[_Tile]]:
    """One band's survey: merge the tiles to rebuild, their pyramid, PNGs, Allsky, MOC, properties. Built
    from scratch (no ``cut`` kept) in a folder beside the old one, which it then replaces."""
    band, scratch, hips_dir, deepest, scale, polygons, moc_order, tiles, cut = job
    final = Path(hips_dir) / survey_name(band)
    root = _fresh(Path(hips_dir), f"{final.name}.tmp") if cut is None else final
    changed, samples = _merge_band(Path(scratch), root, deepest, tiles)
    changed |= _pyramid(root, deepest, tiles)
    moc = _survey_moc(polygons, moc_order, root, deepest)
    info = band_survey(band, deepest, scale, moc).with_cut(cut or _cut(samples))
    if root != final:
        shutil.rmtree(final, ignore_errors=True)
        root = root.rename(final)
    assert info.cut is not None
    redraw = sorted((t for t in changed if _has_tile(root, t)), key=lambda t: (-t[0], t[1]))
    written = _render(root, redraw, functools.partial(_grey_png, cut=info.cut), [root])
    _finish(root, info, moc)
    count = sum(1 for level, _ in _tile_jobs(root, deepest) if level == deepest)
    return info, count, written, sorted(changed)


def _has_tile(root: Path, tile: _Tile) -> bool:
    return tile_path(root, tile[0], tile[1], "fits").is_file()


def _survey_moc(polygons: list[list[tuple[float, float]]], order: int, root: Path, deepest: int) -> Any:
    """The coadds' polygons where a deepest-order tile exists: Aladin asks for no tile that is not there
    (a cell the polygons only graze, by less than a pixel, gets no tile from reproject)."""
    written = np.array([index for level, index in _tile_jobs(root, deepest) if level == deepest], dtype=np.uint64)
    return polygons_moc(polygons, order).intersection(cells_moc(written, deepest))


def _colour_job(job: tuple[list[str], str, list[tuple[int, int]]]) -> int:
    sources, root, tiles = job
    return _render(Path(root), tiles, _colour_png, [Path(s) for s in sources])


def _tile_jobs(root: Path, deepest: int) -> list[tuple[int, int]]:
    """(order, index) of every FITS tile under ``root``, deepest order first."""
    return [(level, int(p.stem.removeprefix("Npix"))) for level in range(deepest, ALLSKY_ORDER - 1, -1)
            for p in sorted(root.glob(f"Norder{level}/Dir*/Npix*.fits"))]


def _render(root: Path, tiles: Iterable[tuple[int, int]], render: Callable[[list[np.ndarray]], Any],
            sources: list[Path]) -> int:
    """A PNG under ``root`` for each (order, index), rendered from the same FITS tile of each source."""
    from astropy.io import fits

    count = 0
    for level, index in tiles:
        arrays = []
        for source in sources:
            path = tile_path(source, level, index, "fits")
            arrays.append(fits.getdata(path) if path.is_file() else np.full((TILE_WIDTH, TILE_WIDTH), np.nan))
        target = tile_path(root, level, index, "png")
        target.parent.mkdir(parents=True, exist_ok=True)
        render(arrays).save(target, format="PNG", compress_level=1)
        count += 1
    return count


def _grey_png(tiles: list[np.ndarray], cut: tuple[float, float]) -> Any:
    """Grey + alpha: asinh between the cut values; transparent where there is no data. North up."""
    from PIL import Image

    data = tiles[0]
    lo, hi = cut
    valid = np.isfinite(data)
    scaled = np.clip((np.nan_to_num(data, nan=lo) - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
    grey = (np.arcsinh(10.0 * scaled) / np.arcsinh(10.0) * 255.0).astype(np.uint8)
    alpha = np.where(valid, 255, 0).astype(np.uint8)
    # FITS tiles are stored bottom row first; PNG tiles top row first (HiPS 1.0 §4.2.1).
    return Image.fromarray(np.flipud(np.dstack([grey, alpha])), mode="LA")


def _colour_png(tiles: list[np.ndarray]) -> Any:
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # make_lupton_rgb divides 0 by 0 where there is no data
        rgb = lupton_rgb(tiles[0], tiles[1], tiles[2])
    valid = np.isfinite(tiles[0]) & np.isfinite(tiles[1]) & np.isfinite(tiles[2])
    alpha = np.where(valid, 255, 0).astype(np.uint8)
    return Image.fromarray(np.flipud(np.dstack([rgb, alpha])), mode="RGBA")


# --- Allsky, Moc.fits, properties -----------------------------------------------------------------

def _finish(root: Path, info: SurveyInfo, moc: Any) -> None:
    (root / "Moc.fits").write_bytes(serialize(moc, "fits"))
    for fmt in info.formats:
        _allsky(root, fmt)
    write_properties(root, info)


def _allsky(root: Path, fmt: str) -> None:
    """``Norder3/Allsky.{fmt}``: the 768 order-3 tiles at 64x64, 27 to a row (HiPS 1.0 §4.3.2).

    Laid out as the PNG is seen (first tile top left); the FITS version is that picture stored
    bottom row first, as FITS tiles are.
    """
    from astropy.io import fits
    from astropy.nddata import block_reduce
    from PIL import Image

    npix = 12 * 4**ALLSKY_ORDER
    rows = -(-npix // _ALLSKY_COLUMNS)
    side, factor = _ALLSKY_TILE, TILE_WIDTH // _ALLSKY_TILE
    bands = 1 if fmt == "fits" else 4
    mosaic = np.full((rows * side, _ALLSKY_COLUMNS * side, bands), np.nan if fmt == "fits" else 0,
                     dtype=np.float32 if fmt == "fits" else np.uint8)
    for path in root.glob(f"Norder{ALLSKY_ORDER}/Dir*/Npix*.{fmt}"):
        index = int(path.stem.removeprefix("Npix"))
        y, x = (index // _ALLSKY_COLUMNS) * side, (index % _ALLSKY_COLUMNS) * side
        if fmt == "fits":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                small = block_reduce(np.flipud(fits.getdata(path)), factor, func=np.nanmean)[..., None]
        else:
            small = np.asarray(Image.open(path).convert("RGBA").resize((side, side), Image.Resampling.BOX))
        mosaic[y:y + side, x:x + side] = small
    target = root / f"Norder{ALLSKY_ORDER}" / f"Allsky.{fmt}"
    target.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "fits":
        fits.PrimaryHDU(np.flipud(mosaic[..., 0])).writeto(target, overwrite=True)
    else:
        Image.fromarray(mosaic, mode="RGBA").save(target, format="PNG")
