"""The DES coadd tiling (the recipe of DES's ``destiling.py``).

Rows of tiles start at Dec +30° and step south by the tile side less the 1′ overlap
(0.730556° − 1/60° = 0.713889°). In a row, tile centres start at RA 275° and step by
0.713889°/cos δ; a row holds ``ceil(360 / step)`` tiles. ``grid_index`` is a tile's 0-based
position in that loop (rows north to south, RA increasing from 275°), so DES2134-0041 is 20783
and DES0453-4457 is 49081. A tile's unique area is its centre ± half a step in both axes; the
boundaries between neighbours are computed by one formula so adjacent unique areas meet exactly.

Pure geometry on floats and numpy arrays: no files, no database. The last tile of each row
overlaps the first one near RA 274.6° (outside DES); ``find_tile`` picks the first.
Tests: tests/release/test_tiling.py.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from astropy.wcs import WCS

__all__ = [
    "NATIVE_NAXIS",
    "NATIVE_PIXSCALE",
    "ROW_STEP",
    "TILE_SIDE",
    "Tile",
    "TileGeometry",
    "find_tile",
    "iter_tiles",
    "tile_at",
    "tile_by_name",
    "tilename_for",
]

NATIVE_PIXSCALE = 0.263  # arcsec per pixel of a DES coadd
NATIVE_NAXIS = 10000
TILE_SIDE = NATIVE_NAXIS * NATIVE_PIXSCALE / 3600.0  # 0.730556 deg
ROW_STEP = TILE_SIDE - 1.0 / 60.0  # 0.713889 deg: tiles overlap by 1 arcmin
_DEC0 = 30.0
_RA0 = 275.0
_DEC_STOP = -90.0


@dataclass(frozen=True, slots=True)
class TileGeometry:
    """The pixel grid and corners of a tile at one pixel scale (TAN, centred on the tile)."""

    pixscale: float
    naxis: int
    crpix: float
    cd: float  # CD2_2 = -CD1_1, in degrees per pixel
    rac: tuple[float, float, float, float]
    decc: tuple[float, float, float, float]

    @property
    def racmin(self) -> float:
        return min(self.rac)

    @property
    def racmax(self) -> float:
        return max(self.rac)

    @property
    def ra_size(self) -> float:
        """RA extent of the corners in degrees of RA, correct across RA 0."""
        span = self.racmax - self.racmin
        return 360.0 - span if span > 180.0 else span

    @property
    def dec_size(self) -> float:
        return max(self.decc) - min(self.decc)


@dataclass(frozen=True, slots=True)
class Tile:
    """One tile of the tiling.

    ``uramin``/``uramax`` follow DR1_TILE_INFO: for a tile whose unique area crosses RA 0
    (``crossra0``) they are swapped so that ``uramin`` < ``uramax`` (≈0.3 and ≈359.6) and the
    unique area is ``ra >= uramax or ra < uramin``.
    """

    tilename: str
    grid_index: int
    row: int
    column: int
    ra_cent: float
    dec_cent: float
    ra_step: float
    uramin: float
    uramax: float
    udecmin: float
    udecmax: float
    crossra0: bool

    def contains(self, ra: npt.ArrayLike, dec: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Whether (ra, dec) in degrees lie in the tile's unique area (URAMIN <= ra < URAMAX,
        UDECMIN <= dec < UDECMAX, as the DES tile list gives them)."""
        ra_a = np.asarray(ra, dtype=np.float64)
        dec_a = np.asarray(dec, dtype=np.float64)
        in_dec = (dec_a >= self.udecmin) & (dec_a < self.udecmax)
        if self.crossra0:
            in_ra = (ra_a >= self.uramax) | (ra_a < self.uramin)
        else:
            in_ra = (ra_a >= self.uramin) & (ra_a < self.uramax)
        return np.asarray(in_dec & in_ra)

    def wcs(self, pixscale: float = NATIVE_PIXSCALE) -> WCS:
        """The tile's TAN WCS at ``pixscale`` arcsec/pixel (same sky area at every scale)."""
        naxis, crpix, cd = _grid(pixscale)
        w = WCS(naxis=2)
        w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        w.wcs.crpix = [crpix, crpix]
        w.wcs.crval = [self.ra_cent, self.dec_cent]
        w.wcs.cd = np.array([[-cd, 0.0], [0.0, cd]])
        w.pixel_shape = (naxis, naxis)
        return w

    def geometry(self, pixscale: float = NATIVE_PIXSCALE) -> TileGeometry:
        """Pixel grid and corners (1 = pixel (1,1), 2 = (NAXIS1,1), 3 = (NAXIS1,NAXIS2), 4 = (1,NAXIS2))."""
        naxis, crpix, cd = _grid(pixscale)
        px = np.array([1.0, naxis, naxis, 1.0])
        py = np.array([1.0, 1.0, naxis, naxis])
        ra, dec = self.wcs(pixscale).all_pix2world(px, py, 1)
        rac = tuple(float(v) % 360.0 for v in ra)
        decc = tuple(float(v) for v in dec)
        return TileGeometry(pixscale, naxis, crpix, cd, rac, decc)  # type: ignore[arg-type]


def tilename_for(ra: float, dec: float) -> str:
    """``DES`` + HHMM(RA) + ±DDMM(Dec), each truncated, e.g. ``DES0453-4457``."""
    # Centres like +0.0166667 deg are 1 arcmin up to rounding: a 1e-7 arcmin nudge keeps them there.
    ra_min = ra / 15.0 * 60.0 + 1e-7
    hh, mm = divmod(math.floor(ra_min), 60)
    sign = "-" if dec < 0 else "+"
    dec_min = abs(dec) * 60.0 + 1e-7
    dd, dm = divmod(math.floor(dec_min), 60)
    return f"DES{hh % 24:02d}{mm:02d}{sign}{dd:02d}{dm:02d}"


def iter_tiles() -> Iterator[Tile]:
    """Every tile of the tiling in loop order (``grid_index`` 0, 1, ...)."""
    return iter(_all_tiles())


def tile_at(grid_index: int) -> Tile:
    """The tile at a grid index."""
    return _all_tiles()[grid_index]


def tile_by_name(tilename: str) -> Tile:
    """The tile called ``tilename``; raises KeyError for an unknown name."""
    return _all_tiles()[_name_index()[tilename.upper()]]


def find_tile(ra: float, dec: float) -> Tile | None:
    """The tile whose unique area holds (ra, dec) in degrees, or None outside the tiling."""
    ra = float(ra) % 360.0
    dec = float(dec)
    starts = _row_starts()
    guess = math.ceil((_DEC0 - ROW_STEP / 2.0 - dec) / ROW_STEP)
    for row in (guess, guess - 1, guess + 1):
        if not 0 <= row < len(starts) - 1:
            continue
        first = _all_tiles()[starts[row]]
        if not first.udecmin <= dec < first.udecmax:
            continue
        count = starts[row + 1] - starts[row]
        col = round(((ra - _RA0) % 360.0) / first.ra_step)
        for c in (col, col - 1, col + 1, col - count, col + count):
            if 0 <= c < count:
                tile = _all_tiles()[starts[row] + c]
                if bool(tile.contains(ra, dec)):
                    return tile
        # The wrap-around overlap of the row: the first tile wins.
        for c in (0, count - 1):
            tile = _all_tiles()[starts[row] + c]
            if bool(tile.contains(ra, dec)):
                return tile
    return None


def _grid(pixscale: float) -> tuple[int, float, float]:
    """NAXIS, CRPIX and |CD| for a pixel scale; the tile side stays 10000 × 0.263″."""
    naxis = round(NATIVE_NAXIS * NATIVE_PIXSCALE / pixscale)
    return naxis, (naxis + 1) / 2.0, pixscale / 3600.0


@lru_cache(maxsize=1)
def _all_tiles() -> tuple[Tile, ...]:
    tiles: list[Tile] = []
    row = 0
    while True:
        dec = _DEC0 - row * ROW_STEP
        if dec < _DEC_STOP:
            break
        cosd = math.cos(math.radians(dec))
        step = ROW_STEP / cosd if cosd > 1e-12 else 360.0
        count = max(1, math.ceil(360.0 / step))
        udecmin = dec - ROW_STEP / 2.0
        udecmax = dec + ROW_STEP / 2.0
        for col in range(count):
            ra = (_RA0 + col * step) % 360.0
            lo = (_RA0 + (col - 0.5) * step) % 360.0
            hi = (_RA0 + (col + 0.5) * step) % 360.0
            cross = lo > hi
            tiles.append(
                Tile(
                    tilename=tilename_for(ra, dec),
                    grid_index=len(tiles),
                    row=row,
                    column=col,
                    ra_cent=ra,
                    dec_cent=dec,
                    ra_step=step,
                    uramin=min(lo, hi),
                    uramax=max(lo, hi),
                    udecmin=udecmin,
                    udecmax=udecmax,
                    crossra0=cross,
                )
            )
        row += 1
    return tuple(tiles)


@lru_cache(maxsize=1)
def _row_starts() -> tuple[int, ...]:
    starts = [0]
    tiles = _all_tiles()
    for i in range(1, len(tiles)):
        if tiles[i].row != tiles[i - 1].row:
            starts.append(i)
    starts.append(len(tiles))
    return tuple(starts)


@lru_cache(maxsize=1)
def _name_index() -> dict[str, int]:
    index: dict[str, int] = {}
    for tile in _all_tiles():
        # Near the pole names repeat; the first tile in loop order keeps the name.
        index.setdefault(tile.tilename, tile.grid_index)
    return index
