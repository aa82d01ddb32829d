"""Bulk cutouts as DESaccess (the DES data release's cutout service) makes them: many positions,
FITS per band, Lupton RGB PNGs.

Positions are matched to the tile whose unique area holds them (``release.tiling.find_tile``),
grouped by tile so each image file is opened once, and cut as ``XSIZE`` x ``YSIZE`` arcminute
boxes (``Cutout2D`` rounding, trimmed at the tile edge, never stitched). Output follows DESaccess:
``{TILENAME}/{DESJ...|COADD_OBJECT_ID}/{name}_{band}.fits`` (SCI primary, then MSK, WGT),
``{name}_{rgb}_lupton.png`` (north up, east left), ``cutout_{job}.log``, ``positions_{job}.csv``,
``summary.json`` and ``{job}.tar.gz``. Blocking; a job kind runs it in its worker thread.
No HTTP, no queue. Tests: tests/soda/test_bulk.py.
"""

from __future__ import annotations

import csv
import io
import json
import math
import tarfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from release.colour import lupton_rgb
from release.obscore import find_image_file
from release.tiling import NATIVE_PIXSCALE, find_tile
from soda.cutout import (
    NoOverlapError,
    PixelBox,
    SizedBox,
    image_cutout_cards,
    image_geometry,
    pixel_box,
    write_desaccess,
)
from soda.params import BulkOptions, BulkPosition, apply_overrides
from soda.pixels import read_section

__all__ = ["BulkOutcome", "cut_window", "cutout_bytes", "desj_name", "resolve_object_ids", "run_bulk"]


@dataclass
class _Target:
    index: int
    position: BulkPosition
    ra: float
    dec: float
    tilename: str
    name: str
    xsize: float
    ysize: float
    options: BulkOptions
    files: list[str] = field(default_factory=list)
    trimmed: bool = False


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    """Where the outputs are and what happened."""

    root: Path
    files: tuple[Path, ...]
    summary: Mapping[str, object]
    archive: Path | None


def desj_name(ra: float, dec: float) -> str:
    """``DESJhhmmss.ssss±ddmmss.ssss`` from a position in degrees (DESaccess names each position's
    files so)."""
    ticks = round((ra % 360.0) / 15.0 * 3600.0 * 10_000) % (24 * 3600 * 10_000)
    hh, rest = divmod(ticks, 3600 * 10_000)
    mm, rest = divmod(rest, 60 * 10_000)
    ss, frac = divmod(rest, 10_000)
    sign = "-" if dec < 0 else "+"
    dticks = round(abs(dec) * 3600.0 * 10_000)
    dd, rest = divmod(dticks, 3600 * 10_000)
    dm, rest = divmod(rest, 60 * 10_000)
    ds, dfrac = divmod(rest, 10_000)
    return f"DESJ{hh:02d}{mm:02d}{ss:02d}.{frac:04d}{sign}{dd:02d}{dm:02d}{ds:02d}.{dfrac:04d}"


def resolve_object_ids(release_dir: Path, ids: Sequence[int]) -> dict[int, tuple[float, float]]:
    """ALPHAWIN_J2000/DELTAWIN_J2000 of each COADD_OBJECT_ID found in the release catalogue."""
    if not ids:
        return {}
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    path = release_dir / "catalog" / "dr1_main.parquet"
    if not path.exists():
        return {}
    dataset = ds.dataset(path, format="parquet")
    names = {n.lower(): n for n in dataset.schema.names}
    oid, ra, dec = names["coadd_object_id"], names["alphawin_j2000"], names["deltawin_j2000"]
    table = dataset.to_table(columns=[oid, ra, dec], filter=pc.field(oid).isin(list(ids)))
    return {int(i): (float(a), float(d)) for i, a, d in zip(table[oid].to_pylist(), table[ra].to_pylist(),
                                                           table[dec].to_pylist(), strict=True)}


def run_bulk(
    release_dir: Path,
    positions: Sequence[BulkPosition],
    options: BulkOptions,
    out_dir: Path,
    *,
    job_id: str,
    progress: Callable[[int, int], None] = lambda done, total: None,
    checkpoint: Callable[[], None] = lambda: None,
    threads: int = 2,
    memory_limit: int | None = None,
) -> BulkOutcome:
    """Cut every position; returns the output files (relative paths under ``out_dir``) and summary.

    ``memory_limit`` bounds the pixels held at once: each thread cuts a window of neighbouring
    targets together (one decompression of their tile rows), and the window shrinks so that
    threads x window x bands x 3 extensions of the largest cutout fit in it.
    """
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    log_lines: list[str] = []
    ids = [p.coadd_object_id for p in positions if p.coadd_object_id is not None and p.ra is None]
    found = resolve_object_ids(release_dir, [i for i in ids if i is not None])
    query_time = time.perf_counter() - started
    targets: list[_Target] = []
    names: dict[tuple[str, str], int] = {}
    unmatched: dict[str, list[object]] = {"coord": [], "coadd": []}
    for index, position in enumerate(positions):
        if position.ra is not None and position.dec is not None:
            ra, dec = position.ra, position.dec
        elif position.coadd_object_id in found:
            ra, dec = found[position.coadd_object_id]
        else:
            unmatched["coadd"].append(position.coadd_object_id)
            log_lines.append(f"COADD_OBJECT_ID {position.coadd_object_id} is not in the catalogue")
            continue
        tile = find_tile(ra, dec)
        if tile is None or find_image_file(release_dir, tile.tilename, _any_band(options)) is None:
            if position.ra is not None:
                unmatched["coord"].append([position.ra, position.dec])
            else:
                unmatched["coadd"].append(position.coadd_object_id)
            log_lines.append(f"({ra:.6f}, {dec:.6f}) is on no tile of this release")
            continue
        name = desj_name(ra, dec) if position.ra is not None else str(position.coadd_object_id)
        # A position (or object) listed twice gets its own outputs: name, name_2, name_3, ...
        seen = names[(tile.tilename, name)] = names.get((tile.tilename, name), 0) + 1
        if seen > 1:
            name = f"{name}_{seen}"
        targets.append(_Target(index, position, ra, dec, tile.tilename, name,
                               position.xsize or options.xsize, position.ysize or options.ysize,
                               apply_overrides(options, position.overrides)))
    total = len(targets)
    progress(0, total)
    if options.return_list_only:
        files = [_write_positions(out_dir, job_id, targets)]
    else:
        window = cut_window(targets, threads, memory_limit)
        files = _cut_all(release_dir, targets, options, out_dir, log_lines, progress, checkpoint, threads, window)
        files.append(_write_positions(out_dir, job_id, targets))
    log_path = out_dir / f"cutout_{job_id}.log"
    log_path.write_text("\n".join(log_lines) + ("\n" if log_lines else ""))
    files.append(log_path)
    summary = _summary(options, targets, unmatched, query_time, time.perf_counter() - started, files, out_dir)
    summary_path = out_dir / "summary.json"
    summary_path.write_text(json.dumps(summary, indent=1))
    files.append(summary_path)
    archive = None
    if not options.return_list_only:
        archive = out_dir.parent / f"{job_id}.tar.gz"
        _archive(archive, out_dir, job_id, files)
    return BulkOutcome(out_dir, tuple(files), summary, archive)


def _any_band(options: BulkOptions) -> str:
    bands = _bands_needed(options)
    return bands[0] if bands else "i"


def _bands_needed(options: BulkOptions) -> list[str]:
    bands: list[str] = list(options.colors_fits) if options.make_fits else []
    if options.make_rgb:
        for triplet in options.rgb_colors:
            bands += list(triplet)
    return list(dict.fromkeys(bands))


def cutout_bytes(target_xsize: float, target_ysize: float, bands: int) -> int:
    """Bytes the pixels of one target's cutouts take while it is cut: SCI, MSK and WGT (4 bytes a
    pixel each) per band, at the native pixel scale (the finest a release has)."""
    pixels = math.ceil(target_xsize * 60 / NATIVE_PIXSCALE + 1) * math.ceil(target_ysize * 60 / NATIVE_PIXSCALE + 1)
    return pixels * 4 * 3 * max(1, bands)


def cut_window(targets: Sequence[_Target], threads: int, memory_limit: int | None) -> int:
    """How many neighbouring targets a thread cuts together (at most 64, at least 1)."""
    if memory_limit is None or not targets:
        return _WINDOW_TARGETS
    largest = max(cutout_bytes(t.xsize, t.ysize, len(_bands_needed(t.options))) for t in targets)
    return max(1, min(_WINDOW_TARGETS, memory_limit // (max(1, threads) * largest)))


def _cut_all(release_dir: Path, targets: Sequence[_Target], options: BulkOptions, out_dir: Path,
             log_lines: list[str], progress: Callable[[int, int], None], checkpoint: Callable[[], None],
             threads: int, window: int = 64) -> list[Path]:
    by_tile: dict[str, list[_Target]] = {}
    for target in targets:
        by_tile.setdefault(target.tilename, []).append(target)
    files: list[Path] = []
    done = 0
    lock = threading.Lock()

    def tick() -> None:
        nonlocal done
        with lock:
            done += 1
            progress(done, len(targets))

    for tilename, group in by_tile.items():
        bands = list(dict.fromkeys(b for t in group for b in _bands_needed(t.options)))
        paths = {b: find_image_file(release_dir, tilename, b) for b in bands}
        missing = [b for b, p in paths.items() if p is None]
        for band in missing:
            log_lines.append(f"{tilename} has no {band}-band image; those cutouts are skipped")
        present = {b: p for b, p in paths.items() if p is not None}
        # Split by declination so each thread decompresses its own band of tile rows.
        ordered = sorted(group, key=lambda t: t.dec)
        size = -(-len(ordered) // max(1, threads))
        chunks = [ordered[i:i + size] for i in range(0, len(ordered), size)]
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            # astropy HDU objects are not safe to share across threads: each thread opens its own.
            futures = [pool.submit(_cut_group, present, chunk, options, out_dir, checkpoint, tick, window)
                       for chunk in chunks if chunk]
            for future in futures:
                written, lines = future.result()
                files += written
                log_lines += lines
        checkpoint()
    return files


def _cut_group(paths: Mapping[str, Path], group: Sequence[_Target], options: BulkOptions, out_dir: Path,
               checkpoint: Callable[[], None], tick: Callable[[], None],
               window_targets: int = 64) -> tuple[list[Path], list[str]]:
    """Cut and write the targets of one tile, a window of neighbours at a time (bounded memory)."""
    files: list[Path] = []
    lines: list[str] = []
    ordered = sorted(group, key=lambda t: t.dec)
    for start in range(0, len(ordered), window_targets):
        window = ordered[start:start + window_targets]
        written = _cut_window(paths, window, options, out_dir, checkpoint, tick, lines)
        files += written
    return files, lines


def _cut_window(paths: Mapping[str, Path], group: Sequence[_Target], options: BulkOptions, out_dir: Path,
                checkpoint: Callable[[], None], tick: Callable[[], None], lines: list[str]) -> list[Path]:
    files: list[Path] = []
    cut: dict[str, dict[int, tuple[PixelBox, list[tuple[str, np.ndarray, str]]]]] = {}
    for band, path in paths.items():
        cut[band] = _cut_band(path, group, lines, checkpoint)
    for target in sorted(group, key=lambda t: t.index):
        checkpoint()
        folder = out_dir / target.tilename / target.name
        folder.mkdir(parents=True, exist_ok=True)
        sci: dict[str, np.ndarray] = {}
        for band in paths:
            if target.index not in cut[band]:
                continue
            box, extensions = cut[band].pop(target.index)
            sci[band] = extensions[0][1]
            if box.trimmed and not target.trimmed:
                target.trimmed = True
                lines.append(f"{target.name}: cutout trimmed at the edge of {target.tilename} "
                             f"to {box.x1 - box.x0}x{box.y1 - box.y0} pixels")
            if target.options.make_fits and band in target.options.colors_fits:
                out = folder / f"{target.name}_{band}.fits"
                with out.open("wb") as handle:  # written as converted: no copy of the whole file in memory
                    write_desaccess(handle, extensions)
                files.append(out)
                target.files.append(out.name)
        if target.options.make_rgb:
            for triplet in target.options.rgb_colors:
                if all(b in sci for b in triplet):
                    out = folder / f"{target.name}_{triplet}_lupton.png"
                    out.write_bytes(_lupton_png([sci[b] for b in triplet], target.options))
                    files.append(out)
                    target.files.append(out.name)
                else:
                    lines.append(f"{target.name}: no {triplet} colour image (a band is missing)")
        tick()
    return files


# Targets cut together: neighbours in declination, so they share decompressed rows, and few
# enough that their cutouts stay small in memory (64 x 9 native 1' extensions is about 120 MB).
_WINDOW_TARGETS = 64
# Rows of one window read at once: tile-compressed images are stored in tiles of whole rows
# (fpack's default), so neighbouring cutouts share decompressed rows.
_WINDOW_ROWS = 512


def _cut_band(path: Path, group: Sequence[_Target], lines: list[str],
              checkpoint: Callable[[], None]) -> dict[int, tuple[PixelBox, list[tuple[str, np.ndarray, str]]]]:
    """The SCI/MSK/WGT cutouts of every target on one image, each needed row decompressed once."""
    geometry = image_geometry(path)
    boxes: list[tuple[_Target, PixelBox]] = []
    for target in group:
        try:
            boxes.append((target, pixel_box(geometry, SizedBox(target.ra, target.dec, target.xsize, target.ysize))))
        except NoOverlapError:
            lines.append(f"{target.name}: not on {path.name}")
    boxes.sort(key=lambda item: item[1].y0)
    names = ("SCI", "MSK", "WGT")
    out: dict[int, tuple[PixelBox, list[tuple[str, np.ndarray, str]]]] = {}
    start = 0
    while start < len(boxes):
        checkpoint()
        y0 = boxes[start][1].y0
        end = start
        while end < len(boxes) and boxes[end][1].y1 - y0 <= _WINDOW_ROWS:
            end += 1
        end = max(end, start + 1)
        window = boxes[start:end]
        y1 = max(b.y1 for _, b in window)
        x0, x1 = min(b.x0 for _, b in window), max(b.x1 for _, b in window)
        blocks = {name: read_section(path, name, y0, y1, x0, x1) for name in names}
        for target, box in window:
            extensions = [(name, blocks[name][box.y0 - y0:box.y1 - y0, box.x0 - x0:box.x1 - x0].copy(),
                           image_cutout_cards(path, name, box, target.ra, target.dec)) for name in names]
            out[target.index] = (box, extensions)
        start = end
    return out


def _lupton_png(channels: Sequence[np.ndarray], options: BulkOptions) -> bytes:
    from PIL import Image

    shape = min(c.shape[0] for c in channels), min(c.shape[1] for c in channels)
    r, g, b = (c[: shape[0], : shape[1]] for c in channels)
    rgb = lupton_rgb(r, g, b, minimum=options.rgb_minimum, stretch=options.rgb_stretch, q=options.rgb_asinh)
    # FITS row 1 is the south edge and RA grows to the left (CD1_1 < 0): flip rows for north up.
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(np.flipud(rgb))).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _write_positions(out_dir: Path, job_id: str, targets: Sequence[_Target]) -> Path:
    path = out_dir / f"positions_{job_id}.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["RA", "DEC", "COADD_OBJECT_ID", "TILENAME", "XSIZE", "YSIZE"])
        for t in targets:
            writer.writerow([f"{t.ra:.7f}", f"{t.dec:.7f}", t.position.coadd_object_id or "", t.tilename,
                             t.xsize, t.ysize])
    return path


def _summary(options: BulkOptions, targets: Sequence[_Target], unmatched: Mapping[str, list[object]],
             query_time: float, processing_time: float, files: Sequence[Path], out_dir: Path) -> dict[str, object]:
    cutouts = [{
        "RA": t.position.ra if t.position.ra is not None else t.ra,
        "DEC": t.position.dec if t.position.dec is not None else t.dec,
        "COADD_OBJECT_ID": t.position.coadd_object_id,
        "XSIZE": t.xsize, "YSIZE": t.ysize,
        "COLORS_FITS": t.options.colors_fits if t.options.make_fits else "",
        "RGB_LUPTON_COLORS": ";".join(t.options.rgb_colors) if t.options.make_rgb else "",
        "POSITION_TYPE": "coord" if t.position.ra is not None else "coadd",
        "TILENAME": t.tilename, "SEXAGECIMAL": t.name if t.position.ra is not None else desj_name(t.ra, t.dec),
        "ALPHAWIN_J2000": t.ra, "DELTAWIN_J2000": t.dec, "TRIMMED": t.trimmed,
        "FILES": list(t.files),
    } for t in targets]
    size = sum(p.stat().st_size for p in files if p.exists())
    return {
        "options": {"xsize": options.xsize, "ysize": options.ysize, "colors_fits": options.colors_fits,
                    "make_fits": options.make_fits, "make_rgb_lupton": options.make_rgb,
                    "rgb_lupton_colors": list(options.rgb_colors), "rgb_minimum": options.rgb_minimum,
                    "rgb_stretch": options.rgb_stretch, "rgb_asinh": options.rgb_asinh,
                    "return_list_only": options.return_list_only},
        "cutouts": cutouts,
        "unmatched_positions": unmatched,
        "query_time": round(query_time, 3),
        "processing_time": round(processing_time, 3),
        "size_on_disk": size,
        "number_of_files": len(files) + 1,
    }


def _archive(archive: Path, out_dir: Path, job_id: str, files: Sequence[Path]) -> None:
    # Cutouts of noisy sky barely compress: the fastest level keeps the archive step short.
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        for path in files:
            tar.add(path, arcname=f"{job_id}/{path.relative_to(out_dir)}")
