"""SODA cutouts and DataLink links for the coadd images of a release.

Resolves dataset IDs (``release.obscore`` identifiers) to FITS files under the release folder,
cuts every (image, region) combination, renders previews, and writes the DataLink 1.1 links
document. Blocking (astropy): the HTTP edge and the job kinds call these in a thread.
No HTTP and no queue here. Tests: tests/soda/test_routes.py.
"""

from __future__ import annotations

import io
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np

from dali.errors import TooLargeError, UsageError
from release.obscore import BAND_WAVELENGTHS, BANDS, DATALINK_FORMAT, find_image_file, image_did, parse_did
from release.regions import Region
from soda.cutout import MAX_CUTOUT_PIXELS, Cutout, NoOverlapError, cut, cutout_fits, image_geometry, pixel_box
from soda.params import MAX_SYNC_CUTOUTS, SodaRequest

__all__ = [
    "DATALINK_STANDARD_ID",
    "SODA_ASYNC_ID",
    "SODA_SYNC_ID",
    "Image",
    "UnknownDatasetError",
    "cut_one",
    "file_url",
    "links_votable",
    "preview_png",
    "resolve",
    "run_cutouts",
]

DATALINK_STANDARD_ID = "ivo://ivoa.net/std/DataLink#links-1.1"
SODA_SYNC_ID = "ivo://ivoa.net/std/SODA#sync-1.0"
SODA_ASYNC_ID = "ivo://ivoa.net/std/SODA#async-1.0"
MAX_LINK_IDS = 100
# Pixels (per extension: SCI, MSK and WGT are each this large) of all cutouts of one sync call,
# held in memory twice (the arrays, then the FITS bytes): one largest cutout's worth. Fifty
# full-image cutouts in one request once killed the API (issue 13).
MAX_SYNC_PIXELS = MAX_CUTOUT_PIXELS


class UnknownDatasetError(UsageError):
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


def run_cutouts(release_dir: Path, request: SodaRequest, *, limit: int = MAX_SYNC_CUTOUTS,
                pixel_limit: int | None = None) -> tuple[bytes, int]:
    """Every (image, region) combination of ``request`` as one FITS file, and how many were cut.

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
    return cutout_fits(cutouts), len(cutouts)


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


# ---------------------------------------------------------------------------------------------
# DataLink


def file_url(base_url: str, image: Image) -> str:
    return f"{base_url}/soda/files/{image.tilename}/{urllib.parse.quote(image.path.name)}"


def _attr(value: str) -> str:
    return escape(value, quote=True)


_LINK_FIELDS = (
    ('ID', 'char', 'meta.id;meta.main', None, "Input identifier"),
    ('access_url', 'char', 'meta.ref.url', None, "Link to the data or a preview"),
    ('service_def', 'char', 'meta.ref', None, "Service descriptor for processing links"),
    ('error_message', 'char', 'meta.code.error', None, "Why no link could be made"),
    ('description', 'char', 'meta.note', None, "What the link leads to"),
    ('semantics', 'char', 'meta.code', None, "Relation to the dataset (DataLink core vocabulary)"),
    ('content_type', 'char', 'meta.code.mime', None, "Media type of what the link returns"),
    ('content_length', 'long', 'phys.size;meta.file', 'byte', "Size of what the link returns"),
)


def _field(name: str, datatype: str, ucd: str, unit: str | None, description: str) -> str:
    size = '' if datatype == 'long' else ' arraysize="*"'
    unit_attr = f' unit="{unit}"' if unit else ''
    ident = ' ID="ID"' if name == "ID" else ''
    return (f'<FIELD name="{name}"{ident} datatype="{datatype}"{size} ucd="{ucd}"{unit_attr}>'
            f'<DESCRIPTION>{escape(description)}</DESCRIPTION></FIELD>')


def _row(did: str, *, access_url: str | None = None, service_def: str | None = None,
         error_message: str | None = None, description: str | None = None, semantics: str,
         content_type: str | None = None, content_length: int | None = None) -> str:
    cells = [did, access_url, service_def, error_message, description, semantics, content_type,
             None if content_length is None else str(content_length)]
    return "<TR>" + "".join("<TD/>" if c is None else f"<TD>{escape(c, quote=False)}</TD>" for c in cells) + "</TR>"


def _links_for(release_dir: Path, base_url: str, did: str) -> list[str]:
    try:
        images = resolve(release_dir, did)
    except UsageError:
        return [_row(did, error_message=f"NotFoundFault: no dataset with ID {did[:200]}", semantics="#this")]
    rows = []
    for image in images:
        what = f"{image.tilename} {image.band}-band coadd"
        rows.append(_row(did, access_url=file_url(base_url, image), semantics="#this",
                         description=f"The {what} image (SCI, MSK, WGT; tile-compressed FITS)",
                         content_type="application/fits", content_length=image.path.stat().st_size))
    rows.append(_row(did, service_def="soda", semantics="#cutout",
                     description="Cut a region (CIRCLE, POLYGON or POS) out of SCI, MSK and WGT with SODA",
                     content_type="application/fits"))
    for image in images:
        rows.append(_row(did, access_url=f"{base_url}/soda/preview?ID={urllib.parse.quote(image.did, safe='')}",
                         semantics="#preview", description=f"Preview of the {image.tilename} {image.band}-band image",
                         content_type="image/png"))
    return rows


def links_votable(release_dir: Path, base_url: str, ids: Sequence[str], *, limit: int = MAX_LINK_IDS) -> bytes:
    """The DataLink 1.1 document for ``ids`` (at most ``limit``; more are left out with OVERFLOW)."""
    overflow = len(ids) > limit
    rows = [row for did in ids[:limit] for row in _links_for(release_dir, base_url, did)]
    parts = [
        ('<?xml version="1.0" encoding="UTF-8"?>\n'
        '<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        '<RESOURCE type="results">\n'
        '<INFO name="QUERY_STATUS" value="OK">Links listed</INFO>\n'
        f'<INFO name="standardID" value="{DATALINK_STANDARD_ID}"/>\n'
        "<TABLE>\n"),
        "\n".join(_field(*f) for f in _LINK_FIELDS),
        "\n<DATA><TABLEDATA>\n",
        "\n".join(rows),
        "\n</TABLEDATA></DATA>\n</TABLE>\n",
    ]
    if overflow:
        parts.append(f'<INFO name="QUERY_STATUS" value="OVERFLOW">Only the first {limit} IDs were processed</INFO>\n')
    parts.append("</RESOURCE>\n")
    parts.append(soda_descriptor(base_url, id_ref="ID", resource_id="soda"))
    parts.append("</VOTABLE>\n")
    return "".join(parts).encode()


def soda_descriptor(base_url: str, *, id_ref: str, resource_id: str = "soda") -> str:
    """The SODA sync service descriptor; its ID input takes its value from the FIELD ``id_ref``."""
    return (
        f'<RESOURCE type="meta" utype="adhoc:service" ID="{resource_id}">\n'
        f'<PARAM name="standardID" datatype="char" arraysize="*" value="{SODA_SYNC_ID}"/>\n'
        f'<PARAM name="accessURL" datatype="char" arraysize="*" value="{_attr(base_url)}/soda/sync"/>\n'
        '<PARAM name="contentType" datatype="char" arraysize="*" value="application/fits"/>\n'
        '<GROUP name="inputParams">\n'
        f'<PARAM name="ID" datatype="char" arraysize="*" ucd="meta.ref.url;meta.curation" ref="{id_ref}" value=""/>\n'
        '<PARAM name="CIRCLE" datatype="double" arraysize="3" xtype="circle" unit="deg" ucd="pos.outline;obs" '
        'value=""><DESCRIPTION>Circle to cut: ra dec radius (ICRS, degrees)</DESCRIPTION></PARAM>\n'
        '<PARAM name="POLYGON" datatype="double" arraysize="*" xtype="polygon" unit="deg" ucd="pos.outline;obs" '
        'value=""><DESCRIPTION>Polygon to cut: ra dec pairs (ICRS, degrees)</DESCRIPTION></PARAM>\n'
        '<PARAM name="POS" datatype="char" arraysize="*" ucd="pos.outline;obs" value="">'
        '<DESCRIPTION>CIRCLE, RANGE or POLYGON region to cut</DESCRIPTION></PARAM>\n'
        '<PARAM name="BAND" datatype="double" arraysize="2" xtype="interval" unit="m" ucd="em.wl;stat.interval" '
        'value=""><DESCRIPTION>Wavelength interval: selects the filters of a tile</DESCRIPTION></PARAM>\n'
        "</GROUP>\n</RESOURCE>\n"
    )


def links_error(message: str) -> bytes:
    """A whole-request DataLink error (a DALI error VOTable)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">\n'
        '<RESOURCE type="results">\n'
        f'<INFO name="QUERY_STATUS" value="ERROR">{escape(message, quote=False)}</INFO>\n'
        f'<INFO name="standardID" value="{DATALINK_STANDARD_ID}"/>\n'
        "</RESOURCE>\n</VOTABLE>\n"
    ).encode()


DATALINK_MEDIA_TYPE = DATALINK_FORMAT
