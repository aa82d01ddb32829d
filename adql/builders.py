"""Small builders of sqlglot expression nodes, and the value of constant ADQL arithmetic.

Every module of the translator writes SQL through these, so parentheses, number literals and
casts look the same wherever they come from. Nothing here knows ADQL types or names.
Tests: tests/adql/test_translate.py, tests/adql/test_cases.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

__all__ = [
    "add",
    "all_of",
    "any_of",
    "cast",
    "constant",
    "div",
    "fn",
    "is_call",
    "mul",
    "num",
    "paren",
    "paren_or",
    "qcol",
    "quoted",
    "rad",
    "sub",
]

_TYPES = {
    "BIGINT": exp.DataType.Type.BIGINT, "INTEGER": exp.DataType.Type.INT, "SMALLINT": exp.DataType.Type.SMALLINT,
    "DOUBLE": exp.DataType.Type.DOUBLE, "REAL": exp.DataType.Type.FLOAT, "VARCHAR": exp.DataType.Type.VARCHAR,
    "TIMESTAMP": exp.DataType.Type.TIMESTAMP,
}


def paren(node: exp.Expr) -> exp.Expr:
    """``node`` in parentheses when it is an operation or a negative number (an operand)."""
    if isinstance(node, (exp.Binary, exp.Neg, exp.Not, exp.Case)) or (
        isinstance(node, exp.Literal) and not node.is_string and node.this.startswith("-")
    ):
        return exp.Paren(this=node)
    return node


def fn(name: str, *args: exp.Expr) -> exp.Expr:
    """A call of the SQL function ``name``, written as given."""
    return exp.Anonymous(this=name, expressions=list(args))


def num(value: float) -> exp.Expr:
    """A number literal (integers stay integers; negative ones in parentheses)."""
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 2**53):
        text = str(int(value)) if isinstance(value, int) else repr(float(value))
    else:
        text = repr(float(value))
    if text.startswith("-"):
        return exp.Paren(this=exp.Literal.number(text))
    return exp.Literal.number(text)


def add(a: exp.Expr, b: exp.Expr) -> exp.Expr:
    return exp.Add(this=paren(a), expression=paren(b))


def sub(a: exp.Expr, b: exp.Expr) -> exp.Expr:
    return exp.Sub(this=paren(a), expression=paren(b))


def mul(a: exp.Expr, b: exp.Expr) -> exp.Expr:
    return exp.Mul(this=paren(a), expression=paren(b))


def div(a: exp.Expr, b: exp.Expr) -> exp.Expr:
    return exp.Div(this=paren(a), expression=paren(b), typed=True)


def all_of(parts: Sequence[exp.Expr]) -> exp.Expr:
    """The conjunction of ``parts`` (at least one)."""
    out = parts[0]
    for part in parts[1:]:
        out = exp.And(this=paren_or(out), expression=paren_or(part))
    return out


def any_of(parts: Sequence[exp.Expr]) -> exp.Expr:
    """The disjunction of ``parts`` (at least one), parenthesised when there are several."""
    out = parts[0]
    for part in parts[1:]:
        out = exp.Or(this=out, expression=part)
    return exp.Paren(this=out) if len(parts) > 1 else out


def paren_or(node: exp.Expr) -> exp.Expr:
    """An OR in parentheses, as an operand of AND."""
    return exp.Paren(this=node) if isinstance(node, exp.Or) else node


def cast(node: exp.Expr, sqltype: str) -> exp.Expr:
    # built directly: DataType.build would tokenize and parse the type name every time
    return exp.Cast(this=node, to=exp.DataType(this=_TYPES[sqltype]))


def quoted(name: str) -> exp.Identifier:
    return exp.Identifier(this=name, quoted=True)


def qcol(alias: str | None, name: str) -> exp.Column:
    """The quoted column ``alias.name`` (or ``name``)."""
    return exp.Column(this=quoted(name), table=quoted(alias) if alias else None)


def rad(node: exp.Expr) -> exp.Expr:
    return fn("radians", node)


def is_call(node: exp.Expr, names: set[str]) -> bool:
    """``node`` is an ADQL call of one of ``names`` (upper case)."""
    return isinstance(node, exp.Anonymous) and str(node.this).upper() in names


def constant(node: exp.Expr) -> float | None:
    """The value of a constant numeric ADQL expression, else None."""
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return float(node.this)
        except ValueError:
            return None
    if isinstance(node, exp.Paren):
        return constant(node.this)
    if isinstance(node, exp.Neg):
        inner = constant(node.this)
        return None if inner is None else -inner
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Div)):
        a, b = constant(node.this), constant(node.expression)
        if a is None or b is None:
            return None
        if isinstance(node, exp.Add):
            return a + b
        if isinstance(node, exp.Sub):
            return a - b
        if isinstance(node, exp.Mul):
            return a * b
        return a / b if b else None
    return None
