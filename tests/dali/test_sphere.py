"""dali.sphere: reference values of the spherical geometry shared by ADQL, SIA, SODA and ObsCore."""

from __future__ import annotations

import numpy as np
import pytest

from dali import sphere


def test_sphere_reference_values() -> None:
    assert sphere.separation(0, 0, 0, 90) == pytest.approx(90.0)
    assert sphere.separation(359.9999, 0, 0.0001, 0) == pytest.approx(0.0002, rel=1e-6)
    assert sphere.polygon_area(sphere.normalize_polygon([(0, 0), (90, 0), (0, 90)])) == pytest.approx(
        4 * np.pi * (180 / np.pi) ** 2 / 8)
    assert sphere.normalize_polygon([(0, 0), (0, 1), (1, 1), (1, 0)]) == [
        (1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.0, 0.0)]
    with pytest.raises(sphere.GeometryValueError):
        sphere.convex_pieces(sphere.normalize_polygon([(0, 0), (1, 1), (1, 0), (0, 1)]))


def test_separation_keeps_full_precision_at_every_angle() -> None:
    # Vincenty's form: haversine loses digits near 180 degrees, the dot product near 0.
    assert sphere.separation(0, 0, 180, 0) == 180.0
    assert sphere.separation(10, 20, 190, -20) == pytest.approx(180.0, abs=1e-12)
    mas = 1 / 3.6e6
    assert sphere.separation(359.9999, -30, 359.9999, -30 + mas) == pytest.approx(mas, rel=1e-12)
    assert sphere.separation(359.99999, 0, 0.00001, 0) == pytest.approx(0.00002, rel=1e-9)


def test_vectors_round_trip() -> None:
    assert sphere.lonlat(sphere.unit(-10.0, 45.0)) == pytest.approx((350.0, 45.0))
    assert sphere.lonlat(sphere.unit(123.0, 90.0))[1] == 90.0  # atan2: exact at the pole


def test_orientation_is_one_rule() -> None:
    clockwise = [(0, 0), (0, 1), (1, 1), (1, 0)]
    assert sphere.counter_clockwise(clockwise) == sphere.normalize_polygon(clockwise)
    assert sphere.counter_clockwise([(-1, 0), (1, 0), (0, 1)]) == [(359.0, 0.0), (1.0, 0.0), (0.0, 1.0)]


def test_point_in_polygon_either_orientation_edges_included() -> None:
    square = [(0, 0), (1, 0), (1, 1), (0, 1)]
    concave = [(0, 0), (2, 0), (2, 2), (1, 0.5), (0, 2)]
    for vertices in (square, square[::-1]):
        assert sphere.point_in_polygon(0.5, 0.5, vertices)
        assert sphere.point_in_polygon(1.0, 0.5, vertices)  # on an edge
        assert sphere.point_in_polygon(0.0, 0.0, vertices)  # a vertex
        assert not sphere.point_in_polygon(1.5, 0.5, vertices)
        assert not sphere.point_in_polygon(180.5, -0.5, vertices)  # the antipode
    assert sphere.point_in_polygon(0.5, 0.5, concave) and not sphere.point_in_polygon(1.0, 1.5, concave)


def test_arcs_cross_touching_and_collinear() -> None:
    u = sphere.unit
    assert sphere.arcs_cross(u(0, -1), u(0, 1), u(-1, 0), u(1, 0))
    assert sphere.arcs_cross(u(0, 0), u(1, 0), u(1, 0), u(1, 1))  # sharing an end point
    assert sphere.arcs_cross(u(0, 0), u(2, 0), u(1, 0), u(3, 0))  # overlapping on one great circle
    assert not sphere.arcs_cross(u(0, 0), u(1, 0), u(2, 0), u(3, 0))
    assert not sphere.arcs_cross(u(0, -1), u(0, 1), u(180, -1), u(180, 1))


def test_relations_of_constant_regions() -> None:
    square = [0, 0, 1, 0, 1, 1, 0, 1]
    assert sphere.region_relation("CONTAINS", "circle", [0.5, 0.5, 0.1], "polygon", square)
    assert not sphere.region_relation("CONTAINS", "circle", [0.5, 0.5, 0.6], "polygon", square)
    assert sphere.region_relation("INTERSECTS", "circle", [1.5, 0.5, 0.6], "polygon", square)
    assert sphere.region_relation("CONTAINS", "polygon", square, "circle", [0.5, 0.5, 1.0])
    crossing = [0.5, -1, 0.6, -1, 0.6, 2, 0.5, 2]  # no vertex inside the other polygon
    assert sphere.region_relation("INTERSECTS", "polygon", crossing, "polygon", square)
    assert not sphere.region_relation("CONTAINS", "polygon", crossing, "polygon", square)
    with pytest.raises(sphere.GeometryValueError):
        sphere.region_relation("CONTAINS", "circle", [0, 0, 1], "circle", [0, 0, 2])


def test_bounding_cap() -> None:
    lon, lat, radius = sphere.bounding_cap([(359, -1), (1, -1), (1, 1), (359, 1)])
    assert sphere.separation(lon, lat, 0, 0) < 1e-12
    assert radius == pytest.approx(sphere.separation(0, 0, 1, 1))
    assert sphere.bounding_cap([(0, 0), (180, 0)]) == (0.0, 0.0, 180.0)  # no mean direction
