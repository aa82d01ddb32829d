"""Query size limits (adql/limits.py): each limit refuses the first query over it, by name.

The queries are generated (too long for a case table); each is one over the limit, and the same
shape at the limit translates.
"""

from __future__ import annotations

import pytest

import adql
from adql.limits import (
    MAX_EXPRESSION_NODES,
    MAX_JOINED_TABLES,
    MAX_OUTPUT_COLUMNS,
    MAX_QUERY_DEPTH,
    MAX_TABLES,
)
from dali.values import TableMeta


def _joined(n: int) -> str:
    return "SELECT TOP 1 t1.id FROM " + ", ".join(f"test.points AS t{i}" for i in range(1, n + 1))


def _union_of_tables(n: int) -> str:
    return " UNION ALL ".join(f"SELECT id FROM test.points AS t{i}" for i in range(n))


def _nested(depth: int) -> str:
    text = "SELECT id FROM test.points"
    for i in range(depth - 1):
        text = f"SELECT id FROM ({text}) AS q{i}"
    return text


def _stars(n: int) -> str:
    return "SELECT TOP 3 " + ",".join(["*"] * n) + " FROM test.points"  # 6 published columns each


def _terms(n: int) -> str:
    return "SELECT id FROM test.points WHERE id IN (" + ",".join(["1"] * n) + ")"


@pytest.mark.parametrize(("at_limit", "over_limit", "words"), [
    (_joined(MAX_JOINED_TABLES), _joined(MAX_JOINED_TABLES + 1), f"at most {MAX_JOINED_TABLES} tables"),
    (_union_of_tables(MAX_TABLES), _union_of_tables(MAX_TABLES + 1), f"more than {MAX_TABLES} tables"),
    (_nested(MAX_QUERY_DEPTH), _nested(MAX_QUERY_DEPTH + 1), f"at most {MAX_QUERY_DEPTH} deep"),
    (_stars(MAX_OUTPUT_COLUMNS // 6), _stars(MAX_OUTPUT_COLUMNS // 6 + 1), f"more than {MAX_OUTPUT_COLUMNS} columns"),
    (_terms(MAX_EXPRESSION_NODES // 2 - 20), _terms(MAX_EXPRESSION_NODES), f"more than {MAX_EXPRESSION_NODES} terms"),
], ids=["joined tables", "tables", "depth", "output columns", "terms"])
def test_each_limit(at_limit: str, over_limit: str, words: str, adql_metadata: dict[str, TableMeta]) -> None:
    assert adql.translate(at_limit, adql_metadata, "duckdb").sql
    with pytest.raises(adql.ADQLError, match=words) as info:
        adql.translate(over_limit, adql_metadata, "duckdb")
    assert info.value.param == "QUERY"


def test_a_wide_select_list_of_names(adql_metadata: dict[str, TableMeta]) -> None:
    text = "SELECT " + ", ".join(["ra"] * (MAX_OUTPUT_COLUMNS + 1)) + " FROM test.points"
    with pytest.raises(adql.ADQLError, match=f"more than {MAX_OUTPUT_COLUMNS} columns") as info:
        adql.translate(text, adql_metadata, "duckdb")
    assert info.value.line == 1 and info.value.column is not None
