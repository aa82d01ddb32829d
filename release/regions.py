"""Sky regions (DALI circle, polygon; the SIA/SODA RANGE): parsing, and exact tests on the sphere.

``parse_pos`` reads a SIA 2.0 / SODA ``POS`` value into a ``Circle``, ``Range`` or ``Polygon``
(``RegionError`` when it does not parse or is over ``MAX_POLYGON_VERTICES``);
``region_overlaps`` tests a region against a convex outline (an image footprint) exactly on the
sphere, touching included and independent of where RA wraps; ``region_contains`` and
``region_bounds`` serve cutouts and coarse prefilters. Pure computation on floats and numpy:
no files, no database, no HTTP (services turn ``RegionError`` into their usage error).
Tests: tests/release/test_obscore.py, tests/soda/test_cutout.py.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "MAX_POLYGON_VERTICES",
    "Circle",
    "Polygon",
    "Range",
    "Region",
    "RegionError",
    "counter_clockwise",
    "parse_circle",
    "parse_polygon",
    "parse_pos",
    "parse_range",
    "region_bounds",
    "region_contains",
    "region_overlaps",
    "separation",
    "unit_vector",
]

_EPS = 1e-12


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


class RegionError(ValueError):
    """A region string that does not parse (or, with ``limit``, is over a documented size
    limit); services turn it into their usage error."""

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
    """A DALI polygon ``ra1 dec1 ra2 dec2 ...`` (three to ``MAX_POLYGON_VERTICES`` vertices)."""
    if len(text.split()) > 2 * MAX_POLYGON_VERTICES:
        raise RegionError(f"POLYGON has more than {MAX_POLYGON_VERTICES} vertices",
                          limit=f"at most {MAX_POLYGON_VERTICES} vertices per polygon")
    values = _numbers(text, "POLYGON")
    if len(values) < 6 or len(values) % 2 or not all(math.isfinite(v) for v in values):
        raise RegionError("POLYGON needs at least three ra dec pairs of finite numbers")
    vertices = tuple((values[i] % 360.0, values[i + 1]) for i in range(0, len(values), 2))
    for _, lat in vertices:
        _check_lat(lat, "POLYGON")
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
        return float(np.dot(unit_vector(region.ra, region.dec), unit_vector(lon, lat))) >= \
            math.cos(math.radians(region.radius)) - _EPS
    if isinstance(region, Range):
        return _in_range(lon, lat, region)
    return _polygon_contains(region, unit_vector(lon, lat))


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
    if isinstance(region, Range):
        if region.ra_max - region.ra_min >= 360.0:
            if region.dec_min <= -90 + _EPS:
                return 0.0, -90.0, 90.0 + region.dec_max
            if region.dec_max >= 90 - _EPS:
                return 0.0, 90.0, 90.0 - region.dec_min
            return 0.0, 0.0, 180.0
        width = (region.ra_max - region.ra_min) % 360.0
        points = [(region.ra_min + width * k / 8, lat) for k in range(9)
                  for lat in (region.dec_min, (region.dec_min + region.dec_max) / 2, region.dec_max)]
    else:
        points = list(region.vertices)
    vectors = np.array([unit_vector(*p) for p in points])
    centre = vectors.sum(axis=0)
    if float(np.linalg.norm(centre)) < _EPS:
        return 0.0, 0.0, 180.0
    ra, dec = _lonlat(centre / np.linalg.norm(centre))
    radius = max(separation(ra, dec, lon, lat) for lon, lat in points)
    if isinstance(region, Range):
        radius += 0.5 * (region.dec_max - region.dec_min)  # parallels bulge beyond their sampled points
    return ra, dec, min(180.0, radius)


def unit_vector(ra: float, dec: float) -> np.ndarray:
    """The unit vector of (ra, dec) in degrees."""
    a, d = math.radians(ra), math.radians(dec)
    return np.array([math.cos(d) * math.cos(a), math.cos(d) * math.sin(a), math.sin(d)])


def separation(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Angle between two points, in degrees (atan2 form: accurate at small and large angles)."""
    dot = float(np.dot(unit_vector(ra1, dec1), unit_vector(ra2, dec2)))
    cross = float(np.linalg.norm(np.cross(unit_vector(ra1, dec1), unit_vector(ra2, dec2))))
    return math.degrees(math.atan2(cross, dot))


def counter_clockwise(corners: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The corners ordered counter-clockwise seen from inside the sphere (DALI polygon rule)."""
    vectors = [unit_vector(*c) for c in corners]
    centre = sum(vectors)
    turn = sum(float(np.dot(np.cross(vectors[i], vectors[(i + 1) % len(vectors)]), centre))
               for i in range(len(vectors)))
    ordered = list(corners) if turn > 0 else list(reversed(corners))
    return [(lon % 360.0, lat) for lon, lat in ordered]


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


def _on_arc(point: np.ndarray, a: np.ndarray, b: np.ndarray, normal: np.ndarray) -> bool:
    return float(np.dot(np.cross(a, point), normal)) >= -_EPS and float(np.dot(np.cross(point, b), normal)) >= -_EPS


def _arcs_cross(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> bool:
    n1, n2 = np.cross(a, b), np.cross(c, d)
    len1, len2 = float(np.linalg.norm(n1)), float(np.linalg.norm(n2))
    if len1 < _EPS or len2 < _EPS:  # an arc shorter than the precision: treat it as a point
        return False
    n1, n2 = n1 / len1, n2 / len2
    line = np.cross(n1, n2)
    norm = float(np.linalg.norm(line))
    if norm < 1e-9:  # same great circle: overlap when an end point lies on the other arc
        return any(_on_arc(p, a, b, n1) and float(np.dot(p, (a + b))) > 0 for p in (c, d)) or \
            any(_on_arc(p, c, d, n2) and float(np.dot(p, (c + d))) > 0 for p in (a, b))
    line /= norm
    return any(_on_arc(t, a, b, n1) and _on_arc(t, c, d, n2) for t in (line, -line))


class _Convex:
    """A convex spherical polygon (a tile footprint) in vector form."""

    def __init__(self, vertices: Sequence[tuple[float, float]]) -> None:
        self.lonlat = counter_clockwise(vertices)
        self.vectors = [unit_vector(*v) for v in self.lonlat]
        n = len(self.vectors)
        self.edges = [(self.vectors[i], self.vectors[(i + 1) % n]) for i in range(n)]
        self.normals = [np.cross(a, b) / np.linalg.norm(np.cross(a, b)) for a, b in self.edges]

    def contains(self, point: np.ndarray) -> bool:
        return all(float(np.dot(point, n)) >= -_EPS for n in self.normals)


def _circle_overlaps(circle: Circle, tile: _Convex) -> bool:
    centre = unit_vector(circle.ra, circle.dec)
    cos_r = math.cos(math.radians(circle.radius))
    sin_r = math.sin(math.radians(circle.radius))
    if tile.contains(centre) or any(float(np.dot(centre, v)) >= cos_r - _EPS for v in tile.vectors):
        return True
    for (a, b), normal in zip(tile.edges, tile.normals, strict=True):
        # Nearest point of the edge's great circle to the centre; it must lie within the arc
        # and on the centre's side (radius < 90) for the edge to pass within the radius.
        foot = centre - float(np.dot(centre, normal)) * normal
        if float(np.linalg.norm(foot)) < _EPS:
            continue
        foot /= np.linalg.norm(foot)
        if abs(float(np.dot(centre, normal))) <= sin_r + _EPS and float(np.dot(foot, centre)) >= cos_r - _EPS \
                and _on_arc(foot, a, b, normal):
            return True
    return False


def _in_range(lon: float, lat: float, rng: Range) -> bool:
    if not rng.dec_min - _EPS <= lat <= rng.dec_max + _EPS:
        return False
    lon %= 360.0
    if rng.ra_max - rng.ra_min >= 360.0:
        return True
    if rng.ra_min <= rng.ra_max:
        return rng.ra_min - _EPS <= lon <= rng.ra_max + _EPS
    return lon >= rng.ra_min - _EPS or lon <= rng.ra_max + _EPS


def _lonlat(v: np.ndarray) -> tuple[float, float]:
    return math.degrees(math.atan2(v[1], v[0])) % 360.0, math.degrees(math.asin(max(-1.0, min(1.0, v[2]))))


def _range_overlaps(rng: Range, tile: _Convex) -> bool:
    if any(_in_range(lon, lat, rng) for lon, lat in tile.lonlat):
        return True
    full = rng.ra_max - rng.ra_min >= 360.0
    corners = [] if full else [(rng.ra_min, rng.dec_min), (rng.ra_min, rng.dec_max),
                               (rng.ra_max, rng.dec_min), (rng.ra_max, rng.dec_max)]
    if any(tile.contains(unit_vector(*c)) for c in corners):
        return True
    if tile.contains(unit_vector(0, 90)) and rng.dec_max >= 90 - _EPS:
        return True
    if tile.contains(unit_vector(0, -90)) and rng.dec_min <= -90 + _EPS:
        return True
    for a, b in tile.edges:
        # Meridian sides (great-circle arcs), split at the equator to stay shorter than 180°.
        if not full:
            for lon in (rng.ra_min, rng.ra_max):
                cuts = sorted({rng.dec_min, max(rng.dec_min, min(rng.dec_max, 0.0)), rng.dec_max})
                for lo, hi in itertools.pairwise(cuts):
                    if hi > lo and _arcs_cross(a, b, unit_vector(lon, lo), unit_vector(lon, hi)):
                        return True
        # Parallel sides (small circles): where the edge reaches that latitude.
        for lat in (rng.dec_min, rng.dec_max):
            for point in _arc_at_latitude(a, b, lat):
                if _in_range(*_lonlat(point), rng):
                    return True
    return False


def _arc_at_latitude(a: np.ndarray, b: np.ndarray, lat: float) -> list[np.ndarray]:
    """Points of the great-circle arc a→b at latitude ``lat``."""
    angle = math.atan2(float(np.linalg.norm(np.cross(a, b))), float(np.dot(a, b)))
    w = b - float(np.dot(a, b)) * a
    norm = float(np.linalg.norm(w))
    if norm < _EPS:
        return []
    w /= norm
    # z(t) = a_z cos t + w_z sin t = R cos(t - phi)
    amp = math.hypot(float(a[2]), float(w[2]))
    target = math.sin(math.radians(lat))
    if amp < _EPS or abs(target) > amp:
        return []
    phi = math.atan2(float(w[2]), float(a[2]))
    delta = math.acos(max(-1.0, min(1.0, target / amp)))
    points = []
    for t in (phi + delta, phi - delta):
        t = (t + 2 * math.pi) % (2 * math.pi)
        if t <= angle + _EPS:
            points.append(a * math.cos(t) + w * math.sin(t))
    return points


def _polygon_contains(polygon: Polygon, point: np.ndarray) -> bool:
    """Point in a (possibly concave) polygon smaller than a hemisphere: gnomonic projection
    about the polygon's centre maps its great-circle edges to straight lines."""
    vectors = np.array([unit_vector(*v) for v in polygon.vertices])
    centre = vectors.sum(axis=0)
    centre /= np.linalg.norm(centre)
    if float(np.dot(point, centre)) <= _EPS or np.any(vectors @ centre <= _EPS):
        return False
    east = np.cross([0.0, 0.0, 1.0], centre)
    if np.linalg.norm(east) < _EPS:
        east = np.array([0.0, 1.0, 0.0])
    east /= np.linalg.norm(east)
    north = np.cross(centre, east)

    def plane(v: np.ndarray) -> tuple[float, float]:
        scale = float(np.dot(v, centre))
        return float(np.dot(v, east)) / scale, float(np.dot(v, north)) / scale

    x, y = plane(point)
    xy = [plane(v) for v in vectors]
    inside = False
    for (x1, y1), (x2, y2) in zip(xy, xy[1:] + xy[:1], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _polygon_overlaps(polygon: Polygon, tile: _Convex) -> bool:
    vectors = [unit_vector(*v) for v in polygon.vertices]
    if any(tile.contains(v) for v in vectors):
        return True
    if any(_polygon_contains(polygon, v) for v in tile.vectors):
        return True
    edges = list(zip(vectors, vectors[1:] + vectors[:1], strict=True))
    return any(_arcs_cross(a, b, c, d) for a, b in edges for c, d in tile.edges)
