"""The four ADQL functions RegTAP 1.1 §8 requires of a service holding the ``rr`` schema.

- ``ivo_nocasematch(value, pat)``: 1 when ``value ILIKE pat`` (LIKE patterns, case ignored), else 0.
- ``ivo_hasword(haystack, needle)``: 1 when ``needle`` occurs in ``haystack`` as a word, case ignored:
  preceded by the start or a non-letter and followed by the end or a non-letter (letters are
  a-z after lower-casing, on both backends alike; no stemming), else 0.
- ``ivo_hashlist_has(hashlist, item)``: 1 when ``item`` is, case ignored, one of the ``#``-separated
  words of ``hashlist``, else 0.
- ``ivo_string_agg(expr, delim)``: an aggregate joining the group's non-NULL values with ``delim``;
  an empty group (or one of NULLs only) gives ``''``.

The three predicates give 0, never NULL, for NULL arguments (SQL CASE), as the PostgreSQL
definitions of RegTAP 1.1 Appendix B do. Everything is plain SQL both backends share (ILIKE,
``strpos``, ``regexp_replace``, ``string_agg`` and a regular-expression match, which sqlglot writes
as ``~`` for PostgreSQL and ``regexp_matches`` for DuckDB). No I/O.
Tests: tests/adql/test_regtap_functions.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from adql.builders import cast, fn, paren
from adql.dialect import fail
from adql.names import Handler, Scope, Ty
from dali.values import Column

if TYPE_CHECKING:
    from adql.compiler import Compiler

__all__ = ["FUNCTIONS"]

# What a regular expression treats specially: escaped in the needle so it matches itself.
_SPECIAL = r"([.^$|?*+()\[\]{}\\])"
_NON_LETTER = "[^a-z]"


def _texts(c: Compiler, node: exp.Anonymous, scope: Scope) -> list[exp.Expr]:
    out = []
    for arg in node.expressions:
        sql, ty = c.value(arg, scope)
        if ty.kind not in {"str", "null", "any"}:
            raise fail(f"{str(node.this).lower()}() takes text arguments", node,
                       hint="convert numbers with CAST(x AS VARCHAR)")
        out.append(sql)
    return out


def _flag(name: str, condition: exp.Expr) -> tuple[exp.Expr, Ty]:
    """1 when ``condition`` holds, else 0 (NULL included)."""
    case = exp.Case(ifs=[exp.If(this=condition, true=exp.Literal.number(1))], default=exp.Literal.number(0))
    return case, Ty("int", Column(name=name, datatype="int"))


def _concat(*parts: exp.Expr) -> exp.Expr:
    out = parts[0]
    for part in parts[1:]:
        out = exp.DPipe(this=paren(out), expression=paren(part))
    return exp.Paren(this=out)


def _nocasematch(c: Compiler, node: exp.Anonymous, scope: Scope) -> tuple[exp.Expr, Ty]:
    value, pattern = _texts(c, node, scope)
    return _flag("ivo_nocasematch", exp.ILike(this=paren(value), expression=paren(pattern)))


def _hasword(c: Compiler, node: exp.Anonymous, scope: Scope) -> tuple[exp.Expr, Ty]:
    haystack, needle = _texts(c, node, scope)
    escaped = fn("regexp_replace", fn("lower", needle), exp.Literal.string(_SPECIAL), exp.Literal.string(r"\\\1"),
                 exp.Literal.string("g"))
    pattern = _concat(exp.Literal.string(f"(^|{_NON_LETTER})"), escaped, exp.Literal.string(f"({_NON_LETTER}|$)"))
    return _flag("ivo_hasword", exp.RegexpLike(this=fn("lower", haystack), expression=pattern))


def _hashlist_has(c: Compiler, node: exp.Anonymous, scope: Scope) -> tuple[exp.Expr, Ty]:
    hashlist, item = _texts(c, node, scope)
    hash_ = exp.Literal.string("#")
    found = fn("strpos", _concat(hash_, fn("lower", hashlist), hash_.copy()),
               _concat(hash_.copy(), fn("lower", item), hash_.copy()))
    return _flag("ivo_hashlist_has", exp.GT(this=found, expression=exp.Literal.number(0)))


def _string_agg(c: Compiler, node: exp.Anonymous, scope: Scope) -> tuple[exp.Expr, Ty]:
    value, ty = c.value(node.expressions[0], scope)
    delimiter, delimiter_ty = c.value(node.expressions[1], scope)
    if ty.geo is not None or ty.kind in {"point", "circle", "polygon"}:
        raise fail("ivo_string_agg() cannot join geometry", node)
    if delimiter_ty.kind not in {"str", "null", "any"}:
        raise fail("the delimiter of ivo_string_agg() must be text", node)
    text = value if ty.kind == "str" else cast(value, "VARCHAR")
    joined = fn("coalesce", fn("string_agg", text, delimiter), exp.Literal.string(""))
    return joined, Ty("str", Column(name="ivo_string_agg", datatype="char", arraysize="*"))


FUNCTIONS: dict[str, Handler] = {
    "IVO_NOCASEMATCH": _nocasematch,
    "IVO_HASWORD": _hasword,
    "IVO_HASHLIST_HAS": _hashlist_has,
    "IVO_STRING_AGG": _string_agg,
}
