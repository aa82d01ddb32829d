"""SODA 1.0 request parameters (ID, POS, CIRCLE, POLYGON, BAND) and bulk-cutout options as values.

SODA 1.0: every parameter may repeat; each (ID, region, band) combination is one cutout. Bulk
cutouts (in the style of DESaccess, the DES data release's cutout service) take a position table
(CSV or VOTable) plus job-wide options; the README's "Bulk cutouts" table lists them and their defaults.
Input is ``dali.params.DaliParams`` (from the request, or ``Parameters.inline()`` of a stored job);
nothing here sees HTTP.
Tests: tests/soda/test_routes.py, tests/soda/test_bulk.py.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from dali.errors import TooLargeError, UsageError
from dali.params import DaliParams, collect
from dali.regions import Region, RegionError, parse_circle, parse_polygon, parse_pos
from dali.votable import read_votable
from release.colour import LUPTON_MINIMUM, LUPTON_Q, LUPTON_STRETCH

__all__ = [
    "MAX_SYNC_CUTOUTS",
    "BulkOptions",
    "BulkPosition",
    "SodaRequest",
    "apply_overrides",
    "parse_bulk_options",
    "parse_positions",
    "parse_soda",
]

MAX_SYNC_CUTOUTS = 50
MAX_BULK_POSITIONS = 20_000
_BAND_LETTERS = frozenset("grizyY")
_TRIPLET = re.compile(r"^[grizyY]{3}$")


@dataclass(frozen=True, slots=True)
class SodaRequest:
    """Dataset IDs, regions and wavelength intervals (metres) of one SODA request."""

    ids: tuple[str, ...]
    regions: tuple[Region, ...]
    bands: tuple[tuple[float, float], ...]


def _band(text: str) -> tuple[float, float]:
    parts = text.split()
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise UsageError("BAND must be a wavelength interval in metres", param="BAND",
                         hint="e.g. BAND=5e-7 6e-7, or one value") from None
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or any(math.isnan(v) for v in values) or values[0] > values[1]:
        raise UsageError("BAND must be a wavelength interval 'lo hi' in metres with lo <= hi", param="BAND")
    return values[0], values[1]


def parse_soda(params: DaliParams) -> SodaRequest:
    """The typed request; raises ``UsageError`` naming the parameter at fault."""
    ids = tuple(v.strip() for v in params.getall("ID") if v.strip())
    if not ids:
        raise UsageError("ID is required: the dataset to cut", param="ID",
                         hint="take it from obs_publisher_did (SIA, ObsCore) or DataLink")
    regions: list[Region] = []
    for name, parse in (("POS", parse_pos), ("CIRCLE", parse_circle), ("POLYGON", parse_polygon)):
        for text in params.getall(name):
            try:
                regions.append(parse(text))
            except RegionError as exc:
                if exc.limit is not None:
                    raise TooLargeError(str(exc), param=name, hint=exc.limit) from None
                raise UsageError(str(exc), param=name) from None
    if not regions:
        raise UsageError("a region is required: CIRCLE, POLYGON or POS", param="POS",
                         hint="the whole image is the #this link of DataLink")
    bands = tuple(_band(v) for v in params.getall("BAND"))
    return SodaRequest(ids, tuple(regions), bands)


# ---------------------------------------------------------------------------------------------
# Bulk cutouts


@dataclass(frozen=True, slots=True)
class BulkPosition:
    """One input row: a position, or an object id to resolve; per-row sizes override the job's."""

    ra: float | None
    dec: float | None
    coadd_object_id: int | None
    xsize: float | None = None
    ysize: float | None = None
    # Per-row option values (upper-case names, e.g. COLORS_FITS), applied over the job's options.
    overrides: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class BulkOptions:
    """Job-wide options (defaults as in the README's "Bulk cutouts" table)."""

    xsize: float = 1.0
    ysize: float = 1.0
    colors_fits: str = "i"
    rgb_colors: tuple[str, ...] = ("irg",)
    make_fits: bool = True
    make_rgb: bool = False
    rgb_minimum: float = LUPTON_MINIMUM
    rgb_stretch: float = LUPTON_STRETCH
    rgb_asinh: float = LUPTON_Q
    return_list_only: bool = False


# make_lupton_rgb (Lupton et al. 2004, PASP 116, 133): the image is asinh(Q (x - minimum) / stretch) / Q,
# so stretch divides (> 0) and Q, the softening, must not be negative (astropy refuses Q < 0).
_LUPTON_HINT = "RGB_STRETCH > 0, RGB_ASINH (Q) >= 0, RGB_MINIMUM any finite number"
# COADD_OBJECT_ID is a 64-bit integer column (the catalogue's type).
_OID_MAX = 2**63 - 1
_ROW_OPTIONS = frozenset({"COLORS_FITS", "RGB_LUPTON_COLORS", "MAKE_FITS", "MAKE_RGB_LUPTON", "RGB_MINIMUM",
                          "RGB_STRETCH", "RGB_ASINH"})
_POSITION_COLUMNS = {"RA", "DEC", "COADD_OBJECT_ID", "XSIZE", "YSIZE", *_ROW_OPTIONS}
# DESaccess STIFF images (a TIFF made by STIFF, converted to PNG) are not made here.
_STIFF = frozenset({"MAKE_RGB_STIFF", "RGB_STIFF_COLORS"})


def _size(text: str, param: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{param} must be a number of arcminutes", param=param) from None
    if not 0.1 <= value <= 12.0:
        raise UsageError(f"{param} must be between 0.1 and 12 arcminutes", param=param)
    return value


def _flag(text: str, param: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "t"):
        return True
    if lowered in ("false", "0", "no", "f", ""):
        return False
    raise UsageError(f"{param} must be true or false", param=param)


def parse_bulk_options(params: DaliParams) -> BulkOptions:
    """Job-wide options (XSIZE, YSIZE, COLORS_FITS, RGB_LUPTON_COLORS, ...), each single-valued."""

    def one(name: str) -> str | None:
        return (params.get(name) or "").strip() or None

    options = BulkOptions()
    xsize = one("XSIZE")
    ysize = one("YSIZE")
    colors = one("COLORS_FITS") or one("BANDS")
    if colors is not None:
        letters = colors.replace(",", "").replace(" ", "")
        if not letters or not set(letters) <= _BAND_LETTERS:
            raise UsageError("COLORS_FITS lists band letters from grizY", param="COLORS_FITS")
        colors = "".join(dict.fromkeys("Y" if c in "yY" else c for c in letters))
    triplets: tuple[str, ...] | None = None
    rgb = one("RGB_LUPTON_COLORS") or one("RGB_COLORS")
    if rgb is not None:
        parts = tuple(p.strip() for p in rgb.split(";") if p.strip())
        if not parts or not all(_TRIPLET.match(p) for p in parts):
            raise UsageError("RGB_LUPTON_COLORS is R,G,B band letters, triplets separated by ';' (e.g. irg)",
                             param="RGB_LUPTON_COLORS")
        triplets = tuple(p.replace("y", "Y") for p in parts)

    def number(name: str, default: float, *, low: float, low_allowed: bool) -> float:
        """A finite number above ``low`` (or equal to it, with ``low_allowed``)."""
        text = one(name)
        if text is None:
            return default
        try:
            value = float(text)
        except ValueError:
            raise UsageError(f"{name} must be a number", param=name) from None
        if not math.isfinite(value) or value < low or (value == low and not low_allowed):
            bound = f">= {low:g}" if low_allowed else f"> {low:g}"
            raise UsageError(f"{name} must be a finite number {bound}", param=name,
                             hint=_LUPTON_HINT)
        return value

    make_rgb = one("MAKE_RGB_LUPTON") or one("MAKE_RGB")
    return BulkOptions(
        xsize=_size(xsize, "XSIZE") if xsize else options.xsize,
        ysize=_size(ysize, "YSIZE") if ysize else (_size(xsize, "XSIZE") if xsize else options.ysize),
        colors_fits=colors or options.colors_fits,
        rgb_colors=triplets or options.rgb_colors,
        make_fits=_flag(one("MAKE_FITS") or "true", "MAKE_FITS"),
        make_rgb=_flag(make_rgb, "MAKE_RGB_LUPTON") if make_rgb else triplets is not None,
        rgb_minimum=number("RGB_MINIMUM", options.rgb_minimum, low=-math.inf, low_allowed=False),
        rgb_stretch=number("RGB_STRETCH", options.rgb_stretch, low=0.0, low_allowed=False),
        rgb_asinh=number("RGB_ASINH", options.rgb_asinh, low=0.0, low_allowed=True),
        return_list_only=_flag(one("RETURN_LIST_ONLY") or "false", "RETURN_LIST_ONLY"),
    )


def parse_positions(data: bytes) -> tuple[BulkPosition, ...]:
    """The rows of a CSV (header row, case-insensitive names) or VOTable position table.

    Each row gives RA and DEC, or COADD_OBJECT_ID; XSIZE/YSIZE are optional. Unknown columns
    are refused (DESaccess does the same).
    """
    text = data.lstrip()
    if text.startswith(b"<"):
        header, rows = _votable_rows(data)
    else:
        try:
            decoded = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise UsageError("the position table is neither UTF-8 CSV nor a VOTable", param="POSITIONS") from None
        reader = csv.reader(io.StringIO(decoded))
        lines = [row for row in reader if any(cell.strip() for cell in row)]
        if not lines:
            raise UsageError("the position table is empty", param="POSITIONS")
        header, rows = [h.strip().upper() for h in lines[0]], lines[1:]
    stiff = [h for h in header if h in _STIFF]
    if stiff:
        raise UsageError(f"{stiff[0]} is not supported: STIFF colour images are not made here", param="POSITIONS",
                         hint="use MAKE_RGB_LUPTON and RGB_LUPTON_COLORS for colour images")
    unknown = [h for h in header if h not in _POSITION_COLUMNS]
    if unknown:
        raise UsageError(f"unknown column {unknown[0]!r} in the position table", param="POSITIONS",
                         hint="use RA, DEC or COADD_OBJECT_ID, and optionally XSIZE, YSIZE, COLORS_FITS, "
                              "RGB_LUPTON_COLORS, MAKE_FITS, MAKE_RGB_LUPTON, RGB_MINIMUM, RGB_STRETCH, RGB_ASINH")
    if not ({"RA", "DEC"} <= set(header) or "COADD_OBJECT_ID" in header):
        raise UsageError("the position table needs RA and DEC columns or a COADD_OBJECT_ID column",
                         param="POSITIONS")
    if len(rows) > MAX_BULK_POSITIONS:
        raise UsageError(f"at most {MAX_BULK_POSITIONS} positions per job", param="POSITIONS")
    # A ragged CSV row is read as far as the header goes: missing cells count as empty, extra ones are ignored.
    return tuple(_position(dict(zip(header, row, strict=False)), number) for number, row in enumerate(rows, start=2))


def _position(row: Mapping[str, str], line: int) -> BulkPosition:
    def cell(name: str) -> str:
        return str(row.get(name, "") or "").strip()

    try:
        ra = float(cell("RA")) if cell("RA") else None
        dec = float(cell("DEC")) if cell("DEC") else None
        oid = int(cell("COADD_OBJECT_ID")) if cell("COADD_OBJECT_ID") else None
    except ValueError:
        raise UsageError(f"row {line} of the position table has a value that is not a number",
                         param="POSITIONS") from None
    if (ra is None or dec is None) and oid is None:
        raise UsageError(f"row {line} gives neither RA,DEC nor COADD_OBJECT_ID", param="POSITIONS")
    if ra is not None and not math.isfinite(ra):
        raise UsageError(f"row {line}: RA must be a finite number of degrees", param="POSITIONS")
    if oid is not None and not 0 <= oid <= _OID_MAX:
        raise UsageError(f"row {line}: COADD_OBJECT_ID must be an integer from 0 to {_OID_MAX}",
                         param="POSITIONS")
    if dec is not None and not -90 <= dec <= 90:
        raise UsageError(f"row {line}: DEC must be within [-90, 90]", param="POSITIONS")
    xsize = _size(cell("XSIZE"), "XSIZE") if cell("XSIZE") else None
    ysize = _size(cell("YSIZE"), "YSIZE") if cell("YSIZE") else None
    overrides = tuple((name, cell(name)) for name in sorted(_ROW_OPTIONS) if cell(name))
    if overrides:
        apply_overrides(BulkOptions(), overrides)  # validate now, naming the row
    return BulkPosition(ra % 360.0 if ra is not None else None, dec, oid, xsize, ysize, overrides)


def apply_overrides(options: BulkOptions, overrides: Sequence[tuple[str, str]]) -> BulkOptions:
    """``options`` with one row's values applied (DESaccess precedence: defaults < job < row)."""
    if not overrides:
        return options
    values = dict(overrides)
    row = parse_bulk_options(collect(values.items()))
    changes: dict[str, object] = {}
    if "COLORS_FITS" in values:
        changes["colors_fits"] = row.colors_fits
    if "RGB_LUPTON_COLORS" in values:
        changes["rgb_colors"] = row.rgb_colors
        changes["make_rgb"] = row.make_rgb if "MAKE_RGB_LUPTON" in values else True
    elif "MAKE_RGB_LUPTON" in values:
        changes["make_rgb"] = row.make_rgb
    if "MAKE_FITS" in values:
        changes["make_fits"] = row.make_fits
    for name, attr in (("RGB_MINIMUM", "rgb_minimum"), ("RGB_STRETCH", "rgb_stretch"), ("RGB_ASINH", "rgb_asinh")):
        if name in values:
            changes[attr] = getattr(row, attr)
    return replace(options, **changes)  # type: ignore[arg-type]


def _votable_rows(data: bytes) -> tuple[list[str], list[list[str]]]:
    """Header and text cells of a VOTable position table, read by the one upload reader (which
    refuses references out of the document)."""
    columns, table = read_votable(data, max_rows=MAX_BULK_POSITIONS, param="POSITIONS")
    header = [column.name.upper() for column in columns]
    rows = [["" if value is None else str(value) for value in row.values()] for row in table.to_pylist()]
    return header, rows
