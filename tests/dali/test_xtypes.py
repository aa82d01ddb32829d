"""DALI xtype parsing and formatting."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from dali.errors import UsageError
from dali.xtypes import (
    default_shape,
    format_stcs_polygon,
    format_timestamp,
    parse_timestamp,
)


def test_shapes() -> None:
    assert default_shape("POINT") == ("double", "2")
    assert default_shape("polygon") == ("double", "*")
    assert default_shape("geom:thing") is None


def test_timestamps_round_trip() -> None:
    assert parse_timestamp("2020-01-02T03:04:05.5Z") == datetime(2020, 1, 2, 3, 4, 5, 500000)
    assert parse_timestamp("2020-01-02") == datetime(2020, 1, 2)
    assert format_timestamp(datetime(2020, 1, 2, 3, 4, 5)) == "2020-01-02T03:04:05"
    aware = datetime(2020, 1, 2, 4, 4, 5, 250000, tzinfo=timezone(timedelta(hours=1)))
    assert format_timestamp(aware) == "2020-01-02T03:04:05.250"
    with pytest.raises(UsageError):
        parse_timestamp("yesterday")


def test_stcs_polygon_text() -> None:
    assert format_stcs_polygon([359.5, -0.5, 0.25, -0.5, 1e-12, 0.5]) == "Polygon ICRS 359.5 -0.5 0.25 -0.5 0 0.5"
    assert format_stcs_polygon([10.123456789012, -1.0]) == "Polygon ICRS 10.123456789 -1"
