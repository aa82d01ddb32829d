"""``adql.coverage.index_ranges``: which HEALPix ranges of a table a translated statement reads.

Cases run on SQL from the real translator, so the test breaks if its range terms change shape.
"""

from __future__ import annotations

import itertools

import pytest

from adql import translate
from adql.coverage import index_ranges
from tests.adql.tables import metadata

TABLES = {"des_dr1.main": "skygate_hpx", "des_dr1.main_sample": "skygate_hpx"}
CONE = "1 = CONTAINS(POINT('ICRS', {p}ra, {p}dec), CIRCLE('ICRS', 10, -30, 0.5))"


def ranges(adql: str) -> dict[str, list[tuple[int, int]] | None]:
    return index_ranges(translate(adql, metadata(), "duckdb").sql, "duckdb", TABLES)


def cone_ranges() -> list[tuple[int, int]]:
    found = ranges(f"SELECT ra FROM des_dr1.main WHERE {CONE.format(p='')}")["des_dr1.main"]
    assert found
    return found


def test_a_cone_gives_its_ranges() -> None:
    found = cone_ranges()
    assert 1 < len(found) <= 64
    assert all(lo <= hi for lo, hi in found)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(found))


@pytest.mark.parametrize(("adql", "main", "sample"), [
    # a term under OR limits nothing
    (f"SELECT ra FROM des_dr1.main WHERE {CONE.format(p='')} OR mag_auto_g < 20", None, "absent"),
    # no WHERE at all
    ("SELECT COUNT(*) AS n FROM des_dr1.main", None, "absent"),
    # a join: each side is limited by its own terms only
    ((f"SELECT a.ra FROM des_dr1.main AS a JOIN des_dr1.main_sample AS b "
      f"ON a.coadd_object_id = b.coadd_object_id WHERE {CONE.format(p='b.')}"), None, "cone"),
    # a table read twice: limited only when both references are
    ((f"SELECT ra FROM des_dr1.main WHERE {CONE.format(p='')} AND coadd_object_id IN "
      f"(SELECT coadd_object_id FROM des_dr1.main)"), None, "absent"),
    ((f"SELECT ra FROM des_dr1.main WHERE {CONE.format(p='')} UNION ALL "
      f"SELECT ra FROM des_dr1.main WHERE {CONE.format(p='')}"), "cone", "absent"),
    # a cone inside a subquery in FROM limits the table inside it
    (f"SELECT t.ra FROM (SELECT ra FROM des_dr1.main WHERE {CONE.format(p='')}) AS t", "cone", "absent"),
])
def test_only_terms_that_drop_rows_limit_a_table(adql: str, main: str | None, sample: str | None) -> None:
    found = ranges(adql)
    expected = {"cone": cone_ranges(), None: None}
    assert found["des_dr1.main"] == expected[main]
    if sample == "absent":
        assert "des_dr1.main_sample" not in found
    else:
        assert found["des_dr1.main_sample"] == expected[sample]


def test_a_correlated_reference_reads_the_outer_table_whole() -> None:
    sql = ('SELECT "m"."ra" FROM "des_dr1"."main" AS "m" WHERE EXISTS (SELECT 1 FROM "des_dr1"."main_sample" AS "s" '
           'WHERE "m"."skygate_hpx" BETWEEN 10 AND 20)')
    found = index_ranges(sql, "duckdb", TABLES)
    assert found["des_dr1.main"] is None
    assert found["des_dr1.main_sample"] is None


def test_conjuncts_intersect() -> None:
    sql = ('SELECT "m"."ra" FROM "des_dr1"."main" AS "m" WHERE "m"."skygate_hpx" BETWEEN 10 AND 20 '
           'AND ("m"."skygate_hpx" = 15 OR "m"."skygate_hpx" BETWEEN 18 AND 30)')
    assert index_ranges(sql, "duckdb", TABLES) == {"des_dr1.main": [(15, 15), (18, 20)]}
