"""Random valid ADQL expressions give the same rows on DuckDB and PostgreSQL (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import adql
from dali.values import TableMeta
from tests.adql.conftest import Runner, normalise

NUMBERS = ["ra", "dec", "mag_auto_g", "flags_g", "imaflags_iso_g", "extended_class_coadd", "2", "3", "0.5", "-1.25",
           "0x0F"]


def _expr(depth: int) -> st.SearchStrategy[str]:
    leaf = st.sampled_from(NUMBERS)
    if depth == 0:
        return leaf
    sub = _expr(depth - 1)
    return st.one_of(
        leaf,
        st.tuples(sub, st.sampled_from(["+", "-", "*", "/"]), sub).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(st.sampled_from(["ABS", "FLOOR", "CEILING", "ROUND", "TRUNCATE"]), sub).map(
            lambda t: f"{t[0]}({t[1]})"),
        st.tuples(st.sampled_from(["ROUND", "TRUNCATE"]), sub, st.integers(-2, 3)).map(
            lambda t: f"{t[0]}({t[1]}, {t[2]})"),
        st.tuples(sub, sub).map(lambda t: f"MOD({t[0]}, {t[1]})"),
        st.tuples(_pred(depth - 1), sub, sub).map(lambda t: f"CASE WHEN {t[0]} THEN {t[1]} ELSE {t[2]} END"),
        st.tuples(sub, sub).map(lambda t: f"COALESCE(NULLIF({t[0]}, {t[1]}), {t[1]})"),
    )


def _pred(depth: int) -> st.SearchStrategy[str]:
    sub = st.sampled_from(NUMBERS) if depth <= 0 else _expr(depth - 1)
    simple = st.one_of(
        st.tuples(sub, st.sampled_from(["=", "<>", "<", "<=", ">", ">="]), sub).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
        st.tuples(sub, sub, sub).map(lambda t: f"{t[0]} BETWEEN {t[1]} AND {t[2]}"),
        st.sampled_from(["tilename LIKE 'DES2%'", "tilename ILIKE 'des%'", "flags_g IN (0, 2)",
                         "1 = CONTAINS(POINT(ra, dec), CIRCLE(323.5, -0.8, 0.3))", "mag_auto_g IS NOT NULL"]),
    )
    if depth <= 0:
        return simple
    return st.one_of(simple, st.tuples(simple, st.sampled_from(["AND", "OR"]), simple).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})"), simple.map(lambda p: f"NOT ({p})"))


@pytest.mark.postgres
@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(expr=_expr(2), pred=_pred(1))
def test_random_expressions_agree(expr: str, pred: str, adql_metadata: dict[str, TableMeta], adql_duckdb: Runner,
                                  adql_pg: Runner) -> None:
    text = f"SELECT coadd_object_id, {expr} AS v FROM des_dr1.main_sample WHERE {pred}"
    duck_sql = adql.translate(text, adql_metadata, "duckdb").sql
    pg_sql = adql.translate(text, adql_metadata, "postgres").sql
    try:
        duck = adql_duckdb(duck_sql)
    except Exception as err:  # noqa: BLE001  (e.g. overflow: then PostgreSQL must fail too)
        with pytest.raises(Exception):  # noqa: B017
            adql_pg(pg_sql)
        assert "rror" in str(err)
        return
    assert normalise(duck) == normalise(adql_pg(pg_sql)), text
