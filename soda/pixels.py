"""Read a rectangle of pixels from a FITS image HDU, decompressing only the tiles under it.

Tile-compressed images (FITS tiled image convention, what fpack writes) are read from a memory
map of the file: the binary table's heap descriptors are parsed once per file, then each needed
tile goes straight to astropy's C decoders (RICE_1, PLIO_1, GZIP_1) and, for quantized floats,
its C unquantizer. astropy's ``CompImageHDU.section`` does the same work but spends most of its
time in per-tile Python (header look-ups), several times the decoding itself. Uncompressed images
are sliced from the memory map. Anything else (GZIP_2, HCOMPRESS) falls back to ``.section``.
``read_blocks`` gives a large section as blocks of whole tile rows, so a writer never holds it whole.
Pure computation, thread-safe (read-only maps). Tests: tests/soda/test_pixels.py.
"""

from __future__ import annotations

import functools
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

try:  # the C decoders astropy itself uses (private module: fall back to ``.section`` if it moves)
    from astropy.io.fits.hdu.compressed._compression import (
        decompress_plio_1_c,
        decompress_rice_1_c,
        unquantize_double_c,
        unquantize_float_c,
    )
except ImportError:  # pragma: no cover - depends on the astropy version
    _FAST = False
else:
    _FAST = True

__all__ = ["BLOCK_BYTES", "ImageHeaders", "headers", "read_blocks", "read_section"]

_DITHER = {"NO_DITHER": -1, "SUBTRACTIVE_DITHER_1": 1, "SUBTRACTIVE_DITHER_2": 2}
_TFORM = re.compile(r"^\s*(\d*)([A-Z])(?:\((\d+)\))?")
_SCALAR = {"L": "u1", "B": "u1", "I": ">i2", "J": ">i4", "K": ">i8", "E": ">f4", "D": ">f8", "A": "S1"}
_BITPIX = {8: np.uint8, 16: np.int16, 32: np.int32, 64: np.int64, -32: np.float32, -64: np.float64}
# About 4 MiB of pixels per block: small next to a whole-image cutout (25 MB an extension on a
# 2500 x 2500 tile), large enough that the per-block cost is nothing next to decoding.
BLOCK_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ImageHeaders:
    """The image header of each extension (as astropy shows it), and its cards as text without the
    structural keywords, checksums and CRPIX (what a cutout copies unchanged)."""

    image: dict[str, fits.Header]
    cards: dict[str, str]


def headers(path: Path) -> ImageHeaders:
    """Image headers of every named extension (cached per file version)."""
    stat = path.stat()
    return _headers(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=128)
def _headers(path: str, mtime_ns: int, size: int) -> ImageHeaders:
    found: dict[str, fits.Header] = {}
    cards: dict[str, str] = {}
    with fits.open(path, lazy_load_hdus=True) as hdul:
        for hdu in hdul:
            if hdu.name and hdu.name != "PRIMARY":
                header = hdu.header.copy()
                found[hdu.name] = header
                kept = header.copy(strip=True)
                for key in ("CHECKSUM", "DATASUM", "CRPIX1", "CRPIX2", "EXTNAME", "EXTVER"):
                    kept.remove(key, ignore_missing=True, remove_all=True)
                cards[hdu.name] = kept.tostring(sep="", endcard=False, padding=False)
    return ImageHeaders(found, cards)


def read_section(path: Path, extname: str, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """Pixels ``[y0:y1, x0:x1]`` (0-based, half-open) of extension ``extname``."""
    return _reader_of(path, extname).read(y0, y1, x0, x1)


def read_blocks(path: Path, extname: str, y0: int, y1: int, x0: int, x1: int, *,
                block_bytes: int = BLOCK_BYTES) -> Iterator[np.ndarray]:
    """Pixels ``[y0:y1, x0:x1]`` of extension ``extname`` as consecutive blocks of rows.

    Each block holds about ``block_bytes`` (at least one row of compression tiles) and ends on a
    tile boundary, so no tile is decompressed twice and the section is never in memory whole.
    """
    reader = _reader_of(path, extname)
    step = max(1, block_bytes // max(1, (x1 - x0) * 8))  # 8: the widest pixel, before the dtype is known
    for start, end in _row_ranges(y0, y1, step, reader.tile_rows):
        yield reader.read(start, end, x0, x1)


def _row_ranges(y0: int, y1: int, step: int, align: int) -> Iterator[tuple[int, int]]:
    """``[y0, y1)`` in ranges of about ``step`` rows whose inner boundaries are multiples of ``align``."""
    step = max(align, step // align * align)
    start = y0
    while start < y1:
        end = min(y1, start // align * align + step)
        yield start, end
        start = end


def _reader_of(path: Path, extname: str) -> _Tiled | _Plain | _Astropy:
    stat = path.stat()
    return _reader(str(path), extname, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _reader(path: str, extname: str, mtime_ns: int, size: int) -> _Tiled | _Plain | _Astropy:
    with fits.open(path, lazy_load_hdus=True, disable_image_compression=True) as hdul:
        hdu = hdul[extname]
        header = hdu.header.copy()
        location = int(hdu.fileinfo()["datLoc"])
    if header.get("XTENSION", "").strip() == "BINTABLE" and header.get("ZIMAGE"):
        tiled = _Tiled.open(path, header, location) if _FAST else None
        return tiled or _Astropy(path, extname, int(header.get("ZTILE2", 1)))
    if int(header.get("NAXIS", 0)) == 2 and header.get("BSCALE", 1) == 1 and not header.get("BZERO", 0):
        return _Plain(path, header, location)
    return _Astropy(path, extname, 1)


class _Astropy:
    """Any other image: astropy's ``.section`` (which decompresses only the tiles under it)."""

    def __init__(self, path: str, extname: str, tile_rows: int) -> None:
        self.path = path
        self.extname = extname
        self.tile_rows = max(1, tile_rows)

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        with fits.open(self.path, lazy_load_hdus=True, memmap=True) as hdul:
            return np.array(hdul[self.extname].section[y0:y1, x0:x1])


class _Plain:
    """An uncompressed 2-D image: a slice of the memory map."""

    tile_rows = 1

    def __init__(self, path: str, header: fits.Header, location: int) -> None:
        dtype = np.dtype(_BITPIX[int(header["BITPIX"])]).newbyteorder(">")
        shape = (int(header["NAXIS2"]), int(header["NAXIS1"]))
        self.data = np.memmap(path, dtype=dtype, mode="r", offset=location, shape=shape)

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        return np.array(self.data[y0:y1, x0:x1], dtype=self.data.dtype.newbyteorder("="))


class _Tiled:
    """A tile-compressed 2-D image with its tile descriptors parsed once."""

    def __init__(self) -> None:
        self.heap: np.ndarray
        self.heap_view: memoryview
        self.compressed: np.ndarray
        self.tiles: list[list[int]]
        self.scales: list[float] | None
        self.zeros: list[float] | None
        self.gzip_raw: np.ndarray | None
        self.zscale: np.ndarray | None
        self.zzero: np.ndarray | None
        self.zblank: np.ndarray | int | None
        self.shape: tuple[int, int]
        self.tile: tuple[int, int]
        self.algorithm: str
        self.bitpix: int
        self.blocksize = 32
        self.bytepix = 4
        self.dither = -1
        self.seed = 0
        self.element = np.dtype("u1")

    @classmethod
    def open(cls, path: str, header: fits.Header, location: int) -> _Tiled | None:
        algorithm = str(header["ZCMPTYPE"]).strip()
        if algorithm not in ("RICE_1", "RICE_ONE", "PLIO_1", "GZIP_1") or int(header["ZNAXIS"]) != 2:
            return None
        self = cls()
        self.algorithm = algorithm
        self.bitpix = int(header["ZBITPIX"])
        self.shape = (int(header["ZNAXIS2"]), int(header["ZNAXIS1"]))
        self.tile = (int(header.get("ZTILE2", 1)), int(header.get("ZTILE1", self.shape[1])))
        for i in range(1, 10):
            name = header.get(f"ZNAME{i}")
            if name is None:
                break
            value = header.get(f"ZVAL{i}")
            if str(name).strip().upper() == "BLOCKSIZE":
                self.blocksize = int(value)
            elif str(name).strip().upper() == "BYTEPIX":
                self.bytepix = int(value)
        self.dither = _DITHER.get(str(header.get("ZQUANTIZ", "NO_DITHER")).strip(), -1)
        self.seed = int(header.get("ZDITHER0", 0))
        rows = int(header["NAXIS2"])
        fields: list[tuple[str, str] | tuple[str, str, tuple[int]]] = []
        names: list[str] = []
        for i in range(1, int(header["TFIELDS"]) + 1):
            match = _TFORM.match(str(header[f"TFORM{i}"]))
            if match is None:
                return None
            count, code = int(match.group(1) or 1), match.group(2)
            if code in ("P", "Q"):
                fields.append((f"c{i}", ">i4" if code == "P" else ">i8", (2,)))
                element = re.match(r"^\s*\d*[PQ]([A-Z])", str(header[f"TFORM{i}"]))
                if str(header[f"TTYPE{i}"]).strip().upper() == "COMPRESSED_DATA" and element:
                    self.element = np.dtype(_SCALAR.get(element.group(1), "u1"))
            elif code in _SCALAR:
                fields.append((f"c{i}", _SCALAR[code], (count,)) if count != 1 else (f"c{i}", _SCALAR[code]))
            else:
                return None
            names.append(str(header[f"TTYPE{i}"]).strip().upper())
        dtype = np.dtype(fields)
        if dtype.itemsize != int(header["NAXIS1"]):
            return None
        table = np.memmap(path, dtype=dtype, mode="r", offset=location, shape=(rows,))
        columns = {name: np.array(table[f"c{i}"]) for i, name in enumerate(names, start=1)}
        del table
        if "COMPRESSED_DATA" not in columns:
            return None
        self.compressed = columns["COMPRESSED_DATA"].astype(np.int64)
        raw = columns.get("GZIP_COMPRESSED_DATA")
        self.gzip_raw = raw.astype(np.int64) if raw is not None else None
        self.zscale = columns.get("ZSCALE")
        self.zzero = columns.get("ZZERO")
        zblank = columns.get("ZBLANK")
        self.zblank = zblank if zblank is not None else header.get("ZBLANK")
        theap = int(header.get("THEAP", int(header["NAXIS1"]) * rows))
        self.heap = np.memmap(path, dtype=np.uint8, mode="r", offset=location + theap,
                              shape=(int(header["PCOUNT"]) - (theap - int(header["NAXIS1"]) * rows),))
        # Plain views and Python lists: per-tile indexing of memmap objects costs more than decoding.
        self.heap_view = memoryview(self.heap.view(np.ndarray)).cast("B")  # type: ignore[arg-type]
        self.tiles = self.compressed.tolist()
        self.scales = self.zscale.astype(float).tolist() if self.zscale is not None else None
        self.zeros = self.zzero.astype(float).tolist() if self.zzero is not None else None
        return self

    def _tile_pixels(self, index: int, shape: tuple[int, int]) -> np.ndarray:
        count = shape[0] * shape[1]
        nbytes, offset = self.tiles[index]
        quantized = self.zscale is not None
        if nbytes == 0:
            if self.gzip_raw is None:
                raise ValueError("a tile has no compressed data")
            gbytes, goffset = (int(v) for v in self.gzip_raw[index])
            raw = zlib.decompress(bytes(self.heap[goffset:goffset + gbytes]), 16 + zlib.MAX_WBITS)
            dtype = np.dtype(_BITPIX[self.bitpix]).newbyteorder(">")
            return np.frombuffer(raw, dtype=dtype)[:count].reshape(shape)
        # Heap elements are big-endian (PLIO stores 16-bit words): the C decoders want native order.
        size = self.element.itemsize
        if size == 1:
            data = self.heap_view[offset:offset + nbytes].tobytes()
        else:
            chunk = np.frombuffer(self.heap_view[offset:offset + nbytes * size], dtype=self.element)
            data = chunk.astype(self.element.newbyteorder("=")).tobytes()
        if self.algorithm in ("RICE_1", "RICE_ONE"):
            ints = np.frombuffer(decompress_rice_1_c(data, self.blocksize, self.bytepix, count),
                                 dtype=f"i{self.bytepix}")[:count]
        elif self.algorithm == "PLIO_1":
            ints = np.frombuffer(decompress_plio_1_c(data, count), dtype="i4")[:count]
        else:
            width = 4 if quantized else abs(self.bitpix) // 8
            kind = "i" if quantized or self.bitpix > 0 else "f"
            ints = np.frombuffer(zlib.decompress(data, 16 + zlib.MAX_WBITS), dtype=f">{kind}{width}")[:count]
        if quantized and self.zscale is not None and self.zzero is not None:
            values = ints.astype(np.int32, copy=False)
            row = (index + self.seed) if self.dither != -1 else 0
            assert self.scales is not None and self.zeros is not None
            scale, zero = self.scales[index], self.zeros[index]
            if self.dither == -1:
                out = (values * scale + zero).astype(_BITPIX[self.bitpix])
            else:
                unq = unquantize_float_c if self.bitpix == -32 else unquantize_double_c
                out = np.frombuffer(unq(values.tobytes(), row, count, scale, zero, self.dither, 0, 0, 0.0,
                                        values.dtype.itemsize), dtype=_BITPIX[self.bitpix]).copy()
            blank = self.zblank[index] if isinstance(self.zblank, np.ndarray) else self.zblank
            if blank is not None:
                out[values == int(blank)] = np.nan
            return out.reshape(shape)
        return ints.astype(_BITPIX[self.bitpix], copy=False).reshape(shape)

    @property
    def tile_rows(self) -> int:
        return self.tile[0]

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        ny, nx = self.shape
        th, tw = self.tile
        out = np.empty((y1 - y0, x1 - x0), dtype=_BITPIX[self.bitpix])
        tiles_x = -(-nx // tw)
        for ty in range(y0 // th, (y1 - 1) // th + 1):
            for tx in range(x0 // tw, (x1 - 1) // tw + 1):
                top, left = ty * th, tx * tw
                shape = (min(th, ny - top), min(tw, nx - left))
                pixels = self._tile_pixels(ty * tiles_x + tx, shape)
                ys, ye = max(y0, top), min(y1, top + shape[0])
                xs, xe = max(x0, left), min(x1, left + shape[1])
                out[ys - y0:ye - y0, xs - x0:xe - x0] = pixels[ys - top:ye - top, xs - left:xe - left]
        return out
