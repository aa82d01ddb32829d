"""Which HEALPix index ranges of each table a translated statement can read.

The translator adds ``t.skygate_hpx BETWEEN lo AND hi`` terms (and ORs of them) to a WHERE clause
for a literal region over an indexed position. A backend that stores a table as HEALPix
partitions (``release.hats``) reads only the partitions those ranges overlap. This module finds the
ranges in the translated SQL, conservatively: a term counts only when it is a top-level conjunct of
the WHERE of the SELECT whose FROM or JOIN names the table directly, because only there does it
drop every output row whose row of that table lies outside the ranges (whatever the join kind:
a NULL-extended row fails the term too). Any other reference to the table — no such term, a
subquery in FROM, a correlated reference — means the whole table. No I/O.
Tests: tests/adql/test_coverage.py.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlglot
from sqlglot import exp

__all__ = ["Ranges", "index_ranges", "merge_ranges", "sqlglot_errors"]

Ranges = list[tuple[int, int]]


def index_ranges(sql: str, dialect: str, tables: Mapping[str, str]) -> dict[str, Ranges | None]:
    """The index ranges each of ``tables`` is read in by ``sql``; None where it is read whole.

    Parameters
    ----------
    sql
        One translated statement.
    dialect
        The sqlglot dialect it is written in (``duckdb``, ``postgres``, ``spark``).
    tables
        Qualified table name (``schema.table``, lower case) -> its index column.

    Returns
    -------
    dict
        For each of ``tables`` the statement names: sorted, merged inclusive ranges (empty: no row
        can match), or None when some reference to it is not limited to ranges.
    """
    tree = sqlglot.parse_one(sql, read=dialect)
    found: dict[str, Ranges | None] = {}
    attributed: dict[str, int] = {}
    for select in tree.find_all(exp.Select):
        sources = _direct_tables(select, tables)
        if not sources:
            continue
        limits = _where_limits(select, {alias: tables[name] for alias, name in sources.items()})
        for alias, name in sources.items():
            attributed[name] = attributed.get(name, 0) + 1
            ranges = limits.get(alias)
            if name in found and found[name] is None:
                continue
            if ranges is None:
                found[name] = None
            else:
                found[name] = merge_ranges((found.get(name) or []) + ranges)
    # A table named anywhere else (a LATERAL, a table function) is read whole.
    for table in tree.find_all(exp.Table):
        name = _qualified(table)
        if name in tables and attributed.get(name, 0) < _count(tree, name):
            found[name] = None
    return found


def sqlglot_errors() -> tuple[type[Exception], ...]:
    """The exceptions ``index_ranges`` raises for SQL it cannot read (for callers that fall back)."""
    from sqlglot.errors import ParseError, TokenError

    return (ParseError, TokenError)


def _qualified(table: exp.Table) -> str:
    return f"{table.db}.{table.name}".lower() if table.db else table.name.lower()


def _count(tree: exp.Expr, name: str) -> int:
    return sum(1 for t in tree.find_all(exp.Table) if _qualified(t) == name)


def _direct_tables(select: exp.Select, tables: Mapping[str, str]) -> dict[str, str]:
    """alias -> qualified name of the tables this SELECT's FROM and JOINs name directly."""
    items: list[exp.Expr] = []
    from_ = select.args.get("from_") or select.args.get("from")
    if isinstance(from_, exp.From):
        items.append(from_.this)
    items.extend(join.this for join in select.args.get("joins") or [])
    out: dict[str, str] = {}
    for item in items:
        if isinstance(item, exp.Table) and _qualified(item) in tables:
            out[(item.alias_or_name).lower()] = _qualified(item)
    return out


def _where_limits(select: exp.Select, columns: Mapping[str, str]) -> dict[str, Ranges]:
    """alias -> ranges from the WHERE's top-level conjuncts (intersected when several apply)."""
    where = select.args.get("where")
    if not isinstance(where, exp.Where):
        return {}
    limits: dict[str, Ranges] = {}
    for term in _conjuncts(where.this):
        hit = _term_ranges(term, columns)
        if hit is None:
            continue
        alias, ranges = hit
        limits[alias] = _intersect(limits[alias], ranges) if alias in limits else merge_ranges(ranges)
    return limits


def _conjuncts(node: exp.Expr) -> list[exp.Expr]:
    node = _unparen(node)
    if isinstance(node, exp.And):
        return _conjuncts(node.this) + _conjuncts(node.expression)
    return [node]


def _disjuncts(node: exp.Expr) -> list[exp.Expr]:
    node = _unparen(node)
    if isinstance(node, exp.Or):
        return _disjuncts(node.this) + _disjuncts(node.expression)
    return [node]


def _unparen(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _term_ranges(term: exp.Expr, columns: Mapping[str, str]) -> tuple[str, Ranges] | None:
    """(alias, ranges) when ``term`` is a range or an OR of ranges on one table's index column."""
    alias: str | None = None
    ranges: Ranges = []
    for part in _disjuncts(term):
        hit = _simple_range(part, columns)
        if hit is None or (alias is not None and hit[0] != alias):
            return None
        alias = hit[0]
        ranges.append(hit[1])
    return (alias, ranges) if alias is not None else None


def _simple_range(node: exp.Expr, columns: Mapping[str, str]) -> tuple[str, tuple[int, int]] | None:
    if isinstance(node, exp.Between):
        column, low, high = node.this, _integer(node.args.get("low")), _integer(node.args.get("high"))
        if low is None or high is None:
            return None
    elif isinstance(node, exp.EQ):
        column, value = node.this, _integer(node.expression)
        if value is None:
            return None
        low = high = value
    else:
        return None
    if not isinstance(column, exp.Column) or not column.table:
        return None
    alias = column.table.lower()
    if columns.get(alias, "").lower() != column.name.lower():
        return None
    return alias, (low, high)


def _integer(node: exp.Expr | None) -> int | None:
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return int(node.this)
        except ValueError:
            return None
    return None


def merge_ranges(ranges: Ranges) -> Ranges:
    """Inclusive ranges sorted, with overlapping and adjacent ones joined (empty ones dropped)."""
    merged: Ranges = []
    for lo, hi in sorted(r for r in ranges if r[0] <= r[1]):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _intersect(a: Ranges, b: Ranges) -> Ranges:
    out: Ranges = []
    for lo1, hi1 in a:
        for lo2, hi2 in merge_ranges(b):
            lo, hi = max(lo1, lo2), min(hi1, hi2)
            if lo <= hi:
                out.append((lo, hi))
    return merge_ranges(out)
