"""Cutout speed: SODA sync latency on a native-resolution compressed tile, and bulk throughput.

1. p50/p95 latency of a 1' SODA sync cutout (SCI, MSK, WGT; FITS bytes included) from a
   native-resolution (0.263"/px, 10000 x 10000) tile-compressed MEF, through ``soda.service.
   run_cutouts`` (what ``/soda/sync`` runs in its thread), beside astropy ``Cutout2D`` on the fully
   loaded image (load time printed separately). Target: p50 <= 50 ms.
2. Throughput of a 1,000-position bulk job (3 bands as FITS + one irg Lupton PNG each) with two
   workers (threads) on a release folder (default: the ``ci`` test release). Target: <= 60 s.

    .venv/bin/python benchmarks/cutouts.py [--tile PATH] [--release DIR] [--cutouts 200] [--positions 1000]

Without ``--tile`` a synthetic native tile (DES DR1 layout and compression: SCI/WGT RICE_1 q=16
SUBTRACTIVE_DITHER_2, MSK PLIO_1, fpack's one-row tiles) is written once to var/bench/ (≈1 minute).
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from astropy.io import fits
from astropy.nddata import Cutout2D
from astropy.wcs import WCS

from dali.regions import Circle
from release.obscore import image_did
from soda.params import SodaRequest
from soda.service import run_cutouts

TILENAME = "DES2134-0041"
CENTRE = (323.548039, -0.697222)


def native_tile(folder: Path, tile: int | None = None) -> Path:
    """A 10000 x 10000 native tile under ``folder/tiles/`` (written once); ``tile`` = square
    compression tiles of that side, else fpack's default of one row per tile."""
    path = folder / "tiles" / TILENAME / f"{TILENAME}_r9999p01_i.fits.fz"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 10000
    header = fits.Header()
    header["CTYPE1"], header["CTYPE2"] = "RA---TAN", "DEC--TAN"
    header["CRPIX1"] = header["CRPIX2"] = 5000.5
    header["CRVAL1"], header["CRVAL2"] = CENTRE
    header["CD1_1"], header["CD2_2"], header["CD1_2"], header["CD2_1"] = -7.305556e-5, 7.305556e-5, 0.0, 0.0
    header["MAGZERO"], header["BAND"], header["TILENAME"], header["BUNIT"] = 30.0, "i", TILENAME, "COUNTS/S"
    rng = np.random.default_rng(20180109)
    sci = rng.normal(0.0, 6.4, (n, n)).astype(np.float32)
    msk = np.zeros((n, n), dtype=np.int32)
    msk[:, :50] = 1
    wgt = np.full((n, n), 1 / 6.4**2, dtype=np.float32)
    hdus = [fits.PrimaryHDU()]
    for name, data, kind, algorithm in (("SCI", sci, "IMAGE", "RICE_1"), ("MSK", msk, "MASK", "PLIO_1"),
                                        ("WGT", wgt, "WEIGHT", "RICE_1")):
        h = header.copy()
        h["DES_EXT"] = kind
        options = {"quantize_level": 16, "quantize_method": 2} if data.dtype.kind == "f" else {}
        hdus.append(fits.CompImageHDU(data, header=h, name=name, compression_type=algorithm,
                                      tile_shape=(tile, tile) if tile else (1, n), **options))
    tmp = path.with_suffix(".part")
    fits.HDUList(hdus).writeto(tmp, overwrite=True)
    tmp.replace(path)
    return path


def _positions(count: int, seed: int = 1) -> list[tuple[float, float]]:
    rng = np.random.default_rng(seed)
    ra = CENTRE[0] + rng.uniform(-0.3, 0.3, count)
    dec = CENTRE[1] + rng.uniform(-0.3, 0.3, count)
    return list(zip(ra.tolist(), dec.tolist(), strict=True))


def bench_sync(release: Path, count: int, tile: int | None, baseline_too: bool) -> None:
    path = native_tile(release, tile)
    layout = f"{tile}x{tile}-pixel compression tiles" if tile else "one-row compression tiles (fpack default)"
    did = image_did(TILENAME, "i")
    radius = 0.5 / 60.0  # a 1' wide cutout
    run_cutouts(release, SodaRequest((did,), (Circle(*CENTRE, radius),), ()), io.BytesIO())  # warm caches
    times = []
    for ra, dec in _positions(count):
        start = time.perf_counter()
        body = io.BytesIO()
        run_cutouts(release, SodaRequest((did,), (Circle(ra, dec, radius),), ()), body)
        times.append(time.perf_counter() - start)
    body.seek(0)
    with fits.open(body) as hdul:
        shape = hdul["SCI"].data.shape
    print(f"SODA sync 1' cutout ({shape[1]}x{shape[0]} px), 3 extensions, native tile with {layout}: "
          f"p50 {statistics.median(times) * 1000:.1f} ms, p95 {np.percentile(times, 95) * 1000:.1f} ms "
          f"(n={count}; target p50 <= 50 ms)")
    if not baseline_too:
        return

    start = time.perf_counter()
    with fits.open(path) as hdul:
        images = {name: hdul[name].data.copy() for name in ("SCI", "MSK", "WGT")}
        wcs = WCS(hdul["SCI"].header)
    load = time.perf_counter() - start
    side = round(60 / 0.263)
    baseline = []
    for ra, dec in _positions(count):
        start = time.perf_counter()
        buffer = io.BytesIO()
        hdus = [fits.PrimaryHDU()]
        for name, data in images.items():
            cut = Cutout2D(data, (ra, dec), side, wcs=wcs, mode="trim", copy=True)
            hdus.append(fits.ImageHDU(cut.data, header=cut.wcs.to_header(), name=name))
        fits.HDUList(hdus).writeto(buffer)
        baseline.append(time.perf_counter() - start)
    print(f"astropy Cutout2D on the fully loaded image: p50 {statistics.median(baseline) * 1000:.1f} ms, "
          f"p95 {np.percentile(baseline, 95) * 1000:.1f} ms, after loading all 3 extensions in {load:.1f} s")


def bench_bulk(release: Path, positions: int, workers: int) -> None:
    import pyarrow.parquet as pq

    from soda.bulk import run_bulk
    from soda.params import BulkOptions, BulkPosition

    table = pq.read_table(release / "catalog" / "dr1_main.parquet", columns=["ra", "dec"])
    rows = np.random.default_rng(5).choice(table.num_rows, positions, replace=False)
    targets = [BulkPosition(float(table["ra"][int(i)].as_py()), float(table["dec"][int(i)].as_py()), None)
               for i in rows]
    options = BulkOptions(colors_fits="gri", make_rgb=True, rgb_colors=("irg",))
    out = ROOT / "var" / "bench" / "bulk" / "job"
    shutil.rmtree(out.parent, ignore_errors=True)
    start = time.perf_counter()
    outcome = run_bulk(release, targets, options, out, job_id="job", threads=workers)
    elapsed = time.perf_counter() - start
    print(f"bulk job, {positions} positions x (3 FITS + 1 RGB PNG), {workers} workers: {elapsed:.1f} s "
          f"({len(outcome.files)} files, archive {outcome.archive.stat().st_size / 1e6:.0f} MB"
          if outcome.archive else "", "; target <= 60 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench-dir", type=Path, default=ROOT / "var" / "bench" / "native",
                        help="where the synthetic native tile is kept")
    parser.add_argument("--release", type=Path, default=ROOT / "var" / "test-cache" / "ci",
                        help="release folder for the bulk job (catalog/ and tiles/)")
    parser.add_argument("--cutouts", type=int, default=200)
    parser.add_argument("--positions", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-sync", action="store_true")
    parser.add_argument("--skip-bulk", action="store_true")
    args = parser.parse_args()
    if not args.skip_sync:
        bench_sync(args.bench_dir, args.cutouts, None, baseline_too=True)
        bench_sync(args.bench_dir.with_name(args.bench_dir.name + "-256"), args.cutouts, 256, baseline_too=False)
    if not args.skip_bulk:
        bench_bulk(args.release, args.positions, args.workers)


if __name__ == "__main__":
    main()
