"""AREA(), CENTROID() and point-in-polygon joins for polygons known only to the database.

A polygon column (DALI ``xtype="polygon"``, or an ObsCore ``s_region`` stored by the release as its
vertex list) is a flat array of degrees ``lon1, lat1, lon2, lat2, ...`` in both backends (DuckDB
``DOUBLE[]``, PostgreSQL ``double precision[]``; release/obscore.py), joined by great circles.
The measures are correlated scalar subqueries over the vertex indices, so no extension is needed:

- area: the fan of spherical triangles (v0, vi, vi+1), each by Van Oosterom & Strackee (1983),
  tan(E/2) = a.(b x c) / (1 + a.b + b.c + c.a); the signed sum is the polygon's area whatever its
  orientation, for any simple polygon smaller than a hemisphere, as ``sphere.polygon_area``.
- centroid: the polygon's surface centroid, i.e. the normalised integral of the position vector
  over its surface. By Stokes' theorem that integral is half the sum over the edges of the edge's
  arc length times its great circle's unit normal, (1/2) sum theta_ab (a x b) / |a x b|; its sign
  follows the orientation, so it is turned towards the vertices' side (polygons are smaller than a
  hemisphere). ``sphere.polygon_centroid`` computes the same for constant polygons.
- points of one table in the polygons of another: ``polygon_prep`` (a LATERAL row per polygon)
  and ``point_in_prepared`` (the per-pair test and the declination band to join on).

A NULL or empty polygon gives NULL (and contains nothing). Pure SQL building: no I/O.
Tests: tests/adql/test_polygon_measures.py (against NumPy), tests/adql/cases/geometry.toml.
"""

from __future__ import annotations

import functools
import math

from sqlglot import exp

from adql.targets import TARGETS

__all__ = ["area_sql", "centroid_sql", "point_in_prepared", "polygon_prep"]

_SQUARE_DEGREES = (180.0 / math.pi) ** 2

# vertex k (0-based) of poly_in as a unit vector; arrays are 1-based on both backends
_VERTEX = ("cos(radians(poly_in[2 * ({k}) + 2])) * cos(radians(poly_in[2 * ({k}) + 1])) AS {a}x, "
           "cos(radians(poly_in[2 * ({k}) + 2])) * sin(radians(poly_in[2 * ({k}) + 1])) AS {a}y, "
           "sin(radians(poly_in[2 * ({k}) + 2])) AS {a}z")


def area_sql(polygon: exp.Expr, dialect: str) -> exp.Expr:
    """The area in square degrees of the polygon ``polygon`` (an array-valued SQL expression)."""
    return _fill(_area_template(dialect), polygon)


def centroid_sql(polygon: exp.Expr, dialect: str) -> tuple[exp.Expr, exp.Expr]:
    """The surface centroid of ``polygon`` as (lon, lat) SQL expressions in degrees, lon in [0, 360)."""
    lon, lat = _centroid_templates(dialect)
    return _fill(lon, polygon), _fill(lat, polygon)


def polygon_prep(polygon: exp.Expr, dialect: str) -> exp.Select:
    """Per polygon row, once (joined LATERAL beside the polygon's table): its edges'
    great-circle normals (``nrm``, a list of [x, y, z] in DuckDB; arrays ``nx, ny, nz`` in
    PostgreSQL), its vertex sum ``hx, hy, hz`` and the
    declination band ``lo, hi`` of its bounding cap.

    The band: the cap centred on the normalised vertex sum, with the radius of the farthest
    vertex; a cap smaller than a hemisphere is convex, so it holds every edge and the polygon
    (smaller than a hemisphere), and a cap over a pole reaches it. Being plain columns, the
    bounds let the planner join points to polygons on declination (a range join, or an index
    range on dec), and the exact test (``point_in_prepared``) then reads the normals instead of
    recomputing the polygon's trigonometry for every pair of rows (issue 13: a point-in-s_region
    join ran into the time limit).
    """
    tree = _fill(_prep_template(dialect), polygon)
    assert isinstance(tree, exp.Select)
    return tree


def point_in_prepared(prep: str, point: tuple[exp.Expr, exp.Expr, exp.Expr], lat: exp.Expr,
                      dialect: str) -> exp.Expr:
    """Point (its unit vector and latitude as SQL) in the convex polygon prepared as ``prep``.

    The test of sphere_sql's polygon-column templates: the same side of every edge's great circle
    and in the polygon's hemisphere, orientation-free. NULL or empty polygons contain nothing.
    """
    tree = _prepared_test_template(dialect).copy()
    values = {"px_in": point[0], "py_in": point[1], "pz_in": point[2], "lat_in": lat}
    for column in list(tree.find_all(exp.Column)):
        if column.table == "prep_in":
            column.set("table", exp.Identifier(this=prep, quoted=True))
            column.set("this", exp.Identifier(this=column.name, quoted=True))
        elif column.name in values and not column.table:
            column.replace(exp.Paren(this=values[column.name].copy()))
    return tree


@functools.lru_cache(maxsize=4)
def _prep_template(dialect: str) -> exp.Expr:
    import sqlglot

    n = _count(dialect)
    j = f"(i + 1) % ({n})"
    vertices = (f"SELECT i, {_VERTEX.format(k='i', a='a')}, {_VERTEX.format(k=j, a='b')} "
                f"FROM generate_series(0, {n} - 1) AS g(i)")
    normals = ("ay * bz - az * by", "az * bx - ax * bz", "ax * by - ay * bx")
    if TARGETS[dialect].list_lambdas:
        # one list of [x, y, z] normals: a lambda over it is several times faster than indexing three lists
        lists = f"list([{', '.join(normals)}] ORDER BY i) AS nrm"
        mindot = "list_min(list_transform(vs, lambda v: v[1] * hx + v[2] * hy + v[3] * hz))"
        sums = (f"SELECT {lists}, list([ax, ay, az]) AS vs, sum(ax) AS hx, sum(ay) AS hy, sum(az) AS hz "
                f"FROM ({vertices}) AS e")
    else:
        lists = ", ".join(f"array_agg({c} ORDER BY i) AS n{axis}" for c, axis in zip(normals, "xyz", strict=True))
        mindot = f"(SELECT min(ax * t.hx + ay * t.hy + az * t.hz) FROM ({vertices}) AS e2)"
        sums = f"SELECT {lists}, sum(ax) AS hx, sum(ay) AS hy, sum(az) AS hz FROM ({vertices}) AS e"
    kept = "nrm" if TARGETS[dialect].list_lambdas else "nx, ny, nz"
    cap = (f"SELECT {kept}, hx, hy, hz, degrees(asin(greatest(-1.0, least(1.0, hz / nn)))) AS dc, "
           "degrees(acos(greatest(-1.0, least(1.0, mindot / nn)))) AS r FROM "
           f"(SELECT t.*, nullif(sqrt(hx * hx + hy * hy + hz * hz), 0) AS nn, {mindot} AS mindot "
           f"FROM ({sums}) AS t) AS u")
    text = f"SELECT {kept}, hx, hy, hz, dc - r - 1e-9 AS lo, dc + r + 1e-9 AS hi FROM ({cap}) AS w"
    return sqlglot.parse_one(text, read=dialect)


@functools.lru_cache(maxsize=4)
def _prepared_test_template(dialect: str) -> exp.Expr:
    import sqlglot

    band = "lat_in >= prep_in.lo AND lat_in <= prep_in.hi"
    hemisphere = "prep_in.hx * px_in + prep_in.hy * py_in + prep_in.hz * pz_in > 0"
    if TARGETS[dialect].list_lambdas:
        side = "nrm_v[1] * px_in + nrm_v[2] * py_in + nrm_v[3] * pz_in"
        every = [f"list_bool_and(list_transform(prep_in.nrm, lambda nrm_v: {side} {op} 0))" for op in (">=", "<=")]
        sides = f"({every[0]} OR {every[1]})"
    else:
        sides = ("(SELECT bool_and(s >= 0) OR bool_and(s <= 0) FROM (SELECT ux * px_in + uy * py_in + uz * pz_in AS s "
                 "FROM unnest(prep_in.nx, prep_in.ny, prep_in.nz) AS u(ux, uy, uz)) AS q)")
    text = f"{band} AND coalesce({sides} AND {hemisphere}, false)"
    return sqlglot.parse_one(text, read=dialect)


def _count(dialect: str) -> str:
    return TARGETS[dialect].vertex_count


@functools.lru_cache(maxsize=4)
def _area_template(dialect: str) -> exp.Expr:
    import sqlglot

    triangles = (f"(SELECT {_VERTEX.format(k='0', a='a')}, {_VERTEX.format(k='i', a='b')}, "
                 f"{_VERTEX.format(k='i + 1', a='c')} FROM generate_series(1, {_count(dialect)} - 2) AS g(i))")
    triple = "(ax * (by * cz - bz * cy) + ay * (bz * cx - bx * cz) + az * (bx * cy - by * cx))"
    den = "(1 + ax * bx + ay * by + az * bz + bx * cx + by * cy + bz * cz + cx * ax + cy * ay + cz * az)"
    text = f"(SELECT abs(sum(2 * atan2({triple}, {den}))) * {_SQUARE_DEGREES!r} FROM {triangles} AS t)"
    return sqlglot.parse_one(text, read=dialect)


@functools.lru_cache(maxsize=4)
def _centroid_templates(dialect: str) -> tuple[exp.Expr, exp.Expr]:
    import sqlglot

    n = _count(dialect)
    edges = (f"(SELECT {_VERTEX.format(k='i', a='a')}, {_VERTEX.format(k='(i + 1) % (' + n + ')', a='b')} "
             f"FROM generate_series(0, {n} - 1) AS g(i))")
    nx, ny, nz = "(ay * bz - az * by)", "(az * bx - ax * bz)", "(ax * by - ay * bx)"
    norm = f"sqrt({nx} * {nx} + {ny} * {ny} + {nz} * {nz})"
    # theta / |a x b|, 0 for a repeated vertex (where both are 0)
    scale = f"coalesce(atan2({norm}, ax * bx + ay * by + az * bz) / nullif({norm}, 0), 0)"
    sums = (f"(SELECT sum({scale} * {nx}) AS vx, sum({scale} * {ny}) AS vy, sum({scale} * {nz}) AS vz, "
            f"sum(ax) AS sx, sum(ay) AS sy, sum(az) AS sz FROM {edges} AS e)")
    oriented = f"(SELECT vx, vy, vz, sign(vx * sx + vy * sy + vz * sz) AS sg FROM {sums} AS v)"
    lon = (f"(SELECT CASE WHEN d < 0 THEN d + 360.0 ELSE d END FROM "
           f"(SELECT degrees(atan2(sg * vy, sg * vx)) AS d FROM {oriented} AS o) AS w)")
    lat = f"(SELECT degrees(atan2(sg * vz, sqrt(vx * vx + vy * vy))) FROM {oriented} AS o)"
    return sqlglot.parse_one(lon, read=dialect), sqlglot.parse_one(lat, read=dialect)


def _fill(template: exp.Expr, polygon: exp.Expr) -> exp.Expr:
    tree = template.copy()
    for placeholder in list(tree.find_all(exp.Column)):
        if placeholder.name == "poly_in" and not placeholder.table:
            placeholder.replace(exp.Paren(this=polygon.copy()))
    return tree
