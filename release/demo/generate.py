"""Write a demo release profile to disk: Parquet catalogues, per-tile FITS, manifest.

Orchestration only: tiles are built and rendered in a pool of worker processes, one per core by
default (results are taken in tile order, so output never depends on scheduling or the pool size); DR1_MAIN
rows are spooled per HPIX_32 to Arrow
IPC files and then written as one Parquet row group per HPIX_32 value, so memory stays bounded by a
tile plus one HEALPix pixel. Model details live in ``catalog.py`` and ``images.py``.
Tests: tests/release/test_demo_release.py.
"""

from __future__ import annotations

import functools
import hashlib
import json
import multiprocessing
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from astropy.io import fits
from pyarrow import ipc

from dali.errors import FatalError, UsageError
from release.demo.catalog import DEMO_SEED, FEATURES, TileCatalog, build_tile
from release.demo.images import detection_image, render_band, write_mef
from release.demo.schema import DEMO_TRUTH, DR1_MAIN, TILE_INFO, ColumnSpec, arrow_schema
from release.progress import Progress
from release.tiling import Tile, find_tile, tile_at, tile_by_name

__all__ = ["DEFAULT_PIXSCALE", "GENERATOR_VERSION", "PROFILES", "Profile", "generate", "profile_tiles"]

GENERATOR_VERSION = "1.4.0"  # 1.4: images compressed in tiles of 16 rows
DEFAULT_PIXSCALE = 1.052  # 4x4-binned DES pixels
REQ = "r9999p01"
_MAX_ROW_GROUP = 1 << 20


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    tiles: tuple[str, ...]
    density: float
    bands: tuple[str, ...]
    objects_per_tile: float = 38600.0
    tile_catalogues: bool = True


_PATCH = ("DES2131+0001", "DES2134+0001", "DES2137+0001", "DES2131-0041", "DES2134-0041", "DES2137-0041",
          "DES2131-0124", "DES2134-0124", "DES2137-0124", "DES2359-0041")


def _large_tiles() -> tuple[str, ...]:
    """16 rows × 16 tiles around DES0453-4457 (RA 64.8-81.7, Dec -50.7...-40.0).

    Rows are the 7 north and 8 south of DES0453-4457's row; in each row the 16 consecutive tiles
    centred on RA 73.25, the middle of the quoted RA range (the row's step grows with |Dec|).
    """
    centre = tile_by_name("DES0453-4457")
    names: list[str] = []
    for row_offset in range(-7, 9):
        dec = centre.dec_cent - row_offset * (centre.udecmax - centre.udecmin)
        probe = find_tile(73.25, dec)
        assert probe is not None
        first = find_tile(73.25 - 7.5 * probe.ra_step, dec)
        assert first is not None
        names += [tile_at(first.grid_index + k).tilename for k in range(16)]
    return tuple(names)


PROFILES: dict[str, Profile] = {
    "ci": Profile("ci", ("DES2134-0041", "DES2359-0041"), 0.25, ("g", "r", "i")),
    # ci and the galaxy cluster's tile: the example notebooks' tests (the red sequence needs the cluster).
    "tour": Profile("tour", ("DES2134-0041", "DES2359-0041", "DES2131+0001"), 0.25, ("g", "r", "i")),
    "demo": Profile("demo", _PATCH, 1.0, ("g", "r", "i", "z", "y")),
    "large": Profile("large", (), 1.0, (), objects_per_tile=39062.5, tile_catalogues=False),
}


def profile_tiles(profile: Profile) -> tuple[str, ...]:
    return profile.tiles or _large_tiles()


def generate(profile: str, out_dir: Path, *, pixscale: float | None = None, workers: int | None = None,
             progress: Progress | None = None) -> Path:
    """Generate the demo release ``profile`` (``ci``, ``tour``, ``demo`` or ``large``) into ``out_dir``.

    Parameters
    ----------
    profile
        Profile name, a key of ``PROFILES``.
    out_dir
        Release directory; an earlier release there (manifest, ``catalog/``, ``tiles/``) is replaced.
    pixscale
        Image pixel scale in arcsec (default 1.052, 4×4 binned; 0.263 is native).
    workers
        Worker processes for the per-tile work (default: one per core this process may use; 1 runs
        in this process). The files are the same whatever the number.
    progress
        Told the phases ``tiles``, ``band images`` and ``catalogue rows`` as they advance.

    Returns
    -------
    Path
        The ``manifest.json`` written last; its presence means the release is complete.

    Raises
    ------
    UsageError
        For an unknown profile or a pixel scale out of range.
    FatalError
        When the files cannot be written (disk full, permissions).
    """
    prof = PROFILES.get(profile)
    if prof is None:
        raise UsageError(f"unknown demo profile {profile!r}", param="profile", hint=f"one of {sorted(PROFILES)}")
    scale = DEFAULT_PIXSCALE if pixscale is None else float(pixscale)
    if not 0.1 <= scale <= 5.0:
        raise UsageError("pixel scale out of range", param="pixscale", hint="0.263 (native) ... 5 arcsec")
    out_dir = Path(out_dir)
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        return _generate(prof, out_dir, scale, workers, progress or _silent)
    except OSError as exc:
        raise FatalError("could not write the demo release", param="out_dir",
                         hint=f"check space and permissions under {out_dir}") from exc


def _silent(phase: str, done: int, total: int | None) -> None:
    pass


def _generate(prof: Profile, out_dir: Path, scale: float, workers: int, progress: Progress) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in ("manifest.json",):
        (out_dir / old).unlink(missing_ok=True)
    for old in ("catalog", "tiles", ".spool"):
        shutil.rmtree(out_dir / old, ignore_errors=True)
    (out_dir / "catalog").mkdir()
    names = profile_tiles(prof)
    jobs = [(prof, name, scale, str(out_dir)) for name in names]
    spool = _Spool(out_dir / ".spool")
    info_rows: list[dict[str, Any]] = []
    truth_parts: list[pa.Table] = []
    total = 0
    progress("tiles", 0, len(jobs))
    with _Pool(workers, len(jobs), _BandCounter(progress, len(jobs) * len(prof.bands))) as run:
        for done, result in enumerate(run(_tile_job, jobs), 1):
            spool.add(result.main)
            truth_parts.append(result.truth)
            info_rows.append(_tile_info_row(tile_by_name(result.tilename), result.count, result.files, scale, prof))
            total += result.count
            progress("tiles", done, len(jobs))
    spool.write_parquet(out_dir / "catalog" / "dr1_main.parquet", progress, total)
    _write_table(out_dir / "catalog" / "dr1_tile_info.parquet", "dr1_tile_info", TILE_INFO,
                 pa.Table.from_pylist(info_rows, schema=arrow_schema("dr1_tile_info", TILE_INFO)))
    truth = pa.concat_tables(truth_parts) if truth_parts else _empty_table("demo_truth", DEMO_TRUTH)
    _write_table(out_dir / "catalog" / "demo_truth.parquet", "demo_truth", DEMO_TRUTH, truth)
    return _write_manifest(out_dir, prof, scale, names, total)


# --- per tile (runs in a worker) -------------------------------------------------------------------

@dataclass(frozen=True)
class _TileResult:
    tilename: str
    count: int
    main: pa.Table
    truth: pa.Table
    files: dict[str, str]


def _tile_job(args: tuple[Profile, str, float, str]) -> _TileResult:
    prof, name, scale, out = args
    tile = tile_by_name(name)
    cat = build_tile(tile, prof.objects_per_tile).keep(prof.density)
    files: dict[str, str] = {}
    tile_dir = Path(out) / "tiles" / name
    if prof.bands or prof.tile_catalogues:
        tile_dir.mkdir(parents=True, exist_ok=True)
    if prof.bands:
        files.update(_write_images(cat, tile, prof.bands, scale, tile_dir))
    if prof.tile_catalogues:
        path = tile_dir / f"{name}_dr1_main.fits"
        _write_tile_catalogue(path, cat)
        files["fits_dr1_main"] = path.relative_to(out).as_posix()
    main = pa.table({s.name: _arrow(cat.columns[s.name], s) for s in DR1_MAIN},
                    schema=arrow_schema("dr1_main", DR1_MAIN))
    return _TileResult(name, len(cat), main, _truth_table(cat), files)


def _write_images(cat: TileCatalog, tile: Tile, bands: tuple[str, ...], scale: float,
                  tile_dir: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    det_inputs = []
    for band in bands:
        image = render_band(cat, band, scale)
        label = "Y" if band == "y" else band
        path = tile_dir / f"{tile.tilename}_{REQ}_{label}.fits.fz"
        write_mef(path, tile, image, scale)
        files[f"fits_image_{band}"] = path.relative_to(tile_dir.parents[1]).as_posix()
        if _band_done is not None:
            _band_done()
        if band in ("r", "i", "z"):
            det_inputs.append(image)
        del image
    if det_inputs:
        det = detection_image(det_inputs)
        path = tile_dir / f"{tile.tilename}_{REQ}_det.fits.fz"
        write_mef(path, tile, det, scale)
        files["fits_image_det"] = path.relative_to(tile_dir.parents[1]).as_posix()
    return files


def _write_tile_catalogue(path: Path, cat: TileCatalog) -> None:
    formats = {pa.int64(): "K", pa.int32(): "J", pa.int16(): "I", pa.float32(): "E", pa.float64(): "D"}
    cols = []
    for spec in DR1_MAIN:
        data = cat.columns[spec.name]
        fmt = "12A" if spec.name == "tilename" else formats[spec.type]
        if spec.name == "tilename":
            data = np.asarray(data, dtype="S12")
        cols.append(fits.Column(name=spec.name.upper(), format=fmt, unit=spec.unit, array=data))
    hdu = fits.BinTableHDU.from_columns(cols, name="DR1_MAIN")
    hdu.header["TILENAME"] = cat.tile.tilename
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)


def _truth_table(cat: TileCatalog) -> pa.Table:
    sel = cat.feature_id > 0
    fid = cat.feature_id[sel]
    data = {
        "coadd_object_id": cat.columns["coadd_object_id"][sel],
        "feature_id": fid.astype(np.int16),
        "feature": [FEATURES[int(f)] for f in fid],
        "tilename": [cat.tile.tilename] * int(sel.sum()),
        "ra": cat.columns["alphawin_j2000"][sel],
        "dec": cat.columns["deltawin_j2000"][sel],
        "note": [str(n) for n in cat.note[sel]],
    }
    return pa.table(data, schema=arrow_schema("demo_truth", DEMO_TRUTH))


def _arrow(values: np.ndarray, spec: ColumnSpec) -> pa.Array:
    if pa.types.is_string(spec.type):
        return pa.array([str(v) for v in values], type=spec.type)
    return pa.array(np.asarray(values, dtype=spec.type.to_pandas_dtype()), type=spec.type)


# --- tables and files ------------------------------------------------------------------------------

def _tile_info_row(tile: Tile, count: int, files: dict[str, str], scale: float, prof: Profile) -> dict[str, Any]:
    native = tile.geometry()
    grid = tile.geometry(scale) if prof.bands else native
    row: dict[str, Any] = {"tilename": tile.tilename, "ra_cent": tile.ra_cent, "dec_cent": tile.dec_cent}
    for k in range(4):
        row[f"rac{k + 1}"] = native.rac[k]
        row[f"decc{k + 1}"] = native.decc[k]
    row.update(
        racmin=native.racmin, racmax=native.racmax, deccmin=min(native.decc), deccmax=max(native.decc),
        ra_size=native.ra_size, dec_size=native.dec_size, uramin=tile.uramin, uramax=tile.uramax,
        udecmin=tile.udecmin, udecmax=tile.udecmax, crossra0="Y" if tile.crossra0 else "N", count=count,
        pixelscale=grid.pixscale, naxis1=grid.naxis, naxis2=grid.naxis, crpix1=grid.crpix, crpix2=grid.crpix,
        crval1=tile.ra_cent, crval2=tile.dec_cent, cd1_1=-grid.cd, cd1_2=0.0, cd2_1=0.0, cd2_2=grid.cd,
        ctype1="RA---TAN", ctype2="DEC--TAN",
    )
    for spec in TILE_INFO:
        if spec.name.startswith(("fits_", "tiff_")):
            row[spec.name] = files.get(spec.name, "")
    return row


def _empty_table(name: str, specs: tuple[ColumnSpec, ...]) -> pa.Table:
    return arrow_schema(name, specs).empty_table()


def _parquet_options(schema: pa.Schema) -> dict[str, Any]:
    """zstd with BYTE_STREAM_SPLIT floats: a third smaller than plain zstd on noisy measurements."""
    floats = [f.name for f in schema if pa.types.is_floating(f.type)]
    return {"compression": "zstd", "use_byte_stream_split": floats or False,
            "use_dictionary": ["tilename"] if "tilename" in schema.names else False}


def _write_table(path: Path, name: str, specs: tuple[ColumnSpec, ...], table: pa.Table) -> None:
    table = table.cast(arrow_schema(name, specs))
    pq.write_table(table, path, row_group_size=_MAX_ROW_GROUP, **_parquet_options(table.schema))


class _Spool:
    """DR1_MAIN rows grouped by HPIX_32 in Arrow IPC files, then one Parquet row group per HPIX_32."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        self.schema = arrow_schema("dr1_main", DR1_MAIN)
        self.writers: dict[int, ipc.RecordBatchStreamWriter] = {}

    def add(self, table: pa.Table) -> None:
        hp = table.column("hpix_32").to_numpy()
        for value in np.unique(hp):
            part = table.filter(pa.array(hp == value))
            writer = self.writers.get(int(value))
            if writer is None:
                writer = ipc.new_stream(str(self.path / f"{int(value)}.arrows"), self.schema)
                self.writers[int(value)] = writer
            writer.write_table(part)

    def write_parquet(self, path: Path, progress: Progress, rows: int) -> None:
        for writer in self.writers.values():
            writer.close()
        written = 0
        progress("catalogue rows", written, rows)
        with pq.ParquetWriter(path, self.schema, **_parquet_options(self.schema)) as out:
            for value in sorted(self.writers):
                with ipc.open_stream(str(self.path / f"{value}.arrows")) as reader:
                    table = reader.read_all()
                order = np.argsort(table.column("coadd_object_id").to_numpy(), kind="stable")
                out.write_table(table.take(pa.array(order)), row_group_size=_MAX_ROW_GROUP)
                written += table.num_rows
                progress("catalogue rows", written, rows)
                del table
        if not self.writers:
            pq.write_table(self.schema.empty_table(), path, **_parquet_options(self.schema))
        shutil.rmtree(self.path)


def _write_manifest(out_dir: Path, prof: Profile, scale: float, names: tuple[str, ...], rows: int) -> Path:
    files = {}
    for path in sorted(p for p in out_dir.rglob("*") if p.is_file() and p.name != "manifest.json"):
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        files[path.relative_to(out_dir).as_posix()] = {"sha256": digest.hexdigest(), "bytes": path.stat().st_size}
    manifest = {
        "profile": prof.name,
        "seed": DEMO_SEED,
        "generator": "release.demo",
        "generator_version": GENERATOR_VERSION,
        "numpy_version": np.__version__,
        "pixscale": scale if prof.bands else None,
        "bands": list(prof.bands),
        "density": prof.density,
        "tiles": list(names),
        "rows": rows,
        "files": files,
    }
    path = out_dir / "manifest.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


# Called after each band image a tile job writes (set in each process that runs tile jobs).
_band_done: Callable[[], None] | None = None


def _report_bands_to(events: Any) -> None:
    """Pool initializer: a worker tells the parent of each finished band image through ``events``."""
    global _band_done
    _band_done = functools.partial(events.put, 1)


class _BandCounter:
    """Counts finished band images, from this process or (through a queue) from pool workers."""

    def __init__(self, progress: Progress, total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0
        self.lock = threading.Lock()

    def add(self, n: int = 1) -> None:
        with self.lock:
            self.done += n
            done = self.done
        if self.total:
            self.progress("band images", done, self.total)

    def drain(self, events: Any) -> None:
        """Count queue messages until the ``None`` that ends them (run on a thread)."""
        while events.get() is not None:
            self.add()


class _Pool:
    """``run(fn, jobs)`` yielding results in job order, in 1..workers processes."""

    def __init__(self, workers: int, njobs: int, bands: _BandCounter) -> None:
        self.n = max(1, min(workers, njobs))
        self.bands = bands
        self.executor: ProcessPoolExecutor | None = None
        self.events: Any = None
        self.drainer: threading.Thread | None = None

    def __enter__(self) -> Callable[[Callable[[Any], Any], list[Any]], Iterator[Any]]:
        global _band_done
        if self.n == 1:
            _band_done = self.bands.add
            return lambda fn, jobs: map(fn, jobs)
        # spawn: the parent may hold threads (pytest, DuckDB), which fork would copy in a bad state.
        context = multiprocessing.get_context("spawn")
        self.events = context.Queue()
        self.drainer = threading.Thread(target=self.bands.drain, args=(self.events,), daemon=True)
        self.drainer.start()
        self.executor = ProcessPoolExecutor(self.n, mp_context=context, initializer=_report_bands_to,
                                            initargs=(self.events,))
        executor = self.executor
        return lambda fn, jobs: executor.map(fn, jobs)

    def __exit__(self, *exc: object) -> None:
        global _band_done
        _band_done = None
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)
        if self.drainer is not None:
            self.events.put(None)
            self.drainer.join(timeout=10)
            self.events.close()
            self.events.join_thread()
