"""The image index of a release: ``ivoa.obscore`` (ObsCore 1.1), one row per coadd tile and band.

What lives here: the published ObsCore columns (names, types, UCDs, utypes, units), the rows
built from the tile table and the FITS headers at ingest, the view that prefixes the stored
DataLink path with the backend's base-URL session variable, the dataset identifiers, and the
sky regions (DALI circle, range, polygon) with an exact spherical overlap test against a tile
footprint, which both SIA (search) and SODA (cutouts) use.
It stays away from HTTP and from running SQL: ingest executes what ``build_obscore`` returns.
Tests: tests/release/test_obscore.py.
"""

from __future__ import annotations

import itertools
import math
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from dali.values import Column, TableMeta

__all__ = [
    "BANDS",
    "BAND_WAVELENGTHS",
    "DATALINK_FORMAT",
    "DID_BASE",
    "MAX_POLYGON_VERTICES",
    "OBSCORE_BASE_TABLE",
    "OBSCORE_TABLE",
    "Circle",
    "ImageRef",
    "ObscoreBuild",
    "Polygon",
    "Range",
    "Region",
    "RegionError",
    "build_obscore",
    "find_image_file",
    "image_did",
    "obscore_base_meta",
    "obscore_meta",
    "obscore_view_sql",
    "parse_circle",
    "parse_did",
    "parse_polygon",
    "parse_pos",
    "parse_range",
    "region_bounds",
    "region_contains",
    "region_overlaps",
    "tile_did",
    "unit_vector",
]

# Public dataset identifiers: ivo://<authority>/<release>/coadd?<TILENAME>[_<band>].
DID_BASE = "ivo://skygate/des_dr1/coadd"
DATALINK_FORMAT = "application/x-votable+xml;content=datalink"
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
# Median PSF FWHM of the DR1 coadds in arcsec (DATA.md §5, from the DR1 paper).
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

    The base URL is read per connection (brief §2), so the same database serves any ``BASE_URL``.
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
    """The tile-band FITS file under ``release_dir/tiles`` (DATA.md §2 layout), or None."""
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
        The ``des_dr1.tile_info`` table (DATA.md §2); column names are matched case-insensitively.
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
        polygon = _counter_clockwise(corners)
        fov = 2.0 * max(_separation(ra, dec, lon, lat) for lon, lat in polygon)
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


# ---------------------------------------------------------------------------------------------
# Regions


@dataclass(frozen=True, slots=True)
class Circle:
    """A DALI circle: centre and radius in degrees (ICRS)."""

    ra: float
    dec: float
    radius: float


@dataclass(frozen=True, slots=True)
class Range:
    """A SIA/SODA RANGE: RA and Dec intervals in degrees; ``ra_min > ra_max`` wraps through 0."""

    ra_min: float
    ra_max: float
    dec_min: float
    dec_max: float


@dataclass(frozen=True, slots=True)
class Polygon:
    """A DALI polygon: at least three (ra, dec) vertices in degrees, joined by great circles."""

    vertices: tuple[tuple[float, float], ...]


Region = Circle | Range | Polygon


# The overlap test costs vertices x image edges per candidate row: 3,000 vertices held a SIA
# query for 10 s (issue 13). DALI sets no limit; survey footprints need a few dozen vertices.
MAX_POLYGON_VERTICES = 200


class RegionError(ValueError):
    """A region string that does not parse (or, with ``limit``, is over a documented size
    limit); services turn it into their usage error."""

    def __init__(self, message: str, *, limit: str | None = None) -> None:
        super().__init__(message)
        self.limit = limit


def _numbers(text: str, what: str) -> list[float]:
    values: list[float] = []
    for token in text.split():
        try:
            value = float(token)
        except ValueError:
            raise RegionError(f"{what} has a value that is not a number: {token[:40]!r}") from None
        values.append(value)
    return values


def parse_circle(text: str) -> Circle:
    """A DALI circle ``ra dec radius`` (degrees)."""
    values = _numbers(text, "CIRCLE")
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        raise RegionError("CIRCLE needs three finite numbers: ra dec radius")
    ra, dec, radius = values
    _check_lat(dec, "CIRCLE")
    if not 0 < radius <= 180:
        raise RegionError("CIRCLE radius must be in (0, 180] degrees")
    return Circle(ra % 360.0, dec, radius)


def parse_polygon(text: str) -> Polygon:
    """A DALI polygon ``ra1 dec1 ra2 dec2 ...`` (three to ``MAX_POLYGON_VERTICES`` vertices)."""
    if len(text.split()) > 2 * MAX_POLYGON_VERTICES:
        raise RegionError(f"POLYGON has more than {MAX_POLYGON_VERTICES} vertices",
                          limit=f"at most {MAX_POLYGON_VERTICES} vertices per polygon")
    values = _numbers(text, "POLYGON")
    if len(values) < 6 or len(values) % 2 or not all(math.isfinite(v) for v in values):
        raise RegionError("POLYGON needs at least three ra dec pairs of finite numbers")
    vertices = tuple((values[i] % 360.0, values[i + 1]) for i in range(0, len(values), 2))
    for _, lat in vertices:
        _check_lat(lat, "POLYGON")
    return Polygon(vertices)


def parse_range(text: str) -> Range:
    """A RANGE ``ra_min ra_max dec_min dec_max``; open ends as ``-Inf``/``+Inf``."""
    values = _numbers(text, "RANGE")
    if len(values) != 4 or any(math.isnan(v) for v in values):
        raise RegionError("RANGE needs four numbers: ra_min ra_max dec_min dec_max")
    ra_min, ra_max, dec_min, dec_max = values
    if math.isinf(ra_min) or math.isinf(ra_max) or (ra_max - ra_min) >= 360:
        ra_min, ra_max = 0.0, 360.0
    else:
        low, high = ra_min % 360.0, ra_max % 360.0
        ra_min, ra_max = low, (360.0 if high == 0.0 and ra_max > ra_min else high)
    dec_min, dec_max = max(dec_min, -90.0), min(dec_max, 90.0)
    if dec_min > dec_max:
        raise RegionError("RANGE Dec interval is empty (dec_min > dec_max)")
    return Range(ra_min, ra_max, dec_min, dec_max)


def parse_pos(text: str) -> Region:
    """A SIA 2.0 / SODA POS value: ``CIRCLE ...``, ``RANGE ...`` or ``POLYGON ...``."""
    shape, _, rest = text.strip().partition(" ")
    shape = shape.upper()
    if shape == "CIRCLE":
        return parse_circle(rest)
    if shape == "RANGE":
        return parse_range(rest)
    if shape == "POLYGON":
        return parse_polygon(rest)
    raise RegionError("POS must start with CIRCLE, RANGE or POLYGON")


def _check_lat(lat: float, what: str) -> None:
    if not -90 <= lat <= 90:
        raise RegionError(f"{what} latitude {lat:g} is outside [-90, 90]")


# ---------------------------------------------------------------------------------------------
# Spherical geometry (unit vectors; exact up to floating point)

_EPS = 1e-12


def unit_vector(ra: float, dec: float) -> np.ndarray:
    a, d = math.radians(ra), math.radians(dec)
    return np.array([math.cos(d) * math.cos(a), math.cos(d) * math.sin(a), math.sin(d)])


def _separation(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    dot = float(np.dot(unit_vector(ra1, dec1), unit_vector(ra2, dec2)))
    cross = float(np.linalg.norm(np.cross(unit_vector(ra1, dec1), unit_vector(ra2, dec2))))
    return math.degrees(math.atan2(cross, dot))


def _counter_clockwise(corners: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The corners ordered counter-clockwise seen from inside the sphere (DALI polygon rule)."""
    vectors = [unit_vector(*c) for c in corners]
    centre = sum(vectors)
    turn = sum(float(np.dot(np.cross(vectors[i], vectors[(i + 1) % len(vectors)]), centre))
               for i in range(len(vectors)))
    ordered = list(corners) if turn > 0 else list(reversed(corners))
    return [(lon % 360.0, lat) for lon, lat in ordered]


def _on_arc(point: np.ndarray, a: np.ndarray, b: np.ndarray, normal: np.ndarray) -> bool:
    return float(np.dot(np.cross(a, point), normal)) >= -_EPS and float(np.dot(np.cross(point, b), normal)) >= -_EPS


def _arcs_cross(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> bool:
    n1, n2 = np.cross(a, b), np.cross(c, d)
    len1, len2 = float(np.linalg.norm(n1)), float(np.linalg.norm(n2))
    if len1 < _EPS or len2 < _EPS:  # an arc shorter than the precision: treat it as a point
        return False
    n1, n2 = n1 / len1, n2 / len2
    line = np.cross(n1, n2)
    norm = float(np.linalg.norm(line))
    if norm < 1e-9:  # same great circle: overlap when an end point lies on the other arc
        return any(_on_arc(p, a, b, n1) and float(np.dot(p, (a + b))) > 0 for p in (c, d)) or \
            any(_on_arc(p, c, d, n2) and float(np.dot(p, (c + d))) > 0 for p in (a, b))
    line /= norm
    return any(_on_arc(t, a, b, n1) and _on_arc(t, c, d, n2) for t in (line, -line))


class _Convex:
    """A convex spherical polygon (a tile footprint) in vector form."""

    def __init__(self, vertices: Sequence[tuple[float, float]]) -> None:
        self.lonlat = _counter_clockwise(vertices)
        self.vectors = [unit_vector(*v) for v in self.lonlat]
        n = len(self.vectors)
        self.edges = [(self.vectors[i], self.vectors[(i + 1) % n]) for i in range(n)]
        self.normals = [np.cross(a, b) / np.linalg.norm(np.cross(a, b)) for a, b in self.edges]

    def contains(self, point: np.ndarray) -> bool:
        return all(float(np.dot(point, n)) >= -_EPS for n in self.normals)


def _circle_overlaps(circle: Circle, tile: _Convex) -> bool:
    centre = unit_vector(circle.ra, circle.dec)
    cos_r = math.cos(math.radians(circle.radius))
    sin_r = math.sin(math.radians(circle.radius))
    if tile.contains(centre) or any(float(np.dot(centre, v)) >= cos_r - _EPS for v in tile.vectors):
        return True
    for (a, b), normal in zip(tile.edges, tile.normals, strict=True):
        # Nearest point of the edge's great circle to the centre; it must lie within the arc
        # and on the centre's side (radius < 90) for the edge to pass within the radius.
        foot = centre - float(np.dot(centre, normal)) * normal
        if float(np.linalg.norm(foot)) < _EPS:
            continue
        foot /= np.linalg.norm(foot)
        if abs(float(np.dot(centre, normal))) <= sin_r + _EPS and float(np.dot(foot, centre)) >= cos_r - _EPS \
                and _on_arc(foot, a, b, normal):
            return True
    return False


def _in_range(lon: float, lat: float, rng: Range) -> bool:
    if not rng.dec_min - _EPS <= lat <= rng.dec_max + _EPS:
        return False
    lon %= 360.0
    if rng.ra_max - rng.ra_min >= 360.0:
        return True
    if rng.ra_min <= rng.ra_max:
        return rng.ra_min - _EPS <= lon <= rng.ra_max + _EPS
    return lon >= rng.ra_min - _EPS or lon <= rng.ra_max + _EPS


def _lonlat(v: np.ndarray) -> tuple[float, float]:
    return math.degrees(math.atan2(v[1], v[0])) % 360.0, math.degrees(math.asin(max(-1.0, min(1.0, v[2]))))


def _range_overlaps(rng: Range, tile: _Convex) -> bool:
    if any(_in_range(lon, lat, rng) for lon, lat in tile.lonlat):
        return True
    full = rng.ra_max - rng.ra_min >= 360.0
    corners = [] if full else [(rng.ra_min, rng.dec_min), (rng.ra_min, rng.dec_max),
                               (rng.ra_max, rng.dec_min), (rng.ra_max, rng.dec_max)]
    if any(tile.contains(unit_vector(*c)) for c in corners):
        return True
    if tile.contains(unit_vector(0, 90)) and rng.dec_max >= 90 - _EPS:
        return True
    if tile.contains(unit_vector(0, -90)) and rng.dec_min <= -90 + _EPS:
        return True
    for a, b in tile.edges:
        # Meridian sides (great-circle arcs), split at the equator to stay shorter than 180°.
        if not full:
            for lon in (rng.ra_min, rng.ra_max):
                cuts = sorted({rng.dec_min, max(rng.dec_min, min(rng.dec_max, 0.0)), rng.dec_max})
                for lo, hi in itertools.pairwise(cuts):
                    if hi > lo and _arcs_cross(a, b, unit_vector(lon, lo), unit_vector(lon, hi)):
                        return True
        # Parallel sides (small circles): where the edge reaches that latitude.
        for lat in (rng.dec_min, rng.dec_max):
            for point in _arc_at_latitude(a, b, lat):
                if _in_range(*_lonlat(point), rng):
                    return True
    return False


def _arc_at_latitude(a: np.ndarray, b: np.ndarray, lat: float) -> list[np.ndarray]:
    """Points of the great-circle arc a→b at latitude ``lat``."""
    angle = math.atan2(float(np.linalg.norm(np.cross(a, b))), float(np.dot(a, b)))
    w = b - float(np.dot(a, b)) * a
    norm = float(np.linalg.norm(w))
    if norm < _EPS:
        return []
    w /= norm
    # z(t) = a_z cos t + w_z sin t = R cos(t - phi)
    amp = math.hypot(float(a[2]), float(w[2]))
    target = math.sin(math.radians(lat))
    if amp < _EPS or abs(target) > amp:
        return []
    phi = math.atan2(float(w[2]), float(a[2]))
    delta = math.acos(max(-1.0, min(1.0, target / amp)))
    points = []
    for t in (phi + delta, phi - delta):
        t = (t + 2 * math.pi) % (2 * math.pi)
        if t <= angle + _EPS:
            points.append(a * math.cos(t) + w * math.sin(t))
    return points


def _polygon_contains(polygon: Polygon, point: np.ndarray) -> bool:
    """Point in a (possibly concave) polygon smaller than a hemisphere: gnomonic projection
    about the polygon's centre maps its great-circle edges to straight lines."""
    vectors = np.array([unit_vector(*v) for v in polygon.vertices])
    centre = vectors.sum(axis=0)
    centre /= np.linalg.norm(centre)
    if float(np.dot(point, centre)) <= _EPS or np.any(vectors @ centre <= _EPS):
        return False
    east = np.cross([0.0, 0.0, 1.0], centre)
    if np.linalg.norm(east) < _EPS:
        east = np.array([0.0, 1.0, 0.0])
    east /= np.linalg.norm(east)
    north = np.cross(centre, east)

    def plane(v: np.ndarray) -> tuple[float, float]:
        scale = float(np.dot(v, centre))
        return float(np.dot(v, east)) / scale, float(np.dot(v, north)) / scale

    x, y = plane(point)
    xy = [plane(v) for v in vectors]
    inside = False
    for (x1, y1), (x2, y2) in zip(xy, xy[1:] + xy[:1], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _polygon_overlaps(polygon: Polygon, tile: _Convex) -> bool:
    vectors = [unit_vector(*v) for v in polygon.vertices]
    if any(tile.contains(v) for v in vectors):
        return True
    if any(_polygon_contains(polygon, v) for v in tile.vectors):
        return True
    edges = list(zip(vectors, vectors[1:] + vectors[:1], strict=True))
    return any(_arcs_cross(a, b, c, d) for a, b in edges for c, d in tile.edges)


def region_contains(region: Region, lon: float, lat: float) -> bool:
    """Whether the point (lon, lat) in degrees lies in ``region`` (boundary included)."""
    if isinstance(region, Circle):
        return float(np.dot(unit_vector(region.ra, region.dec), unit_vector(lon, lat))) >= \
            math.cos(math.radians(region.radius)) - _EPS
    if isinstance(region, Range):
        return _in_range(lon, lat, region)
    return _polygon_contains(region, unit_vector(lon, lat))


def region_overlaps(region: Region, outline: Iterable[float]) -> bool:
    """Whether ``region`` and a convex outline (a flat ``lon lat ...`` list, degrees) share any point.

    Exact on the sphere: touching counts (a circle that reaches only a corner overlaps), and
    nothing depends on where RA wraps.
    """
    flat = list(outline)
    tile = _Convex([(flat[i], flat[i + 1]) for i in range(0, len(flat) - 1, 2)])
    if isinstance(region, Circle):
        return _circle_overlaps(region, tile)
    if isinstance(region, Range):
        return _range_overlaps(region, tile)
    return _polygon_overlaps(region, tile)


def region_bounds(region: Region) -> tuple[float, float, float]:
    """A circle (ra, dec, radius in degrees) holding the whole region, for coarse prefilters."""
    if isinstance(region, Circle):
        return region.ra, region.dec, region.radius
    if isinstance(region, Range):
        if region.ra_max - region.ra_min >= 360.0:
            if region.dec_min <= -90 + _EPS:
                return 0.0, -90.0, 90.0 + region.dec_max
            if region.dec_max >= 90 - _EPS:
                return 0.0, 90.0, 90.0 - region.dec_min
            return 0.0, 0.0, 180.0
        width = (region.ra_max - region.ra_min) % 360.0
        points = [(region.ra_min + width * k / 8, lat) for k in range(9)
                  for lat in (region.dec_min, (region.dec_min + region.dec_max) / 2, region.dec_max)]
    else:
        points = list(region.vertices)
    vectors = np.array([unit_vector(*p) for p in points])
    centre = vectors.sum(axis=0)
    if float(np.linalg.norm(centre)) < _EPS:
        return 0.0, 0.0, 180.0
    ra, dec = _lonlat(centre / np.linalg.norm(centre))
    radius = max(_separation(ra, dec, lon, lat) for lon, lat in points)
    if isinstance(region, Range):
        radius += 0.5 * (region.dec_max - region.dec_min)  # parallels bulge beyond their sampled points
    return ra, dec, min(180.0, radius)
