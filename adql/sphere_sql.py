"""Spherical geometry as SQL arithmetic: separations, cones, polygons and HEALPix indices.

What the ADQL geometry functions (adql/geometry.py) become in the database, with no extension:
haversine distances, great-circle edge tests for polygons (constant ones unrolled, polygon columns
as correlated subqueries over their vertices), and the HEALPix NESTED index of a position and the
index-range predicates of a region, with the ranges that cover a constant cone or polygon
(cdshealpix, coarsened to few ranges: the index pre-filter of the exact test). Builds sqlglot
trees; the geometry of constant regions comes from dali/sphere.py.
Tests: tests/adql/test_geometry.py, tests/adql/test_polygon_measures.py,
tests/adql/cases/geometry.toml (through tests/adql/test_cases.py).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
from sqlglot import exp

from adql.builders import add, all_of, any_of, div, fn, mul, num, paren, qcol, rad, sub
from adql.coverage import merge_ranges
from adql.names import Geo, Source
from adql.targets import TARGETS
from dali import sphere

__all__ = ["cone_ranges", "distance", "hav", "hav_bound", "healpix_index", "healpix_ranges", "point_in_polygon",
           "polygon_column", "polygon_column_vs_polygon", "polygon_ranges", "ra_window", "unit_vector"]


def distance(a: Geo, b: Geo) -> exp.Expr:
    """The angular distance of two points in degrees: 2 asin(sqrt(haversine)), clamped for rounding."""
    return fn("degrees", mul(num(2.0), fn("asin", fn("least", num(1.0), fn("sqrt", hav(a, b))))))


def hav(a: Geo, b: Geo) -> exp.Expr:
    """sin^2(dlat/2) + cos(lat1) cos(lat2) sin^2(dlon/2), the haversine of the separation."""
    lon1, lat1 = a.parts[0].copy(), a.parts[1].copy()
    lon2, lat2 = b.parts[0].copy(), b.parts[1].copy()
    if b.values is not None:
        coslat2: exp.Expr = num(math.cos(math.radians(b.values[1])))
    else:
        coslat2 = fn("cos", rad(lat2.copy()))
    dlat = fn("sin", div(rad(sub(lat2, lat1)), num(2.0)))
    dlon = fn("sin", div(rad(sub(lon2, lon1)), num(2.0)))
    return add(fn("power", dlat, num(2)),
               mul(mul(fn("cos", rad(a.parts[1].copy())), coslat2), fn("power", dlon, num(2))))


def hav_bound(radius: exp.Expr) -> exp.Expr:
    """The haversine of a radius given as SQL (at most 180 degrees): sin^2(r/2)."""
    return fn("power", fn("sin", div(rad(fn("least", radius.copy(), num(180.0))), num(2.0))), num(2))


def ra_window(p: Geo, center: Geo, radius: float) -> exp.Expr:
    """|ra_p - ra_c| (across the 0/360 seam) within asin(sin r / cos dec_c); any RA near a pole."""
    dra = fn("abs", sub(p.parts[0].copy(), center.parts[0].copy()))
    wrapped = fn("least", dra, sub(num(360.0), dra.copy()))
    cosdec = fn("greatest", fn("cos", rad(center.parts[1].copy())), num(1e-12))
    half = fn("degrees", fn("asin", fn("least", num(1.0), div(num(math.sin(math.radians(radius))), cosdec))))
    near_pole = exp.GTE(this=add(fn("abs", center.parts[1].copy()), num(radius)), expression=num(90.0))
    return exp.Paren(this=exp.Or(this=near_pole, expression=exp.LTE(this=wrapped, expression=add(half, num(1e-9)))))


def point_in_polygon(p: Geo, vertices: list[tuple[float, float]]) -> exp.Expr:
    """Point in a counter-clockwise polygon: inside every edge's great circle, per convex piece."""
    lon, lat = rad(p.parts[0].copy()), rad(p.parts[1].copy())
    if p.values is not None:
        inside = sphere.point_in_polygon(p.values[0], p.values[1], vertices)
        return exp.Boolean(this=inside)
    pieces = []
    for piece in sphere.convex_pieces(vertices):
        vecs = [sphere.unit(a, d) for a, d in piece]
        terms = []
        for i in range(len(vecs)):
            n = sphere.cross(vecs[i], vecs[(i + 1) % len(vecs)])
            # n . p = cos(lat) (nx cos(lon) + ny sin(lon)) + nz sin(lat)
            horiz = add(mul(num(n[0]), fn("cos", lon.copy())), mul(num(n[1]), fn("sin", lon.copy())))
            dot = add(mul(fn("cos", lat.copy()), horiz), mul(num(n[2]), fn("sin", lat.copy())))
            terms.append(exp.GTE(this=dot, expression=num(0.0)))
        pieces.append(exp.Paren(this=all_of(terms)))
    return any_of(pieces)


def healpix_ranges(src: Source, column: str, ranges: list[tuple[int, int]]) -> exp.Expr:
    """The HEALPix index column of ``src`` in one of ``ranges`` (inclusive), their hull tested first."""
    # A new column node per use: building one costs less than copying one (a cone has about 8).
    terms: list[exp.Expr] = []
    for lo, hi in ranges:
        if lo == hi:
            terms.append(exp.EQ(this=qcol(src.sql_alias, column), expression=num(lo)))
        else:
            terms.append(exp.Between(this=qcol(src.sql_alias, column), low=num(lo), high=num(hi)))
    if not terms:
        return exp.Boolean(this=False)
    if len(terms) == 1:
        return terms[0]
    # The hull first: DuckDB prunes row groups (zone maps) on a plain range but not on an OR of
    # ranges, and the tables are stored in index order (a 0.05 deg cone on 10 M rows: 3 ms, not 59).
    hull = exp.Between(this=qcol(src.sql_alias, column), low=num(min(lo for lo, _ in ranges)),
                       high=num(max(hi for _, hi in ranges)))
    return all_of([hull, any_of(terms)])


# More ranges than this cost more to plan than the extra rows of coarser cells cost to test.
MAX_RANGES = 64


def _ranges_from_cells(ipix: np.ndarray, depth: np.ndarray, order: int) -> list[tuple[int, int]]:
    shift = 2 * (order - depth.astype(np.int64))
    lo = ipix.astype(np.int64) << shift
    hi = ((ipix.astype(np.int64) + 1) << shift) - 1
    return merge_ranges(list(zip(lo.tolist(), hi.tolist(), strict=True)))


def _start_depth(radius_deg: float, order: int) -> int:
    # Cells about a third of the radius: about 7 ranges covering twice the area of a cone; the
    # exact test drops the extra rows, and fewer ranges translate and plan faster than many tight ones.
    size = math.sqrt(math.pi / 3)  # base cell size in radians
    r = max(math.radians(radius_deg), 1e-12)
    return max(0, min(order, math.floor(math.log2(size / r * 3))))


def cone_ranges(lon: float, lat: float, radius: float, order: int, tolerance: float = 0.0
                ) -> list[tuple[int, int]]:
    """NESTED index ranges at ``order`` covering a cone (padded by ``tolerance`` degrees), for
    ``healpix_ranges``; cdshealpix ``cone_search``, coarsened until at most ``MAX_RANGES``."""
    # cdshealpix's compiled core, which its cdshealpix.nested.cone_search calls after wrapping the
    # numbers in astropy Longitude/Latitude/Quantity: that wrapping cost more than the search.
    from cdshealpix import cdshealpix as core

    r = min(radius + tolerance + 1e-9, 180.0)
    if r >= 90.0:
        return [(0, 12 * 4**order - 1)]
    if not -90.0 <= lat <= 90.0:
        raise ValueError(f"latitude {lat} is outside [-90, 90]")
    depth = _start_depth(r, order)
    while True:
        ipix, dep, _ = core.cone_search(np.uint8(depth), np.uint8(2), np.float64(math.radians(lon % 360.0)),
                                        np.float64(math.radians(lat)), np.float64(math.radians(r)), False)
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
    _, _, extent = sphere.bounding_cap(vertices)
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


def healpix_index(order: int, ra: exp.Expr, dec: exp.Expr) -> exp.Expr:
    """The HEALPix NESTED index of (ra, dec) at ``order``, in plain SQL arithmetic.

    The standard ang2pix (Gorski et al. 2005, as in healpy/cdshealpix): face and in-face (x, y)
    from z = sin(dec), then the bits of x and y interleaved with the usual magic masks.
    """
    tree = _healpix_template(order).copy()
    for placeholder in list(tree.find_all(exp.Column)):
        if placeholder.name == "ra_in":
            placeholder.replace(paren(ra.copy()))
        elif placeholder.name == "dec_in":
            placeholder.replace(paren(dec.copy()))
    return exp.Paren(this=tree)


def _spread_bits(v: str) -> str:
    # x -> its bits at the even positions of a 64-bit integer (masks 0x0000FFFF0000FFFF,
    # 0x00FF00FF00FF00FF, 0x0F0F0F0F0F0F0F0F, 0x3333333333333333, 0x5555555555555555)
    s = f"(({v} | ({v} << 16)) & 281470681808895)"
    s = f"(({s} | ({s} << 8)) & 71777214294589695)"
    s = f"(({s} | ({s} << 4)) & 1085102592571150095)"
    s = f"(({s} | ({s} << 2)) & 3689348814741910323)"
    s = f"(({s} | ({s} << 1)) & 6148914691236517205)"
    return s


@functools.lru_cache(maxsize=32)
def _healpix_template(order: int) -> exp.Expr:
    # Written in PostgreSQL syntax and parsed by sqlglot once per order, so it renders for either
    # backend; ra_in / dec_in are replaced by the argument expressions.
    import sqlglot

    nside, nside1, nside2 = 1 << order, (1 << order) - 1, 1 << (2 * order)
    z = "sin(radians(dec_in))"
    za = f"abs({z})"
    tt = "((ra_in - 360.0 * floor(ra_in / 360.0)) / 90.0)"
    eq_jp = f"CAST(floor({nside} * (0.5 + {tt}) - {nside} * {z} * 0.75) AS BIGINT)"
    eq_jm = f"CAST(floor({nside} * (0.5 + {tt}) + {nside} * {z} * 0.75) AS BIGINT)"
    eq_ifp = f"({eq_jp} >> {order})"
    eq_ifm = f"({eq_jm} >> {order})"
    eq_face = (f"(CASE WHEN {eq_ifp} = {eq_ifm} THEN ({eq_ifp} | 4) WHEN {eq_ifp} < {eq_ifm} "
               f"THEN {eq_ifp} ELSE {eq_ifm} + 8 END)")
    eq_ix = f"({eq_jm} & {nside1})"
    eq_iy = f"({nside} - ({eq_jp} & {nside1}) - 1)"
    ntt = f"least(3, CAST(floor({tt}) AS BIGINT))"
    tp = f"({tt} - {ntt})"
    # nside * sqrt(3 (1 - |z|)), written with cos(dec) to keep precision near the poles
    tmp = f"({nside} * cos(radians(dec_in)) * sqrt(3.0 / (1.0 + {za})))"
    pjp = f"least({nside1}, CAST(floor({tp} * {tmp}) AS BIGINT))"
    pjm = f"least({nside1}, CAST(floor((1.0 - {tp}) * {tmp}) AS BIGINT))"
    north = "dec_in >= 0"
    po_face = f"(CASE WHEN {north} THEN {ntt} ELSE {ntt} + 8 END)"
    po_ix = f"(CASE WHEN {north} THEN {nside} - {pjm} - 1 ELSE {pjp} END)"
    po_iy = f"(CASE WHEN {north} THEN {nside} - {pjp} - 1 ELSE {pjm} END)"
    polar = f"{za} > 2.0 / 3.0"
    face = f"(CASE WHEN {polar} THEN {po_face} ELSE {eq_face} END)"
    ix = f"(CASE WHEN {polar} THEN {po_ix} ELSE {eq_ix} END)"
    iy = f"(CASE WHEN {polar} THEN {po_iy} ELSE {eq_iy} END)"
    text = (f"CASE WHEN ra_in IS NULL OR dec_in IS NULL THEN NULL ELSE "
            f"CAST({face} AS BIGINT) * {nside2} + {_spread_bits(ix)} + 2 * {_spread_bits(iy)} END")
    return sqlglot.parse_one(text, read="postgres")


def unit_vector(p: Geo) -> list[exp.Expr]:
    """The unit vector of a point, as numbers for a constant point or as SQL."""
    if p.values is not None:
        return [num(v) for v in sphere.unit(p.values[0], p.values[1])]
    lon, lat = rad(p.parts[0].copy()), rad(p.parts[1].copy())
    return [mul(fn("cos", lat.copy()), fn("cos", lon.copy())), mul(fn("cos", lat.copy()), fn("sin", lon.copy())),
            fn("sin", lat.copy())]


@functools.lru_cache(maxsize=8)
def _polygon_column_template(kind: str, dialect: str) -> exp.Expr:
    """Point-in-polygon or polygon-circle overlap for a convex polygon stored as a flat array.

    Orientation-free: the point is inside when it lies on the same side of every edge's great
    circle and in the polygon's hemisphere (towards the sum of its vertices), which holds for
    convex polygons smaller than a hemisphere, as every footprint is. ``poly_in``, ``px_in``,
    ``py_in``, ``pz_in`` (the point's unit vector) and ``cosr_in``/``sinr_in`` are replaced.
    """
    import sqlglot

    edges = _edges(dialect)
    nx, ny, nz = "(ay * bz - az * by)", "(az * bx - ax * bz)", "(ax * by - ay * bx)"
    side = f"({nx} * px_in + {ny} * py_in + {nz} * pz_in)"
    hemisphere = "(sum(ax) * px_in + sum(ay) * py_in + sum(az) * pz_in > 0)"
    inside = f"((bool_and({side} >= 0) OR bool_and({side} <= 0)) AND {hemisphere})"
    if kind == "contains":
        text = f"(SELECT {inside} FROM {edges} AS e)"
    elif kind == "within_circle":
        text = f"(SELECT bool_and(ax * px_in + ay * py_in + az * pz_in >= cosr_in) FROM {edges} AS e)"
    else:
        # the circle reaches the polygon: centre inside, a vertex within r, or an edge within r
        # (the foot of the perpendicular on the arc: (A x C).n >= 0 and (C x B).n >= 0)
        ac = (f"((ay * pz_in - az * py_in) * {nx} + (az * px_in - ax * pz_in) * {ny} + "
              f"(ax * py_in - ay * px_in) * {nz})")
        cb = (f"((py_in * bz - pz_in * by) * {nx} + (pz_in * bx - px_in * bz) * {ny} + "
              f"(px_in * by - py_in * bx) * {nz})")
        norm = f"sqrt({nx} * {nx} + {ny} * {ny} + {nz} * {nz})"
        near_edge = f"({ac} >= 0 AND {cb} >= 0 AND abs({side}) <= sinr_in * {norm})"
        near_vertex = "(ax * px_in + ay * py_in + az * pz_in >= cosr_in)"
        reach = f"bool_or({near_edge} OR {near_vertex})"
        text = f"(SELECT {reach} FROM {edges} AS e)" if kind == "reaches_edge" else \
            f"(SELECT {inside} OR {reach} FROM {edges} AS e)"
    return sqlglot.parse_one(text, read=dialect)


def polygon_column(kind: str, dialect: str, polygon: exp.Expr, point: Geo, radius: float | None = None) -> exp.Expr:
    """A test of ``point`` against a polygon column (kinds: see ``_polygon_column_template``)."""
    tree = _polygon_column_template(kind, dialect).copy()
    vec = unit_vector(point)
    values: dict[str, exp.Expr] = {"poly_in": polygon, "px_in": vec[0], "py_in": vec[1], "pz_in": vec[2]}
    if radius is not None:
        values["cosr_in"] = num(math.cos(math.radians(radius)))
        values["sinr_in"] = num(math.sin(math.radians(radius)))
    for placeholder in list(tree.find_all(exp.Column)):
        if placeholder.name in values and not placeholder.table:
            placeholder.replace(paren(values[placeholder.name].copy()))
    return _coalesce_false(tree)


def _edges(dialect: str) -> str:
    """The edges of the polygon column ``poly_in`` as SQL text, one row per edge.

    Each row holds the unit vectors of the edge's start (ax, ay, az) and end (bx, by, bz); arrays
    are 1-based on both backends.
    """
    half = TARGETS[dialect].vertex_count
    vertex = ("cos(radians(poly_in[2 * {k} + 2])) * cos(radians(poly_in[2 * {k} + 1])) AS {a}x, "
              "cos(radians(poly_in[2 * {k} + 2])) * sin(radians(poly_in[2 * {k} + 1])) AS {a}y, "
              "sin(radians(poly_in[2 * {k} + 2])) AS {a}z")
    return (f"(SELECT {vertex.format(k='i', a='a')}, {vertex.format(k='j', a='b')} FROM "
            f"(SELECT i, (i + 1) % ({half}) AS j FROM generate_series(0, {half} - 1) AS g(i)) AS k)")


def _coalesce_false(node: exp.Expr) -> exp.Expr:
    # an empty or NULL polygon contains nothing
    return fn("coalesce", node, exp.Boolean(this=False))


def _dot3(v: Sequence[float], names: tuple[str, str, str]) -> str:
    return f"({v[0]!r} * {names[0]} + {v[1]!r} * {names[1]} + {v[2]!r} * {names[2]})"


def polygon_column_vs_polygon(kind: str, dialect: str, polygon: exp.Expr,
                              vertices: list[tuple[float, float]]) -> exp.Expr:
    """A convex polygon column against a constant polygon (counter-clockwise, possibly concave).

    ``intersects``: a column vertex inside the constant polygon, a constant vertex inside the
    column polygon, or two edges crossing. ``within``: every column vertex inside the constant
    polygon (exact for a convex constant polygon). ``holds``: every constant vertex inside the
    column polygon (the column polygon contains the constant one).
    """
    import sqlglot

    edges = _edges(dialect)
    n = ("(ay * bz - az * by)", "(az * bx - ax * bz)", "(ax * by - ay * bx)")
    a_vec, b_vec = ("ax", "ay", "az"), ("bx", "by", "bz")
    vecs = [sphere.unit(lon, lat) for lon, lat in vertices]
    pieces = []
    for piece in sphere.convex_pieces(vertices):
        pv = [sphere.unit(lon, lat) for lon, lat in piece]
        terms = [f"{_dot3(sphere.cross(pv[k], pv[(k + 1) % len(pv)]), a_vec)} >= 0" for k in range(len(pv))]
        pieces.append("(" + " AND ".join(terms) + ")")
    a_inside = "(" + " OR ".join(pieces) + ")"

    def v_inside(v: sphere.Vec) -> str:
        side = f"({n[0]} * {v[0]!r} + {n[1]} * {v[1]!r} + {n[2]} * {v[2]!r})"
        hemi = f"(sum(ax) * {v[0]!r} + sum(ay) * {v[1]!r} + sum(az) * {v[2]!r} > 0)"
        return f"((bool_and({side} >= 0) OR bool_and({side} <= 0)) AND {hemi})"

    if kind == "within":
        text = f"(SELECT bool_and({a_inside}) FROM {edges} AS e)"
    elif kind == "holds":
        text = f"(SELECT {' AND '.join(v_inside(v) for v in vecs)} FROM {edges} AS e)"
    else:
        crossings = []
        for k in range(len(vecs)):
            c, d = vecs[k], vecs[(k + 1) % len(vecs)]
            m = sphere.cross(c, d)
            cn = f"({c[0]!r} * {n[0]} + {c[1]!r} * {n[1]} + {c[2]!r} * {n[2]})"
            dn = f"({d[0]!r} * {n[0]} + {d[1]!r} * {n[1]} + {d[2]!r} * {n[2]})"
            same = f"((ax + bx) * {c[0] + d[0]!r} + (ay + by) * {c[1] + d[1]!r} + (az + bz) * {c[2] + d[2]!r} > 0)"
            crossings.append(f"({cn} * {dn} < 0 AND {_dot3(m, a_vec)} * {_dot3(m, b_vec)} < 0 AND {same})")
        any_v = " OR ".join(v_inside(v) for v in vecs)
        text = f"(SELECT bool_or({a_inside}) OR bool_or({' OR '.join(crossings)}) OR {any_v} FROM {edges} AS e)"
    tree = sqlglot.parse_one(text, read=dialect)
    for placeholder in list(tree.find_all(exp.Column)):
        if placeholder.name == "poly_in" and not placeholder.table:
            placeholder.replace(paren(polygon.copy()))
    return _coalesce_false(tree)
