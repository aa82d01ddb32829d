"""DALI sky regions (circle, polygon; the SIA/SODA RANGE): the one parser, and exact tests on the sphere.

``parse_pos`` reads a SIA 2.0 / SODA ``POS`` value into a ``Circle``, ``Range`` or ``Polygon``
(``RegionError`` when it does not parse or is over ``MAX_POLYGON_VERTICES``);
``region_overlaps`` tests a region against a convex outline (an image footprint) exactly on the
sphere, touching included and independent of where RA wraps; ``region_contains`` and
``region_bounds`` serve cutouts and coarse prefilters. Built on dali/sphere.py; pure computation
on floats: no files, no database, no HTTP (services turn ``RegionError`` into their usage error).
Tests: tests/dali/test_regions.py, tests/soda/test_cutout.py.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dali.sphere import (
    EPS,
    GeometryValueError,
    Vec,
    arcs_cross,
    bounding_cap,
    counter_clockwise,
    cross,
    dot,
    lonlat,
    normalize_polygon,
    on_arc,
    point_in_polygon,
    unit,
)

__all__ = [
    "MAX_POLYGON_VERTICES",
    "Circle",
    "Polygon",
    "Range",
    "Region",
    "RegionError",
    "parse_circle",
    "parse_polygon",
    "parse_pos",
    "parse_range",
    "region_bounds",
    "region_contains",
    "region_overlaps",
]


@dataclass(frozen=True, slots=True)
class Circle:
    """A DALI circle: centre and radius in degrees (ICRS)."""

    ra: float
    dec: float
    radius: float


@dataclass(frozen=True, slots=True)
class Range:
    """A SIA/SODA RANGE: RA and Dec intervals in degrees; ``ra_min > ra_max`` wraps through 0."""

    ra_min: float
    ra_max: float
    dec_min: float
    dec_max: float


@dataclass(frozen=True, slots=True)
class Polygon:
    """A DALI polygon: at least three (ra, dec) vertices in degrees, joined by great circles."""

    vertices: tuple[tuple[float, float], ...]


Region = Circle | Range | Polygon


# The overlap test costs vertices x image edges per candidate row: 3,000 vertices held a SIA
# query for 10 s (issue 13). DALI sets no limit; survey footprints need a few dozen vertices.
MAX_POLYGON_VERTICES = 200


class RegionError(GeometryValueError):
    """A region string that does not parse (or, with ``limit``, is over a documented size
    limit); services turn it into their usage error. A ``GeometryValueError``, so a ValueError."""

    def __init__(self, message: str, *, limit: str | None = None) -> None:
        super().__init__(message)
        self.limit = limit


def parse_circle(text: str) -> Circle:
    """A DALI circle ``ra dec radius`` (degrees)."""
    values = _numbers(text, "CIRCLE")
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        raise RegionError("CIRCLE needs three finite numbers: ra dec radius")
    ra, dec, radius = values
    _check_lat(dec, "CIRCLE")
    if not 0 < radius <= 180:
        raise RegionError("CIRCLE radius must be in (0, 180] degrees")
    return Circle(ra % 360.0, dec, radius)


def parse_polygon(text: str) -> Polygon:
    """A DALI polygon ``ra1 dec1 ra2 dec2 ...`` (three to ``MAX_POLYGON_VERTICES`` vertices) that
    bounds an area within one hemisphere, as ADQL's POLYGON must: with no area (repeated or
    collinear vertices) or wider than a hemisphere, which side is inside is not defined."""
    if len(text.split()) > 2 * MAX_POLYGON_VERTICES:
        raise RegionError(f"POLYGON has more than {MAX_POLYGON_VERTICES} vertices",
                          limit=f"at most {MAX_POLYGON_VERTICES} vertices per polygon")
    values = _numbers(text, "POLYGON")
    if len(values) < 6 or len(values) % 2 or not all(math.isfinite(v) for v in values):
        raise RegionError("POLYGON needs at least three ra dec pairs of finite numbers")
    vertices = tuple((values[i] % 360.0, values[i + 1]) for i in range(0, len(values), 2))
    for _, lat in vertices:
        _check_lat(lat, "POLYGON")
    try:
        normalize_polygon(vertices)
    except GeometryValueError as exc:
        raise RegionError(f"POLYGON: {exc}") from None
    return Polygon(vertices)


def parse_range(text: str) -> Range:
    """A RANGE ``ra_min ra_max dec_min dec_max``; open ends as ``-Inf``/``+Inf``."""
    values = _numbers(text, "RANGE")
    if len(values) != 4 or any(math.isnan(v) for v in values):
        raise RegionError("RANGE needs four numbers: ra_min ra_max dec_min dec_max")
    ra_min, ra_max, dec_min, dec_max = values
    if math.isinf(ra_min) or math.isinf(ra_max) or (ra_max - ra_min) >= 360:
        ra_min, ra_max = 0.0, 360.0
    else:
        low, high = ra_min % 360.0, ra_max % 360.0
        ra_min, ra_max = low, (360.0 if high == 0.0 and ra_max > ra_min else high)
    dec_min, dec_max = max(dec_min, -90.0), min(dec_max, 90.0)
    if dec_min > dec_max:
        raise RegionError("RANGE Dec interval is empty (dec_min > dec_max)")
    return Range(ra_min, ra_max, dec_min, dec_max)


def parse_pos(text: str) -> Region:
    """A SIA 2.0 / SODA POS value: ``CIRCLE ...``, ``RANGE ...`` or ``POLYGON ...``."""
    shape, _, rest = text.strip().partition(" ")
    shape = shape.upper()
    if shape == "CIRCLE":
        return parse_circle(rest)
    if shape == "RANGE":
        return parse_range(rest)
    if shape == "POLYGON":
        return parse_polygon(rest)
    raise RegionError("POS must start with CIRCLE, RANGE or POLYGON")


def region_contains(region: Region, lon: float, lat: float) -> bool:
    """Whether the point (lon, lat) in degrees lies in ``region`` (boundary included)."""
    if isinstance(region, Circle):
        return dot(unit(region.ra, region.dec), unit(lon, lat)) >= math.cos(math.radians(region.radius)) - EPS
    if isinstance(region, Range):
        return _in_range(lon, lat, region)
    return point_in_polygon(lon, lat, region.vertices)


def region_overlaps(region: Region, outline: Iterable[float]) -> bool:
    """Whether ``region`` and a convex outline (a flat ``lon lat ...`` list, degrees) share any point.

    Exact on the sphere: touching counts (a circle that reaches only a corner overlaps), and
    nothing depends on where RA wraps.
    """
    flat = list(outline)
    tile = _Convex([(flat[i], flat[i + 1]) for i in range(0, len(flat) - 1, 2)])
    if isinstance(region, Circle):
        return _circle_overlaps(region, tile)
    if isinstance(region, Range):
        return _range_overlaps(region, tile)
    return _polygon_overlaps(region, tile)


def region_bounds(region: Region) -> tuple[float, float, float]:
    """A circle (ra, dec, radius in degrees) holding the whole region, for coarse prefilters."""
    if isinstance(region, Circle):
        return region.ra, region.dec, region.radius
    if isinstance(region, Polygon):
        return bounding_cap(region.vertices)
    if region.ra_max - region.ra_min >= 360.0:
        if region.dec_min <= -90 + EPS:
            return 0.0, -90.0, 90.0 + region.dec_max
        if region.dec_max >= 90 - EPS:
            return 0.0, 90.0, 90.0 - region.dec_min
        return 0.0, 0.0, 180.0
    width = (region.ra_max - region.ra_min) % 360.0
    points = [(region.ra_min + width * k / 8, lat) for k in range(9)
              for lat in (region.dec_min, (region.dec_min + region.dec_max) / 2, region.dec_max)]
    ra, dec, radius = bounding_cap(points)
    radius += 0.5 * (region.dec_max - region.dec_min)  # parallels bulge beyond their sampled points
    return ra, dec, min(180.0, radius)


def _numbers(text: str, what: str) -> list[float]:
    values: list[float] = []
    for token in text.split():
        try:
            value = float(token)
        except ValueError:
            raise RegionError(f"{what} has a value that is not a number: {token[:40]!r}") from None
        values.append(value)
    return values


def _check_lat(lat: float, what: str) -> None:
    if not -90 <= lat <= 90:
        raise RegionError(f"{what} latitude {lat:g} is outside [-90, 90]")


def _scaled(v: Vec, s: float) -> Vec:
    return (v[0] * s, v[1] * s, v[2] * s)


class _Convex:
    """A convex spherical polygon (a tile footprint) in vector form."""

    def __init__(self, vertices: Sequence[tuple[float, float]]) -> None:
        self.lonlat = counter_clockwise(vertices)
        self.vectors = [unit(*v) for v in self.lonlat]
        n = len(self.vectors)
        self.edges = [(self.vectors[i], self.vectors[(i + 1) % n]) for i in range(n)]
        normals = [cross(a, b) for a, b in self.edges]
        # a repeated corner makes a zero-length edge, which bounds nothing
        self.normals = [_scaled(m, 1 / math.sqrt(dot(m, m))) if dot(m, m) > 0 else None for m in normals]

    def contains(self, point: Vec) -> bool:
        return all(dot(point, n) >= -EPS for n in self.normals if n is not None)


def _circle_overlaps(circle: Circle, tile: _Convex) -> bool:
    centre = unit(circle.ra, circle.dec)
    cos_r = math.cos(math.radians(circle.radius))
    sin_r = math.sin(math.radians(circle.radius))
    if tile.contains(centre) or any(dot(centre, v) >= cos_r - EPS for v in tile.vectors):
        return True
    for (a, b), normal in zip(tile.edges, tile.normals, strict=True):
        if normal is None:
            continue
        # Nearest point of the edge's great circle to the centre; it must lie within the arc
        # and on the centre's side (radius < 90) for the edge to pass within the radius.
        s = dot(centre, normal)
        foot = (centre[0] - s * normal[0], centre[1] - s * normal[1], centre[2] - s * normal[2])
        length = math.sqrt(dot(foot, foot))
        if length < EPS:
            continue
        foot = _scaled(foot, 1 / length)
        if abs(s) <= sin_r + EPS and dot(foot, centre) >= cos_r - EPS and on_arc(foot, a, b, normal):
            return True
    return False


def _in_range(lon: float, lat: float, rng: Range) -> bool:
    if not rng.dec_min - EPS <= lat <= rng.dec_max + EPS:
        return False
    lon %= 360.0
    if rng.ra_max - rng.ra_min >= 360.0:
        return True
    if rng.ra_min <= rng.ra_max:
        return rng.ra_min - EPS <= lon <= rng.ra_max + EPS
    return lon >= rng.ra_min - EPS or lon <= rng.ra_max + EPS


def _range_overlaps(rng: Range, tile: _Convex) -> bool:
    if any(_in_range(lon, lat, rng) for lon, lat in tile.lonlat):
        return True
    full = rng.ra_max - rng.ra_min >= 360.0
    corners = [] if full else [(rng.ra_min, rng.dec_min), (rng.ra_min, rng.dec_max),
                               (rng.ra_max, rng.dec_min), (rng.ra_max, rng.dec_max)]
    if any(tile.contains(unit(*c)) for c in corners):
        return True
    if tile.contains(unit(0, 90)) and rng.dec_max >= 90 - EPS:
        return True
    if tile.contains(unit(0, -90)) and rng.dec_min <= -90 + EPS:
        return True
    for a, b in tile.edges:
        # Meridian sides (great-circle arcs), split at the equator to stay shorter than 180°.
        if not full:
            for lon in (rng.ra_min, rng.ra_max):
                cuts = sorted({rng.dec_min, max(rng.dec_min, min(rng.dec_max, 0.0)), rng.dec_max})
                for lo, hi in itertools.pairwise(cuts):
                    if hi > lo and arcs_cross(a, b, unit(lon, lo), unit(lon, hi)):
                        return True
        # Parallel sides (small circles): where the edge reaches that latitude.
        for lat in (rng.dec_min, rng.dec_max):
            for point in _arc_at_latitude(a, b, lat):
                if _in_range(*lonlat(point), rng):
                    return True
    return False


def _arc_at_latitude(a: Vec, b: Vec, lat: float) -> list[Vec]:
    """Points of the great-circle arc a→b at latitude ``lat``."""
    c = cross(a, b)
    angle = math.atan2(math.sqrt(dot(c, c)), dot(a, b))
    ab = dot(a, b)
    w = (b[0] - ab * a[0], b[1] - ab * a[1], b[2] - ab * a[2])
    norm = math.sqrt(dot(w, w))
    if norm < EPS:
        return []
    w = _scaled(w, 1 / norm)
    # z(t) = a_z cos t + w_z sin t = R cos(t - phi)
    amp = math.hypot(a[2], w[2])
    target = math.sin(math.radians(lat))
    if amp < EPS or abs(target) > amp:
        return []
    phi = math.atan2(w[2], a[2])
    delta = math.acos(max(-1.0, min(1.0, target / amp)))
    points = []
    for t in (phi + delta, phi - delta):
        t = (t + 2 * math.pi) % (2 * math.pi)
        if t <= angle + EPS:
            ct, st = math.cos(t), math.sin(t)
            points.append((a[0] * ct + w[0] * st, a[1] * ct + w[1] * st, a[2] * ct + w[2] * st))
    return points


def _polygon_overlaps(polygon: Polygon, tile: _Convex) -> bool:
    vectors = [unit(*v) for v in polygon.vertices]
    if any(tile.contains(v) for v in vectors):
        return True
    if any(point_in_polygon(lon, lat, polygon.vertices) for lon, lat in tile.lonlat):
        return True
    edges = list(zip(vectors, vectors[1:] + vectors[:1], strict=True))
    return any(arcs_cross(a, b, c, d) for a, b in edges for c, d in tile.edges)
