"""DALI 1.1 xtypes (§3.3): point, circle, polygon, interval, timestamp.

The shapes each xtype takes in a VOTable FIELD, and parsers for their text serialisation (used
when reading uploaded tables and parameters). Pure functions; no I/O.
Tests: tests/dali/test_xtypes.py.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime

from dali.errors import UsageError

__all__ = [
    "XTYPE_SHAPES",
    "default_shape",
    "format_stcs_polygon",
    "format_timestamp",
    "parse_circle",
    "parse_point",
    "parse_polygon",
    "parse_timestamp",
]

# xtype -> (datatype, arraysize) used when a column carries the xtype but no explicit shape.
XTYPE_SHAPES: dict[str, tuple[str, str]] = {
    "point": ("double", "2"),
    "circle": ("double", "3"),
    "polygon": ("double", "*"),
    "interval": ("double", "2"),
    "timestamp": ("char", "*"),
}
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?Z?\Z")


def default_shape(xtype: str) -> tuple[str, str] | None:
    """The (datatype, arraysize) DALI gives ``xtype``, or None for unknown xtypes."""
    return XTYPE_SHAPES.get(xtype.lower())


def format_timestamp(value: datetime) -> str:
    """DALI timestamp text: UTC, no zone suffix, milliseconds only when present."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    text = value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")
    return text


def format_stcs_polygon(vertices: Sequence[float]) -> str:
    """A DALI polygon (``lon1 lat1 lon2 lat2 ...`` in degrees) as an STC-S ``Polygon ICRS ...`` region.

    ``adql:REGION`` columns (ObsCore ``s_region``) carry this text; nine decimals keep 4 µas.
    """
    return "Polygon ICRS " + " ".join(_decimal(float(v)) for v in vertices)


def _decimal(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def parse_timestamp(text: str, *, param: str = "timestamp") -> datetime:
    """A DALI timestamp ``YYYY-MM-DD['T'hh:mm[:ss[.SSS]]][Z]`` as a naive UTC datetime."""
    stripped = text.strip()
    if not _TIMESTAMP.match(stripped):
        raise UsageError(f"{stripped[:40]!r} is not a DALI timestamp", param=param,
                         hint="use YYYY-MM-DDThh:mm:ss")
    return datetime.fromisoformat(stripped.removesuffix("Z"))


def _numbers(text: str, param: str) -> list[float]:
    try:
        values = [float(token) for token in text.split()]
    except ValueError:
        raise UsageError(f"{param} must be numbers separated by spaces", param=param) from None
    if any(math.isnan(v) for v in values):
        raise UsageError(f"{param} must not contain NaN", param=param)
    return values


def _check_position(lon: float, lat: float, param: str) -> None:
    if not (0.0 <= lon <= 360.0 and -90.0 <= lat <= 90.0):
        raise UsageError(f"{param} position ({lon}, {lat}) is outside lon [0,360], lat [-90,90]", param=param)


def parse_point(text: str, *, param: str = "POINT") -> tuple[float, float]:
    """``lon lat`` in degrees."""
    values = _numbers(text, param)
    if len(values) != 2:
        raise UsageError(f"{param} needs 2 numbers (lon lat), got {len(values)}", param=param)
    _check_position(values[0], values[1], param)
    return values[0], values[1]


def parse_circle(text: str, *, param: str = "CIRCLE") -> tuple[float, float, float]:
    """``lon lat radius`` in degrees; the radius in (0, 180]."""
    values = _numbers(text, param)
    if len(values) != 3:
        raise UsageError(f"{param} needs 3 numbers (lon lat radius), got {len(values)}", param=param)
    _check_position(values[0], values[1], param)
    if not 0.0 < values[2] <= 180.0:
        raise UsageError(f"{param} radius must be in (0, 180] degrees", param=param)
    return values[0], values[1], values[2]


def parse_polygon(text: str, *, param: str = "POLYGON") -> tuple[tuple[float, float], ...]:
    """``lon1 lat1 lon2 lat2 ...`` with at least three vertices."""
    values = _numbers(text, param)
    if len(values) % 2 or len(values) < 6:
        raise UsageError(f"{param} needs at least 3 vertices as lon lat pairs", param=param)
    vertices = tuple((values[i], values[i + 1]) for i in range(0, len(values), 2))
    for lon, lat in vertices:
        _check_position(lon, lat, param)
    return vertices
