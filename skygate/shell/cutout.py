"""``cutout RA DEC [SIZE] [BANDS] > file``: image cutouts through the standard path, on any service.

ObsCore (images whose ``s_region`` contains the position) -> each image's DataLink document -> its
SODA sync service descriptor (SODA 1.0 §3, DataLink 1.1 §4) -> one CIRCLE cutout per image, all
written as the image extensions of one FITS file named by each image's ``obs_id``. Where a step is
missing (no ``ivoa.obscore``, no DataLink, no SODA descriptor) the shell says which.
Tests: tests/skygate/shell/test_cutout.py.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skygate.shell.client import ServiceError
from skygate.shell.display import read_result

if TYPE_CHECKING:
    from skygate.shell.session import Shell

__all__ = ["CutoutRequest", "parse_cutout", "run_cutout"]

SODA_SYNC = "ivo://ivoa.net/std/soda#sync-1"
# Effective wavelengths (m) of the usual optical filters, to pick images by ObsCore em_min..em_max.
BAND_CENTRES = {"u": 3.55e-7, "g": 4.8e-7, "r": 6.4e-7, "i": 7.8e-7, "z": 9.2e-7, "y": 9.9e-7}
_USAGE = "usage: cutout RA DEC [SIZE_ARCMIN] [BANDS] > file.fits"


@dataclass(frozen=True, slots=True)
class CutoutRequest:
    ra: float
    dec: float
    size_arcmin: float
    bands: str
    target: Path


def parse_cutout(args: str) -> CutoutRequest:
    """RA DEC in degrees, SIZE the side in arcminutes (default 1), BANDS letters such as ``gri``."""
    match = re.search(r"\s*>\s*(\S+)\s*\Z", args)
    if match is None:
        raise ServiceError(f"{_USAGE} (the file is required)")
    words = args[: match.start()].split()
    if not 2 <= len(words) <= 4:
        raise ServiceError(_USAGE)
    try:
        ra, dec = float(words[0]), float(words[1])
        size = float(words[2]) if len(words) > 2 else 1.0
    except ValueError as exc:
        raise ServiceError(f"{_USAGE}: RA, DEC and SIZE are numbers (degrees, degrees, arcminutes)") from exc
    bands = words[3].lower() if len(words) > 3 else ""
    if not (0 <= ra < 360 and -90 <= dec <= 90 and 0 < size <= 600):
        raise ServiceError("cutout: RA in [0, 360), DEC in [-90, 90], SIZE in (0, 600] arcminutes")
    if any(b not in BAND_CENTRES for b in bands):
        raise ServiceError(f"cutout: bands are letters among {''.join(BAND_CENTRES)}")
    target = Path(match.group(1)).expanduser()
    if target.suffix.lower() not in (".fits", ".fit"):
        raise ServiceError("cutout: the file must end in .fits")
    return CutoutRequest(ra, dec, size, bands, target)


def run_cutout(shell: Shell, args: str) -> None:
    """Find the images at the position, cut each through SODA, write them into one FITS file."""
    from astropy.io import fits

    request = parse_cutout(args)
    images = _images(shell, request)
    radius = request.size_arcmin / 120.0
    hdus: list[Any] = [fits.PrimaryHDU()]
    for obs_id, access_url in images:
        access, soda_id = _soda(shell, obs_id, access_url)
        response = shell.client.get(access, params={"ID": soda_id, "CIRCLE": f"{request.ra} {request.dec} {radius}"})
        assert response is not None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cut = fits.open(io.BytesIO(response.content))
            image = next((h for h in cut if h.data is not None and h.is_image), None)
        if image is None:
            raise ServiceError(f"the cutout of {obs_id} holds no image")
        hdu = fits.ImageHDU(image.data, image.header, name=obs_id[:68])
        hdus.append(hdu)
        shell.say(f"  {obs_id}: {image.data.shape[1]} x {image.data.shape[0]} pixels")
    try:
        fits.HDUList(hdus).writeto(request.target, overwrite=True)
    except OSError as exc:
        raise ServiceError(f"cannot write {request.target}: {exc.strerror or exc}") from exc
    shell.say(f"wrote {len(hdus) - 1} cutouts to {request.target}")


def _images(shell: Shell, request: CutoutRequest) -> list[tuple[str, str]]:
    if shell.metadata is None or shell.metadata.find("ivoa.obscore") is None:
        raise ServiceError("this service has no ivoa.obscore table, so there are no images to cut (no SODA found)")
    query = ("SELECT obs_id, access_url, access_format, em_min, em_max FROM ivoa.obscore "
             "WHERE dataproduct_type = 'image' AND "
             f"1 = CONTAINS(POINT('ICRS', {request.ra!r}, {request.dec!r}), s_region) ORDER BY em_min")
    response = shell.client.sync(query, wait=shell.config.timeout, maxrec=1000)
    if response is None:
        raise ServiceError("the service did not answer the image search in time")
    with response.response:
        table = read_result(response.response.content).table
    found = []
    for row in table:
        if request.bands and not any(_covers(row, BAND_CENTRES[b]) for b in request.bands):
            continue
        found.append((str(row["obs_id"]), str(row["access_url"])))
    if not found:
        which = f" in bands {request.bands}" if request.bands else ""
        raise ServiceError(f"no image covers ({request.ra}, {request.dec}){which}")
    return found


def _covers(row: Any, wavelength: float) -> bool:
    try:
        return float(row["em_min"]) <= wavelength <= float(row["em_max"])
    except (TypeError, ValueError):
        return False


def _soda(shell: Shell, obs_id: str, links_url: str) -> tuple[str, str]:
    """The SODA sync URL and the ID to send it, from the image's DataLink document."""
    from astropy.io.votable import parse

    response = shell.client.get(links_url)
    assert response is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            document = parse(io.BytesIO(response.content), verify="ignore")
        except Exception as exc:
            raise ServiceError(f"{obs_id}: the access URL does not lead to a DataLink document") from exc
    rows = document.get_first_table().to_table()
    for resource in document.resources:
        params = {p.name: p for p in resource.params}
        standard = str(params["standardID"].value) if "standardID" in params else ""
        if resource.type != "meta" or not standard.lower().startswith(SODA_SYNC):
            continue
        access = str(params["accessURL"].value) if "accessURL" in params else ""
        group = next((g for g in resource.groups if g.name == "inputParams"), None)
        id_param = next((p for p in (group.entries if group else []) if getattr(p, "name", "") == "ID"), None)
        usable = [r for r in rows if not ("error_message" in rows.colnames and r["error_message"])]
        chosen = [r for r in usable if str(r["service_def"]) == resource.ID] or usable
        if access and id_param is not None and chosen:
            ref = getattr(id_param, "ref", None)
            value = str(chosen[0][ref]) if ref and ref in rows.colnames else str(id_param.value or "")
            return access, value
    errors = [str(r["error_message"]) for r in rows if "error_message" in rows.colnames and r["error_message"]]
    reason = f": {errors[0]}" if errors else ""
    raise ServiceError(f"{obs_id}: its DataLink document offers no SODA cutout for it{reason}")
