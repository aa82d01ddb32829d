"""Small coadd tiles with the DES DR1 coadd layout, for cutout, SIA and DataLink tests.

Real sky geometry (0.730556° a side, TAN, real DES centres), few pixels (40x binned). MSK holds
``1000 * y + x`` (0-based) so a test can tell exactly which pixels a cutout took; SCI holds a
Gaussian star at a chosen position.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
from astropy.io import fits
from astropy.wcs import WCS

TILES = {
    # name: (RA_CENT, DEC_CENT)  from the DES tile list
    "DES2134-0041": (323.548039, -0.697222),
    "DES2359-0041": (359.959068, -0.697222),
}
SIDE_DEG = 0.730556


def write_tile(release_dir: Path, tilename: str, band: str, *, npix: int = 250,
               star: tuple[float, float] | None = None) -> Path:
    """Write ``tiles/{tilename}/{tilename}_r9999p01_{band}.fits.fz`` and return its path."""
    ra, dec = TILES[tilename]
    cd = SIDE_DEG / npix
    header = fits.Header()
    header["CTYPE1"], header["CTYPE2"] = "RA---TAN", "DEC--TAN"
    header["CRPIX1"] = header["CRPIX2"] = npix / 2 + 0.5
    header["CRVAL1"], header["CRVAL2"] = ra, dec
    header["CD1_1"], header["CD2_2"], header["CD1_2"], header["CD2_1"] = -cd, cd, 0.0, 0.0
    header["MAGZERO"], header["BAND"], header["TILENAME"] = 30.0, band, tilename
    header["BUNIT"] = "COUNTS/S"
    yy, xx = np.mgrid[0:npix, 0:npix]
    sci = np.random.default_rng(1).normal(0, 1, (npix, npix)).astype(np.float32)
    if star is not None:
        sx, sy = WCS(header).all_world2pix([star], 0)[0]
        sci += (1000 * np.exp(-((xx - sx) ** 2 + (yy - sy) ** 2) / 2.0)).astype(np.float32)
    msk = (1000 * yy + xx).astype(np.int32)
    wgt = np.full((npix, npix), 0.25, dtype=np.float32)
    hdus = [fits.PrimaryHDU()]
    for name, data, kind, compression in (("SCI", sci, "IMAGE", "RICE_1"), ("MSK", msk, "MASK", "GZIP_2"),
                                          ("WGT", wgt, "WEIGHT", "RICE_1")):
        h = header.copy()
        h["DES_EXT"] = kind
        hdus.append(fits.CompImageHDU(data=data, header=h, name=name, compression_type=compression,
                                      tile_shape=(50, 50)))
    path = release_dir / "tiles" / tilename / f"{tilename}_r9999p01_{band}.fits.fz"
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path


def tile_info(names: list[str] | None = None) -> pa.Table:
    """A ``des_dr1.tile_info`` subset (corners from the TAN geometry above)."""
    rows: dict[str, list[object]] = {k: [] for k in ("tilename", "ra_cent", "dec_cent", "crossra0",
                                                     *(f"rac{i}" for i in range(1, 5)),
                                                     *(f"decc{i}" for i in range(1, 5)))}
    for name in names or list(TILES):
        ra, dec = TILES[name]
        wcs = WCS(naxis=2)
        wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        wcs.wcs.crval = [ra, dec]
        wcs.wcs.crpix = [5000.5, 5000.5]
        wcs.wcs.cd = [[-7.305556e-5, 0], [0, 7.305556e-5]]
        corners = wcs.all_pix2world([[1, 1], [10000, 1], [10000, 10000], [1, 10000]], 1)
        rows["tilename"].append(name)
        rows["ra_cent"].append(ra)
        rows["dec_cent"].append(dec)
        rows["crossra0"].append("Y" if name == "DES2359-0041" else "N")
        for i, (lon, lat) in enumerate(corners, start=1):
            rows[f"rac{i}"].append(float(lon) % 360.0)
            rows[f"decc{i}"].append(float(lat))
    return pa.table(rows)
