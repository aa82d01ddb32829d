"""Incremental HiPS builds: a changed coadd rebuilds only the tiles it touches, as a full build makes them;
nothing changed, nothing is reprojected."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from sky.hips import ALLSKY_ORDER, _grey_png, build_hips, tile_path
from sky.hipsmeta import RECORD_FILE, BuildRecord, read_properties
from sky.hipsplan import coadd_corners, touched_cells
from sky.moc import cells_moc, polygons_moc
from tests.sky.conftest import PAIR_TILE, SMALL_TILE, pair_release

ORDER = 9
CHANGED = ("des_dr1_r", "des_dr1_colour_irg")  # the r coadd of PAIR_TILE changes: these surveys, and no other


@pytest.fixture(scope="module")
def built(ci_release_dir: Path, tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[Path, Path, dict[Path, tuple[int, str]]]:
    """A two-coadd release, its HiPS built once, and every file there with its mtime and hash."""
    root = tmp_path_factory.mktemp("incremental")
    release = pair_release(ci_release_dir, root / "release")
    hips = root / "hips"
    report = build_hips(release, hips, workers=2)
    assert report.reprojected > 0 and report.changed == report.checked == 6
    return release, hips, _files(hips)


def test_the_record_names_every_coadd_by_band(built: tuple[Path, Path, dict[Path, tuple[int, str]]]) -> None:
    hips = built[1]
    record = BuildRecord.read(hips)
    assert record is not None and record.order == ORDER
    assert sorted(record.coadds) == ["g", "i", "r"]
    assert {name.split("/")[1] for name in record.coadds["r"]} == {SMALL_TILE, PAIR_TILE}
    assert all(len(stamp.corners) == 4 for stamp in record.coadds["r"].values())
    assert set(record.cuts) == {"g", "i", "r"}


@pytest.mark.parametrize("order", [9, 12])
def test_a_coadd_touches_every_cell_its_polygon_overlaps(small_release: Path, order: int) -> None:
    corners = coadd_corners(next((small_release / "tiles" / SMALL_TILE).glob("*_r.fits.fz")))
    cells = np.array(sorted(touched_cells(corners, order)), dtype=np.uint64)
    # At order 12 (52 arcsec cells) the 7 arcmin coadd covers whole cells: none may be merged into a coarser one.
    assert cells_moc(cells, order) == polygons_moc([list(corners)], order)


def test_nothing_changed_reprojects_nothing_and_touches_no_file(
        built: tuple[Path, Path, dict[Path, tuple[int, str]]]) -> None:
    release, hips, before = built
    report = build_hips(release, hips, workers=2)
    assert report.surveys == [] and report.reprojected == 0 and report.changed == 0 and report.checked == 6
    assert _files(hips) == before


def test_a_changed_coadd_rebuilds_only_its_tiles_as_a_full_build_makes_them(
        built: tuple[Path, Path, dict[Path, tuple[int, str]]], tmp_path: Path) -> None:
    release, hips, _ = built
    release, hips = _copy(release, tmp_path / "release"), _copy(hips, tmp_path / "hips")
    before = _files(hips)
    cut = read_properties(hips / "des_dr1_r" / "properties")["hips_pixel_cut"]
    coadd = next((release / "tiles" / PAIR_TILE).glob("*_r.fits.fz"))
    _brighten(coadd)

    report = build_hips(release, hips, workers=2)
    assert report.changed == 1 and [s.name for s in report.surveys] == list(CHANGED)
    after = _files(hips)
    changed = {p for p in after if after[p] != before.get(p)}
    cells, neighbour = touched_cells(coadd_corners(coadd), ORDER), touched_cells(_pair_corners(release), ORDER)
    expected = _tiles_above(cells)
    assert 0 < report.reprojected <= len(cells) + len(cells & neighbour), "the coadd's tiles, and the neighbour's there"
    for survey in CHANGED:
        tiles = {p for p in changed if p.parts[0] == survey and p.name.startswith("Npix")}
        exts = ("fits", "png") if survey == "des_dr1_r" else ("png",)
        assert tiles == {Path(survey) / tile_path(Path(), level, index, ext) for level, index in expected
                         for ext in exts}, survey
    untouched = [p for p in after if p.parts[0] not in CHANGED and p.name != RECORD_FILE]
    assert untouched and all(after[p] == before[p] for p in untouched), "g and i are as they were"
    assert any(p.parts[0] == "des_dr1_r" and p not in changed and p.name.startswith("Npix") for p in after), \
        "the tiles SMALL_TILE alone covers are as they were"
    assert read_properties(hips / "des_dr1_r" / "properties")["hips_pixel_cut"] == cut, "the stretch is kept"

    full = tmp_path / "full"
    build_hips(release, full, workers=2, force=True)
    record = BuildRecord.read(hips)
    assert record is not None
    kept = record.cuts["r"]  # as drawn (properties round it)
    for level, index in expected:
        mine = tile_path(hips / "des_dr1_r", level, index, "fits")
        theirs = tile_path(full / "des_dr1_r", level, index, "fits")
        assert np.array_equal(fits.getdata(mine), fits.getdata(theirs), equal_nan=True), (level, index)
        png = np.asarray(Image.open(mine.with_suffix(".png")))
        assert np.array_equal(png, np.asarray(_grey_png([fits.getdata(theirs)], cut=kept))), (level, index)
        colour = [tile_path(h / "des_dr1_colour_irg", level, index, "png") for h in (hips, full)]
        assert np.array_equal(np.asarray(Image.open(colour[0])), np.asarray(Image.open(colour[1]))), (level, index)


def test_a_build_of_one_colour_band_leaves_no_stale_colour_tile(
        built: tuple[Path, Path, dict[Path, tuple[int, str]]], tmp_path: Path) -> None:
    release, hips, _ = built
    release, hips = _copy(release, tmp_path / "release"), _copy(hips, tmp_path / "hips")
    _brighten(next((release / "tiles" / PAIR_TILE).glob("*_r.fits.fz")))
    report = build_hips(release, hips, bands=["r"], workers=1)
    assert [s.name for s in report.surveys] == ["des_dr1_r"]
    assert not (hips / "des_dr1_colour_irg" / "properties").exists(), "unlisted until i, r, g are built again"
    report = build_hips(release, hips, workers=1)
    assert report.reprojected == 0 and [s.name for s in report.surveys] == ["des_dr1_colour_irg"]
    full = tmp_path / "full"
    build_hips(release, full, workers=2, force=True)
    for path in sorted((full / "des_dr1_colour_irg").glob("Norder*/Dir*/Npix*.png")):
        mine = hips / path.relative_to(full)
        assert np.array_equal(np.asarray(Image.open(mine)), np.asarray(Image.open(path))), mine


def test_force_rebuilds_everything(built: tuple[Path, Path, dict[Path, tuple[int, str]]], tmp_path: Path) -> None:
    release, hips, _ = built
    hips = _copy(hips, tmp_path / "hips")
    before = _files(hips)
    report = build_hips(release, hips, workers=1, force=True)
    assert report.changed == 6 and len(report.surveys) == 4
    after = _files(hips)
    assert all(after[p][0] != before[p][0] for p in before if p.name.startswith("Npix"))


def _files(root: Path) -> dict[Path, tuple[int, str]]:
    """Every file under ``root`` (relative) -> (mtime in ns, sha256)."""
    return {p.relative_to(root): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(root.rglob("*")) if p.is_file()}


def _copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)  # copy2: the same mtimes, so the record still matches
    return target


def _brighten(path: Path) -> None:
    """Replace the coadd by a copy with a brighter patch (same WCS, a new file)."""
    with fits.open(path) as hdul:
        header = hdul["SCI"].header.copy()
        data = np.asarray(hdul["SCI"].data, dtype=np.float32)
    data[150:250, 150:250] += 50.0
    hdu = fits.CompImageHDU(data, header, name="SCI", compression_type="RICE_1", quantize_level=16.0)
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)


def _pair_corners(release: Path) -> tuple[tuple[float, float], ...]:
    return coadd_corners(next((release / "tiles" / SMALL_TILE).glob("*_r.fits.fz")))


def _tiles_above(cells: frozenset[int]) -> set[tuple[int, int]]:
    """The cells at ORDER and their ancestors down to the Allsky order."""
    return {(level, cell >> (2 * (ORDER - level))) for cell in cells for level in range(ALLSKY_ORDER, ORDER + 1)}
