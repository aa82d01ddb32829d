"""Cutting regions out of compressed SCI/MSK/WGT tiles: the right pixels, the right WCS."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from dali.errors import UsageError
from dali.regions import Circle, Polygon, Range
from soda.cutout import Cutout, NoOverlapError, SizedBox, cut, write_fits
from tests.soda.tiles import write_tile

STAR = (323.36, -0.82)


@pytest.fixture(scope="module")
def tiles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("release")
    return {
        "m2": write_tile(root, "DES2134-0041", "g", star=STAR),
        "ra0": write_tile(root, "DES2359-0041", "i", star=(0.1, -0.7)),
    }


def _open(data: bytes) -> fits.HDUList:
    return fits.open(io.BytesIO(data))


def cutout_fits(cutouts: list[Cutout], *, primary_sci: bool = False) -> bytes:
    """The cutouts as one FITS file, as /soda/sync and the jobs write it (``write_fits``)."""
    out = io.BytesIO()
    write_fits(out, cutouts, primary_sci=primary_sci)
    return out.getvalue()


def test_circle_cutout_is_centred_and_keeps_the_header(tiles: dict[str, Path]) -> None:
    cutout = cut(tiles["m2"], Circle(*STAR, 0.05))
    with _open(cutout_fits([cutout])) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SCI", "MSK", "WGT"]
        sci = hdul["SCI"]
        ny, nx = sci.data.shape
        # 0.05 deg radius at 10.52"/px is about 17 px: a box of about 35 px.
        assert 33 <= nx <= 36 and 33 <= ny <= 36
        wcs = WCS(sci.header)
        x, y = wcs.all_world2pix([STAR], 0)[0]
        assert abs(x - (nx - 1) / 2) <= 0.5 and abs(y - (ny - 1) / 2) <= 0.5
        # The star lands on its pixel: the peak of SCI is where the WCS puts it.
        peak_y, peak_x = np.unravel_index(np.argmax(sci.data), sci.data.shape)
        assert (peak_x, peak_y) == (round(x), round(y))
        # MSK carries 1000*y+x of the tile: the cut took exactly the pixels the header says.
        box = cutout.box
        assert hdul["MSK"].data[0, 0] == 1000 * box.y0 + box.x0
        assert sci.header["CRPIX1"] == 125.5 - box.x0 and sci.header["CRPIX2"] == 125.5 - box.y0
        for key in ("CRVAL1", "CD1_1", "MAGZERO", "BAND", "TILENAME", "BUNIT"):
            assert sci.header[key] == fits.getheader(tiles["m2"], "SCI")[key], key
        assert sci.header["RA_CUTOUT"] == STAR[0] and sci.header["DEC_CUTOUT"] == STAR[1]
        assert sci.header["TRIMMED"] is False
        assert hdul["WGT"].header["DES_EXT"] == "WEIGHT" and hdul["WGT"].data.dtype.kind == "f"
        assert hdul["MSK"].data.dtype == np.dtype(">i4")


def test_partial_overlap_is_trimmed_and_says_so(tiles: dict[str, Path]) -> None:
    # A circle centred just beyond the tile's lower-left (RAC1/DECC1) corner.
    cutout = cut(tiles["m2"], Circle(323.92, -1.07, 0.05))
    assert cutout.box.trimmed and (cutout.box.x0, cutout.box.y0) == (0, 0)
    header = cutout.header("SCI")
    assert header["TRIMMED"] is True and "trimmed" in str(header["HISTORY"])


@pytest.mark.parametrize("region", [Circle(10.0, 10.0, 0.1), Circle(323.0, -0.7, 0.1),
                                    Range(324.0, 325.0, -1.0, 0.0), Polygon(((0, 0), (1, 0), (1, 1)))])
def test_no_overlap(tiles: dict[str, Path], region: Circle | Range | Polygon) -> None:
    with pytest.raises(NoOverlapError):
        cut(tiles["m2"], region)


@pytest.mark.parametrize("ra", [0.1, 359.9])
def test_tile_across_ra_zero(tiles: dict[str, Path], ra: float) -> None:
    cutout = cut(tiles["ra0"], Circle(ra, -0.7, 0.02))
    wcs = WCS(cutout.header("SCI"))
    ny, nx = cutout.pixels("SCI").shape
    centre = wcs.all_pix2world([[(nx - 1) / 2, (ny - 1) / 2]], 0)[0]
    assert abs(((centre[0] - ra + 180) % 360) - 180) < 0.003 and abs(centre[1] + 0.7) < 0.003


def test_range_and_polygon_boxes(tiles: dict[str, Path]) -> None:
    rng = cut(tiles["m2"], Range(323.30, 323.40, -0.90, -0.80)).box
    poly = cut(tiles["m2"], Polygon(((323.30, -0.90), (323.40, -0.90), (323.40, -0.80), (323.30, -0.80)))).box
    # 0.1 deg is about 34 px on these tiles; the two shapes give the same box within a pixel.
    assert 33 <= rng.x1 - rng.x0 <= 36 and 33 <= rng.y1 - rng.y0 <= 36
    assert abs(rng.x0 - poly.x0) <= 1 and abs(rng.y1 - poly.y1) <= 1


def test_sized_box_and_desaccess_layout(tiles: dict[str, Path]) -> None:
    cutout = cut(tiles["m2"], SizedBox(*STAR, xsize=1.0, ysize=2.0))
    # 1' = 60" / 10.52"/px = 5.7 -> 6 px wide, 2' -> 11 px high (Cutout2D rounding).
    assert cutout.box.shape == (11, 6)
    with _open(cutout_fits([cutout], primary_sci=True)) as hdul:
        assert hdul[0].data.shape == (11, 6) and hdul[0].header["BAND"] == "g"
        assert [h.name for h in hdul[1:]] == ["MSK", "WGT"]


def test_several_cutouts_in_one_file(tiles: dict[str, Path]) -> None:
    first = cut(tiles["m2"], Circle(*STAR, 0.02))
    second = cut(tiles["m2"], Circle(323.5, -0.6, 0.03))
    with _open(cutout_fits([first, second])) as hdul:
        assert [(h.name, h.ver) for h in hdul[1:]] == [("SCI", 1), ("MSK", 1), ("WGT", 1),
                                                        ("SCI", 2), ("MSK", 2), ("WGT", 2)]
        assert hdul["SCI", 2].header["RA_CUTOUT"] == 323.5


def test_huge_regions_are_refused(tiles: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    import soda.cutout

    monkeypatch.setattr(soda.cutout, "MAX_CUTOUT_PIXELS", 100 * 100)
    with pytest.raises(UsageError, match="at most 10000 pixels"):
        cut(tiles["m2"], Circle(*STAR, 0.5))
    assert cut(tiles["m2"], Circle(*STAR, 0.05)).box.shape[0] < 100
