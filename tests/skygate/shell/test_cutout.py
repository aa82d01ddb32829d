"""``cutout``: ObsCore -> DataLink -> SODA against the live ``ci`` release with its image files, and
the plain answers where a service lacks a step."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from astropy.io import fits
from astropy.wcs import WCS

from skygate.shell.client import ServiceError
from skygate.shell.cutout import parse_cutout
from tests.live_fixtures import LiveServer, serve
from tests.skygate.shell.tapdouble import tap_double

M2 = (323.36, -0.82)


@pytest.fixture(scope="module")
def image_server(tmp_path_factory: pytest.TempPathFactory, ci_duckdb_path: Path,
                 ci_release_dir: Path) -> Iterator[LiveServer]:
    """The application with the catalogue and the release's image files (as tests/soda/test_live.py)."""
    from skygate.settings import Settings

    data_dir = tmp_path_factory.mktemp("shell-images")
    (data_dir / "catalog.duckdb").symlink_to(ci_duckdb_path)
    (data_dir / "release").symlink_to(ci_release_dir.resolve(), target_is_directory=True)
    yield from serve(Settings(data_dir=data_dir, maxrec_default=1000, maxrec_hard=100_000))


def _shell(url: str, home: Path, entry: str) -> str:
    done = subprocess.run([sys.executable, "-m", "skygate.shell", url, "--cache-dir", str(home / "cache"),
                           "--history", str(home / "h"), "-c", entry],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return done.stdout


@pytest.mark.live
def test_cutouts_of_two_bands_land_in_one_fits_file(image_server: LiveServer, tmp_path: Path) -> None:
    target = tmp_path / "m2.fits"
    out = _shell(image_server.tap_url, tmp_path, f"cutout {M2[0]} {M2[1]} 1.5 gr > {target}")
    assert f"wrote 2 cutouts to {target}" in out
    with fits.open(target) as hdus:
        assert [h.name for h in hdus[1:]] == ["DES2134-0041_G", "DES2134-0041_R"]
        for hdu in hdus[1:]:
            ny, nx = hdu.data.shape
            ra, dec = WCS(hdu.header).all_pix2world([[(nx - 1) / 2, (ny - 1) / 2]], 0)[0]
            assert abs(ra - M2[0]) < 0.01 and abs(dec - M2[1]) < 0.01
            assert 0.015 < nx * abs(hdu.header.get("CD1_1", hdu.header.get("CDELT1", 0))) < 0.04


@pytest.mark.live
def test_a_position_without_images_is_said_plainly(image_server: LiveServer, tmp_path: Path) -> None:
    out = _shell(image_server.tap_url, tmp_path, f"cutout 10 10 > {tmp_path / 'x.fits'}")
    assert "error: no image covers (10.0, 10.0)" in out and not (tmp_path / "x.fits").exists()


def test_a_service_without_obscore_has_no_cutouts(tmp_path: Path) -> None:
    with tap_double() as double:
        out = _shell(double.url, tmp_path, f"cutout 10 10 > {tmp_path / 'x.fits'}")
    assert "this service has no ivoa.obscore table" in out


@pytest.mark.parametrize(("args", "message"), [
    ("10 10", "the file is required"),
    ("10 > x.fits", "usage: cutout"),
    ("ten 10 > x.fits", "are numbers"),
    ("400 10 > x.fits", "RA in [0, 360)"),
    ("10 10 1 gq > x.fits", "bands are letters"),
    ("10 10 > x.png", "must end in .fits"),
])
def test_bad_cutout_arguments(args: str, message: str) -> None:
    with pytest.raises(ServiceError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        parse_cutout(args)


def test_cutout_arguments() -> None:
    request = parse_cutout("323.36 -0.82 2 gri > ~/m2.fits")
    assert (request.ra, request.dec, request.size_arcmin, request.bands) == (323.36, -0.82, 2.0, "gri")
    assert request.target == Path("~/m2.fits").expanduser()
