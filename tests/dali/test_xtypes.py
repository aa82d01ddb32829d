"""DALI xtype parsing and formatting."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from dali.errors import UsageError
from dali.xtypes import (
    default_shape,
    format_stcs_polygon,
    format_timestamp,
    parse_circle,
    parse_point,
    parse_polygon,
    parse_timestamp,
)


def test_shapes() -> None:
    assert default_shape("POINT") == ("double", "2")
    assert default_shape("polygon") == ("double", "*")
    assert default_shape("geom:thing") is None


def test_geometry_parsers() -> None:
    assert parse_point("10 -20") == (10.0, -20.0)
    assert parse_circle("10 20 0.5") == (10.0, 20.0, 0.5)
    assert parse_polygon("0 0 1 0 1 1") == ((0, 0), (1, 0), (1, 1))


@pytest.mark.parametrize(
    ("func", "text"),
    [(parse_point, "10"), (parse_point, "400 0"), (parse_circle, "1 2 0"), (parse_circle, "1 2 181"),
     (parse_polygon, "0 0 1 1"), (parse_polygon, "0 0 1 x 2 2"), (parse_point, "nan 0")],
)
def test_bad_geometry_is_a_usage_error(func, text: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError):
        func(text)


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
