"""How big an ADQL query may be: the limits checked before any SQL reaches a planner.

A planner's memory and time grow with the number of tables joined and the width and size of the
query before the first row is read (issue 13: a 500-way join chain planned for 8+ minutes, 100+
comma joins reached 17-20 GB, ``SELECT TOP 3 *,*,...`` cost ~1 MB per star), and neither backend
can be interrupted reliably while it plans. Every limit is one constant here; a query over a
limit gets an ``ADQLError`` that names the limit and its value. The parser's own bounds (text
length, parenthesis depth) are in ``adql.dialect`` (MAX_QUERY_LENGTH, MAX_NESTING).

Pure tree inspection: no I/O. Tests: tests/adql/test_limits.py.
"""

from __future__ import annotations

from sqlglot import exp

from adql.dialect import fail
from adql.errors import ADQLError

__all__ = ["MAX_EXPRESSION_NODES", "MAX_JOINED_TABLES", "MAX_OUTPUT_COLUMNS", "MAX_QUERY_DEPTH",
           "MAX_TABLES", "check_limits", "output_limit_error"]

# Tables (and subqueries) read in one FROM clause, comma joins and JOINs together.
MAX_JOINED_TABLES = 16
# Table references in the whole query, every subquery and common table expression included.
MAX_TABLES = 32
# SELECTs nested in SELECTs (subqueries in FROM, WHERE or the select list).
MAX_QUERY_DEPTH = 16
# Nodes of the parsed query: names, literals, operators, calls.
MAX_EXPRESSION_NODES = 20_000
# Columns of one SELECT list once every * is expanded (the output, and every derived table).
MAX_OUTPUT_COLUMNS = 1_000


def check_limits(tree: exp.Expr) -> None:
    """Refuse a parsed query larger than the limits above.

    Parameters
    ----------
    tree
        The tree ``adql.dialect.parse`` returned.

    Raises
    ------
    ADQLError
        Naming the limit exceeded, located at the place where it was exceeded.
    """
    tables = 0
    for count, node in enumerate(tree.walk(), start=1):
        if count > MAX_EXPRESSION_NODES:
            raise ADQLError(f"the query has more than {MAX_EXPRESSION_NODES} terms (names, values, operators)",
                            hint="split it into smaller queries")
        if isinstance(node, exp.Table):
            tables += 1
            if tables > MAX_TABLES:
                raise fail(f"the query reads more than {MAX_TABLES} tables", node,
                           hint="split it into smaller queries")
        elif isinstance(node, exp.Select):
            _check_from(node)
            _check_depth(node)


def output_limit_error(node: exp.Expr | None) -> ADQLError:
    """The error for a select list wider than MAX_OUTPUT_COLUMNS (raised where * is expanded)."""
    return fail(f"the select list has more than {MAX_OUTPUT_COLUMNS} columns", node,
                hint="name the columns you need instead of repeating *")


def _check_from(select: exp.Select) -> None:
    joined = 0
    items: list[exp.Expr] = []
    from_ = select.args.get("from_")
    if from_ is not None:
        items.append(from_.this)
    items.extend(j.this for j in select.args.get("joins") or ())
    while items:
        item = items.pop()
        joined += 1
        if joined > MAX_JOINED_TABLES:
            raise fail(f"one FROM clause may join at most {MAX_JOINED_TABLES} tables", item,
                       hint="join fewer tables, or filter in a subquery first")
        inner = item.this if isinstance(item, exp.Subquery) and isinstance(item.this, exp.Table) else item
        if isinstance(inner, exp.Table):
            items.extend(j.this for j in inner.args.get("joins") or ())


def _check_depth(select: exp.Select) -> None:
    depth = 0
    parent = select.parent
    while parent is not None:
        if isinstance(parent, exp.Select):
            depth += 1
        parent = parent.parent
    if depth >= MAX_QUERY_DEPTH:
        raise fail(f"queries may be nested at most {MAX_QUERY_DEPTH} deep", select)
