"""MOC footprints of the ``ci`` release: they parse as MOC 2.0, contain every object, have the right area."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import astropy.units as u
import numpy as np
import pyarrow.parquet as pq
import pytest
from astropy.coordinates import Latitude, Longitude
from astropy.io import fits
from cdshealpix.nested import lonlat_to_healpix
from mocpy import MOC

from dali.errors import UsageError
from sky.moc import MOC_ORDER, SKY_DEG2, Footprint, build_footprints, cells_moc, polygons_moc, serialize
from tests.sky.conftest import duckdb_fetch


def test_every_positional_table_and_the_images_have_a_footprint(ci_footprints: dict[str, Footprint]) -> None:
    assert set(ci_footprints) == {"des_dr1.main", "des_dr1.main_sample", "des_dr1.demo_truth", "ivoa.obscore"}
    assert all(f.order == MOC_ORDER for f in ci_footprints.values())


def test_each_stored_moc_is_moc_2_fits_that_mocpy_reads(ci_moc_dir: Path,
                                                       ci_footprints: dict[str, Footprint]) -> None:
    for footprint in ci_footprints.values():
        path = ci_moc_dir / footprint.file_name
        header = fits.getheader(path, 1)
        assert (header["MOCVERS"], header["MOCDIM"], header["COORDSYS"]) == ("2.0", "SPACE", "C")
        assert header["MOCORD_S"] == MOC_ORDER
        moc = MOC.from_fits(path)
        assert moc.sky_fraction == pytest.approx(footprint.sky_fraction, rel=1e-12)
        assert footprint.cells == round(moc.sky_fraction * 12 * 4**MOC_ORDER)


def test_the_main_footprint_holds_every_object_cell(ci_release_dir: Path, ci_moc_dir: Path) -> None:
    table = pq.read_table(ci_release_dir / "catalog" / "dr1_main.parquet", columns=["ra", "dec"])
    ra = table.column("ra").to_numpy()
    dec = table.column("dec").to_numpy()
    moc = MOC.from_fits(ci_moc_dir / "des_dr1.main.fits")
    assert moc.contains_lonlat(Longitude(ra, u.deg), Latitude(dec, u.deg)).all()
    cells = np.unique(lonlat_to_healpix(Longitude(ra, u.deg), Latitude(dec, u.deg), MOC_ORDER))
    # Nothing but those cells: the MOC's area is exactly theirs.
    assert moc.sky_fraction * 12 * 4**MOC_ORDER == pytest.approx(len(cells), abs=1e-6)


def _polygon_area_deg2(corners: list[tuple[float, float]]) -> float:
    """Area of a small spherical quadrilateral (two triangles, l'Huilier's theorem)."""
    xyz = [np.array([math.cos(math.radians(d)) * math.cos(math.radians(r)),
                     math.cos(math.radians(d)) * math.sin(math.radians(r)), math.sin(math.radians(d))])
           for r, d in corners]

    def triangle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
        excess = 2 * math.atan2(abs(np.dot(a, np.cross(b, c))), 1 + np.dot(a, b) + np.dot(b, c) + np.dot(c, a))
        return math.degrees(math.degrees(excess))

    return triangle(xyz[0], xyz[1], xyz[2]) + triangle(xyz[0], xyz[2], xyz[3])


def test_the_image_footprint_area_is_the_tiles_within_a_cell_of_the_edges(
        ci_release_dir: Path, ci_footprints: dict[str, Footprint]) -> None:
    info = pq.read_table(ci_release_dir / "catalog" / "dr1_tile_info.parquet").to_pylist()
    exact = sum(_polygon_area_deg2([(row[f"rac{k}"], row[f"decc{k}"]) for k in (1, 2, 3, 4)]) for row in info)
    perimeter = sum(4 * row["dec_size"] for row in info)
    cell = math.sqrt(SKY_DEG2 / (12 * 4**MOC_ORDER))
    area = ci_footprints["ivoa.obscore"].area_deg2
    # Every cell overlapping a polygon is in: at least the polygon, at most a band of ~1.5 cells around it.
    assert exact <= area <= exact + 1.5 * perimeter * cell
    assert exact == pytest.approx(len(info) * 0.7306**2, rel=0.01)  # DES tiles are 0.7306 deg squares


def test_serialisations_read_back_to_the_same_moc() -> None:
    moc = cells_moc(np.array([5, 6, 7, 4 * 1000 + 1, 3]), 12)
    assert MOC.from_str(serialize(moc, "ascii").decode()) == moc
    import json

    assert MOC.from_json(json.loads(serialize(moc, "json"))) == moc
    assert serialize(moc, "ascii").decode().strip() == "12/3 5-7 4001"


def test_polygons_moc_of_nothing_is_empty() -> None:
    assert polygons_moc([], 8).sky_fraction == 0.0


def test_an_order_beyond_29_is_refused(sky_duckdb_path: Path, tmp_path: Path) -> None:
    fetch, con = duckdb_fetch(sky_duckdb_path)
    try:
        with pytest.raises(UsageError, match="order"):
            asyncio.run(build_footprints(fetch, tmp_path / "moc", order=30))
    finally:
        con.close()


def test_an_order_finer_than_the_index_reads_positions(sky_duckdb_path: Path, ci_release_dir: Path,
                                                      tmp_path: Path) -> None:
    fetch, con = duckdb_fetch(sky_duckdb_path)
    try:
        footprints = asyncio.run(build_footprints(fetch, tmp_path / "moc", order=15))
    finally:
        con.close()
    truth = pq.read_table(ci_release_dir / "catalog" / "demo_truth.parquet", columns=["ra", "dec"])
    cells = np.unique(lonlat_to_healpix(Longitude(truth.column("ra").to_numpy(), u.deg),
                                        Latitude(truth.column("dec").to_numpy(), u.deg), 15))
    by_name = {f.name: f for f in footprints}
    assert by_name["des_dr1.demo_truth"].cells == len(cells)
