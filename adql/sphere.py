"""Spherical geometry on literal regions: polygons, boxes, areas, HEALPix ranges.

Everything here works on plain floats in degrees (ICRS lon/lat) and runs while a query is
translated, never per row: the per-row tests are SQL that sphere_sql.py writes from the numbers
computed here (edge normals, squared half-chord bounds), and relations between two constant regions
are decided here. HEALPix coverage comes from cdshealpix (``cone_search``, ``polygon_search``).
No I/O. Tests: tests/adql/test_geometry.py.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "GeometryValueError",
    "Vec",
    "box_polygon",
    "cone_ranges",
    "convex_pieces",
    "cross",
    "dot",
    "normalize_polygon",
    "point_in_polygon",
    "polygon_area",
    "polygon_centroid",
    "polygon_ranges",
    "region_relation",
    "separation",
    "unit",
]

Vec = tuple[float, float, float]
MAX_RANGES = 64
MAX_VERTICES = 2000
MAX_CONCAVE_VERTICES = 200


class GeometryValueError(ValueError):
    """A literal region that has no meaning on the sphere (translate.py words it for users)."""


def unit(lon: float, lat: float) -> Vec:
    a, d = math.radians(lon), math.radians(lat)
    return (math.cos(d) * math.cos(a), math.cos(d) * math.sin(a), math.sin(d))


def lonlat(v: Vec) -> tuple[float, float]:
    x, y, z = v
    lon = math.degrees(math.atan2(y, x)) % 360.0
    lat = math.degrees(math.atan2(z, math.hypot(x, y)))
    return lon, lat


def cross(a: Vec, b: Vec) -> Vec:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def dot(a: Vec, b: Vec) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _norm(v: Vec) -> Vec:
    n = math.sqrt(dot(v, v))
    if n == 0.0:
        raise GeometryValueError("degenerate polygon")
    return (v[0] / n, v[1] / n, v[2] / n)


def separation(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Angular distance in degrees (haversine: accurate at milli-arcsecond separations)."""
    d1, d2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((d2 - d1) / 2) ** 2 + math.cos(d1) * math.cos(d2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return math.degrees(2 * math.asin(min(1.0, math.sqrt(h))))


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


def normalize_polygon(vertices: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Vertices in counter-clockwise order (seen from the centre of the sphere).

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
    vecs = [unit(lon, lat) for lon, lat in pts]
    center = _norm((sum(v[0] for v in vecs), sum(v[1] for v in vecs), sum(v[2] for v in vecs)))
    area = _signed_area2(_project(vecs, center))
    if abs(area) < 1e-18:
        raise GeometryValueError("degenerate polygon (no area)")
    return pts if area > 0 else pts[::-1]


def _is_convex(flat: Sequence[tuple[float, float]]) -> bool:
    n = len(flat)
    for i in range(n):
        ax, ay = flat[i]
        bx, by = flat[(i + 1) % n]
        cx, cy = flat[(i + 2) % n]
        if (bx - ax) * (cy - by) - (by - ay) * (cx - bx) < 0:
            return False
    return True


def convex_pieces(vertices: Sequence[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """Split a counter-clockwise polygon into convex pieces (itself when already convex).

    Ear clipping in the gnomonic projection about the vertex centroid, which maps great-circle
    edges to straight lines, so the pieces cover exactly the spherical polygon.
    """
    vecs = [unit(lon, lat) for lon, lat in vertices]
    center = _norm((sum(v[0] for v in vecs), sum(v[1] for v in vecs), sum(v[2] for v in vecs)))
    flat = _project(vecs, center)
    if _is_convex(flat):
        return [list(vertices)]
    if len(vertices) > MAX_CONCAVE_VERTICES:
        # ear clipping is cubic in the worst case; keep translation time bounded
        raise GeometryValueError(f"a non-convex polygon may have at most {MAX_CONCAVE_VERTICES} vertices")
    index = list(range(len(vertices)))
    pieces: list[list[tuple[float, float]]] = []
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


def box_polygon(lon: float, lat: float, width: float, height: float) -> list[tuple[float, float]]:
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


def polygon_area(vertices: Sequence[tuple[float, float]]) -> float:
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


def polygon_centroid(vertices: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """The polygon's surface centroid (the normalised integral of the position vector over its
    area), as lon/lat. By Stokes' theorem the integral is (1/2) sum over the edges of the arc
    length times the edge's unit normal; it is turned towards the vertices' side, so the
    orientation does not matter (polygons are smaller than a hemisphere). The SQL for polygon
    columns (adql/polygon_measures.py) computes the same."""
    vecs = [unit(lon, lat) for lon, lat in vertices]
    acc = [0.0, 0.0, 0.0]
    for a, b in zip(vecs, vecs[1:] + vecs[:1], strict=True):
        n = cross(a, b)
        norm = math.sqrt(dot(n, n))
        if norm == 0:
            continue
        scale = math.atan2(norm, dot(a, b)) / norm
        for i in range(3):
            acc[i] += scale * n[i]
    total: Vec = (acc[0], acc[1], acc[2])
    side = math.fsum(dot(total, v) for v in vecs)
    sign = -1.0 if side < 0 else 1.0
    return lonlat(_norm((sign * total[0], sign * total[1], sign * total[2])))


def point_in_polygon(lon: float, lat: float, vertices: Sequence[tuple[float, float]]) -> bool:
    """Whether a point lies in a counter-clockwise polygon (edges included)."""
    p = unit(lon, lat)
    for piece in convex_pieces(vertices):
        vecs = [unit(a, d) for a, d in piece]
        if all(dot(p, cross(vecs[i], vecs[(i + 1) % len(vecs)])) >= -1e-15 for i in range(len(vecs))):
            return True
    return False


def _ranges_from_cells(ipix: np.ndarray, depth: np.ndarray, order: int) -> list[tuple[int, int]]:
    shift = 2 * (order - depth.astype(np.int64))
    lo = ipix.astype(np.int64) << shift
    hi = ((ipix.astype(np.int64) + 1) << shift) - 1
    pairs = sorted(zip(lo.tolist(), hi.tolist(), strict=True))
    merged: list[tuple[int, int]] = []
    for a, b in pairs:
        if merged and a <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _start_depth(radius_deg: float, order: int) -> int:
    # Cells about a third of the radius: about 7 ranges covering twice the area of a cone; the
    # exact test drops the extra rows, and fewer ranges translate and plan faster than many tight ones.
    size = math.sqrt(math.pi / 3)  # base cell size in radians
    r = max(math.radians(radius_deg), 1e-12)
    return max(0, min(order, math.floor(math.log2(size / r * 3))))


def cone_ranges(lon: float, lat: float, radius: float, order: int, tolerance: float = 0.0
                ) -> list[tuple[int, int]]:
    """NESTED index ranges at ``order`` covering a cone (padded by ``tolerance`` degrees)."""
    import cdshealpix.nested as hpx
    from astropy import units as u
    from astropy.coordinates import Latitude, Longitude

    r = min(radius + tolerance + 1e-9, 180.0)
    if r >= 90.0:
        return [(0, 12 * 4**order - 1)]
    depth = _start_depth(r, order)
    while True:
        ipix, dep, _ = hpx.cone_search(Longitude(lon, u.deg), Latitude(lat, u.deg), r * u.deg,
                                       depth=depth, flat=False)
        ranges = _ranges_from_cells(np.asarray(ipix), np.asarray(dep), order)
        if len(ranges) <= MAX_RANGES or depth == 0:
            return ranges
        depth -= 1


def polygon_ranges(vertices: Sequence[tuple[float, float]], order: int, tolerance: float = 0.0
                   ) -> list[tuple[int, int]]:
    """NESTED index ranges at ``order`` covering a polygon (padded by ``tolerance`` degrees).

    Padding adds the neighbours of every cell at a depth whose cells are larger than the
    tolerance, so points up to ``tolerance`` outside the polygon still fall in a range.
    """
    import cdshealpix.nested as hpx
    from astropy import units as u
    from astropy.coordinates import Latitude, Longitude

    lons = Longitude([v[0] for v in vertices], u.deg)
    lats = Latitude([v[1] for v in vertices], u.deg)
    vecs = [unit(a, d) for a, d in vertices]
    center = _norm((sum(v[0] for v in vecs), sum(v[1] for v in vecs), sum(v[2] for v in vecs)))
    clon, clat = lonlat(center)
    extent = max(separation(clon, clat, a, d) for a, d in vertices)
    depth = _start_depth(extent, order)
    if tolerance > 0:
        # cell size at depth d is about 58.6/2^d degrees; keep it above the tolerance.
        max_depth = math.floor(math.log2(58.6 / max(tolerance, 1e-12)))
        depth = max(0, min(depth, max_depth))
    while True:
        ipix, _dep, _ = hpx.polygon_search(lons, lats, depth=depth, flat=True)
        ipix = np.asarray(ipix, dtype=np.uint64)
        if tolerance > 0 and len(ipix):
            neigh = np.asarray(hpx.neighbours(ipix, depth)).ravel()
            ipix = np.unique(np.concatenate([ipix, neigh[neigh >= 0].astype(np.uint64)]))
        ranges = _ranges_from_cells(ipix, np.full(len(ipix), depth), order)
        if len(ranges) <= MAX_RANGES or depth == 0:
            return ranges
        depth -= 1


def region_relation(name: str, a_shape: str, a: Sequence[float], b_shape: str, b: Sequence[float]) -> bool:
    """CONTAINS or INTERSECTS (``name``) of two constant regions given by their shape and numbers.

    Circles are lon, lat, radius; polygons lon1, lat1, lon2, lat2, ... counter-clockwise.
    """

    def polygon(values: Sequence[float]) -> list[tuple[float, float]]:
        return list(zip(values[0::2], values[1::2], strict=True))

    if a_shape == "circle" and b_shape == "polygon":
        verts = polygon(b)
        if name == "CONTAINS":
            return point_in_polygon(a[0], a[1], verts) and (
                _polygon_circle_distance(verts, a[0], a[1]) >= a[2])
        if point_in_polygon(a[0], a[1], verts):
            return True
        return _polygon_circle_distance(verts, a[0], a[1]) <= a[2]
    if a_shape == "polygon" and b_shape == "circle":
        verts = polygon(a)
        if name == "CONTAINS":
            if b[2] > 90:
                raise GeometryValueError("CONTAINS(POLYGON, CIRCLE) needs a radius of at most 90 degrees")
            # a cap of radius <= 90 degrees is convex: it holds the polygon when it holds the vertices
            return all(separation(lon, lat, b[0], b[1]) <= b[2] for lon, lat in verts)
        if point_in_polygon(b[0], b[1], verts):
            return True
        return _polygon_circle_distance(verts, b[0], b[1]) <= b[2]
    if a_shape == "polygon" and b_shape == "polygon":
        pa, pb = polygon(a), polygon(b)
        if name == "CONTAINS":
            return all(point_in_polygon(lon, lat, pb) for lon, lat in pa)
        if any(point_in_polygon(lon, lat, pb) for lon, lat in pa) or any(
            point_in_polygon(lon, lat, pa) for lon, lat in pb
        ):
            return True
        return _edges_cross(pa, pb)
    raise GeometryValueError(f"{name} of {a_shape} and {b_shape} is not supported")


def _polygon_circle_distance(verts: list[tuple[float, float]], lon: float, lat: float) -> float:
    """Smallest angular distance (degrees) from a point to the polygon's edges."""
    p = unit(lon, lat)
    best = 180.0
    for i in range(len(verts)):
        a, b = unit(*verts[i]), unit(*verts[(i + 1) % len(verts)])
        best = min(best, separation(lon, lat, *verts[i]))
        n = cross(a, b)
        nn = math.sqrt(dot(n, n))
        if nn == 0:
            continue
        n = (n[0] / nn, n[1] / nn, n[2] / nn)
        # foot of the perpendicular on the great circle, if it falls within the arc
        s = dot(p, n)
        foot = (p[0] - s * n[0], p[1] - s * n[1], p[2] - s * n[2])
        if dot(cross(a, foot), n) >= 0 and dot(cross(foot, b), n) >= 0:
            best = min(best, math.degrees(math.asin(min(1.0, abs(s)))))
    return best


def _edges_cross(pa: list[tuple[float, float]], pb: list[tuple[float, float]]) -> bool:
    va = [unit(*v) for v in pa]
    vb = [unit(*v) for v in pb]
    for i in range(len(va)):
        a1, a2 = va[i], va[(i + 1) % len(va)]
        na = cross(a1, a2)
        for j in range(len(vb)):
            b1, b2 = vb[j], vb[(j + 1) % len(vb)]
            nb = cross(b1, b2)
            if dot(b1, na) * dot(b2, na) < 0 and dot(a1, nb) * dot(a2, nb) < 0:
                x = cross(na, nb)
                for cand in (x, (-x[0], -x[1], -x[2])):
                    if dot(cross(a1, cand), na) >= 0 and dot(cross(cand, a2), na) >= 0:
                        return True
    return False
