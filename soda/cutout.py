"""Cut a sky region out of a coadd image file (SCI, MSK and WGT extensions).

Reads only the pixels needed: ``.section`` on the (tile-compressed or memory-mapped) HDUs
decompresses just the tiles under the cutout, never the whole image. The WCS of each output
extension is the tile's header with CRPIX shifted; every other keyword is kept, and
``RA_CUTOUT``/``DEC_CUTOUT`` say where the cutout was asked for.
A ``Cutout`` holds no pixels: ``write_fits`` reads them a block of rows at a time as it writes,
so a file of whole-image cutouts is in memory once, as its bytes, and no more (issue 13).
Pure computation on astropy objects: no HTTP, no queue, no database. Callers run it in a thread.
Tests: tests/soda/test_cutout.py.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from dali.errors import UsageError
from dali.regions import (
    Circle,
    Polygon,
    Range,
    Region,
    region_bounds,
    region_contains,
    region_overlaps,
)
from dali.sphere import unit
from soda.pixels import BLOCK_BYTES, headers, read_blocks, read_section

__all__ = [
    "EXTENSIONS",
    "MAX_CUTOUT_PIXELS",
    "Cutout",
    "NoOverlapError",
    "PixelBox",
    "SizedBox",
    "cut",
    "cutout_header",
    "image_cutout_cards",
    "image_cutout_header",
    "image_geometry",
    "pixel_box",
    "write_desaccess",
    "write_fits",
]

EXTENSIONS = ("SCI", "MSK", "WGT")
# About 200 MB for SCI+MSK+WGT: larger regions are a download of the file, not a cutout.
MAX_CUTOUT_PIXELS = 4096 * 4096


class NoOverlapError(UsageError):
    """The requested region does not overlap the image (SODA ``NoOverlap``)."""


@dataclass(frozen=True, slots=True)
class SizedBox:
    """A box of ``xsize`` by ``ysize`` arcminutes centred on (ra, dec) (DESaccess cutouts)."""

    ra: float
    dec: float
    xsize: float
    ysize: float


@dataclass(frozen=True, slots=True)
class PixelBox:
    """0-based half-open pixel bounds ``[x0, x1) x [y0, y1)``; ``trimmed`` when cut by the image edge."""

    x0: int
    x1: int
    y0: int
    y1: int
    trimmed: bool

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0


@dataclass(frozen=True, slots=True)
class ImageGeometry:
    """What a cutout needs from the SCI header: size, WCS, footprint and pixel scale."""

    naxis1: int
    naxis2: int
    wcs: WCS
    outline: tuple[float, ...]
    pixscale: float  # arcsec per pixel


@dataclass(frozen=True, slots=True)
class Cutout:
    """A box of an image file to cut from each extension in ``names``, and where it was asked for.

    No pixels: ``write_fits`` reads them block by block, ``pixels`` one whole extension.
    """

    path: Path
    box: PixelBox
    ra: float
    dec: float
    names: tuple[str, ...] = EXTENSIONS

    def header(self, name: str) -> fits.Header:
        """The output header of extension ``name`` (``image_cutout_header``)."""
        return image_cutout_header(self.path, name, self.box, self.ra, self.dec)

    def pixels(self, name: str) -> np.ndarray:
        """The cut pixels of extension ``name``, read now."""
        return read_section(self.path, name, self.box.y0, self.box.y1, self.box.x0, self.box.x1)

    def blocks(self, name: str) -> Iterator[np.ndarray]:
        """The cut pixels of extension ``name`` as blocks of rows (``soda.pixels.read_blocks``)."""
        return read_blocks(self.path, name, self.box.y0, self.box.y1, self.box.x0, self.box.x1)


def image_geometry(path: Path) -> ImageGeometry:
    """The SCI extension's size, WCS and footprint (cached per file and modification time)."""
    stat = path.stat()
    return _geometry(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _geometry(path: str, mtime_ns: int, size: int) -> ImageGeometry:
    header = headers(Path(path)).image["SCI"]
    naxis1, naxis2 = int(header["NAXIS1"]), int(header["NAXIS2"])
    wcs = WCS(header)
    corners = np.array([[-0.5, -0.5], [naxis1 - 0.5, -0.5], [naxis1 - 0.5, naxis2 - 0.5], [-0.5, naxis2 - 0.5]])
    world = wcs.all_pix2world(corners, 0)
    outline = tuple(float(v) for lon, lat in world for v in (lon % 360.0, lat))
    scales = wcs.proj_plane_pixel_scales()
    pixscale = float(np.mean([s.to_value("arcsec") for s in scales]))
    return ImageGeometry(naxis1, naxis2, wcs, outline, pixscale)


def pixel_box(geometry: ImageGeometry, region: Region | SizedBox) -> PixelBox:
    """The pixels of the image covered by ``region``, trimmed to the image.

    Raises
    ------
    NoOverlapError
        When the region and the image share no pixel.
    """
    if isinstance(region, SizedBox):
        return _sized_box(geometry, region)
    if not region_overlaps(region, geometry.outline):
        raise NoOverlapError("the region does not overlap the image", param="POS",
                             hint="search with SIA or ask DataLink for images that cover it")
    points = _boundary_points(region, geometry)
    pix = geometry.wcs.all_world2pix(points, 0)
    # Pixel i covers [i - 0.5, i + 0.5): the box spans the pixels the region's points fall in.
    x_lo, x_hi = math.floor(pix[:, 0].min() + 0.5), math.floor(pix[:, 0].max() + 0.5) + 1
    y_lo, y_hi = math.floor(pix[:, 1].min() + 0.5), math.floor(pix[:, 1].max() + 0.5) + 1
    return _clip(geometry, x_lo, x_hi, y_lo, y_hi)


def _sized_box(geometry: ImageGeometry, box: SizedBox) -> PixelBox:
    x, y = (float(v) for v in geometry.wcs.all_world2pix([[box.ra, box.dec]], 0)[0])
    nx = max(1, round(box.xsize * 60.0 / geometry.pixscale))
    ny = max(1, round(box.ysize * 60.0 / geometry.pixscale))
    # Same rounding as astropy.nddata.utils.overlap_slices (used by Cutout2D in DESaccess).
    x_lo, x_hi = math.ceil(x - nx / 2.0), math.ceil(x + nx / 2.0)
    y_lo, y_hi = math.ceil(y - ny / 2.0), math.ceil(y + ny / 2.0)
    if x_hi <= 0 or y_hi <= 0 or x_lo >= geometry.naxis1 or y_lo >= geometry.naxis2:
        raise NoOverlapError("the position is not on the image", param="POS")
    return _clip(geometry, x_lo, x_hi, y_lo, y_hi)


def _clip(geometry: ImageGeometry, x_lo: int, x_hi: int, y_lo: int, y_hi: int) -> PixelBox:
    x0, x1 = max(0, x_lo), min(geometry.naxis1, x_hi)
    y0, y1 = max(0, y_lo), min(geometry.naxis2, y_hi)
    if x1 <= x0 or y1 <= y0:
        raise NoOverlapError("the region does not overlap the image", param="POS")
    trimmed = (x0, x1, y0, y1) != (x_lo, x_hi, y_lo, y_hi)
    return PixelBox(x0, x1, y0, y1, trimmed)


def _boundary_points(region: Region, geometry: ImageGeometry) -> np.ndarray:
    """Points on the region's edge near the image, plus the image corners inside the region."""
    if isinstance(region, Circle):
        points = _circle_points(region, 96)
    elif isinstance(region, Polygon):
        points = _polygon_points(region, 16)
    else:
        points = _range_points(region, 64)
    corners = [(geometry.outline[i], geometry.outline[i + 1]) for i in range(0, 8, 2)]
    centre = geometry.wcs.all_pix2world([[(geometry.naxis1 - 1) / 2, (geometry.naxis2 - 1) / 2]], 0)[0]
    # Only points within 60° of the image centre project sensibly onto its tangent plane.
    axis = unit(float(centre[0]), float(centre[1]))
    near = [p for p in points if float(np.dot(unit(*p), axis)) > 0.5]
    inside = [c for c in corners if region_contains(region, *c)]
    return np.array(near + inside, dtype=float)


def _circle_points(circle: Circle, n: int) -> list[tuple[float, float]]:
    ra0, dec0, r = (math.radians(v) for v in (circle.ra, circle.dec, circle.radius))
    points = []
    for k in range(n):
        bearing = 2 * math.pi * k / n
        lat = math.asin(math.sin(dec0) * math.cos(r) + math.cos(dec0) * math.sin(r) * math.cos(bearing))
        lon = ra0 + math.atan2(math.sin(bearing) * math.sin(r) * math.cos(dec0),
                               math.cos(r) - math.sin(dec0) * math.sin(lat))
        points.append((math.degrees(lon) % 360.0, math.degrees(lat)))
    return points


def _polygon_points(polygon: Polygon, per_edge: int) -> list[tuple[float, float]]:
    vectors = [np.array(unit(*v)) for v in polygon.vertices]
    points = []
    for a, b in zip(vectors, vectors[1:] + vectors[:1], strict=True):
        for k in range(per_edge):
            v = a + (b - a) * (k / per_edge)
            v = v / np.linalg.norm(v)
            points.append((math.degrees(math.atan2(v[1], v[0])) % 360.0, math.degrees(math.asin(v[2]))))
    return points


def _range_points(rng: Range, n: int) -> list[tuple[float, float]]:
    width = rng.ra_max - rng.ra_min if rng.ra_max >= rng.ra_min else rng.ra_max + 360.0 - rng.ra_min
    points = []
    for k in range(n + 1):
        lon = (rng.ra_min + width * k / n) % 360.0
        lat = rng.dec_min + (rng.dec_max - rng.dec_min) * k / n
        points += [(lon, rng.dec_min), (lon, rng.dec_max)]
        if width < 360.0:
            points += [(rng.ra_min, lat), (rng.ra_max, lat)]
    return points


def cut(path: Path, region: Region | SizedBox, *, extensions: Sequence[str] = EXTENSIONS) -> Cutout:
    """Cut ``region`` out of each extension of the image file at ``path`` (the pixels are read
    when the cutout is written or asked for).

    Parameters
    ----------
    path
        A MEF with ``SCI``, ``MSK`` and ``WGT`` image HDUs (tile-compressed or not).
    region
        A SODA/SIA region (the box that holds it is cut) or a ``SizedBox``.
    extensions
        Which extensions to cut, in output order.

    Raises
    ------
    NoOverlapError
        When the region misses the image.
    """
    geometry = image_geometry(path)
    box = pixel_box(geometry, region)
    if box.shape[0] * box.shape[1] > MAX_CUTOUT_PIXELS:
        raise UsageError(f"the cutout would be {box.shape[1]} x {box.shape[0]} pixels; at most "
                         f"{MAX_CUTOUT_PIXELS} pixels per extension", param="POS",
                         hint="ask for a smaller region, or download the whole image from its DataLink #this link")
    ra, dec = _region_centre(region)
    return Cutout(path, box, ra, dec, tuple(extensions))


def _region_centre(region: Region | SizedBox) -> tuple[float, float]:
    if isinstance(region, (Circle, SizedBox)):
        return region.ra, region.dec
    ra, dec, _ = region_bounds(region)
    return ra, dec


def _card(key: str, value: float | bool | str, comment: str = "") -> str:
    """One 80-character header card (fixed format; HIERARCH for keys over 8 characters)."""
    if isinstance(value, bool):
        text = "T" if value else "F"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = f"{value:.16G}"
        if "." not in text and "E" not in text:
            text += ".0"
    else:
        text = "'" + value.replace("'", "''").ljust(8) + "'"
    if len(key) > 8:
        image = f"HIERARCH {key} = {text}"
    else:
        image = f"{key:<8}= {text:>20}" if not isinstance(value, str) else f"{key:<8}= {text:<20}"
    if comment:
        image += f" / {comment}"
    return image[:80].ljust(80)


def _cutout_cards(source: fits.Header, box: PixelBox, ra: float, dec: float) -> str:
    cards = [
        _card("CRPIX1", float(source["CRPIX1"]) - box.x0, "reference pixel, shifted to the cutout"),
        _card("CRPIX2", float(source["CRPIX2"]) - box.y0, "reference pixel, shifted to the cutout"),
        _card("RA_CUTOUT", round(ra, 8), "[deg] requested cutout centre, RA"),
        _card("DEC_CUTOUT", round(dec, 8), "[deg] requested cutout centre, Dec"),
        _card("CUTOUT_X", box.x0 + 1, "first tile pixel (1-based) along axis 1"),
        _card("CUTOUT_Y", box.y0 + 1, "first tile pixel (1-based) along axis 2"),
        _card("TRIMMED", box.trimmed, "cutout reduced to the image edge"),
    ]
    if box.trimmed:
        cards.append("HISTORY Cutout trimmed: the requested region reaches beyond the image.".ljust(80))
    return "".join(cards)


def image_cutout_header(path: Path, extname: str, box: PixelBox, ra: float, dec: float) -> fits.Header:
    """``cutout_header`` for an extension of an image file, from its cached card text (fast)."""
    return fits.Header.fromstring(image_cutout_cards(path, extname, box, ra, dec))


def image_cutout_cards(path: Path, extname: str, box: PixelBox, ra: float, dec: float) -> str:
    """The cutout header of an extension as card text (80-character cards, no END)."""
    sources = headers(path)
    return sources.cards[extname] + _cutout_cards(sources.image[extname], box, ra, dec)


def cutout_header(source: fits.Header, box: PixelBox, ra: float, dec: float) -> fits.Header:
    """The tile header with CRPIX shifted to ``box`` and the cutout keywords added."""
    kept = source.copy(strip=True)
    for key in ("CHECKSUM", "DATASUM", "CRPIX1", "CRPIX2", "EXTNAME", "EXTVER"):
        kept.remove(key, ignore_missing=True, remove_all=True)
    text = kept.tostring(sep="", endcard=False, padding=False) + _cutout_cards(source, box, ra, dec)
    return fits.Header.fromstring(text)


_STRUCTURAL = frozenset({"SIMPLE", "XTENSION", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND", "PCOUNT",
                         "GCOUNT", "EXTNAME", "EXTVER", "BSCALE", "BZERO", "END"})
_FITS_BITPIX = {"f4": -32, "f8": -64, "i2": 16, "i4": 32, "i8": 64, "u1": 8}


def write_fits(out: IO[bytes], cutouts: Sequence[Cutout], *, primary_sci: bool = False) -> None:
    """Write the cutouts to ``out`` as one FITS file, reading each extension as it is written.

    SODA layout (default): an empty PRIMARY, then SCI, MSK, WGT for each cutout (EXTVER 1, 2, ...).
    ``primary_sci`` (DESaccess layout, one cutout): SCI is the primary HDU, then MSK and WGT.

    Raises
    ------
    ValueError
        ``primary_sci`` with other than one cutout.
    """
    if primary_sci:
        if len(cutouts) != 1:
            raise ValueError("the DESaccess layout holds one cutout")
        cutout = cutouts[0]
        for number, name in enumerate(cutout.names):
            _write_hdu(out, cutout.blocks(name), cutout.box.shape, _cards(cutout, name), primary=number == 0,
                       name=None if number == 0 else name)
        return
    extra = ""
    if cutouts:
        extra = (_card("RA_CUTOUT", float(cutouts[0].ra), "[deg] first cutout centre, RA")
                 + _card("DEC_CUTOUT", float(cutouts[0].dec), "[deg] first cutout centre, Dec")
                 + _card("NCUTOUTS", len(cutouts), "number of SCI/MSK/WGT sets"))
    out.write(_header_text(np.dtype(np.uint8), (), "", primary=True, extra=extra).encode("ascii"))
    for version, cutout in enumerate(cutouts, start=1):
        for name in cutout.names:
            _write_hdu(out, cutout.blocks(name), cutout.box.shape, _cards(cutout, name), primary=False,
                       name=name, version=version)


def write_desaccess(out: IO[bytes], extensions: Sequence[tuple[str, np.ndarray, str]]) -> None:
    """One DESaccess cutout file from (name, data, card text): SCI as the primary HDU, then the rest."""
    for number, (name, data, cards) in enumerate(extensions):
        _write_hdu(out, _array_blocks(data), data.shape, cards, primary=number == 0,
                   name=None if number == 0 else name)


def _cards(cutout: Cutout, name: str) -> str:
    return image_cutout_cards(cutout.path, name, cutout.box, cutout.ra, cutout.dec)


def _array_blocks(data: np.ndarray) -> Iterator[np.ndarray]:
    """Views of ``data`` by blocks of rows of about ``BLOCK_BYTES``."""
    rows = max(1, BLOCK_BYTES // max(1, data[:1].nbytes))
    for start in range(0, max(1, len(data)), rows):
        yield data[start:start + rows]


def _write_hdu(out: IO[bytes], blocks: Iterable[np.ndarray], shape: tuple[int, ...], cards: str, *, primary: bool,
               name: str | None = None, version: int | None = None) -> None:
    """One image HDU of ``shape``: its header (from the first block's dtype), then the blocks in big-endian
    order, each converted on its own, then the padding to the FITS block."""
    blocks = iter(blocks)
    first = next(blocks)
    dtype = first.dtype
    out.write(_header_text(dtype, shape, cards, primary=primary, name=name, version=version).encode("ascii"))
    written = _write_block(out, first)
    del first  # held no longer than it is written
    for block in blocks:
        written += _write_block(out, block)
    if written != math.prod(shape) * dtype.itemsize:
        raise ValueError(f"wrote {written} bytes of pixels for an image of {shape} {dtype}")
    out.write(bytes(-written % 2880))


def _write_block(out: IO[bytes], block: np.ndarray) -> int:
    big = np.ascontiguousarray(block, dtype=block.dtype.newbyteorder(">"))
    out.write(big.reshape(-1).view(np.uint8).data)
    return big.nbytes


def _header_text(dtype: np.dtype, shape: tuple[int, ...], cards: str, *, primary: bool,
                 name: str | None = None, version: int | None = None, extra: str = "") -> str:
    """An image HDU's header: structural cards, the kept ``cards`` (80-character cards, no END),
    ``extra`` cards, END, padded to the FITS block."""
    size = math.prod(shape) if shape else 0
    head = [_card("SIMPLE", True, "conforms to FITS standard")] if primary else \
        [_card("XTENSION", "IMAGE", "Image extension")]
    head.append(_card("BITPIX", _FITS_BITPIX[dtype.kind + str(dtype.itemsize)], "array data type"))
    head.append(_card("NAXIS", len(shape) if size else 0, "number of array dimensions"))
    if size:
        for axis, length in enumerate(reversed(shape), start=1):
            head.append(_card(f"NAXIS{axis}", int(length)))
    if primary:
        head.append(_card("EXTEND", True))
    else:
        head += [_card("PCOUNT", 0, "number of parameters"), _card("GCOUNT", 1, "number of groups")]
    if name:
        head.append(_card("EXTNAME", name, "extension name"))
    if version is not None:
        head.append(_card("EXTVER", version))
    body = [cards[i:i + 80] for i in range(0, len(cards), 80)]
    kept = [c for c in body if c[:8].rstrip() not in _STRUCTURAL]
    text = "".join(head) + "".join(kept) + extra + "END".ljust(80)
    return text + " " * (-len(text) % 2880)
