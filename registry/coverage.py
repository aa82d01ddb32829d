"""Where on the sky, in wavelength and in time the release has data: the records' ``vs:coverage``.

Measured from the release itself, once per served release: the footprint of each positional table
as a MOC at order 6 (VODataService 1.2 §3.4 asks for at least order 6, about one degree), read off
the HEALPix index column every positional table carries (``SELECT DISTINCT index >> shift``), and
the spectral and temporal extent of the images from ``ivoa.obscore`` (``em_min``/``em_max`` in
metres become particle energies in joules, ``t_min``/``t_max`` are MJD), from which the wavebands
follow. The densest order-10 cell of each table gives the cone search's test query (validators run it
and expect rows). A table whose scan fails or times out simply has no spatial coverage (logged).
Tests: tests/registry/test_coverage.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import astropy.units as u
import numpy as np
import pyarrow as pa
from cdshealpix.nested import healpix_to_lonlat

from dali.values import TableMeta

__all__ = ["MOC_ORDER", "NO_SAMPLE", "CoverageCache", "ReleaseCoverage", "measure_coverage", "moc_ascii",
           "wavebands"]

MOC_ORDER = 6
_PLANCK_C = 6.62607015e-34 * 299_792_458.0  # h c in J m: E = h c / wavelength
# The electromagnetic terms of the IVOA messenger vocabulary (http://www.ivoa.net/rdf/messenger, which
# VODataService's waveband takes), by approximate wavelength range in metres.
_BANDS = (("Gamma-ray", 0.0, 1e-11), ("X-ray", 1e-11, 1e-8), ("EUV", 1e-8, 1e-7), ("UV", 1e-7, 3.2e-7),
          ("Optical", 3.2e-7, 1e-6), ("Infrared", 1e-6, 1e-4), ("Millimeter", 1e-4, 1e-2), ("Radio", 1e-2, 1e9))
_log = logging.getLogger(__name__)
_TIMEOUT = 120.0
_SKY = 41_252.96  # square degrees
_SAMPLE_ORDER = 10  # cells of about 0.06 degrees: the densest one is full of rows
NO_SAMPLE = (0.0, 0.0, 0.1)


class RowSource(Protocol):
    """The part of ``release.backends.Backend`` the measurement uses."""

    def stream(self, sql: str, *, timeout: float) -> AsyncIterator[pa.RecordBatch]: ...


@dataclass(frozen=True, slots=True)
class ReleaseCoverage:
    """Order-6 HEALPix cells per positional table, a cone with data in each (ra, dec, sr: the centre of
    its densest order-10 cell and a radius for about a hundred rows, at most 1 degree), and the
    images' spectral (J) and temporal (MJD) extent."""

    cells: Mapping[str, frozenset[int]] = field(default_factory=dict)
    samples: Mapping[str, tuple[float, float, float]] = field(default_factory=dict)
    spectral: tuple[float, float] | None = None
    temporal: tuple[float, float] | None = None
    bands: tuple[str, ...] = ()


def moc_ascii(cells: Iterable[int], order: int = MOC_ORDER) -> str:
    """The MOC 2.0 ASCII serialisation (canonical: full sibling quartets merged, sorted, ranges
    written ``a-b``, the MOC order stated with a trailing ``order/`` when no cell is that deep)."""
    levels: dict[int, set[int]] = {order: set(cells)}
    for depth in range(order, 0, -1):
        current = levels[depth]
        parents = {c >> 2 for c in current if all((c >> 2 << 2) + k in current for k in range(4))}
        levels[depth] = {c for c in current if c >> 2 not in parents}
        levels[depth - 1] = parents
    parts = []
    for depth in range(order + 1):
        found = sorted(levels.get(depth, ()))
        if not found:
            continue
        ranges: list[str] = []
        start = prev = found[0]
        for cell in [*found[1:], None]:
            if cell is not None and cell == prev + 1:
                prev = cell
                continue
            ranges.append(str(start) if start == prev else f"{start}-{prev}")
            if cell is not None:
                start = prev = cell
        parts.append(f"{depth}/{' '.join(ranges)}")
    if not levels.get(order):
        parts.append(f"{order}/")
    return " ".join(parts)


def wavebands(spectral_m: tuple[float, float]) -> tuple[str, ...]:
    """The VOResource wavebands a wavelength interval (metres) touches."""
    lo, hi = spectral_m
    return tuple(name for name, start, end in _BANDS if lo < end and hi > start)


async def _rows(source: RowSource, sql: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    async with contextlib.aclosing(source.stream(sql, timeout=_TIMEOUT)) as batches:  # type: ignore[type-var]
        async for batch in batches:
            rows += batch.to_pylist()
    return rows


async def _cells(source: RowSource, meta: TableMeta) -> frozenset[int] | None:
    position = meta.position
    assert position is not None
    shift = 2 * max(position.index_order - MOC_ORDER, 0)
    sql = f"SELECT DISTINCT {position.index_column} >> {shift} AS cell FROM {meta.qualified}"
    try:
        rows = await _rows(source, sql)
    except Exception:  # noqa: BLE001 (coverage is optional: a record without it is still valid)
        _log.warning("no footprint for %s: the index scan failed", meta.qualified, exc_info=True)
        return None
    cells = frozenset(int(r["cell"]) for r in rows if r["cell"] is not None)
    if position.index_order < MOC_ORDER:  # deepen coarser indexes to order 6
        cells = frozenset(c << (2 * (MOC_ORDER - position.index_order)) | k
                          for c in cells for k in range(4 ** (MOC_ORDER - position.index_order)))
    return cells


async def _sample(source: RowSource, meta: TableMeta) -> tuple[float, float, float] | None:
    position = meta.position
    assert position is not None
    order = min(_SAMPLE_ORDER, position.index_order)
    sql = (f"SELECT {position.index_column} >> {2 * (position.index_order - order)} AS cell, COUNT(*) AS n "
           f"FROM {meta.qualified} GROUP BY 1 ORDER BY n DESC, cell LIMIT 1")
    try:
        rows = await _rows(source, sql)
    except Exception:  # noqa: BLE001 (as for the footprint)
        _log.warning("no test position for %s: the index scan failed", meta.qualified, exc_info=True)
        return None
    if not rows or rows[0]["cell"] is None:
        return None
    lon, lat = healpix_to_lonlat(np.array([rows[0]["cell"]], dtype=np.uint64), order)
    density = int(rows[0]["n"]) / (_SKY / (12 * 4**order))  # rows per square degree there
    radius = min(1.0, max(0.001, math.sqrt(100 / density / math.pi)))
    return (round(float(lon.to_value(u.deg)[0]), 6), round(float(lat.to_value(u.deg)[0]), 6), round(radius, 4))


async def measure_coverage(source: RowSource, metadata: Mapping[str, TableMeta]) -> ReleaseCoverage:
    """Measure the release's coverage (two scans of each positional table's index, one obscore aggregate)."""
    cells: dict[str, frozenset[int]] = {}
    samples: dict[str, tuple[float, float, float]] = {}
    for name, meta in sorted(metadata.items()):
        if meta.position is not None and meta.schema != "tap_schema":
            found = await _cells(source, meta)
            if found is not None:
                cells[name] = found
            sample = await _sample(source, meta)
            if sample is not None:
                samples[name] = sample
    spectral = temporal = None
    bands: tuple[str, ...] = ()
    if "ivoa.obscore" in metadata:
        try:
            rows = await _rows(source, "SELECT MIN(em_min) AS em_lo, MAX(em_max) AS em_hi, MIN(t_min) AS t_lo, "
                                       "MAX(t_max) AS t_hi FROM ivoa.obscore")
        except Exception:  # noqa: BLE001 (as above)
            _log.warning("no spectral or temporal coverage: the obscore aggregate failed", exc_info=True)
            rows = []
        row = rows[0] if rows else {}
        if row.get("em_lo") and row.get("em_hi"):
            lo, hi = float(row["em_lo"]), float(row["em_hi"])
            spectral = (_PLANCK_C / hi, _PLANCK_C / lo)
            bands = wavebands((lo, hi))
        if row.get("t_lo") is not None and row.get("t_hi") is not None:
            temporal = (float(row["t_lo"]), float(row["t_hi"]))
    return ReleaseCoverage(cells, samples, spectral, temporal, bands)


class CoverageCache:
    """The coverage of the release being served, measured on first use and kept for that release."""

    def __init__(self) -> None:
        self._release: object | None = None
        self._value = ReleaseCoverage()
        self._lock = asyncio.Lock()

    async def get(self, release: Any) -> ReleaseCoverage:
        """The coverage of ``release`` (an ``OpenRelease``; empty when nothing is loaded)."""
        backend = getattr(release, "backend", None)
        if backend is None or getattr(release, "engine", None) is None:
            return ReleaseCoverage()
        async with self._lock:
            if self._release is not release:
                self._value = await measure_coverage(backend, release.metadata)
                self._release = release
            return self._value
