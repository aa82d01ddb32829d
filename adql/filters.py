"""Row filters over one table, written as SQL for a backend dialect from sqlglot expressions.

For services that select the rows of a published table by typed values (SIA 2.0 over
``ivoa.obscore``): the caller states its conditions with the functions here and ``select_sql``
writes the statement in the backend's dialect. Every value becomes a literal node that the
dialect's generator escapes (quotes, and backslashes where the dialect treats them as escapes), so
user text stays data; column and table names are the caller's own constants, never user text.
``Term`` and ``Condition`` wrap the nodes so that callers never handle sqlglot themselves (sqlglot stays
inside ``adql/``: tests/test_layers.py). No I/O.
Tests: tests/adql/test_filters.py, tests/sia/test_service.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlglot import exp

from adql.builders import add, div, num, sub

__all__ = [
    "Condition",
    "Term",
    "all_of",
    "any_of",
    "column",
    "compare",
    "contains_text",
    "divided",
    "lower",
    "minus",
    "never",
    "not_null",
    "plus",
    "select_sql",
]

Operator = Literal["=", "<", "<=", ">", ">="]
_OPERATORS: dict[str, type[exp.Binary]] = {"=": exp.EQ, "<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE}


@dataclass(frozen=True, slots=True)
class Term:
    """A value expression: a column, or arithmetic on columns and numbers."""

    node: exp.Expr


@dataclass(frozen=True, slots=True)
class Condition:
    """A boolean expression over the table's columns."""

    node: exp.Expr


def _value(value: Term | str | float) -> exp.Expr:
    """A term as is; text as a string literal; a finite number as a number literal."""
    if isinstance(value, Term):
        return value.node
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    return num(value)


def column(name: str) -> Term:
    """The column ``name`` of the filtered table (a constant of the caller, unquoted)."""
    return Term(exp.column(name))


def lower(term: Term) -> Term:
    """``term`` in lower case (SQL ``LOWER``)."""
    return Term(exp.Lower(this=term.node))


def plus(a: Term, b: Term | float) -> Term:
    return Term(add(a.node, _value(b)))


def minus(a: Term, b: Term | float) -> Term:
    return Term(sub(a.node, _value(b)))


def divided(a: Term, b: float) -> Term:
    return Term(div(a.node, _value(b)))


def compare(term: Term, op: Operator, value: Term | str | float) -> Condition:
    """``term op value``; a text value is compared as a string literal."""
    return Condition(_OPERATORS[op](this=term.node, expression=_value(value)))


def not_null(term: Term) -> Condition:
    return Condition(exp.Not(this=exp.Is(this=term.node, expression=exp.Null())))


def contains_text(term: Term, text: str) -> Condition:
    """``text`` occurs in ``term`` as it is: a position test, not LIKE, so ``%`` and ``_`` in
    ``text`` are characters like any other."""
    found = exp.StrPosition(this=term.node, substr=exp.Literal.string(text))
    return Condition(exp.GT(this=found, expression=num(0)))


def never() -> Condition:
    """A condition no row meets."""
    return Condition(exp.false())


def all_of(conditions: Sequence[Condition]) -> Condition:
    """Every one of ``conditions`` (at least one)."""
    return Condition(exp.and_(*(c.node for c in conditions), copy=False))


def any_of(conditions: Sequence[Condition]) -> Condition:
    """At least one of ``conditions`` (at least one)."""
    return Condition(exp.or_(*(c.node for c in conditions), copy=False))


def select_sql(table: str, columns: Sequence[str], where: Sequence[Condition], *, order_by: Sequence[str],
               dialect: str) -> str:
    """``SELECT columns FROM table WHERE every condition ORDER BY ...`` in ``dialect``.

    Parameters
    ----------
    table
        ``schema.table`` or ``table``, a constant of the caller.
    columns
        The output columns, in order.
    where
        Conditions that must all hold (none: every row).
    order_by
        Columns to sort by, ascending.
    dialect
        The backend's SQL dialect (``release.backends.Backend.dialect``: duckdb, postgres, spark).

    Returns
    -------
    str
        The statement.
    """
    schema, _, name = table.rpartition(".")
    select = exp.select(*(exp.column(c) for c in columns)).from_(exp.table_(name, db=schema or None))
    if where:
        select = select.where(all_of(where).node, copy=False)
    if order_by:
        select = select.order_by(*(exp.Ordered(this=exp.column(c)) for c in order_by), copy=False)
    return select.sql(dialect=dialect)
