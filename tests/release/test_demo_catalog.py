"""The demo catalogue model of one tile (release.demo.catalog, schema, sample), without files."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from cdshealpix.nested import lonlat_to_healpix

from release.demo.catalog import FEATURES, TileCatalog, build_tile, round_inside, seed_sequence
from release.demo.sample import main_sample_mask, splitmix64
from release.demo.schema import DR1_MAIN, TILE_INFO
from release.tiling import tile_by_name


@pytest.fixture(scope="module")
def patch() -> dict[str, TileCatalog]:
    names = ["DES2131+0001", "DES2131-0041", "DES2134-0041", "DES2137-0041", "DES2131-0124", "DES2134-0124",
             "DES2359-0041"]
    return {name: build_tile(tile_by_name(name)) for name in names}


def test_schema_sizes() -> None:
    assert len(TILE_INFO) == 46
    names = [c.name for c in DR1_MAIN]
    assert len(names) == len(set(names)) == 58
    assert all(n == n.lower() for n in names)
    assert names[:4] == ["coadd_object_id", "tilename", "ra", "dec"]


def test_splitmix64_reference_value() -> None:
    # First output of SplittableRandom/splitmix64 seeded with 0 (Vigna's reference implementation).
    assert int(splitmix64(np.array([0]))[0]) == 0xE220A8397B1DCDAF
    ids = 1_000_000_000 + 20783 * 100_000 + np.arange(1, 200_001, dtype=np.int64)
    fraction = main_sample_mask(ids).mean()
    assert 0.009 < fraction < 0.011


def test_seed_streams_differ() -> None:
    a = seed_sequence(1, "DES2134-0041").generate_state(2)
    b = seed_sequence(2, "DES2134-0041").generate_state(2)
    c = seed_sequence(1, "DES2359-0041").generate_state(2)
    assert not np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.array_equal(a, seed_sequence(1, "DES2134-0041").generate_state(2))


def test_tile_invariants(patch: dict[str, TileCatalog]) -> None:
    for name, cat in patch.items():
        cols = cat.columns
        tile = tile_by_name(name)
        assert np.all(cols["hpix_1024"] == cols["hpix_16384"] >> 8)
        assert np.all(cols["hpix_32"] == cols["hpix_16384"] >> 18)
        ra, dec = cols["alphawin_j2000"][:500] * u.deg, cols["deltawin_j2000"][:500] * u.deg
        assert np.array_equal(cols["hpix_1024"][:500], lonlat_to_healpix(ra, dec, 10).astype(np.int64))
        ids = cols["coadd_object_id"]
        assert ids.dtype == np.int64 and ids.min() > 2**31 - 1
        assert np.array_equal(ids - ids[0], np.arange(ids.size))
        assert ids[0] == 1_000_000_000 + tile.grid_index * 100_000 + 1
        assert tile.contains(cols["alphawin_j2000"], cols["deltawin_j2000"]).all()
        assert tile.contains(cols["ra"], cols["dec"]).all()
        assert np.abs(cols["ra"] - np.round(cols["ra"], 6)).max() < 1e-9
        for spec in DR1_MAIN:
            if spec.name != "tilename":
                assert cols[spec.name].dtype == spec.type.to_pandas_dtype(), spec.name
        order = np.lexsort((cols["alphawin_j2000"], cols["hpix_16384"]))
        assert np.array_equal(order, np.arange(order.size))  # NUMBER runs by HPIX_16384, then ALPHAWIN


def test_density_and_mix(patch: dict[str, TileCatalog]) -> None:
    cat = patch["DES2359-0041"]
    assert 37_000 < len(cat) < 40_000
    cols = cat.columns
    stars = cat.kind == 0
    assert 0.22 < stars.mean() < 0.28
    for band, depth in zip("grizy", (23.52, 23.10, 22.51, 21.81, 20.61), strict=True):
        near = np.abs(cols[f"magerr_auto_{band}"] - 0.1086) < 0.01
        assert np.median(cols[f"mag_auto_{band}"][near]) == pytest.approx(depth, abs=0.05)
    assert cols["ebv_sfd98"].min() > 0.04 and cols["ebv_sfd98"].max() < 0.07
    flags = cols["flags_i"] & 3
    assert 0.75 < (flags == 0).mean() < 0.85
    ext = cols["extended_class_coadd"]
    assert set(np.unique(ext)) <= {0, 1, 2, 3}
    bright_stars = stars & (cols["mag_auto_i"] < 20)
    assert (ext[bright_stars] <= 1).mean() > 0.9


def test_profile_subset_keeps_the_same_rows(patch: dict[str, TileCatalog]) -> None:
    full = patch["DES2134-0041"]
    ci = full.keep(0.25)
    assert 0.24 < len(ci) / len(full) < 0.26  # field and M2 stars alike
    assert np.isin(ci.columns["coadd_object_id"], full.columns["coadd_object_id"]).all()


@pytest.mark.parametrize(
    ("feature_id", "tilename", "at_least"),
    [(1, "DES2134-0041", 4000), (2, "DES2131+0001", 140), (3, "DES2137-0041", 13), (4, "DES2134-0124", 100),
     (5, "DES2134-0124", 3), (6, "DES2131-0124", 6), (9, "DES2137-0041", 1), (10, "DES2359-0041", 2)],
)
def test_planted_features(patch: dict[str, TileCatalog], feature_id: int, tilename: str, at_least: int) -> None:
    cat = patch[tilename]
    rows = cat.feature_id == feature_id
    assert rows.sum() >= at_least, FEATURES[feature_id]


def test_feature_details(patch: dict[str, TileCatalog]) -> None:
    right = patch["DES2137-0041"]
    uramax = tile_by_name("DES2134-0041").uramax
    at_edge = right.feature_id == 9
    assert right.columns["alphawin_j2000"][at_edge][0] == uramax
    assert right.columns["ra"][at_edge][0] >= uramax
    stripe = patch["DES2134-0124"]
    y_rows = stripe.feature_id == 4
    assert (stripe.columns["mag_auto_y"][y_rows] == 99).all()
    assert (stripe.columns["imaflags_iso_y"][y_rows] == 1).all()
    m2 = patch["DES2134-0041"]
    members = m2.feature_id == 1
    assert (m2.columns["flags_g"][members] & 4).any()  # saturated giants
    ra0 = patch["DES2359-0041"].columns["alphawin_j2000"][patch["DES2359-0041"].feature_id == 10]
    assert sorted(np.round(ra0, 1)) == [0.1, 359.9]
    drops = [c.columns["mag_auto_g"][c.feature_id == 7] for c in patch.values()]
    assert sum((d == 99).sum() for d in drops) >= 3


def test_round_inside_keeps_objects_in_their_tile() -> None:
    tile = tile_by_name("DES2137-0041")
    ra = np.array([tile.uramin, tile.uramin + 3e-7, tile.uramax - 3e-7])
    dec = np.array([-0.7, -0.7, tile.udecmax - 2e-7])
    r, d = round_inside(tile, ra, dec)
    assert tile.contains(r, d).all()
    assert np.allclose(r, ra, atol=1e-6) and np.allclose(d, dec, atol=1e-6)
    cross = tile_by_name("DES2359-0041")
    r, d = round_inside(cross, np.array([359.9999998]), np.array([-0.7]))
    assert r[0] == 0.0 and cross.contains(r, d).all()


def test_large_profile_tiles() -> None:
    from release.demo.generate import PROFILES, profile_tiles

    names = profile_tiles(PROFILES["large"])
    tiles = [tile_by_name(n) for n in names]
    assert len(set(names)) == 256 and "DES0453-4457" in names
    ra = [t.ra_cent for t in tiles]
    dec = [t.dec_cent for t in tiles]
    assert (min(ra), max(ra), min(dec), max(dec)) == pytest.approx((64.8, 81.7, -50.7, -40.0), abs=0.05)
    assert len({t.row for t in tiles}) == 16


def test_q3_gives_an_m2_colour_magnitude_diagram(patch: dict[str, TileCatalog]) -> None:
    """The ``m2stars`` example (stars around M2 with clean flags) reaches below the turn-off at g ≈ 19.6."""
    c = patch["DES2134-0041"].columns
    sel = ((np.abs(c["ra"] - 323.36) <= 0.12) & (np.abs(c["dec"] + 0.82) <= 0.12)
           & (c["wavg_spread_model_i"] + 3.0 * c["wavg_spreaderr_model_i"] < 0.005)
           & (c["wavg_spread_model_i"] > -1) & (c["imaflags_iso_g"] == 0) & (c["imaflags_iso_r"] == 0)
           & (c["flags_g"] < 4) & (c["flags_r"] < 4))
    g, gr = c["mag_auto_g"][sel], c["mag_auto_g"][sel] - c["mag_auto_r"][sel]
    assert sel.sum() > 1500
    turnoff = (g > 19.4) & (g < 20.4)
    assert turnoff.sum() > 300
    assert np.median(gr[turnoff]) == pytest.approx(0.40, abs=0.15)
    assert ((g > 20.5) & (g < 21.5)).sum() > 200  # main sequence below the turn-off
