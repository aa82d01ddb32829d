"""What describes a HiPS survey: its ``properties`` file (HiPS 1.0 §4.4) and the ``hipslist`` of them all.

``band_survey`` and ``colour_survey`` say what each survey is (name, title, band, formats, order,
position and field of view to open on, sky fraction); ``write_properties`` writes the ``properties``
file; ``read_properties`` parses one; ``hipslist`` joins every survey's properties, each with its
``hips_service_url``, as the HiPS 1.0 §4.5 list Aladin's discovery reads (or, with none built, a
comment saying how to build them). ``BuildRecord`` is what the surveys were last built from (each
coadd's size, modification time and corners, per band; the order; each band's cut), kept beside
them so the next build redoes only the tiles of the coadds that changed. Pure text; no HTTP.
Tests: tests/sky/test_hips.py, tests/sky/test_hips_incremental.py.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from release.obscore import BAND_WAVELENGTHS

__all__ = ["AUTHORITY", "COLOUR_SURVEY", "RECORD_FILE", "BuildRecord", "CoaddStamp", "SurveyInfo", "band_survey",
           "building_marker", "colour_survey", "hipslist", "read_properties", "survey_name", "write_properties"]

AUTHORITY = "skygate"  # as the image DIDs (release.obscore.DID_BASE)
RELEASE = "des_dr1"
_TITLE = "DES DR1 (Skygate demo release)"
COLOUR_SURVEY = f"{RELEASE}_colour_irg"
RECORD_FILE = ".skygate-build.json"  # in the HiPS folder, beside the surveys (hipslist reads */properties only)
_RECORD_VERSION = 1  # bumped when what the tiles hold changes: an older record then means a full build


@dataclass(frozen=True, slots=True)
class SurveyInfo:
    """One survey's description (the contents of its ``properties``)."""

    name: str
    title: str
    description: str
    formats: tuple[str, ...]
    order: int
    pixscale: float  # arcsec per coadd pixel
    sky_fraction: float
    initial_ra: float
    initial_dec: float
    initial_fov: float
    em_min: float
    em_max: float
    cut: tuple[float, float] | None = None
    rgb: tuple[str, str, str] | None = None

    @property
    def creator_did(self) -> str:
        return f"ivo://{AUTHORITY}/P/{RELEASE}/{self.name.removeprefix(RELEASE + '_')}"

    def with_cut(self, cut: tuple[float, float]) -> SurveyInfo:
        return replace(self, cut=cut)

    def properties(self) -> dict[str, str]:
        """The ``properties`` keywords, in the order HiPS 1.0 §4.4.1 lists them."""
        props = {
            "creator_did": self.creator_did,
            "obs_title": self.title,
            "obs_description": self.description,
            "obs_collection": "DES DR1",
            "obs_regime": "Optical",
            "dataproduct_type": "image",
            "hips_creator": "Skygate",
            "hips_version": "1.4",
            "hips_release_date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%MZ"),
            "hips_builder": f"Skygate with reproject {_reproject_version()}",
            "hips_status": "public master clonableOnce",
            "hips_frame": "equatorial",
            "hips_order": str(self.order),
            "hips_order_min": "3",
            "hips_tile_width": "512",
            "hips_tile_format": " ".join("png" if f == "png" else f for f in self.formats),
            "hips_pixel_scale": f"{_tile_pixel_deg(self.order):.9g}",
            "s_pixel_scale": f"{self.pixscale / 3600.0:.9g}",
            "hips_initial_ra": f"{self.initial_ra:.6f}",
            "hips_initial_dec": f"{self.initial_dec:.6f}",
            "hips_initial_fov": f"{self.initial_fov:.6f}",
            "moc_sky_fraction": f"{self.sky_fraction:.9g}",
            "em_min": f"{self.em_min:.4g}",
            "em_max": f"{self.em_max:.4g}",
            "t_min": "56519.0",
            "t_max": "57430.0",
            "prov_progenitor": "DES DR1 coadd tiles of this Skygate release",
            "client_category": "Image/Optical/DES",
        }
        if "fits" in self.formats:
            props.update(hips_pixel_bitpix="-32", data_pixel_bitpix="-32")
        if self.cut is not None:
            props["hips_pixel_cut"] = f"{self.cut[0]:.6g} {self.cut[1]:.6g}"
            props["hips_pixel_func"] = "asinh"
        if self.rgb is not None:
            props.update(hips_rgb_red=self.rgb[0], hips_rgb_green=self.rgb[1], hips_rgb_blue=self.rgb[2])
        return props


def survey_name(band: str) -> str:
    """The folder (and name) of one band's survey."""
    return f"{RELEASE}_{band.lower()}"


def band_survey(band: str, order: int, pixscale: float, moc: Any) -> SurveyInfo:
    """The survey of one band's coadds (FITS tiles for science, PNG to look at)."""
    key = next(b for b in BAND_WAVELENGTHS if b.lower() == band.lower())
    ra, dec, fov = _view(moc)
    return SurveyInfo(
        name=survey_name(band), title=f"{_TITLE} {key} coadds",
        description=f"The {key}-band coadd tiles, reprojected to HEALPix (bilinear); FITS tiles keep the "
                    "coadd flux units, PNG tiles are an asinh stretch between hips_pixel_cut.",
        formats=("fits", "png"), order=order, pixscale=pixscale, sky_fraction=float(moc.sky_fraction),
        initial_ra=ra, initial_dec=dec, initial_fov=fov, em_min=BAND_WAVELENGTHS[key][0],
        em_max=BAND_WAVELENGTHS[key][1])


def colour_survey(order: int, pixscale: float, moc: Any) -> SurveyInfo:
    """The i, r, g colour composite (Lupton et al. 2004, the bulk cutouts' stretch)."""
    ra, dec, fov = _view(moc)
    return SurveyInfo(
        name=COLOUR_SURVEY, title=f"{_TITLE} colour (i r g)",
        description="Lupton et al. (2004) asinh colour composite of the i, r and g HiPS tiles, with the "
                    "stretch of the bulk cutout thumbnails.",
        formats=("png",), order=order, pixscale=pixscale, sky_fraction=float(moc.sky_fraction),
        initial_ra=ra, initial_dec=dec, initial_fov=fov, em_min=BAND_WAVELENGTHS["g"][0],
        em_max=BAND_WAVELENGTHS["i"][1], rgb=(f"{RELEASE}_i", f"{RELEASE}_r", f"{RELEASE}_g"))


def write_properties(root: Path, info: SurveyInfo) -> None:
    width = max(len(k) for k in info.properties())
    text = "".join(f"{key:<{width}} = {value}\n" for key, value in info.properties().items())
    (root / "properties").write_text(text)


def read_properties(path: Path) -> dict[str, str]:
    """``key = value`` lines; comments (#) and blank lines skipped."""
    props: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        props[key.strip()] = value.strip()
    return props


def hipslist(hips_dir: Path, base_url: str) -> str:
    """HiPS 1.0 §4.5: every survey's properties with ``hips_service_url``, separated by blank lines."""
    blocks = []
    for path in sorted(hips_dir.glob("*/properties")):
        props = read_properties(path)
        props["hips_service_url"] = f"{base_url}/hips/{path.parent.name}"
        width = max(len(k) for k in props)
        blocks.append("".join(f"{k:<{width}} = {v}\n" for k, v in props.items()))
    header = f"# HiPS list of {base_url} (HiPS 1.0 section 4.5)\n\n"
    since = _building_since(hips_dir)
    if since is not None:
        what = "more of them are" if blocks else "No HiPS built yet: they are"
        header += f"# {what} being built in the background (since {since} UTC); reload in a few minutes.\n\n"
    elif not blocks:
        # Aladin reads an empty list; a person reading it (or /sky, which says the same) learns what to run.
        header += "# No HiPS built yet: run `skygate hips build` (`make serve` builds them in the background).\n"
    return header + "\n".join(blocks)


def building_marker(hips_dir: Path) -> Path:
    """The file a background build (``skygate serve --build-hips``) keeps while it runs: its pid and start time."""
    return hips_dir / ".building"


def _building_since(hips_dir: Path) -> str | None:
    """When the running background build started (HH:MM), or None when none runs (its process is gone)."""
    try:
        pid, started = building_marker(hips_dir).read_text().split()[:2]
        os.kill(int(pid), 0)
    except (OSError, ValueError):
        return None
    return datetime.fromtimestamp(int(started), UTC).strftime("%H:%M")


@dataclass(frozen=True, slots=True)
class CoaddStamp:
    """One coadd as a build saw it: file size, modification time (ns) and its four corners (ra, dec)."""

    size: int
    mtime_ns: int
    corners: tuple[tuple[float, float], ...]

    @classmethod
    def of(cls, stat: os.stat_result, corners: tuple[tuple[float, float], ...]) -> CoaddStamp:
        return cls(size=stat.st_size, mtime_ns=stat.st_mtime_ns, corners=corners)

    def same_file(self, stat: os.stat_result) -> bool:
        """Size and modification time unchanged (as make decides; hashing the coadds would read them whole)."""
        return self.size == stat.st_size and self.mtime_ns == stat.st_mtime_ns


@dataclass(frozen=True, slots=True)
class BuildRecord:
    """What the surveys in a HiPS folder were built from: band -> coadd file (relative to the release) -> stamp."""

    order: int
    pixscale: float
    coadds: dict[str, dict[str, CoaddStamp]] = field(default_factory=dict)
    cuts: dict[str, tuple[float, float]] = field(default_factory=dict)

    @classmethod
    def read(cls, hips_dir: Path) -> BuildRecord | None:
        """The stored record, or None when there is none or it is unreadable or from another version."""
        try:
            data = json.loads((hips_dir / RECORD_FILE).read_text())
            if data.get("version") != _RECORD_VERSION:
                return None
            coadds = {band: {name: CoaddStamp(int(s["size"]), int(s["mtime_ns"]),
                                              tuple((float(ra), float(dec)) for ra, dec in s["corners"]))
                             for name, s in files.items()} for band, files in data["coadds"].items()}
            cuts = {band: (float(lo), float(hi)) for band, (lo, hi) in data["cuts"].items()}
            return cls(order=int(data["order"]), pixscale=float(data["pixscale"]), coadds=coadds, cuts=cuts)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def write(self, hips_dir: Path) -> None:
        """Write the record atomically (a reader sees the old one or the new one)."""
        data = {"version": _RECORD_VERSION, "order": self.order, "pixscale": self.pixscale,
                "cuts": {band: list(cut) for band, cut in sorted(self.cuts.items())},
                "coadds": {band: {name: {"size": s.size, "mtime_ns": s.mtime_ns,
                                         "corners": [list(c) for c in s.corners]} for name, s in sorted(files.items())}
                           for band, files in sorted(self.coadds.items())}}
        temporary = hips_dir / f"{RECORD_FILE}.tmp"
        temporary.write_text(json.dumps(data, indent=1) + "\n")
        temporary.replace(hips_dir / RECORD_FILE)

    @staticmethod
    def remove(hips_dir: Path) -> None:
        (hips_dir / RECORD_FILE).unlink(missing_ok=True)


def _reproject_version() -> str:
    from importlib.metadata import version

    return version("reproject")


def _tile_pixel_deg(order: int) -> float:
    side: float = math.degrees(math.sqrt(math.pi / 3.0)) / (512.0 * 2.0**order)
    return side


def _view(moc: Any) -> tuple[float, float, float]:
    """Centre (ra, dec) of the MOC's cells and a field of view holding all of them, in degrees."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from cdshealpix.nested import healpix_to_lonlat

    order = int(moc.max_order)
    cells = np.asarray(moc.flatten(), dtype=np.uint64)
    if cells.size == 0:
        return 0.0, 0.0, 180.0
    lon, lat = healpix_to_lonlat(cells, order)
    points = SkyCoord(lon, lat)
    xyz = points.cartesian.xyz.value.mean(axis=1)
    centre = SkyCoord(x=xyz[0], y=xyz[1], z=xyz[2], representation_type="cartesian").spherical
    centre_sky = SkyCoord(centre.lon, centre.lat)
    fov = 2.0 * float(points.separation(centre_sky).max().to_value(u.deg)) + 0.2
    return float(centre.lon.to_value(u.deg)) % 360.0, float(centre.lat.to_value(u.deg)), min(fov, 180.0)
