"""Column definitions of the demo release tables and their Arrow schemas with field metadata.

Names are the lower-case physical/ADQL names of DR1 (DR1_MAIN and the tile list); types, units, UCDs and
descriptions follow DR1. The metadata keys written into Parquet are listed in ``release/demo/__init__.py``.
Pure data: no files. Tests: tests/release/test_demo_catalog.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

__all__ = [
    "BANDS",
    "DEMO_TRUTH",
    "DR1_MAIN",
    "FIELD_KEYS",
    "TABLE_DESCRIPTIONS",
    "TILE_INFO",
    "ColumnSpec",
    "arrow_schema",
]

BANDS = ("g", "r", "i", "z", "y")
_BAND_UCD = {"g": "em.opt.B", "r": "em.opt.R", "i": "em.opt.I", "z": "em.opt.I", "y": "em.IR.J"}

# Parquet field-metadata keys (bytes in the file, str here).
FIELD_KEYS = ("unit", "ucd", "description", "arraysize", "indexed", "principal")


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    name: str
    type: pa.DataType
    unit: str | None
    ucd: str | None
    description: str
    arraysize: str | None = None
    indexed: bool = False
    principal: bool = False

    def field(self) -> pa.Field:
        meta: dict[str, str] = {"description": self.description}
        if self.unit:
            meta["unit"] = self.unit
        if self.ucd:
            meta["ucd"] = self.ucd
        if self.arraysize:
            meta["arraysize"] = self.arraysize
        if self.indexed:
            meta["indexed"] = "true"
        if self.principal:
            meta["principal"] = "true"
        return pa.field(self.name, self.type, nullable=False, metadata=meta)


def _main() -> tuple[ColumnSpec, ...]:
    f32, f64, i16, i32, i64 = pa.float32(), pa.float64(), pa.int16(), pa.int32(), pa.int64()
    cols = [
        ColumnSpec("coadd_object_id", i64, None, "meta.id;meta.main",
                   "Unique coadd object identifier; join key to the other DR1 tables", indexed=True, principal=True),
        ColumnSpec("tilename", pa.string(), None, "meta.id;obs.field",
                   "Tile the object was measured on, e.g. DES2134-0041", arraysize="12", indexed=True, principal=True),
        ColumnSpec("ra", f64, "deg", "pos.eq.ra;meta.main",
                   "Right ascension (ICRS), indexed reduced-precision copy of ALPHAWIN_J2000 (1e-6 deg)",
                   indexed=True, principal=True),
        ColumnSpec("dec", f64, "deg", "pos.eq.dec;meta.main",
                   "Declination (ICRS), indexed reduced-precision copy of DELTAWIN_J2000 (1e-6 deg)",
                   indexed=True, principal=True),
        ColumnSpec("alphawin_j2000", f64, "deg", "pos.eq.ra", "Windowed right ascension (ICRS), full precision"),
        ColumnSpec("deltawin_j2000", f64, "deg", "pos.eq.dec", "Windowed declination (ICRS), full precision"),
        ColumnSpec("xwin_image", f64, "pix", "pos.cartesian.x;instr.det",
                   "Windowed x centroid on the tile detection image at 0.263 arcsec/pix (1-based FITS pixels)"),
        ColumnSpec("ywin_image", f64, "pix", "pos.cartesian.y;instr.det",
                   "Windowed y centroid on the tile detection image at 0.263 arcsec/pix (1-based FITS pixels)"),
    ]
    for nside in (32, 64, 1024, 4096, 16384):
        cols.append(ColumnSpec(f"hpix_{nside}", i64, None, "pos.healpix",
                               f"HEALPix NESTED index at NSIDE={nside} of ALPHAWIN_J2000, DELTAWIN_J2000"))
    cols += [
        ColumnSpec("a_image", f32, "pix", "phys.angSize.smajAxis", "Isophotal semi-major axis (detection image)"),
        ColumnSpec("b_image", f32, "pix", "phys.angSize.sminAxis", "Isophotal semi-minor axis (detection image)"),
        ColumnSpec("theta_j2000", f32, "deg", "pos.posAng",
                   "Position angle, J2000 (a ds9 ellipse uses THETA_J2000+90)"),
        ColumnSpec("flux_radius_i", f32, "pix", "phys.angSize;src", "Half-light radius in i"),
    ]
    for b in BANDS:
        B = b.upper()
        cols.append(ColumnSpec(f"mag_auto_{b}", f32, "mag", f"phot.mag;{_BAND_UCD[b]}",
                               f"Kron-aperture AB magnitude in {B} (zero point 30); 99 when FLUX_AUTO_{B} <= 0",
                               indexed=True, principal=b in "gri"))
    for b in BANDS:
        cols.append(ColumnSpec(f"magerr_auto_{b}", f32, "mag", f"stat.error;phot.mag;{_BAND_UCD[b]}",
                               f"Error on MAG_AUTO_{b.upper()}"))
    for b in BANDS:
        cols.append(ColumnSpec(f"flux_auto_{b}", f32, "adu", f"phot.flux;{_BAND_UCD[b]}",
                               f"Kron-aperture flux in {b.upper()} on the zero point 30 scale"))
    for b in BANDS:
        cols.append(ColumnSpec(f"wavg_mag_psf_{b}", f32, "mag", f"phot.mag;{_BAND_UCD[b]};stat.mean",
                               f"Weighted mean of single-epoch PSF magnitudes in {b.upper()}; "
                               "99 with no good single-epoch detection"))
    for b in BANDS:
        cols.append(ColumnSpec(f"flags_{b}", i16, None, "meta.code",
                               f"SExtractor flags in {b.upper()} (1 neighbours, 2 deblended, 4 saturated, "
                               "8 truncated); < 4 is well behaved"))
    for b in BANDS:
        cols.append(ColumnSpec(f"imaflags_iso_{b}", i32, None, "meta.code.qual",
                               f"1 if an isophote pixel is masked in every {b.upper()} input"))
    cols += [
        ColumnSpec("spread_model_i", f32, None, "src.class.starGalaxy",
                   "Coadd PSF vs PSF-convolved exponential classifier in i (about 0 star, > 0 galaxy)"),
        ColumnSpec("spreaderr_model_i", f32, None, "stat.error;src.class.starGalaxy", "Error on SPREAD_MODEL_I"),
        ColumnSpec("wavg_spread_model_i", f32, None, "src.class.starGalaxy;stat.mean",
                   "Weighted mean single-epoch SPREAD_MODEL in i; -99 when unmeasured"),
        ColumnSpec("wavg_spreaderr_model_i", f32, None, "stat.error;src.class.starGalaxy",
                   "Error on WAVG_SPREAD_MODEL_I; -99 when unmeasured"),
    ]
    for b in BANDS:
        cols.append(ColumnSpec(f"class_star_{b}", f32, None, "src.class.starGalaxy",
                               f"SExtractor stellarity in {b.upper()}, 0 galaxy ... 1 star"))
    cols += [
        ColumnSpec("ebv_sfd98", f32, "mag", "phot.color.excess",
                   "E(B-V) at the object (a smooth synthetic field in the demo)"),
        ColumnSpec("extended_class_coadd", i16, None, "src.class.starGalaxy",
                   "[demo] DR2-style class from SPREAD_MODEL_I and SPREADERR_MODEL_I: 0 star ... 3 galaxy"),
    ]
    return tuple(cols)


def _tile_info() -> tuple[ColumnSpec, ...]:
    f64, i32 = pa.float64(), pa.int32()
    cols = [ColumnSpec("tilename", pa.string(), None, "meta.id;obs.field", "Tile name", arraysize="12",
                       indexed=True, principal=True),
            ColumnSpec("ra_cent", f64, "deg", "pos.eq.ra;meta.main", "Right ascension of the tile centre",
                       principal=True),
            ColumnSpec("dec_cent", f64, "deg", "pos.eq.dec;meta.main", "Declination of the tile centre",
                       principal=True)]
    for k in range(1, 5):
        cols.append(ColumnSpec(f"rac{k}", f64, "deg", "pos.outline;pos.eq.ra", f"Right ascension of corner {k}"))
    for k in range(1, 5):
        cols.append(ColumnSpec(f"decc{k}", f64, "deg", "pos.outline;pos.eq.dec", f"Declination of corner {k}"))
    cols += [
        ColumnSpec("racmin", f64, "deg", "pos.eq.ra;stat.min", "Smallest corner right ascension"),
        ColumnSpec("racmax", f64, "deg", "pos.eq.ra;stat.max", "Largest corner right ascension"),
        ColumnSpec("deccmin", f64, "deg", "pos.eq.dec;stat.min", "Smallest corner declination"),
        ColumnSpec("deccmax", f64, "deg", "pos.eq.dec;stat.max", "Largest corner declination"),
        ColumnSpec("ra_size", f64, "deg", "pos.eq.ra;instr.fov", "Corner extent in right ascension"),
        ColumnSpec("dec_size", f64, "deg", "pos.eq.dec;instr.fov", "Corner extent in declination"),
        ColumnSpec("uramin", f64, "deg", "pos.eq.ra;stat.min", "Unique area: lower right ascension bound"),
        ColumnSpec("uramax", f64, "deg", "pos.eq.ra;stat.max", "Unique area: upper right ascension bound"),
        ColumnSpec("udecmin", f64, "deg", "pos.eq.dec;stat.min", "Unique area: lower declination bound"),
        ColumnSpec("udecmax", f64, "deg", "pos.eq.dec;stat.max", "Unique area: upper declination bound"),
        ColumnSpec("crossra0", pa.string(), None, "meta.code",
                   "Y when the unique area crosses RA 0 (then it is RA >= URAMAX or RA < URAMIN)", arraysize="1"),
        ColumnSpec("count", pa.int64(), None, "meta.number", "Number of DR1_MAIN objects in the tile"),
        ColumnSpec("pixelscale", f64, "arcsec", "instr.scale", "Pixel scale of the coadd images"),
        ColumnSpec("naxis1", i32, "pix", "pos.wcs.naxis", "Image width"),
        ColumnSpec("naxis2", i32, "pix", "pos.wcs.naxis", "Image height"),
        ColumnSpec("crpix1", f64, "pix", "pos.wcs.crpix", "WCS reference pixel, axis 1"),
        ColumnSpec("crpix2", f64, "pix", "pos.wcs.crpix", "WCS reference pixel, axis 2"),
        ColumnSpec("crval1", f64, "deg", "pos.wcs.crval", "WCS reference value, axis 1"),
        ColumnSpec("crval2", f64, "deg", "pos.wcs.crval", "WCS reference value, axis 2"),
        ColumnSpec("cd1_1", f64, "deg/pix", "pos.wcs.cdmatrix", "WCS CD matrix element 1_1"),
        ColumnSpec("cd1_2", f64, "deg/pix", "pos.wcs.cdmatrix", "WCS CD matrix element 1_2"),
        ColumnSpec("cd2_1", f64, "deg/pix", "pos.wcs.cdmatrix", "WCS CD matrix element 2_1"),
        ColumnSpec("cd2_2", f64, "deg/pix", "pos.wcs.cdmatrix", "WCS CD matrix element 2_2"),
        ColumnSpec("ctype1", pa.string(), None, "pos.wcs.ctype", "WCS projection, axis 1", arraysize="8"),
        ColumnSpec("ctype2", pa.string(), None, "pos.wcs.ctype", "WCS projection, axis 2", arraysize="8"),
    ]
    for name in ("FITS_IMAGE_G", "FITS_IMAGE_R", "FITS_IMAGE_I", "FITS_IMAGE_Z", "FITS_IMAGE_Y", "FITS_IMAGE_DET",
                 "FITS_DR1_MAIN", "FITS_DR1_MAGNITUDE", "FITS_DR1_FLUX", "TIFF_COLOR_IMAGE"):
        cols.append(ColumnSpec(name.lower(), pa.string(), None, "meta.ref.url",
                               f"{name}: file path relative to the release directory; empty when not generated",
                               arraysize="*"))
    return tuple(cols)


def _truth() -> tuple[ColumnSpec, ...]:
    return (
        ColumnSpec("coadd_object_id", pa.int64(), None, "meta.id", "DR1_MAIN object planted or touched by the feature",
                   indexed=True, principal=True),
        ColumnSpec("feature_id", pa.int16(), None, "meta.code", "Planted feature number (1..10; see feature)",
                   principal=True),
        ColumnSpec("feature", pa.string(), None, "meta.note", "Short feature name", arraysize="*", principal=True),
        ColumnSpec("tilename", pa.string(), None, "meta.id;obs.field", "Tile of the object", arraysize="12"),
        ColumnSpec("ra", pa.float64(), "deg", "pos.eq.ra;meta.main", "ALPHAWIN_J2000 of the object", principal=True),
        ColumnSpec("dec", pa.float64(), "deg", "pos.eq.dec;meta.main", "DELTAWIN_J2000 of the object",
                   principal=True),
        ColumnSpec("note", pa.string(), None, "meta.note", "What this row shows", arraysize="*"),
    )


DR1_MAIN = _main()
TILE_INFO = _tile_info()
DEMO_TRUTH = _truth()
TABLE_DESCRIPTIONS = {
    "dr1_main": "Synthetic DES DR1 coadd object catalogue (Tier A columns of DR1_MAIN)",
    "dr1_tile_info": "Synthetic DES DR1 tile geometry, unique areas and file names (DR1_TILE_INFO)",
    "demo_truth": "[demo] Truth of the planted features (not part of DR1)",
}


def arrow_schema(table: str, specs: tuple[ColumnSpec, ...], extra: dict[str, str] | None = None) -> pa.Schema:
    """The Arrow schema of ``table`` with field metadata and a table-level ``description``."""
    meta = {"description": TABLE_DESCRIPTIONS[table], "skygate.table": table}
    meta.update(extra or {})
    return pa.schema([s.field() for s in specs], metadata=meta)
