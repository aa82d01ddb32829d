"""Checks of ADQL meaning that need no table metadata: aggregates, grouping and ORDER BY keys.

Each rule here is one that PostgreSQL and DuckDB enforce too, but only after planning and in
their own words (a 500 before this module existed); here it is an ``ADQLError`` at the place in
the query, in ADQL terms. Rules (SQL-92 §7.9-7.10 and §6.5 set functions, as ADQL 2.1 takes them):

- no aggregate in WHERE, ON or GROUP BY, and no aggregate inside another of the same query;
- a query with GROUP BY, HAVING or an aggregate in its select list, HAVING or ORDER BY is grouped:
  every column it names outside an aggregate there must be a GROUP BY key (or a select-list alias
  named in GROUP BY); ``SELECT *`` cannot be grouped;
- ORDER BY keys are output names, positions 1..n or expressions, never other constants (the
  positions' range is checked by the translator, which knows the output columns).

Pure tree inspection (sqlglot expressions from ``adql.dialect.parse``): no I/O, no metadata.
Tests: tests/adql/cases/semantics.toml (tests/adql/test_cases.py).
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlglot import exp

from adql.dialect import fail

__all__ = ["AGGREGATES", "check_semantics"]

AGGREGATES = frozenset({"COUNT", "MIN", "MAX", "SUM", "AVG", "IVO_STRING_AGG"})


def check_semantics(tree: exp.Expr) -> None:
    """Refuse aggregate and ordering misuse in a parsed ADQL query.

    Parameters
    ----------
    tree
        The tree ``adql.dialect.parse`` returned.

    Raises
    ------
    ADQLError
        At the first misuse found, with its line and column.
    """
    for select in tree.find_all(exp.Select):
        _check_select(select)
    for order in tree.find_all(exp.Order):
        _check_order_keys(order)


def _is_aggregate(node: exp.Expr) -> bool:
    return isinstance(node, exp.Anonymous) and str(node.this).upper() in AGGREGATES


def _own(node: exp.Expr | None) -> Iterator[exp.Expr]:
    """``node`` and its descendants that belong to the same query (not to a nested subquery)."""
    if node is None:
        return
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        for child in current.iter_expressions():
            if not isinstance(child, (exp.Subquery, exp.Select, exp.SetOperation)):
                stack.append(child)


def _aggregates(node: exp.Expr | None) -> Iterator[exp.Expr]:
    return (n for n in _own(node) if _is_aggregate(n))


def _check_select(select: exp.Select) -> None:
    where = select.args.get("where")
    group = select.args.get("group")
    having = select.args.get("having")
    order = select.args.get("order")
    for clause, node in (("WHERE", where), ("GROUP BY", group)):
        for call in _aggregates(node):
            raise fail(f"{str(call.this).upper()}() is not allowed in {clause}", call,
                       hint="filter on aggregates with HAVING after GROUP BY" if clause == "WHERE" else None)
    for join in select.args.get("joins") or ():
        for call in _aggregates(join.args.get("on")):
            raise fail(f"{str(call.this).upper()}() is not allowed in ON", call)
    grouped = group is not None or having is not None
    for part in [*select.expressions, having, order]:
        for call in _aggregates(part):
            grouped = True
            for inner in call.iter_expressions():
                for nested in _aggregates(inner):
                    raise fail("aggregate functions cannot be nested", nested,
                               hint="compute the inner aggregate in a subquery: SELECT MAX(n) FROM (SELECT COUNT(*) "
                                    "AS n FROM ... GROUP BY ...) AS q")
    if grouped:
        _check_grouping(select)


def _check_grouping(select: exp.Select) -> None:
    group = select.args.get("group")
    keys = list(group.expressions) if group is not None else []
    items = select.expressions
    for key in list(keys):
        # GROUP BY 2 names the second output column, as in ORDER BY (both backends read it so)
        if isinstance(key, exp.Literal) and not key.is_string and key.this.isdigit() \
                and 1 <= int(key.this) <= len(items):
            item = items[int(key.this) - 1]
            keys.append(item.this if isinstance(item, exp.Alias) else item)
    key_sql = {k.sql() for k in keys}
    key_names = {k.name.lower() for k in keys if isinstance(k, exp.Column)}
    local = _local_names(select)
    why = "the query has GROUP BY" if group is not None else (
        "HAVING groups the query" if select.args.get("having") is not None else "the query uses an aggregate")
    for item in select.expressions:
        if isinstance(item, exp.Star) or (isinstance(item, exp.Column) and isinstance(item.this, exp.Star)):
            raise fail(f"SELECT * cannot be used here: {why}", item,
                       hint="list the GROUP BY columns and aggregates instead")
        if isinstance(item, exp.Alias) and item.alias.lower() in key_names:
            continue
        _check_grouped(item.this if isinstance(item, exp.Alias) else item, key_sql, key_names, local, why)
    having = select.args.get("having")
    if having is not None:
        _check_grouped(having.this, key_sql, key_names, local, why)
    order = select.args.get("order")
    aliases = {i.alias.lower() for i in select.expressions if isinstance(i, exp.Alias)}
    for ordered in order.expressions if order is not None else ():
        key = ordered.this
        if isinstance(key, exp.Literal) or (isinstance(key, exp.Column) and not key.table
                                            and key.name.lower() in aliases):
            continue
        _check_grouped(key, key_sql, key_names, local, why)


def _check_grouped(node: exp.Expr, key_sql: set[str], key_names: set[str], local: set[str], why: str) -> None:
    if node.sql() in key_sql or _is_aggregate(node) or isinstance(node, (exp.Subquery, exp.Select)):
        return
    if isinstance(node, exp.Column):
        qualifier = node.table.lower() if node.table else ""
        if node.name.lower() in key_names or (qualifier and qualifier not in local):
            return  # a GROUP BY key, or a column of an enclosing query (a constant here)
        raise fail(f"column {node.name} must be listed in GROUP BY or used inside an aggregate: {why}", node,
                   hint=f"add {node.name} to GROUP BY, or write e.g. MIN({node.name})")
    for child in node.iter_expressions():
        _check_grouped(child, key_sql, key_names, local, why)


def _local_names(select: exp.Select) -> set[str]:
    """The names that qualify columns of this query's own FROM items (aliases and table names)."""
    names: set[str] = set()
    items: list[exp.Expr] = []
    from_ = select.args.get("from_")
    if from_ is not None:
        items.append(from_.this)
    items.extend(j.this for j in select.args.get("joins") or ())
    while items:
        item = items.pop()
        if item.alias:
            names.add(item.alias.lower())
        if isinstance(item, exp.Table):
            names.add(item.name.lower())
            items.extend(j.this for j in item.args.get("joins") or ())
        elif isinstance(item, exp.Subquery) and isinstance(item.this, exp.Table):
            items.append(item.this)
    return names


def _check_order_keys(order: exp.Order) -> None:
    for ordered in order.expressions:
        key = ordered.this
        inner = key
        while isinstance(inner, (exp.Paren, exp.Neg)):
            inner = inner.this
        constant = isinstance(inner, (exp.Literal, exp.Null, exp.Boolean, exp.HexString))
        if constant and not (key is inner and isinstance(key, exp.Literal) and not key.is_string):
            raise fail(f"ORDER BY {key.sql()} sorts by a constant", key,
                       hint="order by an output column's name or its position 1, 2, ...")
