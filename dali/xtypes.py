"""DALI 1.1 xtypes (§3.3): point, circle, polygon, interval, timestamp.

The shapes each xtype takes in a VOTable FIELD, the DALI timestamp text (parsed and written), and
a DALI polygon as the STC-S text of ``adql:REGION`` columns. Regions given as parameters are read
by dali/regions.py. Pure functions; no I/O.
Tests: tests/dali/test_xtypes.py.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from dali.errors import UsageError

__all__ = [
    "XTYPE_SHAPES",
    "default_shape",
    "format_stcs_polygon",
    "format_timestamp",
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
