"""The function table: each ADQL function name to its handler, with ADQL semantics on every backend.

``FUNCTIONS`` maps an upper-case ADQL function name to its handler; the math, string, aggregate,
unit and HEALPix handlers are here, the geometry ones come from adql/geometry.py, RegTAP's four
from adql/regtap.py, the footprint test from adql/footprint.py, and
``UNSUPPORTED`` (adql/features.py) names the refused functions. Where the
backends' own functions differ (ROUND halves, MOD signs, division by zero), the handler writes the
arithmetic that gives the same values on both. The names are listed for TAPRegExt in
adql/features.py. No I/O. Tests: tests/adql/test_cases.py (cases/core.toml), tests/adql/test_backends_agree.py.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from sqlglot import exp

from adql import footprint, geometry, regtap
from adql.builders import add, cast, constant, div, fn, mul, num, paren, sub
from adql.dialect import fail
from adql.names import GEO_KINDS, Handler, Scope, Ty, common_kind, need_number
from adql.sphere_sql import healpix_index
from dali.values import Column

if TYPE_CHECKING:
    from adql.compiler import Compiler

__all__ = ["FUNCTIONS"]


def _args(c: Compiler, node: exp.Anonymous, scope: Scope, numeric: bool = True) -> list[tuple[exp.Expr, Ty]]:
    out = [c.value(a, scope) for a in node.expressions]
    if numeric:
        for _, ty in out:
            need_number(ty, node, f"{str(node.this).upper()}()")
    return out


def _math(sqlname: str) -> Handler:
    """A numeric function of numbers, with a double result, written as the SQL function ``sqlname``."""

    def handler(c: Compiler, node: exp.Anonymous, scope: Scope) -> tuple[exp.Expr, Ty]:
        args = _args(c, node, scope)
        return fn(sqlname, *[a for a, _ in args]), Ty("float")
    return handler


def _rounding(sqlname: str) -> Handler:
    """CEILING, FLOOR: integers unchanged, other numbers by the SQL function ``sqlname``."""

    def handler(c: Compiler, node: exp.Anonymous, scope: Scope) -> tuple[exp.Expr, Ty]:
        (a, ta), = _args(c, node, scope)
        if ta.kind == "int":
            return a, Ty("int")
        return fn(sqlname, a), Ty("float")
    return handler


def _mod(c: Compiler, node: exp.Anonymous, scope: Scope) -> tuple[exp.Expr, Ty]:
    (a, ta), (b, tb) = _args(c, node, scope)
    b = fn("nullif", b, num(0))  # MOD(x, 0): NULL on both backends (PostgreSQL would fail)
    if ta.kind == "int" and tb.kind == "int":
        return exp.Mod(this=paren(a), expression=paren(b)), Ty("int")
    # x - y * trunc(x / y): the sign of x, as ADQL and C fmod; DuckDB's fmod differs.
    a2, b2 = cast(a, "DOUBLE"), cast(b, "DOUBLE")
    return sub(a2, mul(b2.copy(), fn("trunc", div(a2.copy(), b2.copy())))), Ty("float")


def _round(c: Compiler, node: exp.Anonymous, scope: Scope) -> tuple[exp.Expr, Ty]:
    args = _args(c, node, scope)
    a = cast(args[0][0], "DOUBLE")
    # sign(x) * floor(|x| * 10^n + 0.5) / 10^n: half away from zero with the same double
    # arithmetic on both backends (PostgreSQL's round(double) rounds half to even).
    scale = fn("power", num(10.0), args[1][0]) if len(args) == 2 else None
    if len(args) == 2 and args[1][1].kind not in {"int", "null", "any"}:
        raise fail("the second argument of ROUND() must be an integer", node)
    body = fn("abs", a) if scale is None else mul(fn("abs", a), scale)
    rounded = mul(fn("sign", a.copy()), fn("floor", add(body, num(0.5))))
    return (rounded if scale is None else div(rounded, scale.copy())), Ty("float")


def _truncate(c: Compiler, node: exp.Anonymous, scope: Scope) -> tuple[exp.Expr, Ty]:
    args = _args(c, node, scope)
    a = cast(args[0][0], "DOUBLE")
    if len(args) == 1:
        return fn("trunc", a), Ty("float")
    if args[1][1].kind not in {"int", "null", "any"}:
        raise fail("the second argument of TRUNCATE() must be an integer", node)
    scale = fn("power", num(10.0), args[1][0])
    return div(fn("trunc", mul(a, scale)), scale.copy()), Ty("float")


def _rand(c: Compiler, node: exp.Anonymous, scope: Scope) -> tuple[exp.Expr, Ty]:
    if node.expressions:
        raise fail("RAND(seed) is not supported: the databases cannot seed a per-query sequence", node,
                   hint="use RAND() without a seed")
    return fn("random"), Ty("float")


def _aggregate(c: Compiler, node: exp.Anonymous, scope: Scope) -> tuple[exp.Expr, Ty]:
    name = str(node.this).upper()
    arg = node.expressions[0]
    distinct = isinstance(arg, exp.Distinct)
    if distinct:
        arg = arg.expressions[0]
    if isinstance(arg, exp.Star):
        inner: exp.Expr = exp.Star()
        ty = Ty("any")
    else:
        inner, ty = c.value(arg, scope)
        if ty.kind in GEO_KINDS:
            raise fail(f"{name}() cannot aggregate geometry", node)
    wrapped = exp.Distinct(expressions=[inner]) if distinct else inner
    call = fn(name.lower(), wrapped)
    if name == "COUNT":
        return cast(call, "BIGINT"), Ty("int", Column(name="count", datatype="long"))
    if name in {"SUM", "AVG"}:
        need_number(ty, node, f"{name}()")
        unit = ty.column.unit if ty.column else None
        if name == "AVG" or ty.kind == "float":
            return cast(call, "DOUBLE"), Ty("float", Column(name=name.lower(), datatype="double", unit=unit))
        return cast(call, "BIGINT"), Ty("int", Column(name=name.lower(), datatype="long", unit=unit))
    col = ty.column
    if col is not None:
        col = Column(name=name.lower(), datatype=col.datatype, arraysize=col.arraysize, xtype=col.xtype,
                     unit=col.unit, ucd=col.ucd)
    return call, Ty(ty.kind, col)


def _case_fold(c: Compiler, node: exp.Anonymous, scope: Scope) -> tuple[exp.Expr, Ty]:
    (a, ta), = _args(c, node, scope, numeric=False)
    if ta.kind not in {"str", "null", "any"}:
        raise fail(f"{str(node.this).upper()}() needs text", node)
    return fn(str(node.this).lower(), a), Ty("str")


def _coalesce(c: Compiler, node: exp.Anonymous, scope: Scope) -> tuple[exp.Expr, Ty]:
    args = _args(c, node, scope, numeric=False)
    ty = common_kind([t for _, t in args], node, str(node.this).upper())
    return fn(str(node.this).lower(), *[a for a, _ in args]), ty


def _in_unit(c: Compiler, node: exp.Anonymous, scope: Scope) -> tuple[exp.Expr, Ty]:
    value, ty = c.value(node.expressions[0], scope)
    need_number(ty, node, "IN_UNIT()")
    target_node = node.expressions[1]
    if not (isinstance(target_node, exp.Literal) and target_node.is_string):
        raise fail("the unit of IN_UNIT() must be a string literal such as 'rad'", node)
    source = ty.column.unit if ty.column is not None else None
    if not source:
        raise fail("IN_UNIT() needs a value whose unit is known (a column, or MIN/MAX/AVG/SUM of one)", node)
    factor = _unit_factor(source, target_node.this)
    if factor is None:
        raise fail(f"cannot convert {source} to {target_node.this}", node,
                   hint="the units must be VOUnits of the same kind (e.g. deg and rad)")
    col = Column(name="in_unit", datatype="double", unit=target_node.this,
                 ucd=ty.column.ucd if ty.column is not None else None)
    return mul(cast(value, "DOUBLE"), num(factor)), Ty("float", col)


def _ivo_healpix_index(c: Compiler, node: exp.Anonymous, scope: Scope) -> tuple[exp.Expr, Ty]:
    order = constant(node.expressions[0])
    if order is None or not order.is_integer() or not 0 <= order <= 29:
        raise fail("the order of ivo_healpix_index() must be a whole number from 0 to 29", node)
    (_, _), (ra, _), (dec, _) = _args(c, node, scope)
    return healpix_index(int(order), ra, dec), Ty(
        "int", Column(name="ivo_healpix_index", datatype="long", ucd="pos.healpix"))


@functools.lru_cache(maxsize=256)
def _unit_factor(source: str, target: str) -> float | None:
    """The factor converting ``source`` to ``target`` (VOUnit strings, read by astropy), or None."""
    import warnings

    from astropy import units as u

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(u.Unit(source, format="vounit").to(u.Unit(target, format="vounit")))
    except (ValueError, u.UnitsError, TypeError):
        return None


_SIMPLE = {
    "ABS": "abs", "DEGREES": "degrees", "EXP": "exp", "LOG": "ln", "LOG10": "log10", "RADIANS": "radians",
    "SQRT": "sqrt", "SIN": "sin", "COS": "cos", "TAN": "tan", "COT": "cot", "ASIN": "asin", "ACOS": "acos",
    "ATAN": "atan", "ATAN2": "atan2", "POWER": "power", "PI": "pi",
}

FUNCTIONS: dict[str, Handler] = {
    **{name: _math(sqlname) for name, sqlname in _SIMPLE.items()},
    "CEILING": _rounding("ceil"), "FLOOR": _rounding("floor"),
    "MOD": _mod, "ROUND": _round, "TRUNCATE": _truncate, "RAND": _rand,
    "COUNT": _aggregate, "MIN": _aggregate, "MAX": _aggregate, "SUM": _aggregate, "AVG": _aggregate,
    "LOWER": _case_fold, "UPPER": _case_fold, "COALESCE": _coalesce, "NULLIF": _coalesce,
    "IN_UNIT": _in_unit, "IVO_HEALPIX_INDEX": _ivo_healpix_index,
    **geometry.FUNCTIONS,
    **regtap.FUNCTIONS,
    **footprint.FUNCTIONS,
}
