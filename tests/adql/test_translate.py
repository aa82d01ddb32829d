"""adql.translate: the output columns' metadata, MAXREC, uploads, and adql.features()."""

from __future__ import annotations

import pytest

import adql
from dali.values import Column, TableMeta


def _cols(text: str, meta: dict[str, TableMeta], **kwargs: object) -> list[Column]:
    return list(adql.translate(text, meta, "postgres", **kwargs).columns)  # type: ignore[arg-type]


def test_metadata_carried_through_alias_subquery_and_join(adql_metadata: dict[str, TableMeta]) -> None:
    cols = _cols(
        "SELECT q.g AS gmag, t.ra_cent, q.tilename FROM (SELECT mag_auto_g AS g, tilename FROM des_dr1.main) AS q "
        "JOIN des_dr1.tile_info AS t USING (tilename)", adql_metadata)
    assert [c.name for c in cols] == ["gmag", "ra_cent", "tilename"]
    assert (cols[0].datatype, cols[0].unit, cols[0].ucd) == ("float", "mag", "phot.mag")
    assert (cols[1].datatype, cols[1].unit) == ("double", "deg")
    assert (cols[2].datatype, cols[2].arraysize) == ("char", "12")


def test_metadata_through_with_and_union(adql_metadata: dict[str, TableMeta]) -> None:
    cols = _cols("WITH b AS (SELECT ra AS x FROM des_dr1.main) SELECT x FROM b UNION SELECT dec FROM des_dr1.main",
                 adql_metadata)
    assert (cols[0].name, cols[0].unit, cols[0].ucd) == ("x", "deg", "pos.eq.ra;meta.main")


@pytest.mark.parametrize(
    ("expr", "datatype", "arraysize", "xtype", "unit"),
    [
        ("COUNT(*)", "long", None, None, None),
        ("AVG(mag_auto_g)", "double", None, None, "mag"),
        ("MAX(mag_auto_g)", "float", None, None, "mag"),
        ("SUM(flags_g)", "long", None, None, None),
        ("mag_auto_g - mag_auto_r", "double", None, None, None),
        ("flags_g + 1", "long", None, None, None),
        ("tilename || 'x'", "char", "*", None, None),
        ("POINT(ra, dec)", "double", "2", "point", "deg"),
        ("CIRCLE(ra, dec, 1)", "double", "3", "circle", "deg"),
        ("POLYGON(1, 2, 3, 2, 2, 4)", "double", "*", "polygon", "deg"),
        ("DISTANCE(ra, dec, 0, 0)", "double", None, None, "deg"),
        ("AREA(CIRCLE(0, 0, 1))", "double", None, None, "deg**2"),
        ("CAST(ra AS INTEGER)", "int", None, None, None),
        ("CAST(tilename AS VARCHAR(4))", "char", "4*", None, None),
        ("CAST('2020-01-01' AS TIMESTAMP)", "char", "*", "timestamp", None),
        ("ivo_healpix_index(6, ra, dec)", "long", None, None, None),
        ("IN_UNIT(ra, 'arcmin')", "double", None, None, "arcmin"),
    ],
)
def test_expression_types(expr: str, datatype: str, arraysize: str | None, xtype: str | None, unit: str | None,
                          adql_metadata: dict[str, TableMeta]) -> None:
    col = _cols(f"SELECT {expr} FROM des_dr1.main", adql_metadata)[0]
    assert (col.datatype, col.arraysize, col.xtype, col.unit) == (datatype, arraysize, xtype, unit)


def test_generated_names_are_unique_identifiers(adql_metadata: dict[str, TableMeta]) -> None:
    cols = _cols("SELECT a.ra, b.ra, COUNT(*), COUNT(*), 1 + 1 FROM des_dr1.main AS a, des_dr1.main_sample AS b "
                 "GROUP BY a.ra, b.ra", adql_metadata)
    assert [c.name for c in cols] == ["ra", "ra_2", "count", "count_2", "expr"]


def test_sql_result_names_match_columns(adql_metadata: dict[str, TableMeta], adql_duckdb: object) -> None:
    result = adql.translate("SELECT TOP 2 ra AS \"RA\", dec, POINT(ra, dec) FROM des_dr1.main", adql_metadata, "duckdb")
    con = adql_duckdb.connection  # type: ignore[attr-defined]
    names = [d[0] for d in con.execute(result.sql).description]
    assert names == [c.name for c in result.columns] == ["RA", "dec", "point"]


@pytest.mark.parametrize(("text", "maxrec", "limit"), [
    ("SELECT ra FROM des_dr1.main", 100, "LIMIT 101"),
    ("SELECT TOP 10 ra FROM des_dr1.main", 100, "LIMIT 10"),
    ("SELECT TOP 1000 ra FROM des_dr1.main", 100, "LIMIT 101"),
    ("SELECT ra FROM des_dr1.main", 0, "LIMIT 1"),
    ("SELECT ra FROM des_dr1.main UNION SELECT dec FROM des_dr1.main", 5, "LIMIT 6"),
    ("SELECT ra FROM des_dr1.main", None, None),
])
def test_maxrec(text: str, maxrec: int | None, limit: str | None, adql_metadata: dict[str, TableMeta]) -> None:
    sql = adql.translate(text, adql_metadata, "duckdb", maxrec=maxrec).sql
    if limit is None:
        assert "LIMIT" not in sql
    else:
        assert sql.endswith(limit)


def test_uploads_become_unqualified_tables(adql_metadata: dict[str, TableMeta]) -> None:
    upload = TableMeta("tap_upload", "mine", (Column("id", "long"), Column("Mixed Name", "double")))
    result = adql.translate('SELECT id, "Mixed Name" FROM TAP_UPLOAD.Mine', adql_metadata, "postgres",
                            uploads={"mine": upload})
    assert 'FROM "tap_upload_mine" AS "mine"' in result.sql
    assert [c.name for c in result.columns] == ["id", "Mixed Name"]
    assert result.tables == ("tap_upload.mine",)


def test_tables_with_a_source_are_read_from_their_registered_relation(adql_metadata: dict[str, TableMeta]) -> None:
    mine = TableMeta("user_alice", "targets", (Column("id", "long"),))
    metadata = {**adql_metadata, mine.qualified: mine}
    result = adql.translate("SELECT t.id, user_alice.targets.id FROM user_alice.targets AS t, user_alice.targets",
                            metadata, "duckdb", sources={"user_alice.targets": "skygate_user_t"})
    assert result.sql.count('FROM "skygate_user_t" AS') == 1 and result.sql.count('"skygate_user_t" AS') == 2
    assert '"user_alice"' not in result.sql
    assert result.tables == ("user_alice.targets",)
    plain = adql.translate("SELECT id FROM user_alice.targets", metadata, "postgres")
    assert 'FROM "user_alice"."targets"' in plain.sql


def test_unknown_dialect(adql_metadata: dict[str, TableMeta]) -> None:
    with pytest.raises(ValueError, match="dialect"):
        adql.translate("SELECT ra FROM des_dr1.main", adql_metadata, "oracle")


def test_features_declare_what_works() -> None:
    features = adql.features()
    forms = {f.form for f in features}
    assert {"POINT", "CIRCLE", "POLYGON", "BOX", "CONTAINS", "INTERSECTS", "DISTANCE", "AREA", "CENTROID",
            "COORD1", "COORD2", "COORDSYS", "LOWER", "ILIKE", "OFFSET", "CAST", "UNION", "WITH", "COALESCE"} <= forms
    assert "REGION" not in forms and "IN_UNIT" in forms
    types = {f.type.rsplit("#", 1)[1] for f in features}
    assert types <= {"features-adqlgeo", "features-udf", "features-adql-string", "features-adql-offset",
                     "features-adql-type", "features-adql-sets", "features-adql-common-table",
                     "features-adql-conditional", "features-adql-unit"}
    udf = [f for f in features if f.type.endswith("features-udf")]
    assert udf and udf[0].form.startswith("ivo_healpix_index(") and "->" in udf[0].form
    assert adql.ADQL_TO_VOTABLE["BIGINT"] == ("long", None, None)
    assert adql.ADQL_TO_VOTABLE["POINT"] == ("double", "2", "point")


REGIONS = {"ivoa.obscore": TableMeta("ivoa", "obscore", (
    Column("obs_id", "char", "*"),
    Column("s_region", "char", "*", xtype="adql:REGION", ucd="pos.outline;obs.field"),
))}


def test_published_adql_region_column_is_polygon_geometry_and_text_output() -> None:
    result = adql.translate("SELECT s_region FROM ivoa.obscore "
                            "WHERE 1 = INTERSECTS(s_region, CIRCLE('ICRS', 10, 0, 1))", REGIONS, "duckdb")
    [region] = result.columns
    assert (region.datatype, region.arraysize, region.xtype, region.ucd) == ("char", "*", "adql:REGION",
                                                                            "pos.outline;obs.field")


def test_uploaded_adql_region_column_is_text() -> None:
    upload = TableMeta("tap_upload", "fields", (Column("outline", "char", "*", xtype="adql:REGION"),))
    [col] = _cols("SELECT outline FROM TAP_UPLOAD.fields WHERE outline LIKE 'Polygon%'", REGIONS,
                  uploads={"fields": upload})
    assert (col.datatype, col.xtype) == ("char", None)
    with pytest.raises(adql.ADQLError):
        adql.translate("SELECT AREA(outline) FROM TAP_UPLOAD.fields", REGIONS, "duckdb", uploads={"fields": upload})
