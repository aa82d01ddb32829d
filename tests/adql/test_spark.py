"""``adql.spark``: the DuckDB translation written as Spark SQL, and table names pointed at views.

No Spark here (tests/release/test_spark.py runs the SQL on a Spark Connect server); sqlglot's
Spark reader checks that the output parses as Spark SQL.
"""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from adql.coverage import index_ranges
from adql.errors import ADQLError
from adql.spark import rename_tables, translate_spark
from tests.adql.tables import metadata


def test_a_cone_in_spark_sql_keeps_its_ranges_and_exact_test() -> None:
    adql = "SELECT ra, dec FROM des_dr1.main WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 10, -30, 0.5))"
    spark = translate_spark(adql, metadata())
    assert "`des_dr1`.`main`" in spark.sql and '"' not in spark.sql
    assert [c.name for c in spark.columns] == ["ra", "dec"]
    found = index_ranges(spark.sql, "spark", {"des_dr1.main": "skygate_hpx"})["des_dr1.main"]
    assert found
    assert "POWER(SIN(RADIANS(" in spark.sql  # the exact haversine test is still there


def test_integer_division_and_null_ordering_keep_adql_meaning() -> None:
    spark = translate_spark("SELECT TOP 5 flags_g / 2 AS h FROM des_dr1.main ORDER BY mag_auto_g", metadata())
    tree = sqlglot.parse_one(spark.sql, read="spark")
    assert tree.find(exp.IntDiv) is not None  # ADQL int / int truncates, as DuckDB's // does
    assert "NULLS LAST" in spark.sql  # Spark sorts NULLs first by default; ADQL backends here put them last


def test_only_spark_is_written() -> None:
    with pytest.raises(ValueError, match="Spark SQL"):
        translate_spark("SELECT ra FROM des_dr1.main", metadata(), "duckdb")


def test_rename_tables_keeps_aliases() -> None:
    sql = "SELECT `m`.`ra`, schema_name FROM `des_dr1`.`main` AS `m` JOIN tap_schema.schemas ON 1 = 1 " \
          "JOIN tap_upload_x AS u ON u.id = m.id"
    out = rename_tables(sql, {"des_dr1.main": "v_main_1", "tap_schema.schemas": "v_schemas",
                              "tap_upload_x": "tap_upload_x_7"})
    tree = sqlglot.parse_one(out, read="spark")
    tables = {(t.name, t.alias) for t in tree.find_all(exp.Table)}
    assert tables == {("v_main_1", "m"), ("v_schemas", "schemas"), ("tap_upload_x_7", "u")}


def test_rename_tables_keeps_the_joins_of_parenthesised_joins() -> None:
    # a parenthesised join holds its joins as arguments of its first table; replacing that table
    # once dropped them, and Spark counted 800 rows where DuckDB counted 12 800
    adql = ("SELECT COUNT(*) AS n FROM (test.points AS a JOIN test.regions AS b) "
            "FULL OUTER JOIN (des_dr1.tile_info AS c JOIN test.regions AS d)")
    out = rename_tables(translate_spark(adql, metadata()).sql,
                        {"test.points": "v_points", "test.regions": "v_regions", "des_dr1.tile_info": "v_tiles"})
    tree = sqlglot.parse_one(out, read="spark")
    assert sorted((t.name, t.alias) for t in tree.find_all(exp.Table)) == \
        [("v_points", "a"), ("v_regions", "b"), ("v_regions", "d"), ("v_tiles", "c")]


def test_order_by_after_distinct_names_the_selected_outputs() -> None:
    # Spark resolves ORDER BY after DISTINCT against the select list only
    spark = translate_spark("SELECT DISTINCT tilename, flags_g FROM des_dr1.main ORDER BY tilename, 2 DESC",
                            metadata())
    order = sqlglot.parse_one(spark.sql, read="spark").args["order"]
    assert [o.this.sql("spark") for o in order.expressions] == ["`tilename`", "`flags_g`"]


def test_geometry_on_polygon_columns_is_refused_saying_so() -> None:
    with pytest.raises(ADQLError, match=r"geometry on polygon columns .* not available on the Spark backend"):
        translate_spark("SELECT id, AREA(footprint) AS a FROM test.regions", metadata())
