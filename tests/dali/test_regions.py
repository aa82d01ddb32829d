"""DALI regions: parsing POS (CIRCLE, RANGE, POLYGON) and the exact spherical overlap test of SIA and SODA."""

from __future__ import annotations

import pytest

from dali.regions import (
    Circle,
    Polygon,
    Range,
    RegionError,
    parse_pos,
    region_bounds,
    region_contains,
    region_overlaps,
)
from dali.sphere import GeometryValueError, separation

# DES2134-0041 corners (from the DES tile list), counter-clockwise.
M2_TILE = (323.91333, -1.06244, 323.91327, -0.33198, 323.18280, -0.33198, 323.18275, -1.06244)
# DES2359-0041 straddles RA 0.
RA0_TILE = (0.324360, -1.062437, 0.324303, -0.331976, 359.593833, -0.331976, 359.593776, -1.062437)

OVERLAP_CASES = [
    # (name, region, tile, expected)
    ("centre inside", Circle(323.36, -0.82, 0.05), M2_TILE, True),
    ("far away", Circle(10.0, 40.0, 1.0), M2_TILE, False),
    ("touches corner only", Circle(323.91333 + 0.01, -1.06244 - 0.01, 0.01415), M2_TILE, True),
    ("just misses corner", Circle(323.91333 + 0.01, -1.06244 - 0.01, 0.0141), M2_TILE, False),
    ("crosses an edge, centre and corners outside", Circle(323.55, -0.30, 0.04), M2_TILE, True),
    ("circle holding the tile", Circle(323.5, -0.7, 5.0), M2_TILE, True),
    ("RA 0.1 in the RA-0 tile", Circle(0.1, -0.7, 0.01), RA0_TILE, True),
    ("RA 359.9 in the RA-0 tile", Circle(359.9, -0.7, 0.01), RA0_TILE, True),
    ("RA 0.1 misses the M2 tile", Circle(0.1, -0.7, 0.01), M2_TILE, False),
    ("range inside", Range(323.3, 323.4, -0.9, -0.8), M2_TILE, True),
    ("range holding the tile", Range(320, 330, -5, 5), M2_TILE, True),
    ("range wrapping RA 0", Range(359.0, 1.0, -1.0, 0.0), RA0_TILE, True),
    ("range wrapping RA 0 misses M2", Range(359.0, 1.0, -1.0, 0.0), M2_TILE, False),
    ("range crossing one edge only", Range(323.0, 323.2, -0.9, -0.8), M2_TILE, True),
    ("range through the middle, no corners", Range(323.4, 323.5, -2.0, 2.0), M2_TILE, True),
    ("range beside", Range(324.0, 325.0, -2.0, 2.0), M2_TILE, False),
    ("polygon inside", Polygon(((323.3, -0.9), (323.4, -0.9), (323.4, -0.8))), M2_TILE, True),
    ("polygon holding the tile", Polygon(((320.0, -5.0), (330.0, -5.0), (330.0, 5.0), (320.0, 5.0))), M2_TILE,
     True),
    ("polygon crossing, no vertex inside either",
     Polygon(((323.5, -2.0), (323.6, -2.0), (323.6, 2.0), (323.5, 2.0))), M2_TILE, True),
    ("polygon beside", Polygon(((324.0, -1.0), (325.0, -1.0), (325.0, 0.0))), M2_TILE, False),
]


@pytest.mark.parametrize(("region", "tile", "expected"), [c[1:] for c in OVERLAP_CASES],
                         ids=[c[0] for c in OVERLAP_CASES])
def test_region_overlaps(region: Circle | Range | Polygon, tile: tuple[float, ...], expected: bool) -> None:
    assert region_overlaps(region, tile) is expected


@pytest.mark.parametrize(("text", "expected"), [
    ("CIRCLE 323.36 -0.82 0.05", Circle(323.36, -0.82, 0.05)),
    ("circle 363.36 -0.82 0.05", Circle(3.36 + 0.0, -0.82, 0.05)),
    ("RANGE 10 20 -5 5", Range(10, 20, -5, 5)),
    ("RANGE -Inf +Inf -Inf 0", Range(0, 360, -90, 0)),
    ("RANGE 350 10 -1 1", Range(350, 10, -1, 1)),
    ("POLYGON 1 1 2 1 2 2", Polygon(((1, 1), (2, 1), (2, 2)))),
])
def test_parse_pos(text: str, expected: object) -> None:
    parsed = parse_pos(text)
    assert type(parsed) is type(expected)
    if isinstance(expected, Circle):
        assert isinstance(parsed, Circle)
        assert parsed.ra == pytest.approx(expected.ra) and parsed.radius == expected.radius
    else:
        assert parsed == expected


@pytest.mark.parametrize("text", ["BOX 1 2 3 4", "CIRCLE 1 2", "CIRCLE 1 2 -1", "CIRCLE 1 95 1",
                                  "POLYGON 1 2 3 4", "RANGE 1 2 5 3", "CIRCLE a b c", "CIRCLE nan 1 1"])
def test_parse_pos_rejects(text: str) -> None:
    with pytest.raises(RegionError):
        parse_pos(text)


@pytest.mark.parametrize(("text", "words"), [
    ("POLYGON 0 0 0 0 0 0", "no area"),
    ("POLYGON 10 0 20 0 30 0", "no area"),  # three points on the equator
    ("POLYGON 0 0 180 0 90 10", "one hemisphere"),  # an edge between antipodes has no one great circle
])
def test_parse_pos_rejects_polygons_without_a_defined_inside(text: str, words: str) -> None:
    # as ADQL's POLYGON (dali.sphere.normalize_polygon): SIA and SODA answer 400, not a silent nothing
    with pytest.raises(RegionError, match=words):
        parse_pos(text)


def test_region_errors_are_geometry_value_errors() -> None:
    # services map RegionError to their usage error; ADQL catches the base class
    with pytest.raises(GeometryValueError) as caught:
        parse_pos("POLYGON " + "1 1 " * 201)
    assert isinstance(caught.value, RegionError) and isinstance(caught.value, ValueError)
    assert caught.value.limit == "at most 200 vertices per polygon"


def test_region_contains_boundaries_and_bounds() -> None:
    square = Polygon(((10, 0), (11, 0), (11, 1), (10, 1)))
    assert region_contains(square, 10.5, 0.5) and region_contains(square, 11.0, 0.5)  # edges included
    assert not region_contains(square, 11.5, 0.5)
    assert region_contains(Range(350, 10, -1, 1), 0.0, 1.0) and not region_contains(Range(350, 10, -1, 1), 20, 0)
    assert region_contains(Circle(10, 0, 1), 11, 0)
    ra, dec, radius = region_bounds(square)
    assert all(separation(ra, dec, lon, lat) <= radius for lon, lat in square.vertices)
    assert region_bounds(Range(0, 360, -90, -80)) == (0.0, -90.0, 10.0)
