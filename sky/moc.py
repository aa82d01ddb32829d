"""MOC 2.0 footprints of a release: one per positional table and one for the image collection.

A table's footprint is the set of HEALPix cells (NESTED, ICRS) at ``order`` holding at least one of
its rows. It is read from the table's HEALPix index column (ingest stores order 14, so the cells at
any order up to 14 are the index shifted right, a ``DISTINCT`` the database does); finer orders read
the positions themselves. The image collection's footprint is the union of the exact tile polygons
of ``ivoa.obscore`` (``s_region``) at ``order``, every cell that overlaps a polygon included
(``mocpy.MOC.from_polygons``, which runs cdshealpix's polygon search). Serialisations are MOC 2.0
(IVOA REC 2022-07-27): FITS (``MOCVERS = '2.0'``, ``MOCDIM = 'SPACE'``), JSON and ASCII.

Reads the release through a ``fetch(sql) -> Arrow table`` callable (ingest's store); writes files
under one folder, replaced whole. No HTTP. Tests: tests/sky/test_moc.py.
"""

from __future__ import annotations

import io
import json
import math
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from mocpy import MOC

from dali.errors import UsageError
from dali.values import TableMeta
from release.metadata import Fetch, read_catalog
from release.sqlnames import quote_ident

__all__ = [
    "FORMATS",
    "IMAGE_TABLE",
    "MAX_ORDER",
    "MOC_ORDER",
    "SKY_DEG2",
    "Footprint",
    "build_footprints",
    "cells_moc",
    "polygons_moc",
    "read_footprints",
    "serialize",
]

MOC_ORDER = 12  # cells of 51.5 arcsec: finer than a DES tile (0.73 deg) by a factor of 50
MAX_ORDER = 29  # the deepest order of a MOC 2.0 space coverage
IMAGE_TABLE = "ivoa.obscore"
SKY_DEG2 = 4.0 * math.pi * (180.0 / math.pi) ** 2
# ?format= value -> media type (MOC 2.0 §4: FITS is the reference serialisation).
FORMATS = {"fits": "application/fits", "json": "application/json", "ascii": "text/plain; charset=utf-8"}
_INDEX = "index.json"


@dataclass(frozen=True, slots=True)
class Footprint:
    """One stored footprint: the table it covers, its order and the fraction of the sky it covers."""

    name: str
    description: str
    order: int
    sky_fraction: float
    cells: int

    @property
    def area_deg2(self) -> float:
        return self.sky_fraction * SKY_DEG2

    @property
    def file_name(self) -> str:
        return f"{self.name}.fits"


def cells_moc(cells: np.ndarray, order: int) -> MOC:
    """The MOC of HEALPix NESTED ``cells`` at ``order`` (duplicates allowed)."""
    ipix = np.unique(np.asarray(cells, dtype=np.uint64))
    return MOC.from_healpix_cells(ipix, np.full(len(ipix), order, dtype=np.uint8), order)


def polygons_moc(polygons: Sequence[Sequence[tuple[float, float]]], order: int) -> MOC:
    """The union of spherical polygons (vertices (ra, dec) in degrees, ICRS) at ``order``."""
    if not polygons:
        return MOC.new_empty(order)
    flat: list[np.ndarray] = []
    for polygon in polygons:
        flat += [np.array([p[0] for p in polygon]), np.array([p[1] for p in polygon])]
    mocs = MOC.from_polygons(flat, max_depth=order, n_threads=1)
    return MOC.new_empty(order).union(*mocs) if len(mocs) > 1 else mocs[0]


async def build_footprints(fetch: Fetch, out_dir: Path, *, order: int = MOC_ORDER) -> list[Footprint]:
    """Build the footprint of every positional table and of the image collection into ``out_dir``.

    Parameters
    ----------
    fetch
        Runs SQL on the release database (``Store.fetch`` of ``release.stores``).
    out_dir
        Where ``{name}.fits`` and ``index.json`` go; an earlier content is replaced whole.
    order
        HEALPix order of the cells (0 ... 29).

    Returns
    -------
    list[Footprint]
        What was written, in name order.

    Raises
    ------
    UsageError
        When ``order`` is out of range.
    """
    if not 0 <= order <= MAX_ORDER:
        raise UsageError("MOC order out of range", param="order", hint=f"0 ... {MAX_ORDER}")
    catalog = await read_catalog(fetch)
    built: list[tuple[Footprint, MOC]] = []
    for name, meta in sorted(catalog.tables.items()):
        if meta.position is None:
            continue
        moc = cells_moc(await _table_cells(fetch, meta, order), order)
        built.append((_footprint(name, f"rows of {name}", order, moc), moc))
    if IMAGE_TABLE in catalog.tables:
        moc = polygons_moc(await _image_polygons(fetch), order)
        built.append((_footprint(IMAGE_TABLE, "image collection: the exact tile polygons of ivoa.obscore",
                                 order, moc), moc))
    _write(out_dir, built)
    return sorted((f for f, _ in built), key=lambda f: f.name)


def read_footprints(moc_dir: Path) -> dict[str, Footprint]:
    """The stored footprints by name; empty when none were built (or the index is unreadable)."""
    try:
        rows = json.loads((moc_dir / _INDEX).read_text())
        return {row["name"]: Footprint(**row) for row in rows}
    except (OSError, ValueError, TypeError, KeyError):
        return {}


def serialize(moc: MOC, fmt: str) -> bytes:
    """``moc`` in one of ``FORMATS`` (MOC 2.0)."""
    if fmt == "fits":
        buffer = io.BytesIO()
        moc.serialize("fits").writeto(buffer)
        return buffer.getvalue()
    text: str = moc.to_string(fmt)
    return (text + "\n").encode()


def _footprint(name: str, description: str, order: int, moc: MOC) -> Footprint:
    return Footprint(name=name, description=description, order=order, sky_fraction=float(moc.sky_fraction),
                     cells=_count_cells(moc, order))


def _count_cells(moc: MOC, order: int) -> int:
    """How many cells of ``order`` the MOC covers (its area in cells of that order)."""
    cells: float = float(moc.sky_fraction) * 12.0 * 4.0**order
    return round(cells)


async def _table_cells(fetch: Fetch, meta: TableMeta, order: int) -> np.ndarray:
    position = meta.position
    assert position is not None
    table = f"{quote_ident(meta.schema)}.{quote_ident(meta.name)}"
    if order <= position.index_order:
        column = quote_ident(position.index_column)
        shift = 2 * (position.index_order - order)
        rows = await fetch(f"SELECT DISTINCT {column} >> {shift} AS cell FROM {table} "
                           f"WHERE {column} IS NOT NULL")
        return np.asarray(rows.column("cell").to_numpy(zero_copy_only=False), dtype=np.uint64)
    ra, dec = quote_ident(position.ra), quote_ident(position.dec)
    rows = await fetch(f"SELECT {ra} AS ra, {dec} AS dec FROM {table} "
                       f"WHERE {ra} IS NOT NULL AND {dec} IS NOT NULL AND {dec} BETWEEN -90 AND 90")
    return _lonlat_cells(rows.column("ra").to_numpy(zero_copy_only=False),
                         rows.column("dec").to_numpy(zero_copy_only=False), order)


def _lonlat_cells(ra: np.ndarray, dec: np.ndarray, order: int) -> np.ndarray:
    import astropy.units as u
    from astropy.coordinates import Latitude, Longitude
    from cdshealpix.nested import lonlat_to_healpix

    lon = Longitude(np.asarray(ra, dtype=np.float64), u.deg)
    lat = Latitude(np.asarray(dec, dtype=np.float64), u.deg)
    return np.asarray(lonlat_to_healpix(lon, lat, order), dtype=np.uint64)


async def _image_polygons(fetch: Fetch) -> list[tuple[tuple[float, float], ...]]:
    """The distinct ``s_region`` polygons of the image collection (one per tile, not per band)."""
    rows = await fetch(f"SELECT s_region FROM {IMAGE_TABLE} WHERE s_region IS NOT NULL")
    polygons: dict[tuple[tuple[float, float], ...], None] = {}
    for region in rows.column("s_region").to_pylist():
        values = [float(v) for v in region]
        if len(values) >= 6 and len(values) % 2 == 0:
            polygons[tuple(zip(values[0::2], values[1::2], strict=True))] = None
    return list(polygons)


def _write(out_dir: Path, built: list[tuple[Footprint, MOC]]) -> None:
    """Write into a fresh sibling folder, then swap it in, so readers never see half a set."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    fresh = out_dir.with_name(out_dir.name + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir()
    for footprint, moc in built:
        (fresh / footprint.file_name).write_bytes(serialize(moc, "fits"))
    rows = [asdict(f) for f, _ in sorted(built, key=lambda item: item[0].name)]
    (fresh / _INDEX).write_text(json.dumps(rows, indent=2) + "\n")
    old = out_dir.with_name(out_dir.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if out_dir.exists():
        out_dir.rename(old)
    fresh.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)
