"""HiPS 1.0 surveys of the coadds: one per band (FITS tiles, PNG previews) and a Lupton colour survey.

The reprojection is ``reproject.hips.reproject_to_hips`` (bilinear ``reproject_interp``), one call per
coadd and band, in a pool of worker processes. Coadds overlap by 1 arcmin, so a HiPS tile at the
deepest order can come from two of them: such tiles are the pixel-wise mean of what each gave
(NaN where none covers). Lower orders are 2x2 means of their four children, down to order 3 (the
``Allsky`` order), in the layout reproject uses. PNG tiles are rendered from the FITS tile of the
same order: band surveys with an asinh stretch between the survey's ``hips_pixel_cut``, the colour
survey (i, r, g as red, green, blue) with ``release.colour.lupton_rgb``, the bulk cutouts' stretch;
both transparent where there is no data.

Files only: coadds in, HiPS folders out (``properties``, ``Moc.fits``, ``Norder3/Allsky.*``,
``NorderK/DirD/NpixN.*``). No HTTP. Properties and the hipslist: ``hipsmeta.py``.
Tests: tests/sky/test_hips.py.
"""

from __future__ import annotations

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
import pyarrow.parquet as pq

from dali.errors import FatalError, UsageError
from release.colour import lupton_rgb
from release.obscore import BANDS, find_image_file
from sky.hipsmeta import SurveyInfo, band_survey, colour_survey, write_properties
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
COLOUR_BANDS = ("i", "r", "g")  # red, green, blue: the irg composite
_ALLSKY_COLUMNS = 27  # HiPS 1.0 §4.3.2: tiles per row of Allsky
_ALLSKY_TILE = 64
_MOC_EXTRA_ORDERS = 4  # the survey MOC is 16x finer than its tiles
_HEALPIX_PIXEL_DEG = float(np.degrees(np.sqrt(np.pi / 3.0)))  # a cell of nside N is this / N degrees wide


@dataclass
class HipsReport:
    """What ``build_hips`` made: surveys, tile counts per survey, seconds spent."""

    surveys: list[SurveyInfo] = field(default_factory=list)
    tiles: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


Progress = Callable[[str, int, int], None]


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
               workers: int = 2, progress: Progress | None = None, pixscale: float | None = None) -> HipsReport:
    """Build the band surveys (and the colour survey when i, r and g are among them) into ``hips_dir``.

    Parameters
    ----------
    release_dir
        The release folder (``catalog/dr1_tile_info.parquet`` and ``tiles/``).
    hips_dir
        Output root; each survey is a folder there (``des_dr1_r``, ``des_dr1_colour_irg``), replaced whole.
    bands
        Bands to build (default: every band with coadds).
    order
        Deepest HiPS order (default: ``hips_order_for`` the coadds' pixel scale).
    workers
        Processes reprojecting coadds, then making the band surveys and the colour tiles (1: this process).
    progress
        Called as ``progress(step, done, total)``.
    pixscale
        The coadds' pixel scale in arcsec (default: read from the first coadd).

    Raises
    ------
    UsageError
        For an unknown band, an order out of range or a release without coadds.
    FatalError
        When the files cannot be written.
    """
    start = time.perf_counter()
    coadds = _coadds(release_dir, bands)
    scale = pixscale or _pixscale(next(iter(coadds.values()))[0])
    deepest = hips_order_for(scale) if order is None else int(order)
    if not ALLSKY_ORDER <= deepest <= 13:
        raise UsageError("HiPS order out of range", param="order", hint=f"{ALLSKY_ORDER} ... 13")
    report = HipsReport()
    try:
        with _Pool(workers) as pool:
            _build(coadds, hips_dir, deepest, scale, pool, progress or _quiet, report)
    except OSError as exc:
        raise FatalError("could not write the HiPS surveys", param="hips_dir",
                         hint=f"check space and permissions under {hips_dir}") from exc
    except BrokenProcessPool as exc:
        raise FatalError("a HiPS worker process died (out of memory?)", param="workers",
                         hint="try fewer workers") from exc
    report.seconds = time.perf_counter() - start
    return report


def _build(coadds: dict[str, list[Path]], hips_dir: Path, deepest: int, scale: float, pool: _Pool,
           progress: Progress, report: HipsReport) -> None:
    scratch = hips_dir / ".scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    _reproject_all(coadds, scratch, deepest, pool, progress)
    polygons = [_polygon(path) for path in next(iter(coadds.values()))]
    moc_order = min(deepest + _MOC_EXTRA_ORDERS, 29)
    jobs = [(band, str(scratch / band), str(hips_dir), deepest, scale, polygons, moc_order) for band in coadds]
    built: dict[str, Path] = {}
    for done, (info, count) in enumerate(pool.run(_band_survey_job, jobs), start=1):
        report.surveys.append(info)
        report.tiles[info.name] = count
        built[info.name.rsplit("_", 1)[1]] = hips_dir / info.name
        progress("band surveys", done, len(jobs))
    if all(b in built for b in COLOUR_BANDS):
        moc = _survey_moc(polygons, moc_order, built[COLOUR_BANDS[0]], deepest)
        info = colour_survey(deepest, scale, moc)
        root = _fresh(hips_dir, info.name)
        sources = [str(built[b]) for b in COLOUR_BANDS]
        tiles = _tile_jobs(built[COLOUR_BANDS[0]], deepest)
        chunks = [(sources, str(root), tiles[k::pool.n]) for k in range(pool.n)]
        report.tiles[info.name] = sum(pool.run(_colour_job, chunks))
        progress(f"{info.name}: png", len(tiles), len(tiles))
        _finish(root, info, moc)
        report.surveys.append(info)
    shutil.rmtree(scratch, ignore_errors=True)


def _quiet(step: str, done: int, total: int) -> None:
    return None


# --- coadds ------------------------------------------------------------------------------------------

def _coadds(release_dir: Path, bands: Sequence[str] | None) -> dict[str, list[Path]]:
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


def _pixscale(path: Path) -> float:
    from astropy.io import fits
    from astropy.wcs import WCS
    from astropy.wcs.utils import proj_plane_pixel_scales

    with fits.open(path) as hdul:
        header = hdul["SCI"].header
    return float(np.mean(proj_plane_pixel_scales(WCS(header))) * 3600.0)


def _polygon(path: Path) -> list[tuple[float, float]]:
    """The coadd's four corners (ra, dec), from its WCS."""
    from astropy.io import fits
    from astropy.wcs import WCS

    with fits.open(path) as hdul:
        header = hdul["SCI"].header
        shape = (int(header["ZNAXIS2"]), int(header["ZNAXIS1"])) if "ZNAXIS1" in header else hdul["SCI"].shape
    corners = WCS(header).calc_footprint(axes=(shape[1], shape[0]))
    return [(float(ra), float(dec)) for ra, dec in corners]


# --- reprojection (worker processes) -----------------------------------------------------------------

def _reproject_all(coadds: dict[str, list[Path]], scratch: Path, order: int, pool: _Pool,
                   progress: Progress) -> None:
    jobs = [(str(path), str(scratch / band / path.name.split("_")[0]), order)
            for band, paths in coadds.items() for path in paths]
    progress("reproject", 0, len(jobs))
    for done, _ in enumerate(pool.run(_reproject_coadd, jobs), start=1):
        progress("reproject", done, len(jobs))


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
        if self.executor is None or len(jobs) == 1:
            return map(fn, jobs)
        return self.executor.map(fn, jobs)

    def __exit__(self, *exc: object) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)


def _reproject_coadd(job: tuple[str, str, int]) -> int:
    """One coadd into its own HiPS folder at ``order`` (tiles it does not touch are skipped)."""
    from astropy.io import fits
    from astropy.wcs import WCS
    from cdshealpix.nested import polygon_search
    from reproject import reproject_interp
    from reproject.hips import reproject_to_hips

    path, out, order = job
    with fits.open(path) as hdul:
        header = hdul["SCI"].header.copy()
        data = np.asarray(hdul["SCI"].data, dtype=np.float32)
    wcs = WCS(header)
    corners = wcs.calc_footprint(axes=(data.shape[1], data.shape[0]))
    import astropy.units as u
    from astropy.coordinates import Latitude, Longitude

    touched, _, _ = polygon_search(Longitude(corners[:, 0], u.deg), Latitude(corners[:, 1], u.deg), order)
    wanted = {int(i) for i in touched}

    def project(source: Any, tile: Any, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
        # reproject_to_hips tries every tile of a cone 1.5x the image: skip the ones that cannot overlap.
        if _tile_index(tile, order) not in wanted:
            blank = np.zeros((TILE_WIDTH, TILE_WIDTH))
            return blank, blank
        # TAN -> HPX over less than a degree: the round-trip check of reproject only doubles the cost.
        result: tuple[np.ndarray, np.ndarray] = reproject_interp(source, tile, roundtrip_coords=False, **kwargs)
        return result

    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FITSFixedWarning on DES headers, nanmean of empty blocks
        reproject_to_hips((data, header), coord_system_out="equatorial", reproject_function=project,
                          output_directory=out, level=order, tile_size=TILE_WIDTH)
    return len(wanted)


def _tile_index(tile_header: Any, order: int) -> int:
    """The HEALPix cell (the HiPS tile number) at the centre of a tile header; -1 when undefined."""
    import astropy.units as u
    from astropy.coordinates import Latitude, Longitude
    from astropy.wcs import WCS
    from cdshealpix.nested import lonlat_to_healpix

    centre = (TILE_WIDTH - 1) / 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ra, dec = WCS(tile_header).all_pix2world([[centre, centre]], 0)[0]
    if not (np.isfinite(ra) and np.isfinite(dec)):
        return -1
    return int(lonlat_to_healpix(Longitude([ra], u.deg), Latitude([dec], u.deg), order)[0])


# --- merging and the pyramid -------------------------------------------------------------------------

def _fresh(hips_dir: Path, name: str) -> Path:
    root = hips_dir / name
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    return root


def _merge_band(scratch: Path, root: Path, order: int, progress: Progress,
                name: str) -> tuple[int, tuple[float, float]]:
    """Deepest-order tiles from every coadd's folder (mean where they overlap), then the pyramid."""
    from astropy.io import fits

    groups: dict[int, list[Path]] = {}
    for path in scratch.glob(f"*/Norder{order}/Dir*/Npix*.fits"):
        groups.setdefault(int(path.stem.removeprefix("Npix")), []).append(path)
    samples: list[np.ndarray] = []
    for done, (index, paths) in enumerate(sorted(groups.items()), start=1):
        arrays = [fits.getdata(p).astype(np.float32) for p in paths]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels stay NaN
            data = arrays[0] if len(arrays) == 1 else np.nanmean(np.stack(arrays), axis=0)
        header = fits.getheader(paths[0])
        _write_fits(tile_path(root, order, index, "fits"), data, header)
        finite = data[np.isfinite(data)]
        if finite.size:
            samples.append(finite[:: max(1, finite.size // 4096)])
        progress(f"{name}: merge", done, len(groups))
    _pyramid(root, order, set(groups))
    values = np.concatenate(samples) if samples else np.zeros(1, dtype=np.float32)
    cut = (float(np.percentile(values, 1.0)), float(np.percentile(values, 99.8)))
    return len(groups), cut


def _write_fits(path: Path, data: np.ndarray, header: Any) -> None:
    from astropy.io import fits

    path.parent.mkdir(parents=True, exist_ok=True)
    fits.PrimaryHDU(np.asarray(data, dtype=np.float32), header).writeto(path, overwrite=True)


def _pyramid(root: Path, order: int, indices: set[int]) -> None:
    """Orders ``order - 1`` ... 3: each tile the 2x2 mean of its four children (reproject's layout)."""
    from astropy.coordinates import ICRS
    from astropy.io import fits
    from astropy.nddata import block_reduce
    from reproject.hips._utils import tile_header  # the tile WCS reproject writes at the deepest order

    half = TILE_WIDTH // 2
    # Child k of a tile lands in this quadrant (rows, columns) of the parent: reproject.hips layout.
    quadrant = {0: (slice(half, None), slice(None, half)), 1: (slice(None, half), slice(None, half)),
                2: (slice(half, None), slice(half, None)), 3: (slice(None, half), slice(half, None))}
    current = indices
    for level in range(order - 1, ALLSKY_ORDER - 1, -1):
        parents = sorted({i // 4 for i in current})
        for parent in parents:
            array = np.full((TILE_WIDTH, TILE_WIDTH), np.nan, dtype=np.float32)
            for k in range(4):
                child = tile_path(root, level + 1, 4 * parent + k, "fits")
                if child.is_file():
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)
                        array[quadrant[k]] = block_reduce(fits.getdata(child), 2, func=np.nanmean)
            header = tile_header(level=level, index=parent, frame=ICRS(), tile_dims=TILE_WIDTH)
            _write_fits(tile_path(root, level, parent, "fits"), array,
                        header[0] if isinstance(header, tuple) else header)
        current = set(parents)


# --- PNG tiles ---------------------------------------------------------------------------------------

def _band_survey_job(job: tuple[str, str, str, int, float, list[list[tuple[float, float]]], int]
                     ) -> tuple[SurveyInfo, int]:
    """One band's survey from its coadds' reprojected tiles: merge, pyramid, PNGs, Allsky, properties."""
    band, scratch, hips_dir, deepest, scale, polygons, moc_order = job
    root = _fresh(Path(hips_dir), f"{band}.tmp")
    count, cut = _merge_band(Path(scratch), root, deepest, _quiet, band)
    moc = _survey_moc(polygons, moc_order, root, deepest)
    info = band_survey(band, deepest, scale, moc).with_cut(cut)
    shutil.rmtree(Path(hips_dir) / info.name, ignore_errors=True)
    root = root.rename(Path(hips_dir) / info.name)
    _render(root, _tile_jobs(root, deepest), functools.partial(_grey_png, cut=cut), [root])
    _finish(root, info, moc)
    return info, count


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
