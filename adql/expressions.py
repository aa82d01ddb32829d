"""ADQL value expressions as SQL: literals, columns, operators, conditions, CASE, CAST, subqueries.

Each node type of the parsed query has one handler in ``EXPRESSIONS`` (node type -> handler),
which ``Compiler.value`` looks up; a handler returns the SQL and the ADQL type (adql/names.py) and
refuses operands of the wrong type. Arithmetic and comparisons make the precision explicit so both
backends give the same rows. Function calls go to the table in adql/functions.py; geometry
comparisons (``1 = CONTAINS(...)``, ``DISTANCE(...) < r``) to adql/geometry.py. No I/O.
Tests: tests/adql/test_cases.py (cases/core.toml, cases/semantics.toml), tests/adql/test_backends_agree.py.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from sqlglot import exp

from adql.builders import cast, constant, fn, num, paren, paren_or
from adql.dialect import fail
from adql.features import UNSUPPORTED
from adql.functions import FUNCTIONS
from adql.geometry import comparison, geo_from_column, geometry_value
from adql.names import GEO_KINDS, NUMERIC, Handler, Scope, Ty, column, common_kind, describe, kind_of, need_number
from dali.values import Column

if TYPE_CHECKING:
    from adql.compiler import Compiler

__all__ = ["EXPRESSIONS"]

_OPERATORS: dict[type[exp.Expr], str] = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/"}


def _column(c: Compiler, node: exp.Column, scope: Scope) -> tuple[exp.Expr, Ty]:
    if isinstance(node.this, exp.Star):
        raise fail("t.* is only allowed in the SELECT list", node)
    sql, ty = column(node, scope)
    if ty.kind in GEO_KINDS and ty.geo is None:
        geo = geo_from_column(sql, ty.kind)
        geo.column_source = ty.source
        ty = replace(ty, geo=geo)
    return sql, ty


def _literal(c: Compiler, node: exp.Literal, scope: Scope) -> tuple[exp.Expr, Ty]:
    if node.is_string:
        return exp.Literal.string(node.this), Ty("str")
    text = node.this
    is_int = text.isdigit()
    if is_int and int(text) > 2**63 - 1:
        raise fail(f"the integer {text} is too large", node)
    return exp.Literal.number(text), Ty("int" if is_int else "float")


def _hexstring(c: Compiler, node: exp.HexString, scope: Scope) -> tuple[exp.Expr, Ty]:
    try:
        value = int(node.this, 16)
    except ValueError:
        raise fail(f"0x{node.this} is not a hexadecimal number", node) from None
    if value > 2**63 - 1:
        raise fail(f"0x{node.this} does not fit in 64 bits", node)
    return exp.Literal.number(str(value)), Ty("int")


def _null(c: Compiler, node: exp.Null, scope: Scope) -> tuple[exp.Expr, Ty]:
    return exp.Null(), Ty("null")


def _boolean(c: Compiler, node: exp.Boolean, scope: Scope) -> tuple[exp.Expr, Ty]:
    return exp.Boolean(this=node.this), Ty("bool")


def _paren(c: Compiler, node: exp.Paren, scope: Scope) -> tuple[exp.Expr, Ty]:
    sql, ty = c.value(node.this, scope)
    if ty.geo is not None or ty.contains is not None:
        return sql, ty
    return exp.Paren(this=sql), replace(ty, column=None)


def _neg(c: Compiler, node: exp.Neg, scope: Scope) -> tuple[exp.Expr, Ty]:
    sql, ty = c.value(node.this, scope)
    need_number(ty, node, "-")
    return exp.Neg(this=paren(sql)), Ty(ty.kind)


def _arith(c: Compiler, node: exp.Binary, scope: Scope) -> tuple[exp.Expr, Ty]:
    op = _OPERATORS[type(node)]
    a, ta = c.value(node.this, scope)
    b, tb = c.value(node.expression, scope)
    need_number(ta, node, op)
    need_number(tb, node, op)
    # REAL operands (or values that may be REAL): PostgreSQL and DuckDB would pick different
    # precisions; compute in double
    a, b = _as_double(a, ta), _as_double(b, tb)
    kind = "int" if ta.kind == "int" and tb.kind == "int" else "float"
    cls = type(node)
    if cls is exp.Div and constant(node.expression) in (None, 0.0):
        # x / 0 is an error in PostgreSQL, NULL or infinity in DuckDB: make it NULL on both
        b = fn("nullif", b, num(0))
    if cls is exp.Div and kind == "int" and not c.target.slash_truncates:
        # ADQL/SQL integer division truncates (PostgreSQL does); DuckDB's / would give a double.
        return exp.IntDiv(this=paren(a), expression=paren(b)), Ty("int")
    if cls is exp.Div:
        # typed: keep the operator as written (sqlglot would otherwise cast to force float division)
        return exp.Div(this=paren(a), expression=paren(b), typed=True), Ty(kind)
    return cls(this=paren(a), expression=paren(b)), Ty(kind)


def _bitwise(c: Compiler, node: exp.Binary, scope: Scope) -> tuple[exp.Expr, Ty]:
    a, ta = c.value(node.this, scope)
    b, tb = c.value(node.expression, scope)
    for ty in (ta, tb):
        if ty.kind not in {"int", "null", "any"}:
            raise fail("bitwise operators need integers", node)
    return type(node)(this=paren(a), expression=paren(b)), Ty("int")


def _bitwise_not(c: Compiler, node: exp.BitwiseNot, scope: Scope) -> tuple[exp.Expr, Ty]:
    a, ta = c.value(node.this, scope)
    if ta.kind not in {"int", "null", "any"}:
        raise fail("bitwise operators need integers", node)
    return exp.BitwiseNot(this=paren(a)), Ty("int")


def _concat(c: Compiler, node: exp.DPipe, scope: Scope) -> tuple[exp.Expr, Ty]:
    a, ta = c.value(node.this, scope)
    b, tb = c.value(node.expression, scope)
    for ty in (ta, tb):
        if ty.kind in GEO_KINDS:
            raise fail("|| joins text, not geometry", node)
    if ta.kind != "str":
        a = cast(a, "VARCHAR")
    if tb.kind != "str":
        b = cast(b, "VARCHAR")
    return exp.DPipe(this=paren(a), expression=paren(b)), Ty("str")


def _compare(c: Compiler, node: exp.Binary, scope: Scope) -> tuple[exp.Expr, Ty]:
    special = comparison(c, node, scope)
    if special is not None:
        return special, Ty("bool")
    a, ta = c.value(node.this, scope)
    b, tb = c.value(node.expression, scope)
    for ty in (ta, tb):
        if ty.kind in GEO_KINDS:
            raise fail("geometry values cannot be compared", node,
                       hint="test them with 1 = CONTAINS(...) or 1 = INTERSECTS(...)")
    numeric = {ta.kind, tb.kind} <= NUMERIC
    textual = {ta.kind, tb.kind} <= {"str", "time", "null", "any"}
    if not (numeric or textual or ta.kind == tb.kind):
        raise fail(f"cannot compare {describe(ta.kind)} with {describe(tb.kind)}", node)
    if numeric:
        a, b = _same_precision(a, ta, b, tb)
    return type(node)(this=paren(a), expression=paren(b)), Ty("bool")


def _logic(c: Compiler, node: exp.Binary, scope: Scope) -> tuple[exp.Expr, Ty]:
    a = c.predicate(node.this, scope)
    b = c.predicate(node.expression, scope)
    return type(node)(this=paren_or(a) if isinstance(node, exp.And) else a,
                      expression=paren_or(b) if isinstance(node, exp.And) else b), Ty("bool")


def _not(c: Compiler, node: exp.Not, scope: Scope) -> tuple[exp.Expr, Ty]:
    return exp.Not(this=exp.Paren(this=c.predicate(node.this, scope))), Ty("bool")


def _like(c: Compiler, node: exp.Binary, scope: Scope) -> tuple[exp.Expr, Ty]:
    a, ta = c.value(node.this, scope)
    b, tb = c.value(node.expression, scope)
    for ty in (ta, tb):
        if ty.kind not in {"str", "null", "any"}:
            raise fail(f"{node.key.upper()} compares text, not {describe(ty.kind)}", node)
    # sqlglot parses ``x NOT LIKE y`` as one Like node with ``negate``: keep it, or NOT LIKE means LIKE.
    return type(node)(this=paren(a), expression=paren(b), negate=node.args.get("negate")), Ty("bool")


def _between(c: Compiler, node: exp.Between, scope: Scope) -> tuple[exp.Expr, Ty]:
    a, ta = c.value(node.this, scope)
    lo, tlo = c.value(node.args["low"], scope)
    hi, thi = c.value(node.args["high"], scope)
    for ty in (ta, tlo, thi):
        if ty.kind in GEO_KINDS or ty.kind == "bool":
            raise fail(f"BETWEEN cannot use {describe(ty.kind)}", node)
    if {ta.kind, tlo.kind, thi.kind} <= NUMERIC:
        a, lo = _same_precision(a, ta, lo, tlo)
        a, hi = _same_precision(a, ta, hi, thi)
    return exp.Between(this=paren(a), low=paren(lo), high=paren(hi)), Ty("bool")


def _is(c: Compiler, node: exp.Is, scope: Scope) -> tuple[exp.Expr, Ty]:
    a, ta = c.value(node.this, scope)
    if not isinstance(node.expression, exp.Null):
        raise fail("IS only tests NULL: x IS NULL or x IS NOT NULL", node)
    if ta.geo is not None and ta.column is None:
        return exp.Boolean(this=False), Ty("bool")
    return exp.Is(this=paren(a), expression=exp.Null()), Ty("bool")


def _in(c: Compiler, node: exp.In, scope: Scope) -> tuple[exp.Expr, Ty]:
    a, ta = c.value(node.this, scope)
    if ta.kind in GEO_KINDS:
        raise fail("IN cannot test geometry values", node)
    if node.args.get("query"):
        sub, cols = c.query(node.args["query"].this, scope)
        if len(cols) != 1:
            raise fail("the subquery after IN must return one column", node)
        return exp.In(this=paren(a), query=exp.Subquery(this=sub)), Ty("bool")
    values = [c.value(v, scope)[0] for v in node.expressions]
    return exp.In(this=paren(a), expressions=values), Ty("bool")


def _exists(c: Compiler, node: exp.Exists, scope: Scope) -> tuple[exp.Expr, Ty]:
    inner = node.this.this if isinstance(node.this, exp.Subquery) else node.this
    sub, _ = c.query(inner, scope)
    return exp.Exists(this=sub), Ty("bool")


def _subquery(c: Compiler, node: exp.Subquery, scope: Scope) -> tuple[exp.Expr, Ty]:
    sub, cols = c.query(node.this, scope)
    if len(cols) != 1:
        raise fail("a subquery used as a value must return one column", node)
    kind = kind_of(cols[0])
    sql: exp.Expr = exp.Subquery(this=sub)
    if kind in GEO_KINDS:
        # a geometry value (e.g. one s_region): used like a column of that shape
        return sql, Ty(kind, cols[0], geo=geo_from_column(sql, kind))
    return sql, Ty(kind, cols[0])


def _case(c: Compiler, node: exp.Case, scope: Scope) -> tuple[exp.Expr, Ty]:
    ifs = []
    kinds: list[Ty] = []
    for branch in node.args.get("ifs") or ():
        # the simple form CASE x WHEN v THEN ... is CASE WHEN x = v THEN ...
        test = branch.this if node.this is None else exp.EQ(this=node.this.copy(), expression=branch.this.copy())
        cond = c.predicate(test, scope)
        val, ty = c.value(branch.args["true"], scope)
        ifs.append(exp.If(this=cond, true=val))
        kinds.append(ty)
    default = None
    if node.args.get("default") is not None:
        default, ty = c.value(node.args["default"], scope)
        kinds.append(ty)
    result = common_kind(kinds, node, "CASE")
    return exp.Case(ifs=ifs, default=default), result


def _cast(c: Compiler, node: exp.Cast, scope: Scope) -> tuple[exp.Expr, Ty]:
    target = node.to
    if target.this == exp.DataType.Type.USERDEFINED:
        return _cast_geometry(node, str(target.args.get("kind")).upper())
    sql, ty = c.value(node.this, scope)
    if ty.kind in GEO_KINDS:
        raise fail("geometry values cannot be CAST", node)
    t = exp.DataType.Type
    mapping = {t.SMALLINT: ("SMALLINT", "int", "short"), t.INT: ("INTEGER", "int", "int"),
               t.BIGINT: ("BIGINT", "int", "long"), t.FLOAT: ("REAL", "float", "float"),
               t.DOUBLE: ("DOUBLE", "float", "double"), t.TIMESTAMP: ("TIMESTAMP", "time", None)}
    if target.this in mapping:
        sqltype, kind, datatype = mapping[target.this]
        if kind in {"int", "float"} and ty.kind == "time":
            raise fail("a timestamp cannot be CAST to a number", node)
        col = Column(name="cast", datatype=datatype) if datatype else Column(
            name="cast", datatype="char", arraysize="*", xtype="timestamp")
        if kind == "int" and ty.kind == "float":
            # ADQL: CAST of a real to an integer rounds (both backends round half away from zero)
            sql = fn("round", sql)
        return cast(sql, sqltype), Ty(kind, col)
    # CHAR(n), VARCHAR(n): PostgreSQL pads/truncates, DuckDB ignores n; make both cut at n.
    length = None
    if target.expressions:
        length_node = target.expressions[0].this
        if not (isinstance(length_node, exp.Literal) and length_node.this.isdigit()):
            raise fail("the length of CHAR(n)/VARCHAR(n) must be a whole number", node)
        length = int(length_node.this)
    text = cast(sql, "VARCHAR")
    if length is not None:
        text = fn("substr", text, num(1), num(length))
    return text, Ty("str", Column(name="cast", datatype="char", arraysize=f"{length}*" if length else "*"))


def _cast_geometry(node: exp.Cast, kind: str) -> tuple[exp.Expr, Ty]:
    inner = node.this
    if not (isinstance(inner, exp.Literal) and inner.is_string):
        raise fail(f"CAST to {kind} takes a string literal such as '10 20'", node)
    try:
        numbers = [float(x) for x in inner.this.replace(",", " ").split()]
    except ValueError:
        raise fail(f"'{inner.this}' is not a DALI {kind.lower()} (numbers separated by spaces)", node) from None
    expected = {"POINT": lambda n: n == 2, "CIRCLE": lambda n: n == 3, "POLYGON": lambda n: n >= 6 and n % 2 == 0}
    if not expected[kind](len(numbers)):
        raise fail(f"'{inner.this}' is not a DALI {kind.lower()}", node)
    return geometry_value(kind.lower(), [num(v) for v in numbers], numbers, node)


def _function(c: Compiler, node: exp.Anonymous, scope: Scope) -> tuple[exp.Expr, Ty]:
    name = str(node.this).upper()
    if name in UNSUPPORTED:
        raise fail(UNSUPPORTED[name], node)
    handler = FUNCTIONS.get(name)
    if handler is None:
        raise fail(f"unknown function {node.this}()", node)
    return handler(c, node, scope)


def _is_real(ty: Ty) -> bool:
    return ty.column is not None and ty.column.datatype == "float"


def _same_precision(a: exp.Expr, ta: Ty, b: exp.Expr, tb: Ty) -> tuple[exp.Expr, exp.Expr]:
    """Compare a REAL column with a literal in REAL (index-friendly), anything else in double.

    PostgreSQL and DuckDB promote REAL differently against numeric literals and doubles, which
    changes results at the boundary; making the precision explicit gives the same rows on both.
    """
    real_a, real_b = _is_real(ta), _is_real(tb)
    if real_a and real_b:
        return a, b
    if real_a and isinstance(b, exp.Literal):
        return a, cast(b, "REAL")
    if real_b and isinstance(a, exp.Literal):
        return cast(a, "REAL"), b
    if real_a or real_b:
        return _as_double(a, ta), _as_double(b, tb)
    return a, b


def _as_double(sql: exp.Expr, ty: Ty) -> exp.Expr:
    if ty.kind != "float" or isinstance(sql, exp.Literal) or (ty.column is not None and ty.column.datatype == "double"):
        return sql
    if isinstance(sql, exp.Cast) and sql.to.this == exp.DataType.Type.DOUBLE:
        return sql
    return cast(sql, "DOUBLE")


EXPRESSIONS: dict[type[exp.Expr], Handler] = {
    exp.Column: _column, exp.Literal: _literal, exp.HexString: _hexstring, exp.Null: _null,
    exp.Boolean: _boolean, exp.Paren: _paren, exp.Neg: _neg,
    exp.Add: _arith, exp.Sub: _arith, exp.Mul: _arith, exp.Div: _arith,
    exp.BitwiseAnd: _bitwise, exp.BitwiseOr: _bitwise, exp.BitwiseXor: _bitwise, exp.BitwiseNot: _bitwise_not,
    exp.DPipe: _concat,
    exp.EQ: _compare, exp.NEQ: _compare, exp.GT: _compare, exp.GTE: _compare, exp.LT: _compare, exp.LTE: _compare,
    exp.And: _logic, exp.Or: _logic, exp.Not: _not, exp.Like: _like, exp.ILike: _like,
    exp.Between: _between, exp.Is: _is, exp.In: _in, exp.Exists: _exists, exp.Subquery: _subquery,
    exp.Case: _case, exp.Cast: _cast, exp.Anonymous: _function,
}
