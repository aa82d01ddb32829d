"""HiPS surveys of a small release: layout, properties, Allsky, colour, and fidelity to the coadds."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from mocpy import MOC
from PIL import Image

from dali.errors import UsageError
from sky.hips import ALLSKY_ORDER, TILE_WIDTH, build_hips, hips_order_for, tile_path
from sky.hipsmeta import hipslist, read_properties
from tests.sky.conftest import SMALL_TILE

SURVEYS = ("des_dr1_g", "des_dr1_r", "des_dr1_i", "des_dr1_colour_irg")
# HiPS 1.0 §4.4.1: the keywords a properties file must (or, for Aladin's discovery, should) carry.
REQUIRED = ("creator_did", "obs_title", "dataproduct_type", "hips_version", "hips_release_date", "hips_status",
            "hips_tile_format", "hips_order", "hips_tile_width", "hips_frame", "hips_initial_ra",
            "hips_initial_dec", "hips_initial_fov", "moc_sky_fraction", "hips_order_min", "em_min", "em_max")


def test_the_order_is_the_first_no_coarser_than_the_coadd_pixels() -> None:
    assert hips_order_for(1.052) == 9  # 0.805 arcsec HiPS pixels; order 8 would be 1.61
    assert hips_order_for(0.263) == 11
    assert hips_order_for(1000.0) == 0


def test_every_survey_has_properties_moc_and_allsky(small_hips: Path) -> None:
    assert sorted(p.name for p in small_hips.iterdir() if not p.name.startswith(".")) == sorted(SURVEYS)
    for name in SURVEYS:
        props = read_properties(small_hips / name / "properties")
        assert all(props.get(key) for key in REQUIRED), [k for k in REQUIRED if not props.get(k)]
        assert props["hips_order"] == "9" and props["hips_frame"] == "equatorial"
        assert props["creator_did"].startswith("ivo://skygate/P/des_dr1/")
        moc = MOC.from_fits(small_hips / name / "Moc.fits")
        assert float(props["moc_sky_fraction"]) == pytest.approx(moc.sky_fraction, rel=1e-6)
        formats = props["hips_tile_format"].split()
        for fmt in formats:
            assert (small_hips / name / f"Norder{ALLSKY_ORDER}" / f"Allsky.{fmt}").is_file()
    assert read_properties(small_hips / "des_dr1_r" / "properties")["hips_tile_format"] == "fits png"
    assert read_properties(small_hips / "des_dr1_colour_irg" / "properties")["hips_tile_format"] == "png"


def test_every_tile_opens_and_each_order_down_to_3_exists(small_hips: Path) -> None:
    for name in SURVEYS:
        for order in range(ALLSKY_ORDER, 10):
            assert list((small_hips / name).glob(f"Norder{order}/Dir*/Npix*.png")), (name, order)
    for path in small_hips.glob("des_dr1_*/Norder*/Dir*/Npix*.fits"):
        with fits.open(path) as hdul:
            assert hdul[0].data.shape == (TILE_WIDTH, TILE_WIDTH)
            assert np.isfinite(hdul[0].data).any(), path
            assert WCS(hdul[0].header).has_celestial
    for path in small_hips.glob("des_dr1_*/Norder*/Dir*/Npix*.png"):
        with Image.open(path) as image:
            assert image.size == (TILE_WIDTH, TILE_WIDTH) and image.mode in ("LA", "RGBA")


def test_the_png_tile_is_the_fits_tile_flipped_and_transparent_outside(small_hips: Path) -> None:
    fits_path = next((small_hips / "des_dr1_r").glob("Norder9/Dir*/Npix*.fits"))
    data = fits.getdata(fits_path)
    alpha = np.asarray(Image.open(fits_path.with_suffix(".png")))[..., 1]
    assert np.array_equal(alpha == 255, np.flipud(np.isfinite(data)))


def test_colour_tiles_are_lit_over_the_footprint_and_transparent_outside(small_hips: Path) -> None:
    lit = 0
    for path in (small_hips / "des_dr1_colour_irg").glob("Norder9/Dir*/Npix*.png"):
        rgba = np.asarray(Image.open(path))
        inside = rgba[..., 3] == 255
        assert (rgba[..., 3][~inside] == 0).all()
        red = fits.getdata(tile_path(small_hips / "des_dr1_i", 9, int(path.stem[4:]), "fits"))
        assert np.array_equal(inside, np.flipud(np.isfinite(red)))
        if inside.any():
            lit += 1
            # Not blank: the half of the sky noise above the Lupton minimum, and brighter sources.
            assert (rgba[inside][:, :3].sum(axis=1) > 0).mean() > 0.3
            assert rgba[inside][:, :3].max() > 128
    assert lit >= 1


def test_allsky_holds_the_order_3_tiles_where_they_are(small_hips: Path) -> None:
    root = small_hips / "des_dr1_r"
    allsky = fits.getdata(root / "Norder3" / "Allsky.fits")
    assert allsky.shape == (29 * 64, 27 * 64)
    picture = np.flipud(allsky)  # as the PNG is seen: first tile top left
    (index,) = [int(p.stem[4:]) for p in root.glob("Norder3/Dir*/Npix*.fits")]
    y, x = (index // 27) * 64, (index % 27) * 64
    assert np.isfinite(picture[y:y + 64, x:x + 64]).any()
    assert np.isfinite(picture).sum() == np.isfinite(picture[y:y + 64, x:x + 64]).sum()
    png = np.asarray(Image.open(root / "Norder3" / "Allsky.png"))
    assert png.shape == (29 * 64, 27 * 64, 4)
    assert png[y:y + 64, x:x + 64, 3].any() and png[..., 3].sum() == png[y:y + 64, x:x + 64, 3].sum()


def test_hipslist_names_every_survey_with_its_url(small_hips: Path) -> None:
    text = hipslist(small_hips, "http://example.org/sg")
    blocks = [b for b in text.split("\n\n") if "creator_did" in b]
    assert len(blocks) == len(SURVEYS)
    urls = {b.split("hips_service_url", 1)[1].split("=", 1)[1].split("\n", 1)[0].strip() for b in blocks}
    assert urls == {f"http://example.org/sg/hips/{name}" for name in SURVEYS}


def test_an_empty_hipslist_says_how_to_build_the_surveys(tmp_path: Path) -> None:
    text = hipslist(tmp_path, "http://example.org/sg")
    assert "hips_service_url" not in text and "run `skygate hips build`" in text
    assert all(line.startswith("#") for line in text.splitlines() if line.strip()), "Aladin reads no survey"


@pytest.mark.parametrize(("kwargs", "words"), [({"bands": ["q"]}, "unknown band"), ({"order": 2}, "order")])
def test_bad_arguments_are_usage_errors(small_release: Path, tmp_path: Path, kwargs: dict[str, object],
                                        words: str) -> None:
    with pytest.raises(UsageError, match=words):
        build_hips(small_release, tmp_path, **kwargs)  # type: ignore[arg-type]


def test_no_release_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no release"):
        build_hips(tmp_path, tmp_path / "hips")


# --- fidelity: the deepest tiles, reprojected back onto the coadd, are the coadd -----------------------

def _back_onto_coadd(hips_root: Path, coadd: Path) -> tuple[np.ndarray, np.ndarray, WCS]:
    from reproject import reproject_interp
    from reproject.mosaicking import reproject_and_coadd

    with fits.open(coadd) as hdul:
        header = hdul["SCI"].header.copy()
        original = np.asarray(hdul["SCI"].data, dtype=np.float64)
    wcs = WCS(header)
    tiles = []
    for path in hips_root.glob("Norder9/Dir*/Npix*.fits"):
        with fits.open(path) as hdul:
            tiles.append((hdul[0].data.astype(np.float64), hdul[0].header.copy()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        back, _ = reproject_and_coadd(tiles, wcs, shape_out=original.shape, reproject_function=reproject_interp,
                                      combine_function="mean")
    return original, back, wcs


def _measure(image: np.ndarray, x: float, y: float) -> tuple[float, float, float]:
    """Flux in a 13x13 box (the PSF and the smoothing of two bilinear resamplings inside) and the
    first-moment centroid in the 7x7 box around pixel (x, y)."""
    ix, iy = round(x), round(y)
    flux = float(image[iy - 6:iy + 7, ix - 6:ix + 7].sum())
    box = image[iy - 3:iy + 4, ix - 3:ix + 4]
    yy, xx = np.mgrid[iy - 3:iy + 4, ix - 3:ix + 4]
    return flux, float((box * xx).sum() / box.sum()), float((box * yy).sum() / box.sum())


def test_fidelity_flux_within_1_percent_positions_within_a_tenth_of_a_pixel(
        small_release: Path, small_hips: Path, ci_release_dir: Path) -> None:
    coadd = next((small_release / "tiles" / SMALL_TILE).glob("*_r.fits.fz"))
    original, back, wcs = _back_onto_coadd(small_hips / "des_dr1_r", coadd)
    assert np.isfinite(back[5:-5, 5:-5]).all(), "the tiles cover the whole coadd"

    main = pq.read_table(ci_release_dir / "catalog" / "dr1_main.parquet",
                         columns=["alphawin_j2000", "deltawin_j2000", "mag_auto_r", "tilename"])
    main = main.filter(pc.and_(pc.equal(main.column("tilename"), SMALL_TILE), pc.less(main.column("mag_auto_r"), 21.5)))
    x, y = wcs.all_world2pix(main.column("alphawin_j2000").to_numpy(), main.column("deltawin_j2000").to_numpy(), 0)
    inside = (x > 12) & (x < original.shape[1] - 13) & (y > 12) & (y < original.shape[0] - 13)
    ratios, offsets = [], []
    for xi, yi in zip(x[inside], y[inside], strict=True):
        f0, x0, y0 = _measure(original, xi, yi)
        f1, x1, y1 = _measure(back, xi, yi)
        if f0 > 2000:  # sources well above the noise of a 13x13 box
            ratios.append(f1 / f0)
            offsets.append(np.hypot(x1 - x0, y1 - y0))
    assert len(ratios) >= 10, "enough sources to take a median over"
    assert abs(float(np.median(ratios)) - 1.0) < 0.01
    assert float(np.median(offsets)) < 0.1
