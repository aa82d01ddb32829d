"""RegTAP 1.1's four ADQL functions give the values §8 defines, the same on DuckDB and PostgreSQL."""

from __future__ import annotations

import pytest

import adql
from adql.features import features
from dali.values import TableMeta
from tests.adql.conftest import Runner

# (expression, expected value): each is evaluated on one row of des_dr1.main_sample.
CASES = {
    "hasword_plain": ("ivo_hasword('Gamma-ray bursts seen by Fermi', 'gamma')", 1),
    "hasword_case": ("ivo_hasword('The DES DR1 catalogue', 'dr')", 1),
    "hasword_digit_bounds": ("ivo_hasword('DR1 release', 'dr1')", 1),
    "hasword_inside_word": ("ivo_hasword('quasars', 'quasar')", 0),
    "hasword_prefix_word": ("ivo_hasword('Skygate TAP', 'sky')", 0),
    "hasword_at_end": ("ivo_hasword('cone search', 'SEARCH')", 1),
    "hasword_phrase": ("ivo_hasword('a gamma-ray burst', 'gamma-ray')", 1),
    "hasword_regex_chars": ("ivo_hasword('costs (in $) per g.s', 'g.s')", 1),
    "hasword_dot_is_literal": ("ivo_hasword('gas', 'g.s')", 0),
    "hasword_null": ("ivo_hasword(NULL, 'x')", 0),
    "hashlist_has": ("ivo_hashlist_has('optical#infrared', 'Infrared')", 1),
    "hashlist_first": ("ivo_hashlist_has('optical#infrared', 'optical')", 1),
    "hashlist_partial": ("ivo_hashlist_has('optical#infrared', 'infra')", 0),
    "hashlist_single": ("ivo_hashlist_has('radio', 'radio')", 1),
    "hashlist_null": ("ivo_hashlist_has(NULL, 'radio')", 0),
    "nocasematch_pattern": ("ivo_nocasematch('ivo://ivoa.net/std/ObsCore#core-1.1', 'ivo://ivoa.net/std/obscore%')", 1),
    "nocasematch_underscore": ("ivo_nocasematch('ABC', 'a_c')", 1),
    "nocasematch_no": ("ivo_nocasematch('abc', 'b%')", 0),
    "nocasematch_null": ("ivo_nocasematch(NULL, '%')", 0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_predicates_on_duckdb(name: str, adql_metadata: dict[str, TableMeta], adql_duckdb: Runner) -> None:
    expr, expected = CASES[name]
    sql = adql.translate(f"SELECT TOP 1 {expr} AS v FROM des_dr1.main_sample", adql_metadata, "duckdb").sql
    assert adql_duckdb(sql) == [(expected,)]


@pytest.mark.postgres
@pytest.mark.parametrize("name", sorted(CASES))
def test_predicates_on_postgres(name: str, adql_metadata: dict[str, TableMeta], adql_pg: Runner) -> None:
    expr, expected = CASES[name]
    sql = adql.translate(f"SELECT TOP 1 {expr} AS v FROM des_dr1.main_sample", adql_metadata, "postgres").sql
    assert adql_pg(sql) == [(expected,)]


AGGREGATES = {
    # every tile's names joined; then a group of NULLs only, which gives ''
    "joined": ("SELECT tilename, ivo_string_agg(CAST(coadd_object_id AS VARCHAR), '#') AS v "
               "FROM des_dr1.main_sample GROUP BY tilename ORDER BY tilename"),
    "empty": ("SELECT ivo_string_agg(NULL, '#') AS v FROM des_dr1.main_sample WHERE coadd_object_id < 0"),
}


def _agg(runner: Runner, dialect: str, metadata: dict[str, TableMeta], name: str) -> list[tuple[object, ...]]:
    return runner(adql.translate(AGGREGATES[name], metadata, dialect).sql)


@pytest.mark.postgres
def test_string_agg_agrees(adql_metadata: dict[str, TableMeta], adql_duckdb: Runner, adql_pg: Runner) -> None:
    duck = _agg(adql_duckdb, "duckdb", adql_metadata, "joined")
    pg = _agg(adql_pg, "postgres", adql_metadata, "joined")
    assert duck
    for (tile_d, joined_d), (tile_p, joined_p) in zip(duck, pg, strict=True):
        assert tile_d == tile_p
        assert sorted(str(joined_d).split("#")) == sorted(str(joined_p).split("#"))
    ids = adql_duckdb(adql.translate("SELECT tilename, coadd_object_id FROM des_dr1.main_sample",
                                     adql_metadata, "duckdb").sql)
    first_tile = duck[0][0]
    assert sorted(str(duck[0][1]).split("#")) == sorted(str(i) for t, i in ids if t == first_tile)
    assert _agg(adql_duckdb, "duckdb", adql_metadata, "empty") == [("",)]
    assert _agg(adql_pg, "postgres", adql_metadata, "empty") == [("",)]


def test_string_agg_is_an_aggregate(adql_metadata: dict[str, TableMeta]) -> None:
    with pytest.raises(adql.ADQLError, match="GROUP BY"):
        adql.translate("SELECT tilename, ivo_string_agg(tilename, '#') AS v FROM des_dr1.main_sample",
                       adql_metadata, "duckdb")
    with pytest.raises(adql.ADQLError, match="not allowed in WHERE"):
        adql.translate("SELECT tilename FROM des_dr1.main_sample WHERE ivo_string_agg(tilename, '#') = ''",
                       adql_metadata, "duckdb")


def test_text_arguments_only(adql_metadata: dict[str, TableMeta]) -> None:
    with pytest.raises(adql.ADQLError, match="text arguments"):
        adql.translate("SELECT ivo_hasword(ra, 'x') AS v FROM des_dr1.main_sample", adql_metadata, "duckdb")


def test_declared_in_tapregext() -> None:
    forms = {f.form.split("(")[0] for f in features() if f.type.endswith("#features-udf")}
    assert {"ivo_nocasematch", "ivo_hasword", "ivo_hashlist_has", "ivo_string_agg", "skygate_in_footprint"} <= forms
