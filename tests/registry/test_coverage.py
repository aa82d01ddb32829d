"""Release coverage: the canonical MOC text, wavebands, and the footprint measured from the index."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import astropy.units as u
import numpy as np
import pyarrow as pa
import pytest
from cdshealpix.nested import lonlat_to_healpix

from dali.values import TableMeta
from registry.coverage import MOC_ORDER, measure_coverage, moc_ascii, wavebands
from release.backends import open_backend
from release.metadata import load_metadata
from tests.registry.conftest import sky_points


@pytest.mark.parametrize(("cells", "order", "text"), [
    ([], 6, "6/"),
    ([4, 5, 6, 7], 6, "5/1 6/"),
    ([4, 5, 6, 7, 9, 10, 11, 20], 6, "5/1 6/9-11 20"),
    (range(48), 2, "0/0-2 2/"),
    ([*range(16), 17], 2, "0/0 2/17"),
    ([3, 1, 2], 1, "1/1-3"),
])
def test_moc_text_is_canonical(cells: list[int], order: int, text: str) -> None:
    assert moc_ascii(cells, order) == text


def test_wavebands_from_wavelengths() -> None:
    assert wavebands((4.0e-7, 1.065e-6)) == ("Optical", "Infrared")
    assert wavebands((4.0e-7, 9.0e-7)) == ("Optical",)
    assert wavebands((1e-3, 2e-3)) == ("Millimeter",)


def test_footprint_is_the_order_6_cells_of_the_points(sky_duckdb: Path) -> None:
    backend = open_backend("", sky_duckdb, base_url="http://x", readonly_role="")

    async def measure():  # type: ignore[no-untyped-def]
        try:
            return await measure_coverage(backend, await load_metadata(backend))
        finally:
            await backend.close()

    coverage = asyncio.run(measure())
    points = sky_points()
    expected = lonlat_to_healpix(points["ra"].to_numpy() * u.deg, points["dec"].to_numpy() * u.deg, MOC_ORDER)
    assert coverage.cells["sky.points"] == frozenset(int(c) for c in np.unique(expected))
    assert coverage.spectral is None and coverage.bands == ()


class _Obscore:
    """A backend answering the obscore aggregate only (DES g..Y, one night)."""

    async def _rows(self, sql: str) -> AsyncIterator[pa.RecordBatch]:
        assert "ivoa.obscore" in sql
        yield pa.record_batch({"em_lo": [4.0e-7], "em_hi": [1.065e-6], "t_lo": [57000.0], "t_hi": [57001.5]})

    def stream(self, sql: str, *, timeout: float) -> AsyncIterator[pa.RecordBatch]:
        return self._rows(sql)


def test_spectral_and_temporal_from_obscore() -> None:
    metadata = {"ivoa.obscore": TableMeta("ivoa", "obscore", ())}
    coverage = asyncio.run(measure_coverage(_Obscore(), metadata))
    assert coverage.temporal == (57000.0, 57001.5)
    assert coverage.spectral is not None
    low, high = coverage.spectral
    assert low == pytest.approx(1.865e-19, rel=1e-3) and high == pytest.approx(4.966e-19, rel=1e-3)
    assert coverage.bands == ("Optical", "Infrared")
