"""Hostile and random input: only ADQLError may come out, and quickly (hypothesis)."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import adql
from tests.adql.tables import metadata

META = metadata()

WORDS = [
    "SELECT", "TOP", "10", "DISTINCT", "*", "ra", "dec", "FROM", "des_dr1.main", "test.points", "AS", "x",
    "WHERE", "AND", "OR", "NOT", "=", "<", ">", "(", ")", ",", "'a'", "'", '"', "1", "0.5", "-", "+", "/",
    "JOIN", "ON", "USING", "GROUP", "BY", "ORDER", "HAVING", "UNION", "WITH", "CONTAINS", "POINT",
    "CIRCLE", "POLYGON", "BOX", "DISTANCE", "COUNT", "CASE", "WHEN", "THEN", "END", "IN", "EXISTS",
    "LIKE", "NULL", "IS", "CAST", "INTEGER", "OFFSET", ";", "--", "0x1F", "|", "&", "||", "\x00", "é",
]


def _check(text: str) -> None:
    start = time.perf_counter()
    for dialect in adql.DIALECTS:
        try:
            result = adql.translate(text, META, dialect, maxrec=10)
        except adql.ADQLError as err:
            assert "\x1b" not in str(err)
        else:
            assert result.sql
    assert time.perf_counter() - start < 5.0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    _check(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(WORDS), max_size=40))
def test_random_token_soup(words: list[str]) -> None:
    _check(" ".join(words))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_binary(data: bytes) -> None:
    _check(data.decode("latin-1"))


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=2000), st.sampled_from(["(", "'", '"', "((SELECT ", "NOT ", "-"]))
def test_deep_or_unterminated(n: int, piece: str) -> None:
    _check("SELECT " + piece * n + "ra FROM des_dr1.main")
