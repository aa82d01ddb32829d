"""The DES tiling against the DES tile list's numbers (demo patch, M2 corners, grid indices)."""

from __future__ import annotations

import numpy as np
import pytest

from release.tiling import find_tile, tile_at, tile_by_name, tilename_for

# TILENAME, RA_CENT, DEC_CENT, URAMIN, URAMAX, UDECMIN, UDECMAX, CROSSRA0 (DES tile list rows of the demo patch)
PATCH = [
    ("DES2131+0001", 322.830558, 0.016667, 322.473613, 323.187502, -0.340278, 0.373611, False),
    ("DES2134+0001", 323.544446, 0.016667, 323.187502, 323.901391, -0.340278, 0.373611, False),
    ("DES2137+0001", 324.258335, 0.016667, 323.901391, 324.615280, -0.340278, 0.373611, False),
    ("DES2131-0041", 322.834097, -0.697222, 322.477126, 323.191068, -1.054167, -0.340278, False),
    ("DES2134-0041", 323.548039, -0.697222, 323.191068, 323.905010, -1.054167, -0.340278, False),
    ("DES2137-0041", 324.261981, -0.697222, 323.905010, 324.618952, -1.054167, -0.340278, False),
    ("DES2131-0124", 322.845065, -1.411111, 322.488013, 323.202118, -1.768056, -1.054167, False),
    ("DES2134-0124", 323.559171, -1.411111, 323.202118, 323.916224, -1.768056, -1.054167, False),
    ("DES2137-0124", 324.273276, -1.411111, 323.916224, 324.630329, -1.768056, -1.054167, False),
    ("DES2359-0041", 359.959068, -0.697222, 0.316039, 359.602097, -1.054167, -0.340278, True),
]


@pytest.mark.parametrize(("name", "ra", "dec", "uramin", "uramax", "udecmin", "udecmax", "cross"), PATCH)
def test_patch_tiles(
    name: str, ra: float, dec: float, uramin: float, uramax: float, udecmin: float, udecmax: float, cross: bool
) -> None:
    tile = tile_by_name(name)
    got = (tile.ra_cent, tile.dec_cent, tile.uramin, tile.uramax, tile.udecmin, tile.udecmax)
    assert got == pytest.approx((ra, dec, uramin, uramax, udecmin, udecmax), abs=1.5e-6)
    assert tile.crossra0 is cross
    assert tile.tilename == name
    assert tilename_for(tile.ra_cent, tile.dec_cent) == name


@pytest.mark.parametrize(("name", "grid_index"), [("DES2134-0041", 20783), ("DES0453-4457", 49081)])
def test_grid_index(name: str, grid_index: int) -> None:
    assert tile_by_name(name).grid_index == grid_index
    assert tile_at(grid_index).tilename == name


def test_des0453_centre() -> None:
    tile = tile_by_name("DES0453-4457")
    assert (tile.ra_cent, tile.dec_cent) == pytest.approx((73.390699, -44.958333), abs=1e-6)


def test_m2_corners() -> None:
    geo = tile_by_name("DES2134-0041").geometry()
    assert geo.rac == pytest.approx((323.91333, 323.18275, 323.18280, 323.91327), abs=6e-6)
    assert geo.decc == pytest.approx((-1.06244, -1.06244, -0.33198, -0.33198), abs=6e-6)
    assert geo.rac[0] > geo.rac[1]  # RA grows leftwards
    assert (geo.naxis, geo.crpix) == (10000, 5000.5)
    assert geo.dec_size == pytest.approx(0.7305, abs=2e-4)


def test_binned_geometry_keeps_the_sky_area() -> None:
    tile = tile_by_name("DES2134-0041")
    native, binned = tile.geometry(), tile.geometry(1.052)
    assert (binned.naxis, binned.crpix) == (2500, 1250.5)
    assert binned.cd == pytest.approx(4 * native.cd)
    # Corner pixel centres move inwards by 1.5 native pixels at most.
    assert np.allclose(binned.decc, native.decc, atol=2 * 7.31e-5)


@pytest.mark.parametrize(
    ("ra", "dec", "name"),
    [
        (323.36, -0.82, "DES2134-0041"),  # M2
        (323.905010, -0.70, "DES2137-0041"),  # URAMAX of DES2134-0041 belongs to the next tile
        (323.1911, -0.70, "DES2134-0041"),
        (359.9, -0.7, "DES2359-0041"),
        (0.1, -0.7, "DES2359-0041"),
        (360.1, -0.7, "DES2359-0041"),
        (322.95, 0.10, "DES2131+0001"),
        (73.39, -44.95, "DES0453-4457"),
        (323.5, -0.340278, "DES2134-0041"),
    ],
)
def test_find_tile(ra: float, dec: float, name: str) -> None:
    tile = find_tile(ra, dec)
    assert tile is not None and tile.tilename == name


def test_find_tile_on_exact_boundaries() -> None:
    left = tile_by_name("DES2134-0041")
    right = tile_by_name("DES2137-0041")
    assert left.uramax == right.uramin  # adjacent unique areas meet exactly
    found = find_tile(left.uramin, -0.7)
    assert found is not None and found.tilename == "DES2134-0041"
    found = find_tile(left.uramax, -0.7)
    assert found is not None and found.tilename == "DES2137-0041"
    below = find_tile(323.5, left.udecmin)
    assert below is not None and below.tilename == "DES2134-0041"
    assert find_tile(10.0, 31.0) is None


def test_every_random_point_has_exactly_one_tile() -> None:
    rng = np.random.default_rng(7)
    ra = rng.uniform(-2.0, 2.0, 2000) % 360.0
    dec = rng.uniform(-1.0, -0.4, 2000)
    for r, d in zip(ra, dec, strict=True):
        tile = find_tile(float(r), float(d))
        assert tile is not None and bool(tile.contains(r, d))
        neighbours = [tile_at(tile.grid_index + k) for k in (-1, 1)]
        assert not any(bool(n.contains(r, d)) for n in neighbours)
