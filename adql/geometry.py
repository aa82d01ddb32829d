"""The ADQL geometry functions: POINT, CIRCLE, BOX, POLYGON, CONTAINS, INTERSECTS, DISTANCE and kin.

Regions become ``Geo`` values (adql/names.py): the SQL of their numbers, and the numbers
themselves when they are constant, which are checked and normalised here (dali/sphere.py).
CONTAINS and INTERSECTS of a point, a circle, a polygon or a polygon column become predicates
(adql/sphere_sql.py writes the arithmetic); relations of two constant regions are decided here.
Over a table with a HEALPix index, a constant region adds index-range terms, and a crossmatch adds
a declination band, so the planners use the index or a range join. ``FUNCTIONS`` is this part of
the function table (adql/functions.py). No I/O.
Tests: tests/adql/test_geometry.py, tests/adql/test_polygon_measures.py, tests/adql/cases/geometry.toml.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sqlglot import exp

from adql import polygon_measures
from adql.builders import add, all_of, cast, constant, fn, is_call, mul, num, paren, quoted, rad, sub
from adql.dialect import fail
from adql.names import GEO_KINDS, Geo, Handler, Scope, Source, Ty, describe, need_number, position_of
from adql.sphere_sql import (
    cone_ranges,
    distance,
    hav,
    hav_bound,
    healpix_ranges,
    point_in_polygon,
    polygon_column,
    polygon_column_vs_polygon,
    polygon_ranges,
    ra_window,
    unit_vector,
)
from dali import sphere
from dali.values import Column

if TYPE_CHECKING:
    from adql.compiler import Compiler

__all__ = ["FUNCTIONS", "comparison", "geo_from_column", "geometry_value"]


def comparison(c: Compiler, node: exp.Binary, scope: Scope) -> exp.Expr | None:
    """1 = CONTAINS(...), CONTAINS(...) = 0, DISTANCE(...) < r and their mirrors."""
    left, right = node.this, node.expression
    while isinstance(left, exp.Paren):
        left = left.this
    while isinstance(right, exp.Paren):
        right = right.this
    flipped = {exp.LT: exp.GT, exp.LTE: exp.GTE, exp.GT: exp.LT, exp.GTE: exp.LTE, exp.EQ: exp.EQ, exp.NEQ: exp.NEQ}
    op = type(node)
    geometric = {"CONTAINS", "INTERSECTS", "DISTANCE"}
    if is_call(right, geometric) and not is_call(left, geometric):
        left, right, op = right, left, flipped[op]
    if is_call(left, {"CONTAINS", "INTERSECTS"}):
        value = constant(right)
        if value not in (0.0, 1.0) or op not in (exp.EQ, exp.NEQ):
            return None
        pred = _region_predicate(c, left, scope)
        positive = (value == 1.0) == (op is exp.EQ)
        return pred if positive else exp.Not(this=exp.Paren(this=pred))
    if is_call(left, {"DISTANCE"}) and op in (exp.LT, exp.LTE):
        radius = constant(right)
        if radius is None or radius <= 0:
            return None
        a, b = _distance_points(c, left, scope)
        if b.position is not None and a.position is None:
            a, b = b, a
        pred = _cone(a, [*b.parts, num(min(radius, 180.0))],
                     [*b.values, min(radius, 180.0)] if b.values is not None else None, node)
        if op is exp.LT:
            # strictness at the boundary: compare the distance itself as well
            dist = distance(a, b)
            pred = all_of([pred, exp.LT(this=dist, expression=num(radius))])
        return pred
    return None


def geometry_value(shape: str, parts: list[exp.Expr], values: list[float] | None,
                   node: exp.Expr, position: Source | None = None) -> tuple[exp.Expr, Ty]:
    """A region or point from its numbers: constant ones checked and normalised, the SQL a double array."""
    fresh = 0  # how many leading parts are made here from the values
    if values is not None:
        if shape in {"point", "circle"}:
            if not -90.0 <= values[1] <= 90.0:
                raise fail(f"latitude {values[1]} is outside [-90, 90]", node)
            values[0] = values[0] % 360.0
            parts, fresh = [num(values[0]), num(values[1]), *parts[2:]], 2
        if shape == "circle" and not 0.0 < values[2] <= 180.0:
            raise fail(f"the CIRCLE radius {values[2]} must be in (0, 180] degrees", node)
        if shape == "polygon":
            try:
                pts = sphere.normalize_polygon(list(zip(values[0::2], values[1::2], strict=True)))
                sphere.convex_pieces(pts)
            except sphere.GeometryValueError as err:
                raise fail(f"invalid POLYGON: {err}", node) from None
            values = [v for pt in pts for v in pt]
            parts = [num(v) for v in values]
            fresh = len(parts)
    geo = Geo(shape, parts, values, position)
    # The array needs nodes of its own: new literals for the numbers made above (cheaper than deep
    # copies), copies of the other parts, which the query's tree may share.
    numbers = values or []
    array = exp.Array(expressions=[cast(num(numbers[k]) if k < fresh else p.copy(), "DOUBLE")
                                   for k, p in enumerate(parts)])
    return array, Ty(shape, None, geo)


def geo_from_column(sql: exp.Expr, kind: str) -> Geo:
    """The geometry held by a column (or a scalar subquery) of a geometry kind."""
    if kind == "point":
        parts: list[exp.Expr] = [exp.Bracket(this=sql.copy(), expressions=[exp.Literal.number(i)]) for i in (0, 1)]
        return Geo("point", parts)
    if kind == "circle":
        return Geo("circle", [exp.Bracket(this=sql.copy(), expressions=[exp.Literal.number(i)])
                              for i in (0, 1, 2)])
    return Geo("polygon", [sql])


def _coords(node: exp.Anonymous) -> tuple[str, list[exp.Expr]]:
    """The coordinate system (ICRS when left out or empty) and the remaining arguments."""
    args = list(node.expressions)
    coordsys = "ICRS"
    if args and (isinstance(args[0], exp.Null) or (isinstance(args[0], exp.Literal) and args[0].is_string)):
        first = args.pop(0)
        if isinstance(first, exp.Literal) and first.this.strip():
            coordsys = first.this.strip().upper()
            if coordsys.split()[0] not in {"ICRS", "J2000", "FK5"}:
                raise fail(f"coordinate system {first.this} is not supported: positions here are ICRS",
                           node, hint="write '' or 'ICRS', or leave the argument out")
    return coordsys, args


def _numbers(c: Compiler, node: exp.Anonymous, args: list[exp.Expr], scope: Scope
             ) -> tuple[list[exp.Expr], list[float] | None, list[Ty]]:
    compiled = [c.value(a, scope) for a in args]
    for _, ty in compiled:
        need_number(ty, node, f"{str(node.this).upper()}()")
    consts = [constant(a) for a in args]
    values = None if any(v is None for v in consts) else [float(v) for v in consts if v is not None]
    return [sql for sql, _ in compiled], values, [t for _, t in compiled]


def _point(c: Compiler, node: exp.Anonymous, scope: Scope) -> tuple[exp.Expr, Ty]:
    _, args = _coords(node)
    parts, values, types = _numbers(c, node, args, scope)
    position = None
    if types[0].geo is None and types[0].column is not None and types[1].column is not None:
        position = position_of(types[0], types[1])
    return geometry_value("point", parts, values, node, position)


def _geo_arg(c: Compiler, node: exp.Expr, scope: Scope, want: set[str], fname: str) -> Geo:
    _, ty = c.value(node, scope)
    if ty.geo is None or ty.kind not in want:
        allowed = " or ".join(sorted(w.upper() for w in want))
        raise fail(f"{fname} needs {allowed} here, not {describe(ty.kind)}", node)
    return ty.geo


def _circle(c: Compiler, node: exp.Anonymous, scope: Scope) -> tuple[exp.Expr, Ty]:
    _, args = _coords(node)
    if len(args) == 2:
        center = _geo_arg(c, args[0], scope, {"point"}, "CIRCLE()")
        r, rvals, _ = _numbers(c, node, args[1:], scope)
        values = center.values + rvals if center.values is not None and rvals is not None else None
        sql, ty = geometry_value("circle", center.parts + r, values, node)
        ty.geo.position = center.position  # type: ignore[union-attr]
        return sql, ty
    parts, values, _ = _numbers(c, node, args, scope)
    return geometry_value("circle", parts, values, node)


def _box(c: Compiler, node: exp.Anonymous, scope: Scope) -> tuple[exp.Expr, Ty]:
    _, args = _coords(node)
    if len(args) == 3:
        center = _geo_arg(c, args[0], scope, {"point"}, "BOX()")
        _rest, rvals, _ = _numbers(c, node, args[1:], scope)
        values = center.values + rvals if center.values is not None and rvals is not None else None
    else:
        _, values, _ = _numbers(c, node, args, scope)
    if values is None:
        raise fail("BOX() needs constant numbers here", node, hint="use POLYGON for boxes built from columns")
    try:
        corners = sphere.box_polygon(*values)
    except sphere.GeometryValueError as err:
        raise fail(f"invalid BOX: {err}", node) from None
    flat = [v for pt in corners for v in pt]
    return geometry_value("polygon", [num(v) for v in flat], flat, node)


def _polygon(c: Compiler, node: exp.Anonymous, scope: Scope) -> tuple[exp.Expr, Ty]:
    _, args = _coords(node)
    if len(args) == 3 or all(isinstance(a, exp.Anonymous) and str(a.this).upper() == "POINT" for a in args):
        geos = [_geo_arg(c, a, scope, {"point"}, "POLYGON()") for a in args]
        parts = [p for g in geos for p in g.parts]
        values = None if any(g.values is None for g in geos) else [v for g in geos for v in g.values or []]
    else:
        parts, values, _ = _numbers(c, node, args, scope)
    return geometry_value("polygon", parts, values, node)


def _coord(c: Compiler, node: exp.Anonymous, scope: Scope) -> tuple[exp.Expr, Ty]:
    geo = _geo_arg(c, node.expressions[0], scope, {"point"}, "COORD1()")
    index = 0 if str(node.this).upper() == "COORD1" else 1
    ucd = "pos.eq.ra" if index == 0 else "pos.eq.dec"
    return geo.parts[index].copy(), Ty("float", Column(name="coord", datatype="double", unit="deg", ucd=ucd))


def _coordsys(c: Compiler, node: exp.Anonymous, scope: Scope) -> tuple[exp.Expr, Ty]:
    geo = _geo_arg(c, node.expressions[0], scope, GEO_KINDS, "COORDSYS()")
    return exp.Literal.string(geo.coordsys), Ty("str")


def _area(c: Compiler, node: exp.Anonymous, scope: Scope) -> tuple[exp.Expr, Ty]:
    geo = _geo_arg(c, node.expressions[0], scope, GEO_KINDS, "AREA()")
    col = Column(name="area", datatype="double", unit="deg**2", ucd="phys.angArea")
    if geo.shape == "point":
        return num(0.0), Ty("float", col)
    if geo.shape == "circle":
        # 2 pi (1 - cos r) steradians, in square degrees
        r = geo.parts[2].copy()
        body = mul(num(2 * math.pi * (180 / math.pi) ** 2), sub(num(1.0), fn("cos", rad(r))))
        return body, Ty("float", col)
    if geo.values is None:
        return polygon_measures.area_sql(_polygon_array(geo), c.dialect), Ty("float", col)
    return num(sphere.polygon_area(list(zip(geo.values[0::2], geo.values[1::2], strict=True)))), Ty("float", col)


def _centroid(c: Compiler, node: exp.Anonymous, scope: Scope) -> tuple[exp.Expr, Ty]:
    geo = _geo_arg(c, node.expressions[0], scope, GEO_KINDS, "CENTROID()")
    if geo.shape in {"point", "circle"}:
        vals = geo.values[:2] if geo.values is not None else None
        return geometry_value("point", [p.copy() for p in geo.parts[:2]], vals, node)
    if geo.values is None:
        lon_sql, lat_sql = polygon_measures.centroid_sql(_polygon_array(geo), c.dialect)
        return geometry_value("point", [lon_sql, lat_sql], None, node)
    lon, lat = sphere.polygon_centroid(list(zip(geo.values[0::2], geo.values[1::2], strict=True)))
    return geometry_value("point", [num(lon), num(lat)], [lon, lat], node)


def _distance(c: Compiler, node: exp.Anonymous, scope: Scope) -> tuple[exp.Expr, Ty]:
    a, b = _distance_points(c, node, scope)
    col = Column(name="distance", datatype="double", unit="deg", ucd="pos.angDistance")
    return distance(a, b), Ty("float", col)


def _distance_points(c: Compiler, node: exp.Anonymous, scope: Scope) -> tuple[Geo, Geo]:
    """The two points of DISTANCE(p1, p2) or DISTANCE(lon1, lat1, lon2, lat2)."""
    args = list(node.expressions)
    if len(args) == 4:
        parts, _, types = _numbers(c, node, args, scope)
        consts = [constant(a) for a in args]
        va = None if consts[0] is None or consts[1] is None else [consts[0], consts[1]]
        vb = None if consts[2] is None or consts[3] is None else [consts[2], consts[3]]
        pa = Geo("point", parts[:2], va, position_of(types[0], types[1]))
        pb = Geo("point", parts[2:], vb, position_of(types[2], types[3]))
        return pa, pb
    return (_geo_arg(c, args[0], scope, {"point"}, "DISTANCE()"),
            _geo_arg(c, args[1], scope, {"point"}, "DISTANCE()"))


def _contains(c: Compiler, node: exp.Anonymous, scope: Scope) -> tuple[exp.Expr, Ty]:
    """CONTAINS or INTERSECTS as a value: 1 or 0 (the condition kept for ``1 = CONTAINS(...)``)."""
    pred = _region_predicate(c, node, scope)
    return exp.Case(ifs=[exp.If(this=pred, true=num(1))], default=num(0)), Ty("int", contains=pred)


def _region_predicate(c: Compiler, node: exp.Anonymous, scope: Scope) -> exp.Expr:
    """CONTAINS(a, b) or INTERSECTS(a, b) as a condition."""
    name = str(node.this).upper()
    a = _geo_arg(c, node.expressions[0], scope, GEO_KINDS, f"{name}()")
    b = _geo_arg(c, node.expressions[1], scope, GEO_KINDS, f"{name}()")
    if name == "INTERSECTS" and a.shape != "point" and b.shape == "point":
        a, b = b, a
    if a.shape == "point":
        return _point_in(c, a, b, node)
    if a.shape == "circle" and b.shape == "circle":
        d = Geo("point", a.parts[:2], a.values[:2] if a.values else None)
        e = Geo("point", b.parts[:2], b.values[:2] if b.values else None)
        if name == "CONTAINS":
            # the whole of a inside b: distance + r_a <= r_b
            dist = distance(d, e)
            return exp.LTE(this=add(dist, a.parts[2].copy()), expression=paren(b.parts[2].copy()))
        bound = add(a.parts[0 + 2].copy(), b.parts[2].copy())
        return exp.LTE(this=hav(d, e), expression=hav_bound(bound))
    if a.values is not None and b.values is not None:
        return exp.Boolean(this=sphere.region_relation(name, a.shape, a.values, b.shape, b.values))
    column_polygon = _polygon_column_relation(c, name, a, b, node)
    if column_polygon is not None:
        return column_polygon
    raise fail(f"{name}() of {a.shape.upper()} and {b.shape.upper()} needs constant regions here", node,
               hint="a column may be a POINT (or a CIRCLE centre); "
                    "regions built from columns are limited to circles")


def _polygon_column_relation(c: Compiler, name: str, a: Geo, b: Geo, node: exp.Anonymous) -> exp.Expr | None:
    """A polygon column against a constant circle or polygon (INTERSECTS, CONTAINS)."""

    def is_column(g: Geo) -> bool:
        return g.shape == "polygon" and g.values is None and len(g.parts) == 1

    def vertices(g: Geo) -> list[tuple[float, float]]:
        assert g.values is not None
        return list(zip(g.values[0::2], g.values[1::2], strict=True))

    if is_column(a) and b.shape == "polygon" and b.values is not None:
        kind = "intersects" if name == "INTERSECTS" else "within"
        return polygon_column_vs_polygon(kind, c.dialect, a.parts[0], vertices(b))
    if is_column(b) and a.shape == "polygon" and a.values is not None:
        kind = "intersects" if name == "INTERSECTS" else "holds"
        return polygon_column_vs_polygon(kind, c.dialect, b.parts[0], vertices(a))
    if name == "CONTAINS" and is_column(a) and b.shape == "circle" and b.values is not None:
        if b.values[2] > 90:
            raise fail("CONTAINS of a polygon column in a circle needs a radius of at most 90 degrees", node)
        center = Geo("point", b.parts[:2], b.values[:2])
        return polygon_column("within_circle", c.dialect, a.parts[0], center, b.values[2])
    if name == "CONTAINS" and is_column(b) and a.shape == "circle" and a.values is not None:
        center = Geo("point", a.parts[:2], a.values[:2])
        reach = polygon_column("reaches_edge", c.dialect, b.parts[0], center, a.values[2])
        inside = polygon_column("contains", c.dialect, b.parts[0], center)
        return all_of([inside, exp.Not(this=exp.Paren(this=reach))])
    pairs = [(a, b), (b, a)] if name == "INTERSECTS" else []
    for poly, circle in pairs:
        if poly.shape == "polygon" and poly.values is None and len(poly.parts) == 1 and circle.shape == "circle" \
                and circle.values is not None:
            if circle.values[2] > 90:
                raise fail("INTERSECTS of a polygon column and a circle needs a radius of at most 90 degrees", node)
            center = Geo("point", circle.parts[:2], circle.values[:2])
            return polygon_column("intersects", c.dialect, poly.parts[0], center, circle.values[2])
    return None


def _point_in(c: Compiler, p: Geo, region: Geo, node: exp.Anonymous) -> exp.Expr:
    """The point ``p`` in ``region`` (a point, a circle, a constant polygon or a polygon column)."""
    if region.shape == "point":
        return exp.LTE(this=hav(p, region), expression=num(0.0))
    if region.shape == "circle":
        return _cone(p, region.parts[:3], region.values, node)
    if region.values is None and len(region.parts) == 1:
        # a polygon column (DALI double[] xtype polygon)
        if p.values is not None:
            return polygon_column("contains", c.dialect, region.parts[0], p)
        prep = _polygon_prep(c, region, p)
        if prep is not None:
            vec = unit_vector(p)
            return polygon_measures.point_in_prepared(prep, (vec[0], vec[1], vec[2]), p.parts[1], c.dialect)
        return polygon_column("contains", c.dialect, region.parts[0], p)
    if region.values is None:
        raise fail("CONTAINS() in a polygon needs constant vertices", node)
    vertices = list(zip(region.values[0::2], region.values[1::2], strict=True))
    exact = point_in_polygon(p, vertices)
    if p.position is not None and p.position.meta is not None and p.position.meta.position is not None:
        pos = p.position.meta.position
        ranges = polygon_ranges(vertices, pos.index_order, pos.tolerance)
        return all_of([healpix_ranges(p.position, pos.index_column, ranges), exact])
    return exact


def _polygon_prep(c: Compiler, region: Geo, point: Geo) -> str | None:
    """The alias of a LATERAL row of per-polygon values beside a polygon column's table.

    Points from one table tested against polygons of another: computing each polygon's edges
    and declination band once per polygon row lets the planner join on the band and test the
    candidates cheaply (adql/polygon_measures.py), instead of rebuilding the polygon for every
    pair of rows. None when the column's table is not a plain table of the output tree, or when
    the polygon or the point comes from an enclosing query (DuckDB 1.5 cannot bind a lambda
    over columns of two query levels).
    """
    src = region.column_source
    scope = c.current
    if src is None and scope is not None and scope.sources and _self_contained(region.parts[0]):
        src = scope.sources[0]  # an uncorrelated polygon (a scalar subquery): once, beside the first table
    table_sql = c.names.table_sql.get(id(src)) if src is not None else None
    if src is None or table_sql is None or table_sql.parent is None or scope is None or src not in scope.sources:
        return None
    local = {s.sql_alias for s in scope.sources}
    for part in point.parts:
        if any(col.table and col.table not in local for col in part.find_all(exp.Column)):
            return None
    key = (id(src), region.parts[0].sql())
    if key in c.preps:
        return c.preps[key]
    alias = c.names.new_alias(f"{src.sql_alias}_polygon")
    lateral = exp.Lateral(this=exp.Subquery(this=polygon_measures.polygon_prep(region.parts[0], c.dialect)),
                          alias=exp.TableAlias(this=quoted(alias)))
    join = exp.Join(this=lateral, kind="CROSS")
    if isinstance(table_sql.parent, exp.Subquery) and table_sql.args.get("joins"):
        table_sql.append("joins", join)  # a second polygon of the same table
    else:
        inner = table_sql.copy()
        inner.set("joins", [join])
        table_sql.replace(exp.Subquery(this=inner))
        c.names.table_sql[id(src)] = inner
    c.preps[key] = alias
    return alias


def _cone(p: Geo, circle: list[exp.Expr], values: list[float] | None, node: exp.Expr) -> exp.Expr:
    """``p`` within the circle (lon, lat, r): the exact test, with index ranges or a crossmatch band first."""
    center = Geo("point", circle[:2], values[:2] if values else None)
    radius = circle[2]
    rconst = values[2] if values else constant(radius)
    bound = num(math.sin(math.radians(rconst) / 2) ** 2) if rconst is not None else hav_bound(radius)
    exact = exp.LTE(this=hav(p, center), expression=bound)
    terms: list[exp.Expr] = []
    if values is not None and p.position is not None and p.position.meta and p.position.meta.position:
        pos = p.position.meta.position
        ranges = cone_ranges(values[0], values[1], values[2], pos.index_order, pos.tolerance)
        terms.append(healpix_ranges(p.position, pos.index_column, ranges))
    elif values is None and rconst is not None and p.values is None:
        # crossmatch: a declination band (a range join for the planner) and an RA window
        r = rconst + 1e-9
        terms.append(exp.GTE(this=paren(p.parts[1].copy()), expression=sub(center.parts[1].copy(), num(r))))
        terms.append(exp.LTE(this=paren(p.parts[1].copy()), expression=add(center.parts[1].copy(), num(r))))
        terms.append(ra_window(p, center, rconst))
    elif values is None and p.values is None:
        # crossmatch with a per-row radius: the declination band still makes a range join
        r_expr = add(fn("least", radius.copy(), num(180.0)), num(1e-9))
        terms.append(exp.GTE(this=paren(p.parts[1].copy()), expression=sub(center.parts[1].copy(), r_expr)))
        terms.append(exp.LTE(this=paren(p.parts[1].copy()), expression=add(center.parts[1].copy(), r_expr.copy())))
    return all_of([*terms, exact])


def _self_contained(node: exp.Expr) -> bool:
    """A scalar subquery whose columns all belong to its own tables (it reads no outer column)."""
    if not isinstance(node, exp.Subquery):
        return False
    own = {t.alias_or_name for t in node.find_all(exp.Table)} | {
        q.alias for q in node.find_all(exp.Subquery) if q.alias}
    return all(c.table and c.table in own for c in node.find_all(exp.Column))


def _polygon_array(geo: Geo) -> exp.Expr:
    """A polygon's vertices as one array: a polygon column as it is, built ones from their parts."""
    if len(geo.parts) == 1:
        return geo.parts[0]
    return exp.Array(expressions=[cast(p.copy(), "DOUBLE") for p in geo.parts])


FUNCTIONS: dict[str, Handler] = {
    "POINT": _point, "CIRCLE": _circle, "BOX": _box, "POLYGON": _polygon,
    "COORD1": _coord, "COORD2": _coord, "COORDSYS": _coordsys, "AREA": _area, "CENTROID": _centroid,
    "DISTANCE": _distance, "CONTAINS": _contains, "INTERSECTS": _contains,
}
