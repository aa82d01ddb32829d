"""Rendering and writing of demo tile images (release.demo.images) on a handful of objects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from release.demo.catalog import TileCatalog, build_tile
from release.demo.images import SIGMA_NATIVE, detection_image, dither_seed, render_band, write_mef
from release.tiling import tile_by_name


@pytest.fixture(scope="module")
def stripe_tile() -> TileCatalog:
    return build_tile(tile_by_name("DES2134-0124"))


def _noiseless(cat: TileCatalog, band: str, pixscale: float) -> np.ndarray:
    """The rendered image minus the seeded noise of the same band (the noise does not depend on objects)."""
    empty = cat.subset(np.zeros(len(cat), dtype=bool))
    return render_band(cat, band, pixscale).sci.astype(np.float64) - render_band(empty, band, pixscale).sci


@pytest.mark.parametrize("kind", [0, 1, 4])
def test_objects_keep_flux_and_position(stripe_tile: TileCatalog, kind: int) -> None:
    cat = stripe_tile
    mag_i = cat.columns["mag_auto_i"]
    pick = np.nonzero((cat.kind == kind) & (mag_i > 18.5) & (mag_i < 19.5) & (cat.r_e < 2.0))[0][:3]
    one = cat.subset(np.isin(np.arange(len(cat)), pick))
    image = _noiseless(one, "i", 1.052)
    wcs = one.tile.wcs(1.052)
    xs, ys = wcs.all_world2pix(one.columns["alphawin_j2000"], one.columns["deltawin_j2000"], 0)
    for x, y, flux in zip(xs, ys, one.flux_true[:, 2], strict=True):
        iy, ix = round(y), round(x)
        box = image[iy - 25:iy + 26, ix - 25:ix + 26]
        assert box.sum() == pytest.approx(flux, rel=0.02)  # unsaturated: all flux inside the stamp
        yy, xx = np.mgrid[-25:26, -25:26]
        cy = (box * yy).sum() / box.sum() + iy
        cx = (box * xx).sum() / box.sum() + ix
        assert abs(cx - x) < 0.25 and abs(cy - y) < 0.25


def test_noise_weight_and_stripe(stripe_tile: TileCatalog) -> None:
    image = render_band(stripe_tile.subset(np.zeros(len(stripe_tile), dtype=bool)), "y", 1.052)
    sigma = SIGMA_NATIVE[4] * 4
    good = image.msk == 0
    assert image.sci[good].std() == pytest.approx(sigma, rel=0.01)
    assert np.all(image.wgt[good] == np.float32(1 / sigma**2))
    stripe = np.nonzero(image.msk.all(axis=0))[0]
    assert stripe.size == 50  # 200 native pixels
    assert np.all(image.sci[:, stripe] == 0) and np.all(image.wgt[:, stripe] == 0)
    other = render_band(stripe_tile.subset(np.zeros(len(stripe_tile), dtype=bool)), "z", 1.052)
    assert other.msk.sum() == 0


def test_detection_image_is_inverse_variance_mean(stripe_tile: TileCatalog) -> None:
    empty = stripe_tile.subset(np.zeros(len(stripe_tile), dtype=bool))
    bands = [render_band(empty, b, 1.052) for b in ("r", "i", "z")]
    det = detection_image(bands)
    weights = [1 / (SIGMA_NATIVE[k] * 4) ** 2 for k in (1, 2, 3)]
    assert det.wgt[0, 0] == pytest.approx(sum(weights), rel=1e-6)
    expected = sum(w * b.sci[0, 0] for w, b in zip(weights, bands, strict=True)) / sum(weights)
    assert det.sci[0, 0] == pytest.approx(expected, rel=1e-5)


def test_saturated_cores_are_masked() -> None:
    cat = build_tile(tile_by_name("DES2137-0041"))
    star = cat.subset(np.isin(np.arange(len(cat)), np.nonzero(cat.note == "r = 9 star with bleed trail and halo")[0]))
    image = render_band(star, "r", 1.052)
    assert image.msk.sum() > 100  # core and bleed trail
    assert image.sci.max() == pytest.approx(image.saturate)
    column = np.nonzero(image.msk.sum(axis=0) == image.msk.sum(axis=0).max())[0]
    assert image.msk[:, column].sum() > 2 * 60  # a trail longer than a minute of arc


def test_write_mef_is_reproducible(tmp_path: Path, stripe_tile: TileCatalog) -> None:
    empty = stripe_tile.subset(np.zeros(len(stripe_tile), dtype=bool))
    image = render_band(empty, "g", 4.208)
    a, b = tmp_path / "a.fits.fz", tmp_path / "b.fits.fz"
    write_mef(a, stripe_tile.tile, image, 4.208)
    write_mef(b, stripe_tile.tile, image, 4.208)
    assert a.read_bytes() == b.read_bytes()
    with fits.open(a, disable_image_compression=True) as raw:
        assert raw[1].header["ZDITHER0"] == dither_seed("DES2134-0124", "g")
        # A constant WGT cannot be quantised and falls back to gzip, whose header must carry no time.
        gz = bytes(raw["WGT"].data["GZIP_COMPRESSED_DATA"][0])
        assert gz[:2] == b"\x1f\x8b" and gz[4:8] == b"\x00\x00\x00\x00"
    assert 1 <= dither_seed("DES2134-0124", "g") <= 10000
    assert dither_seed("DES2134-0124", "g") != dither_seed("DES2134-0124", "r")
