"""Row filters as SQL: every value is one literal of the dialect, whatever it holds."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from adql.filters import any_of, column, compare, contains_text, lower, never, select_sql

HOSTILE = ["x' OR '1'='1", "%", "_", "\\", "\\'", "'; DROP TABLE t; --", "Ünïcödé ☃ \"q\"", "a''b", "$1", "?"]


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "spark"])
@pytest.mark.parametrize("value", HOSTILE)
def test_text_values_stay_one_literal(dialect: str, value: str) -> None:
    sql = select_sql("ivoa.obscore", ["obs_id"], [any_of([compare(column("obs_collection"), "=", value),
                                                          compare(lower(column("obs_id")), "=", value)]),
                                                  contains_text(column("pol_states"), value)],
                     order_by=["obs_id"], dialect=dialect)
    tree = sqlglot.parse_one(sql, read=dialect)
    literals = [node.this for node in tree.find_all(exp.Literal) if node.is_string]
    assert literals == [value, value, value]
    assert [t.name for t in tree.find_all(exp.Table)] == ["obscore"]
    assert not list(tree.find_all(exp.Like)) and not list(tree.find_all(exp.Drop))


def test_numbers_and_never() -> None:
    sql = select_sql("t", ["a"], [compare(column("a"), ">=", -1.5), never()], order_by=[], dialect="duckdb")
    assert sql == "SELECT a FROM t WHERE a >= (-1.5) AND FALSE"
    with pytest.raises(ValueError, match="finite"):
        compare(column("a"), "<=", float("inf"))
