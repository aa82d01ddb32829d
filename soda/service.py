"""SODA cutouts of the coadd images of a release.

Resolves dataset IDs (``release.obscore`` identifiers) to FITS files under the release folder,
cuts every (image, region) combination and renders previews; the DataLink links of the same
images are ``soda.links``. Blocking (astropy): the HTTP edge and the job kinds call these in a
thread. No HTTP and no queue here. Tests: tests/soda/test_routes.py.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from dali.errors import NotFoundError, TooLargeError
from dali.regions import Region
from release.obscore import BAND_WAVELENGTHS, BANDS, find_image_file, image_did, parse_did
from soda.cutout import MAX_CUTOUT_PIXELS, Cutout, NoOverlapError, cut, image_geometry, pixel_box, write_fits
from soda.params import MAX_SYNC_CUTOUTS, SodaRequest

__all__ = ["Image", "UnknownDatasetError", "cut_one", "preview_png", "resolve", "run_cutouts"]

# Pixels (per extension: SCI, MSK and WGT are each this large) of all cutouts of one sync call,
# held in memory once, as the FITS bytes of the answer: one largest cutout's worth. Fifty
# full-image cutouts in one request once killed the API (issue 13).
MAX_SYNC_PIXELS = MAX_CUTOUT_PIXELS


class UnknownDatasetError(NotFoundError):
    """An ID that names no image of this release."""


@dataclass(frozen=True, slots=True)
class Image:
    """One tile-band image file and the ID it is published under."""

    did: str
    tilename: str
    band: str
    path: Path


def _overlaps(band: str, intervals: Sequence[tuple[float, float]]) -> bool:
    lo, hi = BAND_WAVELENGTHS[band]
    return any(a <= hi and b >= lo for a, b in intervals)


def resolve(release_dir: Path, did: str, bands: Sequence[tuple[float, float]] = ()) -> list[Image]:
    """The images ``did`` names: one image, or the tile's images whose filter overlaps ``bands``.

    Raises
    ------
    UnknownDatasetError
        When the ID names nothing here.
    NoOverlapError
        When ``bands`` excludes every image the ID names.
    """
    ref = parse_did(did)
    if ref is None:
        raise UnknownDatasetError(f"no dataset with ID {did[:200]!r}", param="ID")
    candidates = [ref.band] if ref.band else list(BANDS)
    images = []
    for band in candidates:
        path = find_image_file(release_dir, ref.tilename, band)
        if path is not None:
            images.append(Image(image_did(ref.tilename, band), ref.tilename, band, path))
    if not images:
        raise UnknownDatasetError(f"no dataset with ID {did[:200]!r}", param="ID")
    if bands:
        images = [i for i in images if _overlaps(i.band, bands)]
        if not images:
            raise NoOverlapError("BAND does not overlap the filter of any image of this ID", param="BAND")
    return images


def cut_one(image: Image, region: object) -> Cutout:
    """One cutout (a thin wrapper kept for the job kinds)."""
    return cut(image.path, region)  # type: ignore[arg-type]


def run_cutouts(release_dir: Path, request: SodaRequest, out: IO[bytes], *, limit: int = MAX_SYNC_CUTOUTS,
                pixel_limit: int | None = None) -> int:
    """Write every (image, region) combination of ``request`` to ``out`` as one FITS file, reading
    each extension's pixels as it is written; return how many were cut.

    Combinations whose region misses the image are left out; when all miss, ``NoOverlapError``.

    Raises
    ------
    TooLargeError
        More than ``limit`` combinations, or cutouts of more than ``pixel_limit`` pixels in all
        (``MAX_SYNC_PIXELS`` when None; measured from the image headers before any pixel is read).
    """
    images = [image for did in request.ids for image in resolve(release_dir, did, request.bands)]
    combinations = [(image, region) for image in images for region in request.regions]
    if len(combinations) > limit:
        raise TooLargeError(f"the request makes {len(combinations)} cutouts; at most {limit} per sync call",
                            param="ID", hint="use /soda/async or /soda/bulk for more")
    overlapping = _sized(combinations, MAX_SYNC_PIXELS if pixel_limit is None else pixel_limit)
    cutouts = [cut(image.path, region) for image, region in overlapping]
    if not cutouts:
        raise NoOverlapError("no requested region overlaps the requested images", param="POS",
                             hint="search with SIA for images that cover the region")
    write_fits(out, cutouts)
    return len(cutouts)


def _sized(combinations: Sequence[tuple[Image, Region]], pixel_limit: int) -> list[tuple[Image, Region]]:
    """The combinations whose region overlaps the image, refused when their cutouts would hold
    more than ``pixel_limit`` pixels (per extension) together."""
    kept: list[tuple[Image, Region]] = []
    pixels = 0
    for image, region in combinations:
        try:
            box = pixel_box(image_geometry(image.path), region)
        except NoOverlapError:
            continue
        pixels += box.shape[0] * box.shape[1]
        if pixels > pixel_limit:
            raise TooLargeError(f"the cutouts would hold more than {pixel_limit} pixels per extension in all; "
                                f"at most {pixel_limit} per sync call", param="POS",
                                hint="ask for smaller regions, or use /soda/async for many large cutouts")
        kept.append((image, region))
    return kept


# ---------------------------------------------------------------------------------------------
# Preview


def preview_png(path: Path, *, size: int = 512) -> bytes:
    """A grey-scale PNG of the SCI extension, north up, east left, at most ``size`` pixels a side.

    Reads every n-th row and column through ``.section`` so only those tiles are decompressed.
    """
    from astropy.io import fits
    from astropy.visualization import AsinhStretch, ZScaleInterval
    from PIL import Image as PILImage

    with fits.open(path, lazy_load_hdus=True) as hdul:
        hdu = hdul["SCI"]
        ny, nx = int(hdu.header["NAXIS2"]), int(hdu.header["NAXIS1"])
        step = max(1, -(-max(nx, ny) // size))
        data = np.asarray(hdu.section[::step, ::step], dtype=np.float32)
    finite = np.where(np.isfinite(data), data, 0.0)
    lo, hi = ZScaleInterval().get_limits(finite)
    scaled = AsinhStretch()(np.clip((finite - lo) / max(hi - lo, 1e-12), 0, 1))
    pixels = (np.flipud(scaled) * 255).astype(np.uint8)  # FITS row 1 is south: flip for north up
    buffer = io.BytesIO()
    PILImage.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()
