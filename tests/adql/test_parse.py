"""adql.parse: syntax only, errors in our words with a line and a column."""

from __future__ import annotations

import pytest

import adql
from adql.dialect import MAX_NESTING, MAX_QUERY_LENGTH


@pytest.mark.parametrize(
    ("text", "message", "line", "column"),
    [
        ("SELECT ra FROM t WHERE (ra > 1", "parenthesis is not closed", 1, None),
        ("SELECT ra\nFROM t\nWHERE name = 'abc", "unterminated", 3, 14),
        ('SELECT "ra FROM t', "unterminated", 1, 8),
        ("SELECT FROM t", None, 1, None),
        ("SELECT ra FROM t WHERE ra", "needs a condition", 1, 24),
        ("SELECT TOP -1 ra FROM t", None, None, None),
        ("SELECT ra FROM t OFFSET 1.5", "whole number", None, None),
        ("SELECT _x FROM t", "not a valid identifier", 1, 8),
        ("SELECT ra FROM t\n  WHERE distance > 1", "reserved word", 2, 9),
        ("SELECT foo(ra) FROM t", "unknown function foo()", 1, 8),
        ("SELECT ra FROM t; DROP TABLE t", "only one statement", None, None),
        ("INSERT INTO t VALUES (1)", "only SELECT", None, None),
        ("UPDATE t SET ra = 1", "only SELECT", None, None),
        ("CREATE TABLE x (a INT)", "only SELECT", None, None),
        ("SELECT ra FROM t FETCH FIRST 5 ROWS ONLY", "SELECT TOP n", None, None),
        ("SELECT ra FROM t WHERE ROWNUM < 5", "SELECT TOP n", 1, 24),
        ("SELECT ra FROM dr1_main sample(0.001)", "des_dr1.main_sample", 1, 25),
        ("SELECT ra FROM t /* block */", None, None, None),
        ("SELECT ra::int FROM t", None, None, None),
        ("SELECT ra FROM t WHERE x = $1", None, None, None),
        ("", "empty", None, None),
        ("   -- only a comment", "empty", None, None),
        ("SELECT DISTANCE(1, 2, 3) FROM t", None, None, None),
        ("SELECT ra FROM t INNER JOIN u", "needs ON", 1, 29),
    ],
)
def test_syntax_errors(text: str, message: str | None, line: int | None, column: int | None) -> None:
    with pytest.raises(adql.ADQLError) as info:
        adql.parse(text)
    err = info.value
    if message:
        assert message in str(err)
    if line is not None:
        assert err.line == line
    if column is not None:
        assert err.column == column
    assert "\x1b" not in str(err) and "Traceback" not in str(err)
    assert isinstance(err, adql.ADQLError) and err.param == "QUERY"


def test_error_is_a_usage_error() -> None:
    from dali.errors import UsageError

    assert issubclass(adql.ADQLError, UsageError)


@pytest.mark.parametrize(
    "text",
    [
        "select x from y where box('', 1, 2, 3, 4) = x",
        "SELECT TOP 10 * FROM t ORDER BY 1 DESC",
        "SELECT a.b.c FROM a.b",
        "select * from TAP_UPLOAD.mine as m",
        'SELECT "Odd Name" FROM "Schema"."Table"',
        "SELECT 0xFF & flags, ~flags, a | b, a ^ b FROM t",
        "SELECT ra FROM t -- a comment without newline",
        "SELECT ivo_healpix_index(10, ra, dec) FROM t",
        "SELECT ra FROM t WHERE name ILIKE 'm%' AND x IS NOT NULL",
    ],
)
def test_valid(text: str) -> None:
    assert adql.parse(text) is not None


def test_udfs_declared_by_the_caller() -> None:
    with pytest.raises(adql.ADQLError):
        adql.parse("SELECT my_func(ra) FROM t")
    assert adql.parse("SELECT my_func(ra) FROM t", udfs=["MY_FUNC"]) is not None


def test_hostile_sizes() -> None:
    with pytest.raises(adql.ADQLError, match="longer than"):
        adql.parse("SELECT " + "a, " * MAX_QUERY_LENGTH + "b FROM t")
    with pytest.raises(adql.ADQLError, match="nests parentheses"):
        adql.parse("SELECT " + "(" * (MAX_NESTING + 1) + "1" + ")" * (MAX_NESTING + 1) + " FROM t")
    with pytest.raises(adql.ADQLError, match="control character"):
        adql.parse("SELECT ra\x00 FROM t")


def test_long_flat_expression_translates_or_fails_cleanly() -> None:
    from dali.values import Column, TableMeta

    meta = {"s.t": TableMeta("s", "t", (Column("a", "double"),))}
    text = "SELECT " + " + ".join(["a"] * 3000) + " FROM s.t"
    try:
        result = adql.translate(text, meta, "duckdb")
    except adql.ADQLError as err:
        assert "nested too deeply" in str(err)
    else:
        assert result.sql.startswith("SELECT")


def test_large_inputs_stay_fast() -> None:
    import math
    import time

    from tests.adql.tables import metadata

    meta = metadata()
    star = ",".join(f"{10 + (5 if i % 2 else 3) * math.cos(i / 200 * 2 * math.pi)},"
                    f"{(5 if i % 2 else 3) * math.sin(i / 200 * 2 * math.pi)}" for i in range(200))
    texts = [
        "SELECT " + "ra, " * 999 + "dec FROM des_dr1.main",  # MAX_OUTPUT_COLUMNS (adql/limits.py)
        f"SELECT ra FROM des_dr1.main WHERE 1 = CONTAINS(POINT(ra, dec), POLYGON({star}))",
        "SELECT ra FROM des_dr1.main WHERE ra IN (" + ",".join(["1"] * 5000) + ")",
    ]
    for text in texts:
        start = time.perf_counter()
        result = adql.translate(text, meta, "duckdb")
        assert result.sql and time.perf_counter() - start < 10
    with pytest.raises(adql.ADQLError, match="at most 200 vertices"):
        adql.translate(f"SELECT ra FROM des_dr1.main WHERE 1 = CONTAINS(POINT(ra, dec), POLYGON({star},{star}))",
                       meta, "duckdb")
