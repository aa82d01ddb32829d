"""Spherical geometry on plain floats: unit vectors, separations, polygons, arcs, region relations.

Degrees (ICRS lon/lat) in, floats and 3-tuples out. The one implementation of each primitive for
the ADQL translator (constant regions while a query is translated: adql/geometry.py, and the edge
normals adql/sphere_sql.py writes into SQL), the DALI regions of SIA and SODA (dali/regions.py) and
ObsCore footprints (release/obscore.py). Polygons are smaller than a hemisphere; their edges are
great-circle arcs. No I/O, no numpy.
Tests: tests/dali/test_sphere.py, tests/adql/test_geometry.py, tests/adql/test_polygon_measures.py.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

__all__ = [
    "EPS",
    "MAX_CONCAVE_VERTICES",
    "MAX_VERTICES",
    "GeometryValueError",
    "Vec",
    "arcs_cross",
    "bounding_cap",
    "box_polygon",
    "convex_pieces",
    "counter_clockwise",
    "cross",
    "dot",
    "lonlat",
    "normalize_polygon",
    "on_arc",
    "point_in_polygon",
    "polygon_area",
    "polygon_centroid",
    "region_relation",
    "separation",
    "unit",
]

Vec = tuple[float, float, float]
LonLat = tuple[float, float]
EPS = 1e-12  # radians (0.2 µas): how close to an edge or a boundary counts as on it
MAX_VERTICES = 2000
MAX_CONCAVE_VERTICES = 200


class GeometryValueError(ValueError):
    """A region that has no meaning on the sphere (ADQL words it for users; ``dali.regions.RegionError``
    is the kind a DALI parameter raises)."""


def unit(lon: float, lat: float) -> Vec:
    """The unit vector of (lon, lat) in degrees."""
    a, d = math.radians(lon), math.radians(lat)
    return (math.cos(d) * math.cos(a), math.cos(d) * math.sin(a), math.sin(d))


def lonlat(v: Vec) -> LonLat:
    """(lon in [0, 360), lat) in degrees of a vector (atan2 for lat: exact near the poles, no clamping)."""
    x, y, z = v
    lon = math.degrees(math.atan2(y, x)) % 360.0
    lat = math.degrees(math.atan2(z, math.hypot(x, y)))
    return lon, lat


def cross(a: Vec, b: Vec) -> Vec:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def dot(a: Vec, b: Vec) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _length(v: Vec) -> float:
    return math.sqrt(dot(v, v))


def _norm(v: Vec) -> Vec:
    n = _length(v)
    if n == 0.0:
        raise GeometryValueError("degenerate polygon")
    return (v[0] / n, v[1] / n, v[2] / n)


def _centre(vecs: Sequence[Vec]) -> Vec:
    return _norm((sum(v[0] for v in vecs), sum(v[1] for v in vecs), sum(v[2] for v in vecs)))


def separation(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Angular distance in degrees (Vincenty's atan2 form: full precision at every angle, from
    micro-arcseconds, where the dot product alone loses it, to 180, where haversine does)."""
    d1, d2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    y = math.hypot(math.cos(d2) * math.sin(dl),
                   math.cos(d1) * math.sin(d2) - math.sin(d1) * math.cos(d2) * math.cos(dl))
    x = math.sin(d1) * math.sin(d2) + math.cos(d1) * math.cos(d2) * math.cos(dl)
    return math.degrees(math.atan2(y, x))


def _tangent_frame(center: Vec) -> tuple[Vec, Vec]:
    # East and north unit vectors at center (any pair orthogonal to it if center is a pole).
    east = cross((0.0, 0.0, 1.0), center)
    if dot(east, east) < 1e-24:
        east = (0.0, 1.0, 0.0)
    east = _norm(east)
    north = cross(center, east)
    return east, north


def _project(points: Sequence[Vec], center: Vec) -> list[tuple[float, float]]:
    # Gnomonic projection about center: great circles become straight lines.
    east, north = _tangent_frame(center)
    out = []
    for p in points:
        w = dot(p, center)
        if w <= 1e-9:
            raise GeometryValueError("a polygon must lie within one hemisphere")
        out.append((dot(p, east) / w, dot(p, north) / w))
    return out


def _signed_area2(pts: Sequence[tuple[float, float]]) -> float:
    return sum(pts[i][0] * pts[i - len(pts) + 1][1] - pts[i - len(pts) + 1][0] * pts[i][1] for i in range(len(pts)))


def _turn(vertices: Sequence[LonLat]) -> float:
    """Twice the signed area of the polygon in the gnomonic projection about its vertex centroid:
    positive when counter-clockwise seen from the centre of the sphere."""
    vecs = [unit(lon, lat) for lon, lat in vertices]
    return _signed_area2(_project(vecs, _centre(vecs)))


def normalize_polygon(vertices: Sequence[LonLat]) -> list[LonLat]:
    """Vertices in counter-clockwise order (seen from the centre of the sphere), checked.

    DALI asks for counter-clockwise polygons; clients send both orders, so a polygon is read as
    the smaller of the two regions its edges bound. Repeated closing vertices are dropped.
    """
    pts = [(float(lon) % 360.0, float(lat)) for lon, lat in vertices]
    if len(pts) > 3 and pts[0] == pts[-1]:
        pts.pop()
    for lon, lat in pts:
        if not (-90.0 <= lat <= 90.0) or not math.isfinite(lon):
            raise GeometryValueError("polygon latitudes must lie in [-90, 90]")
    if len(pts) < 3:
        raise GeometryValueError("a polygon needs at least three vertices")
    if len(pts) > MAX_VERTICES:
        raise GeometryValueError(f"a polygon may have at most {MAX_VERTICES} vertices")
    area = _turn(pts)
    if abs(area) < 1e-18:
        raise GeometryValueError("degenerate polygon (no area)")
    return pts if area > 0 else pts[::-1]


def counter_clockwise(corners: Sequence[LonLat]) -> list[LonLat]:
    """The corners ordered counter-clockwise seen from inside the sphere (DALI polygon rule),
    longitudes in [0, 360); unchecked, for footprints known to be good (image corners)."""
    ordered = list(corners) if _turn(corners) > 0 else list(reversed(corners))
    return [(lon % 360.0, lat) for lon, lat in ordered]


def _is_convex(flat: Sequence[tuple[float, float]]) -> bool:
    n = len(flat)
    for i in range(n):
        ax, ay = flat[i]
        bx, by = flat[(i + 1) % n]
        cx, cy = flat[(i + 2) % n]
        if (bx - ax) * (cy - by) - (by - ay) * (cx - bx) < 0:
            return False
    return True


def convex_pieces(vertices: Sequence[LonLat]) -> list[list[LonLat]]:
    """Split a counter-clockwise polygon into convex pieces (itself when already convex).

    Ear clipping in the gnomonic projection about the vertex centroid, which maps great-circle
    edges to straight lines, so the pieces cover exactly the spherical polygon.
    """
    vecs = [unit(lon, lat) for lon, lat in vertices]
    flat = _project(vecs, _centre(vecs))
    if _is_convex(flat):
        return [list(vertices)]
    if len(vertices) > MAX_CONCAVE_VERTICES:
        # ear clipping is cubic in the worst case; keep translation time bounded
        raise GeometryValueError(f"a non-convex polygon may have at most {MAX_CONCAVE_VERTICES} vertices")
    index = list(range(len(vertices)))
    pieces: list[list[LonLat]] = []
    guard = 0
    while len(index) > 3:
        guard += 1
        if guard > 10_000:
            raise GeometryValueError("the polygon edges cross each other")
        for k in range(len(index)):
            i, j, m = index[k - 1], index[k], index[(k + 1) % len(index)]
            a, b, c = flat[i], flat[j], flat[m]
            if (b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0]) <= 0:
                continue
            if any(_inside_triangle(flat[o], a, b, c) for o in index if o not in (i, j, m)):
                continue
            pieces.append([vertices[i], vertices[j], vertices[m]])
            index.pop(k)
            break
        else:
            raise GeometryValueError("the polygon edges cross each other")
    pieces.append([vertices[i] for i in index])
    return pieces


def _inside_triangle(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float],
                     c: tuple[float, float]) -> bool:
    def side(u: tuple[float, float], v: tuple[float, float]) -> float:
        return (v[0] - u[0]) * (p[1] - u[1]) - (v[1] - u[1]) * (p[0] - u[0])

    return side(a, b) >= 0 and side(b, c) >= 0 and side(c, a) >= 0


def box_polygon(lon: float, lat: float, width: float, height: float) -> list[LonLat]:
    """The four corners (counter-clockwise) of an ADQL BOX.

    The sides are great circles whose mid-points lie width/2 east-west and height/2 north-south
    of the centre along great circles through it (the STC definition), i.e. a rectangle in the
    gnomonic projection about the centre.
    """
    if not (0 < width < 180 and 0 < height < 180):
        raise GeometryValueError("BOX width and height must be in (0, 180) degrees")
    center = unit(lon, lat)
    east, north = _tangent_frame(center)
    tx, ty = math.tan(math.radians(width) / 2), math.tan(math.radians(height) / 2)
    corners = []
    for sx, sy in ((1, -1), (1, 1), (-1, 1), (-1, -1)):
        v = tuple(center[i] + sx * tx * east[i] + sy * ty * north[i] for i in range(3))
        corners.append(lonlat(_norm(v)))  # type: ignore[arg-type]
    return normalize_polygon(corners)


def polygon_area(vertices: Sequence[LonLat]) -> float:
    """Area in square degrees of a counter-clockwise polygon (sum of spherical triangles)."""
    vecs = [unit(lon, lat) for lon, lat in vertices]
    a = vecs[0]
    total = 0.0
    for b, c in itertools.pairwise(vecs):
        # Van Oosterom & Strackee: tan(E/2) = a.(b x c) / (1 + a.b + b.c + c.a)
        num = dot(a, cross(b, c))
        den = 1 + dot(a, b) + dot(b, c) + dot(c, a)
        total += 2 * math.atan2(num, den)
    return abs(total) * (180.0 / math.pi) ** 2


def polygon_centroid(vertices: Sequence[LonLat]) -> LonLat:
    """The polygon's surface centroid (the normalised integral of the position vector over its
    area), as lon/lat. By Stokes' theorem the integral is (1/2) sum over the edges of the arc
    length times the edge's unit normal; it is turned towards the vertices' side, so the
    orientation does not matter (polygons are smaller than a hemisphere). The SQL for polygon
    columns (adql/polygon_measures.py) computes the same."""
    vecs = [unit(lon, lat) for lon, lat in vertices]
    acc = [0.0, 0.0, 0.0]
    for a, b in zip(vecs, vecs[1:] + vecs[:1], strict=True):
        n = cross(a, b)
        norm = _length(n)
        if norm == 0:
            continue
        scale = math.atan2(norm, dot(a, b)) / norm
        for i in range(3):
            acc[i] += scale * n[i]
    total: Vec = (acc[0], acc[1], acc[2])
    side = math.fsum(dot(total, v) for v in vecs)
    sign = -1.0 if side < 0 else 1.0
    return lonlat(_norm((sign * total[0], sign * total[1], sign * total[2])))


def on_arc(point: Vec, a: Vec, b: Vec, normal: Vec) -> bool:
    """Whether ``point`` (on or near the great circle with unit ``normal`` through a and b) lies
    between a and b, ends included (within ``EPS``)."""
    return dot(cross(a, point), normal) >= -EPS and dot(cross(point, b), normal) >= -EPS


def arcs_cross(a: Vec, b: Vec, c: Vec, d: Vec) -> bool:
    """Whether the great-circle arcs a-b and c-d (each shorter than 180 degrees) share a point,
    touching included; two arcs of one great circle share one when they overlap."""
    n1, n2 = cross(a, b), cross(c, d)
    len1, len2 = _length(n1), _length(n2)
    if len1 < EPS or len2 < EPS:  # an arc shorter than the precision: treat it as a point
        return False
    n1 = (n1[0] / len1, n1[1] / len1, n1[2] / len1)
    n2 = (n2[0] / len2, n2[1] / len2, n2[2] / len2)
    line = cross(n1, n2)
    norm = _length(line)
    if norm < 1e-9:  # same great circle: overlap when an end point lies on the other arc
        ab = (a[0] + b[0], a[1] + b[1], a[2] + b[2])
        cd = (c[0] + d[0], c[1] + d[1], c[2] + d[2])
        return any(on_arc(p, a, b, n1) and dot(p, ab) > 0 for p in (c, d)) or \
            any(on_arc(p, c, d, n2) and dot(p, cd) > 0 for p in (a, b))
    t: Vec = (line[0] / norm, line[1] / norm, line[2] / norm)
    return any(on_arc(x, a, b, n1) and on_arc(x, c, d, n2) for x in (t, (-t[0], -t[1], -t[2])))


def _on_edge(p: Vec, a: Vec, b: Vec) -> bool:
    n = cross(a, b)
    length = _length(n)
    if length < EPS:  # a repeated vertex
        return _length(cross(p, a)) <= EPS and dot(p, a) > 0
    n = (n[0] / length, n[1] / length, n[2] / length)
    return abs(dot(p, n)) <= EPS and on_arc(p, a, b, n)


def point_in_polygon(lon: float, lat: float, vertices: Sequence[LonLat]) -> bool:
    """Whether a point lies in a polygon smaller than a hemisphere (either orientation, concave
    allowed), edges included within ``EPS``.

    Crossing number in the gnomonic projection about the vertex centroid, which maps the
    great-circle edges to straight lines: linear in the vertices, nothing to prepare.
    """
    p = unit(lon, lat)
    vecs = [unit(a, d) for a, d in vertices]
    try:
        centre = _centre(vecs)
    except GeometryValueError:
        return False
    if dot(p, centre) <= EPS or any(dot(v, centre) <= EPS for v in vecs):
        return False
    edges = list(zip(vecs, vecs[1:] + vecs[:1], strict=True))
    if any(_on_edge(p, a, b) for a, b in edges):
        return True
    (x, y), *_ = _project([p], centre)
    xy = _project(vecs, centre)
    inside = False
    for (x1, y1), (x2, y2) in zip(xy, xy[1:] + xy[:1], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def bounding_cap(points: Sequence[LonLat]) -> tuple[float, float, float]:
    """A circle (lon, lat, radius in degrees) about the points' mean direction holding them all;
    the whole sky when they have none (they cancel out)."""
    vecs = [unit(lon, lat) for lon, lat in points]
    total: Vec = (sum(v[0] for v in vecs), sum(v[1] for v in vecs), sum(v[2] for v in vecs))
    if _length(total) < EPS:
        return 0.0, 0.0, 180.0
    lon, lat = lonlat(total)
    return lon, lat, max(separation(lon, lat, a, d) for a, d in points)


def region_relation(name: str, a_shape: str, a: Sequence[float], b_shape: str, b: Sequence[float]) -> bool:
    """CONTAINS or INTERSECTS (``name``) of two constant regions given by their shape and numbers.

    Circles are lon, lat, radius; polygons lon1, lat1, lon2, lat2, ... counter-clockwise.
    """

    def polygon(values: Sequence[float]) -> list[LonLat]:
        return list(zip(values[0::2], values[1::2], strict=True))

    if a_shape == "circle" and b_shape == "polygon":
        verts = polygon(b)
        if name == "CONTAINS":
            return point_in_polygon(a[0], a[1], verts) and _edges_distance(verts, a[0], a[1]) >= a[2]
        return point_in_polygon(a[0], a[1], verts) or _edges_distance(verts, a[0], a[1]) <= a[2]
    if a_shape == "polygon" and b_shape == "circle":
        verts = polygon(a)
        if name == "CONTAINS":
            if b[2] > 90:
                raise GeometryValueError("CONTAINS(POLYGON, CIRCLE) needs a radius of at most 90 degrees")
            # a cap of radius <= 90 degrees is convex: it holds the polygon when it holds the vertices
            return all(separation(lon, lat, b[0], b[1]) <= b[2] for lon, lat in verts)
        return point_in_polygon(b[0], b[1], verts) or _edges_distance(verts, b[0], b[1]) <= b[2]
    if a_shape == "polygon" and b_shape == "polygon":
        pa, pb = polygon(a), polygon(b)
        if name == "CONTAINS":
            return all(point_in_polygon(lon, lat, pb) for lon, lat in pa)
        if any(point_in_polygon(lon, lat, pb) for lon, lat in pa) or any(
            point_in_polygon(lon, lat, pa) for lon, lat in pb
        ):
            return True
        va, vb = [unit(*v) for v in pa], [unit(*v) for v in pb]
        return any(arcs_cross(va[i - 1], va[i], vb[j - 1], vb[j]) for i in range(len(va)) for j in range(len(vb)))
    raise GeometryValueError(f"{name} of {a_shape} and {b_shape} is not supported")


def _edges_distance(verts: Sequence[LonLat], lon: float, lat: float) -> float:
    """Smallest angular distance (degrees) from a point to the polygon's edges."""
    p = unit(lon, lat)
    best = 180.0
    for i in range(len(verts)):
        a, b = unit(*verts[i]), unit(*verts[(i + 1) % len(verts)])
        best = min(best, separation(lon, lat, *verts[i]))
        n = cross(a, b)
        nn = _length(n)
        if nn == 0:
            continue
        n = (n[0] / nn, n[1] / nn, n[2] / nn)
        # foot of the perpendicular on the great circle, if it falls within the arc
        s = dot(p, n)
        foot = (p[0] - s * n[0], p[1] - s * n[1], p[2] - s * n[2])
        if dot(cross(a, foot), n) >= 0 and dot(cross(foot, b), n) >= 0:
            best = min(best, math.degrees(math.asin(min(1.0, abs(s)))))
    return best
