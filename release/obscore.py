"""The image index of a release: ``ivoa.obscore`` (ObsCore 1.1), one row per coadd tile and band.

What lives here: the published ObsCore columns (names, types, UCDs, utypes, units), the rows
built from the tile table and the FITS headers at ingest, the view that prefixes the stored
DataLink path with the backend's base-URL session variable, and the dataset identifiers and
image files the rows name (which SIA and SODA resolve).
It stays away from HTTP and from running SQL: ``release.layout`` stores what ``build_obscore``
returns. The sky regions and the overlap test of SIA and SODA are ``dali.regions``.
Tests: tests/release/test_obscore.py, tests/release/test_obscore_ingested.py.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from dali.descriptors import DATALINK_FORMAT  # the access_format of every row: its DataLink document
from dali.sphere import counter_clockwise, separation
from dali.values import Column, TableMeta

__all__ = [
    "BANDS",
    "BAND_WAVELENGTHS",
    "DATALINK_FORMAT",
    "DID_BASE",
    "OBSCORE_BASE_TABLE",
    "OBSCORE_TABLE",
    "ImageRef",
    "ObscoreBuild",
    "build_obscore",
    "find_image_file",
    "image_did",
    "obscore_base_meta",
    "obscore_meta",
    "obscore_view_sql",
    "parse_did",
    "tile_did",
]

# Public dataset identifiers: ivo://<authority>/<release>/coadd?<TILENAME>[_<band>].
DID_BASE = "ivo://skygate/des_dr1/coadd"
OBSCORE_TABLE = "ivoa.obscore"
# The stored rows; ``ivoa.obscore`` is a view over it that adds the public base URL.
OBSCORE_BASE_TABLE = "ivoa.skygate_obscore"

BANDS = ("g", "r", "i", "z", "Y")
# DECam filter wavelength ranges in metres, approximately the 50 % transmission points
# (DES DR1 paper, arXiv:1801.03181, Table 1).
BAND_WAVELENGTHS: Mapping[str, tuple[float, float]] = {
    "g": (398e-9, 548e-9),
    "r": (568e-9, 716e-9),
    "i": (710e-9, 857e-9),
    "z": (850e-9, 1002e-9),
    "Y": (953e-9, 1065e-9),
}
# Median PSF FWHM of the DR1 coadds in arcsec (the DES DR1 paper: Abbott et al. 2018, ApJS 239, 18).
_PSF_FWHM = {"g": 1.12, "r": 0.96, "i": 0.88, "z": 0.84, "Y": 0.90}
# DR1 uses the first three years of DES (2013-08-15 to 2016-02-12), as MJD.
_T_MIN, _T_MAX = 56519.0, 57430.0
# Wide-survey design depth: ten 90 s exposures in g r i z, ten 45 s in Y (DES DR1 paper, §2).
_EXPTIME = {"g": 900.0, "r": 900.0, "i": 900.0, "z": 900.0, "Y": 450.0}
_TILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+\-_.]{0,63}$")


# ---------------------------------------------------------------------------------------------
# Columns


def _col(name: str, datatype: str, ucd: str, utype: str, unit: str | None = None,
         description: str = "", arraysize: str | None = None, xtype: str | None = None,
         principal: bool = False) -> Column:
    if datatype == "char" and arraysize is None:
        arraysize = "*"
    return Column(name=name, datatype=datatype, arraysize=arraysize, xtype=xtype, unit=unit, ucd=ucd,
                  utype=f"obscore:{utype}", description=description, principal=principal, std=True)


_COLUMNS: tuple[Column, ...] = (
    _col("dataproduct_type", "char", "meta.code.class", "ObsDataset.dataProductType",
         description="Data product type: image", principal=True),
    _col("calib_level", "int", "meta.code;obs.calib", "ObsDataset.calibLevel",
         description="Calibration level: 3 for coadded, calibrated images", principal=True),
    _col("obs_collection", "char", "meta.id", "DataID.Collection",
         description="Name of the data collection", principal=True),
    _col("obs_id", "char", "meta.id", "DataID.observationID",
         description="Observation identifier: tile name and band", principal=True),
    _col("obs_publisher_did", "char", "meta.ref.ivoid", "Curation.PublisherDID",
         description="Dataset identifier given by the publisher (the SODA and DataLink ID)", principal=True),
    _col("access_url", "char", "meta.ref.url", "Access.Reference",
         description="DataLink document listing the image, its cutout service and a preview", principal=True),
    _col("access_format", "char", "meta.code.mime", "Access.Format",
         description="Format of what access_url returns (a DataLink document)", principal=True),
    _col("access_estsize", "long", "phys.size;meta.file", "Access.Size", unit="kbyte",
         description="Size of the FITS image file"),
    _col("target_name", "char", "meta.id;src", "Target.Name", description="Tile name", principal=True),
    _col("s_ra", "double", "pos.eq.ra", "Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C1",
         unit="deg", description="Right ascension of the tile centre (ICRS)", principal=True),
    _col("s_dec", "double", "pos.eq.dec", "Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C2",
         unit="deg", description="Declination of the tile centre (ICRS)", principal=True),
    _col("s_fov", "double", "phys.angSize;instr.fov", "Char.SpatialAxis.Coverage.Bounds.Extent.diameter",
         unit="deg", description="Diameter of the circle around the centre that holds the whole tile"),
    # ObsCore 1.1 App. C: an adql:REGION string without a unit. Stored as the DALI vertex list (so
    # ADQL geometry runs on it); query results carry it as STC-S ("Polygon ICRS lon lat ...").
    _col("s_region", "char", "pos.outline;obs.field", "Char.SpatialAxis.Coverage.Support.Area",
         xtype="adql:REGION",
         description="Tile outline: the four corners, counter-clockwise (ICRS), as STC-S", principal=True),
    _col("s_resolution", "double", "pos.angResolution", "Char.SpatialAxis.Resolution.Refval.value",
         unit="arcsec", description="Median PSF FWHM of the coadd in this band"),
    _col("s_xel1", "long", "meta.number", "Char.SpatialAxis.numBins1", description="Pixels along axis 1"),
    _col("s_xel2", "long", "meta.number", "Char.SpatialAxis.numBins2", description="Pixels along axis 2"),
    _col("t_min", "double", "time.start;obs.exposure", "Char.TimeAxis.Coverage.Bounds.Limits.StartTime",
         unit="d", description="Start of the observations combined in the release (MJD)"),
    _col("t_max", "double", "time.end;obs.exposure", "Char.TimeAxis.Coverage.Bounds.Limits.StopTime",
         unit="d", description="End of the observations combined in the release (MJD)"),
    _col("t_exptime", "double", "time.duration;obs.exposure", "Char.TimeAxis.Coverage.Support.Extent",
         unit="s", description="Design exposure time of the coadd"),
    _col("t_resolution", "double", "time.resolution", "Char.TimeAxis.Resolution.Refval.value",
         unit="s", description="Time resolution (none for a coadd)"),
    _col("t_xel", "long", "meta.number", "Char.TimeAxis.numBins", description="Samples along time"),
    _col("em_min", "double", "em.wl;stat.min", "Char.SpectralAxis.Coverage.Bounds.Limits.LoLimit",
         unit="m", description="Short wavelength end of the filter"),
    _col("em_max", "double", "em.wl;stat.max", "Char.SpectralAxis.Coverage.Bounds.Limits.HiLimit",
         unit="m", description="Long wavelength end of the filter"),
    _col("em_res_power", "double", "spect.resolution", "Char.SpectralAxis.Resolution.ResolPower.refVal",
         description="Spectral resolving power of the filter (centre / width)"),
    _col("em_xel", "long", "meta.number", "Char.SpectralAxis.numBins", description="Samples along wavelength"),
    _col("o_ucd", "char", "meta.ucd", "Char.ObservableAxis.ucd", description="UCD of the pixel values"),
    _col("pol_states", "char", "meta.code;phys.polarization", "Char.PolarizationAxis.stateList",
         description="Polarization states (none)"),
    _col("pol_xel", "long", "meta.number", "Char.PolarizationAxis.numBins",
         description="Polarization samples (none)"),
    _col("facility_name", "char", "meta.id;instr.tel", "Provenance.ObsConfig.Facility.name",
         description="Telescope", principal=True),
    _col("instrument_name", "char", "meta.id;instr", "Provenance.ObsConfig.Instrument.name",
         description="Camera", principal=True),
)
_NOT_NULL = ("calib_level", "obs_collection", "obs_id", "obs_publisher_did")


def obscore_meta() -> TableMeta:
    """``ivoa.obscore`` as published in TAP_SCHEMA (a view; ``access_url`` built at query time)."""
    return TableMeta(schema="ivoa", name="obscore", columns=_COLUMNS, table_type="view",
                     utype="ivo://ivoa.net/std/ObsCore#core-1.1",
                     description="ObsCore 1.1: one row per coadd tile and band; access_url leads to DataLink")


def obscore_base_meta() -> TableMeta:
    """The stored table behind the view: ``access_url`` is replaced by the relative ``skygate_access_path``.

    Its name starts with ``skygate_``: it is internal and never published in TAP_SCHEMA.
    """
    columns = tuple(
        Column(name="skygate_access_path", datatype="char", arraysize="*")
        if c.name == "access_url" else c for c in _COLUMNS
    )
    return TableMeta(schema="ivoa", name="skygate_obscore", columns=columns,
                     description="Stored ObsCore rows (internal; published through the ivoa.obscore view)")


def obscore_view_sql(dialect: str) -> str:
    """``CREATE VIEW ivoa.obscore`` over the stored rows, prefixing the base URL session variable.

    The base URL is read per connection from a session variable, so the same database serves any ``BASE_URL``.
    """
    if dialect == "duckdb":
        base = "getvariable('skygate_base_url')"
    elif dialect == "postgres":
        base = "current_setting('skygate.base_url', true)"
    else:
        raise ValueError(f"unknown dialect {dialect!r}")
    select = ",\n  ".join(
        f"coalesce({base}, '') || skygate_access_path AS access_url" if c.name == "access_url" else c.name
        for c in _COLUMNS
    )
    return f"CREATE OR REPLACE VIEW {OBSCORE_TABLE} AS SELECT\n  {select}\nFROM {OBSCORE_BASE_TABLE}"


# ---------------------------------------------------------------------------------------------
# Identifiers and files


@dataclass(frozen=True, slots=True)
class ImageRef:
    """What a dataset identifier names: a tile, and a band when it names one image."""

    tilename: str
    band: str | None


def image_did(tilename: str, band: str) -> str:
    return f"{DID_BASE}?{tilename}_{band}"


def tile_did(tilename: str) -> str:
    return f"{DID_BASE}?{tilename}"


def parse_did(did: str) -> ImageRef | None:
    """The tile (and band) an identifier names, or None when it is not one of ours.

    IVOIDs compare case-insensitively in their authority and path (SIA 2.0 §3.2), the query
    part (tile name, band) is kept as written.
    """
    base, sep, local = did.strip().partition("?")
    if not sep or base.lower() != DID_BASE.lower() or not _TILENAME.match(local):
        return None
    tilename, _, band = local.rpartition("_")
    if tilename and band in BANDS:
        return ImageRef(tilename=tilename, band=band)
    return ImageRef(tilename=local, band=None)


def find_image_file(release_dir: Path, tilename: str, band: str) -> Path | None:
    """The tile-band FITS file ``release_dir/tiles/{TILENAME}/{TILENAME}_r{REQNUM}p{ATTNUM}_{band}.fits.fz``
    (DES DR1's file names), or None."""
    if not _TILENAME.match(tilename) or band not in BANDS:
        return None
    folder = release_dir / "tiles" / tilename
    matches = sorted(folder.glob(f"{tilename}_r*p*_{band}.fits.fz")) if folder.is_dir() else []
    return matches[-1] if matches else None


def _links_path(did: str) -> str:
    return "/soda/links?ID=" + urllib.parse.quote(did, safe="")


# ---------------------------------------------------------------------------------------------
# Rows


@dataclass(frozen=True, slots=True)
class ObscoreBuild:
    """What ingest stores: the rows of ``ivoa.skygate_obscore`` and how to publish the view."""

    table: pa.Table
    base_meta: TableMeta
    meta: TableMeta

    def view_sql(self, dialect: str) -> str:
        return obscore_view_sql(dialect)


def build_obscore(release_dir: Path, tile_info: pa.Table, *, collection: str = "DES DR1") -> ObscoreBuild:
    """ObsCore rows for every tile of ``tile_info`` and every band whose FITS file exists.

    Parameters
    ----------
    release_dir
        The release folder holding ``tiles/{TILENAME}/...fits.fz``.
    tile_info
        The ``des_dr1.tile_info`` table (DES DR1's tile list); column names are matched case-insensitively.
    collection
        ``obs_collection`` of every row.

    Returns
    -------
    ObscoreBuild
        The Arrow rows (with ``skygate_access_path``), their metadata, and the view DDL.
    """
    from astropy.io import fits  # heavy import kept out of module import

    info = {name.lower(): tile_info.column(name).to_pylist() for name in tile_info.column_names}
    rows: dict[str, list[object]] = {c.name: [] for c in obscore_base_meta().columns}
    for i, tilename in enumerate(info["tilename"]):
        tilename = str(tilename).strip()
        corners = [(float(info[f"rac{k}"][i]), float(info[f"decc{k}"][i])) for k in (1, 2, 3, 4)]
        ra, dec = float(info["ra_cent"][i]), float(info["dec_cent"][i])
        polygon = counter_clockwise(corners)
        fov = 2.0 * max(separation(ra, dec, lon, lat) for lon, lat in polygon)
        for band in BANDS:
            path = find_image_file(release_dir, tilename, band)
            if path is None:
                continue
            header = fits.getheader(path, 1)
            did = image_did(tilename, band)
            lo, hi = BAND_WAVELENGTHS[band]
            values: dict[str, object] = {
                "dataproduct_type": "image", "calib_level": 3, "obs_collection": collection,
                "obs_id": f"{tilename}_{band}", "obs_publisher_did": did,
                "skygate_access_path": _links_path(did), "access_format": DATALINK_FORMAT,
                "access_estsize": max(1, path.stat().st_size // 1024), "target_name": tilename,
                "s_ra": ra, "s_dec": dec, "s_fov": fov,
                "s_region": [v for corner in polygon for v in corner],
                "s_resolution": _PSF_FWHM[band],
                "s_xel1": int(header.get("ZNAXIS1", header.get("NAXIS1", 0))),
                "s_xel2": int(header.get("ZNAXIS2", header.get("NAXIS2", 0))),
                "t_min": _T_MIN, "t_max": _T_MAX, "t_exptime": _EXPTIME[band], "t_resolution": None,
                "t_xel": 1, "em_min": lo, "em_max": hi, "em_res_power": (lo + hi) / 2 / (hi - lo),
                "em_xel": 1, "o_ucd": "phot.flux.density", "pol_states": None, "pol_xel": None,
                "facility_name": "CTIO-4m", "instrument_name": "DECam",
            }
            for name, value in values.items():
                rows[name].append(value)
    schema = pa.schema([_arrow_field(c) for c in obscore_base_meta().columns])
    table = pa.table(rows, schema=schema)
    return ObscoreBuild(table=table, base_meta=obscore_base_meta(), meta=obscore_meta())


def _arrow_field(column: Column) -> pa.Field:
    types = {"char": pa.string(), "int": pa.int32(), "long": pa.int64(), "double": pa.float64()}
    kind = pa.list_(pa.float64()) if column.name == "s_region" else types[column.datatype]
    return pa.field(column.name, kind, nullable=column.name not in _NOT_NULL)
