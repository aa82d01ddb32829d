"""Bulk cutouts with DESaccess parity: names, matching, trimming, outputs, options."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from dali.errors import UsageError
from dali.params import DaliParams, collect
from soda.bulk import desj_name, run_bulk
from soda.params import BulkOptions, parse_bulk_options, parse_positions
from tests.soda.tiles import write_tile


def _params(values: dict[str, list[str]]) -> DaliParams:
    """A request's parameters from a name -> values table row."""
    return collect((name, value) for name, found in values.items() for value in found)


@pytest.fixture(scope="module")
def release_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bulk")
    for band in ("g", "r", "i"):
        write_tile(root, "DES2134-0041", band, npix=500, star=(323.36, -0.82))
    return root


def test_desj_name() -> None:
    assert desj_name(21.58813, 3.48611) == "DESJ012621.1512+032909.9960"  # DESaccess's form
    assert desj_name(323.36, -0.82) == "DESJ213326.4000-004912.0000"


CSV = b"""ra,DEC,xsize
323.36,-0.82,
323.2,-0.7,3
10.0,10.0,
"""


def test_positions_and_options() -> None:
    rows = parse_positions(CSV)
    assert [(r.ra, r.dec, r.xsize) for r in rows] == [(323.36, -0.82, None), (323.2, -0.7, 3.0), (10.0, 10.0, None)]
    options = parse_bulk_options(_params({"XSIZE": ["0.5"], "COLORS_FITS": ["gri"], "RGB_LUPTON_COLORS": ["irg;gri"]}))
    assert (options.xsize, options.ysize, options.colors_fits, options.rgb_colors, options.make_rgb) == \
        (0.5, 0.5, "gri", ("irg", "gri"), True)


@pytest.mark.parametrize(("data", "params"), [
    (b"ra,dec,color\n1,2,3\n", {}), (b"ra\n1\n", {}), (b"ra,dec\nx,1\n", {}), (b"", {}),
    (CSV, {"XSIZE": ["20"]}), (CSV, {"RGB_LUPTON_COLORS": ["ir"]}), (CSV, {"COLORS_FITS": ["q"]}),
])
def test_bad_input(data: bytes, params: dict[str, list[str]]) -> None:
    with pytest.raises(UsageError):
        parse_positions(data)
        parse_bulk_options(_params(params))


def test_run_bulk_outputs(release_dir: Path, tmp_path: Path) -> None:
    options = BulkOptions(colors_fits="gr", make_rgb=True, rgb_colors=("irg",))
    progress: list[tuple[int, int]] = []
    outcome = run_bulk(release_dir, parse_positions(CSV), options, tmp_path / "job7", job_id="job7",
                       progress=lambda d, t: progress.append((d, t)))
    summary = outcome.summary
    assert summary["unmatched_positions"] == {"coord": [[10.0, 10.0]], "coadd": []}
    cutouts = summary["cutouts"]
    assert isinstance(cutouts, list) and [c["TILENAME"] for c in cutouts] == ["DES2134-0041"] * 2
    assert progress[0] == (0, 2) and progress[-1] == (2, 2)
    first = tmp_path / "job7" / "DES2134-0041" / "DESJ213326.4000-004912.0000"
    assert sorted(p.name for p in first.iterdir()) == [
        "DESJ213326.4000-004912.0000_g.fits", "DESJ213326.4000-004912.0000_irg_lupton.png",
        "DESJ213326.4000-004912.0000_r.fits"]
    with fits.open(first / "DESJ213326.4000-004912.0000_g.fits") as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "MSK", "WGT"]
        # 1' at 5.26"/px is 11 px; SCI is primary, the tile header is kept.
        assert hdul[0].data.shape == (11, 11) and hdul[0].header["TILENAME"] == "DES2134-0041"
        assert hdul[0].header["RA_CUTOUT"] == 323.36
    png = Image.open(first / "DESJ213326.4000-004912.0000_irg_lupton.png")
    assert png.size == (11, 11) and png.mode == "RGB"
    # The star is at the centre, north up: the brightest PNG pixel is the central one.
    pixels = np.asarray(png).sum(axis=2)
    assert np.unravel_index(np.argmax(pixels), pixels.shape) == (5, 5)
    edge = next(c for c in cutouts if c["RA"] == 323.2)
    assert edge["TRIMMED"] is True
    log = (tmp_path / "job7" / "cutout_job7.log").read_text()
    assert "trimmed at the edge of DES2134-0041" in log and "on no tile" in log
    assert json.loads((tmp_path / "job7" / "summary.json").read_text())["number_of_files"] == summary["number_of_files"]
    assert outcome.archive is not None
    with tarfile.open(outcome.archive) as tar:
        names = tar.getnames()
    assert "job7/summary.json" in names and any(n.endswith("_r.fits") for n in names)


def test_return_list_only(release_dir: Path, tmp_path: Path) -> None:
    outcome = run_bulk(release_dir, parse_positions(CSV), BulkOptions(return_list_only=True), tmp_path / "j",
                       job_id="j")
    assert sorted(p.name for p in outcome.files) == ["cutout_j.log", "positions_j.csv", "summary.json"]
    assert outcome.archive is None
    assert io.StringIO((tmp_path / "j" / "positions_j.csv").read_text()).readline().startswith("RA,DEC")


def test_row_values_override_job_options(release_dir: Path, tmp_path: Path) -> None:
    csv = b"RA,DEC,COLORS_FITS,RGB_LUPTON_COLORS\n323.36,-0.82,i,\n323.5,-0.6,,gri\n"
    outcome = run_bulk(release_dir, parse_positions(csv), BulkOptions(colors_fits="g"), tmp_path / "k", job_id="k")
    cutouts = outcome.summary["cutouts"]
    assert isinstance(cutouts, list)
    assert [c["FILES"] for c in cutouts] == [
        ["DESJ213326.4000-004912.0000_i.fits"],
        ["DESJ213400.0000-003600.0000_g.fits", "DESJ213400.0000-003600.0000_gri_lupton.png"]]


@pytest.mark.parametrize("data", [b"RA,DEC,MAKE_RGB_STIFF\n1,1,true\n", b"RA,DEC,COLORS_FITS\n1,1,xq\n"])
def test_bad_row_values(data: bytes) -> None:
    with pytest.raises(UsageError):
        parse_positions(data)


def test_the_window_of_targets_cut_together_fits_the_memory_limit(release_dir: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from soda import bulk

    # 1' at 0.263"/px: 230 x 230 pixels, 3 extensions of 4 bytes, per band.
    assert bulk.cutout_bytes(1.0, 1.0, 2) == 230 * 230 * 4 * 3 * 2
    windows: list[int] = []
    original = bulk._cut_group

    def spy(*args: object) -> object:
        windows.append(args[-1])  # type: ignore[arg-type]
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(bulk, "_cut_group", spy)
    csv = "RA,DEC\n" + "".join(f"{323.36 + 0.002 * k:.4f},-0.82\n" for k in range(12))
    one = bulk.cutout_bytes(0.5, 0.5, 2)
    outcome = run_bulk(release_dir, parse_positions(csv.encode()), BulkOptions(colors_fits="gr", xsize=0.5, ysize=0.5),
                       tmp_path / "m", job_id="m", threads=2, memory_limit=2 * 3 * one)
    assert windows and set(windows) == {3}  # 2 threads x 3 targets x one target's cutouts
    assert len(outcome.summary["cutouts"]) == 12  # type: ignore[arg-type]
    assert bulk.cut_window([], 2, 1) == 64
