"""The same SQL over the ingested ``ci`` release gives the same rows on DuckDB and PostgreSQL.

Covers aggregates, joins with tile_info, NULLs from outer joins and CASE, 64-bit ids, float32
values, strings, ORDER BY, TAP_SCHEMA contents and the base-URL view of ObsCore. Floating-point
aggregates compare to 1e-9 relative (summation order differs); everything else compares exactly.
"""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pytest

from release.backends import Backend, DuckDBBackend, PostgresBackend

pytestmark = pytest.mark.postgres

# name -> (SQL, check the Arrow types too)
QUERIES: dict[str, tuple[str, bool]] = {
    "count_and_id_range": (
        ("SELECT count(*) AS n, min(coadd_object_id) AS lo, max(coadd_object_id) AS hi FROM des_dr1.main"), True),
    "group_by_tile": (
        ("SELECT tilename, count(*) AS n FROM des_dr1.main GROUP BY tilename ORDER BY tilename"), True),
    "join_tile_info": (
        ("SELECT t.tilename, t.crossra0, t.uramin, count(*) AS n FROM des_dr1.main AS m "
        "JOIN des_dr1.tile_info AS t ON t.tilename = m.tilename "
        "GROUP BY t.tilename, t.crossra0, t.uramin ORDER BY t.tilename"), True),
    "float32_values": (
        ("SELECT coadd_object_id, mag_auto_g, magerr_auto_g, spread_model_i, flags_g FROM des_dr1.main "
        "ORDER BY coadd_object_id LIMIT 200"), True),
    "ids_above_2_31": (
        ("SELECT coadd_object_id, hpix_16384 FROM des_dr1.main WHERE coadd_object_id > 2147483647 "
        "ORDER BY coadd_object_id DESC LIMIT 50"), True),
    "nulls_from_left_join": (
        ("SELECT m.coadd_object_id, t.feature_id, t.feature FROM des_dr1.main AS m "
        "LEFT JOIN des_dr1.demo_truth AS t ON t.coadd_object_id = m.coadd_object_id "
        "WHERE m.tilename = 'DES2359-0041' AND (t.feature_id IS NOT NULL OR m.coadd_object_id % 10 = 0) "
        "ORDER BY m.coadd_object_id, t.feature_id NULLS LAST"), True),
    "count_nulls": (
        ("SELECT count(*) AS n, count(t.feature) AS with_feature FROM des_dr1.main AS m "
        "LEFT JOIN des_dr1.demo_truth AS t ON t.coadd_object_id = m.coadd_object_id"), True),
    "case_to_null": (
        ("SELECT coadd_object_id, CASE WHEN wavg_mag_psf_g > 90 THEN NULL ELSE wavg_mag_psf_g END AS g_psf "
        "FROM des_dr1.main ORDER BY wavg_mag_psf_g DESC, coadd_object_id LIMIT 100"), True),
    "float_aggregates": (
        ("SELECT tilename, avg(CAST(mag_auto_r AS double precision)) AS mean_r, "
        "min(mag_auto_i) AS min_i, max(ra) AS max_ra FROM des_dr1.main "
        "WHERE mag_auto_r < 30 GROUP BY tilename ORDER BY tilename"), False),
    "strings": (
        ("SELECT DISTINCT lower(tilename) AS t, substring(tilename FROM 4 FOR 4) AS hhmm FROM des_dr1.main "
        "ORDER BY t"), True),
    "box_order": (
        ("SELECT coadd_object_id, ra, dec FROM des_dr1.main WHERE ra BETWEEN 323.3 AND 323.5 "
        "AND dec BETWEEN -0.9 AND -0.7 ORDER BY dec DESC, coadd_object_id"), True),
    "sample_table": (
        ("SELECT count(*) AS n, sum(CAST(coadd_object_id % 1000 AS bigint)) AS s FROM des_dr1.main_sample"), False),
    "healpix_index": (
        ("SELECT count(*) AS n FROM des_dr1.main WHERE skygate_hpx BETWEEN 1251000000 AND 1252000000"), True),
    "tap_schema_columns": (
        ('SELECT table_name, column_name, datatype, arraysize, "size", unit, ucd, indexed, principal, std, '
        "column_index FROM tap_schema.columns ORDER BY table_name, column_index"), True),
    "obscore_view": (
        ("SELECT obs_publisher_did, access_url, s_ra, s_region FROM ivoa.obscore ORDER BY obs_publisher_did"), True),
}


async def _run(backend: Backend, sql: str) -> pa.Table:
    return pa.Table.from_batches([b async for b in backend.stream(sql, timeout=60)])


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@pytest.mark.parametrize("name", sorted(QUERIES))
async def test_same_rows_on_both_backends(name: str, duckdb_backend: DuckDBBackend,
                                          postgres_backend: PostgresBackend) -> None:
    sql, check_types = QUERIES[name]
    duck = await _run(duckdb_backend, sql)
    pg = await _run(postgres_backend, sql)
    assert duck.num_rows > 0, "every query must return rows to compare"
    assert duck.column_names == pg.column_names
    if check_types:
        assert duck.schema.types == pg.schema.types
    duck_rows, pg_rows = duck.to_pylist(), pg.to_pylist()
    assert len(duck_rows) == len(pg_rows)
    for i, (d, p) in enumerate(zip(duck_rows, pg_rows, strict=True)):
        assert all(_same(d[k], p[k]) for k in d), f"row {i}: {d} != {p}"


async def test_the_queries_exercise_what_they_claim(duckdb_backend: DuckDBBackend) -> None:
    ids = await _run(duckdb_backend, QUERIES["ids_above_2_31"][0])
    assert ids.schema.field("coadd_object_id").type == pa.int64()
    assert min(ids.column("coadd_object_id").to_pylist()) > 2**31
    floats = await _run(duckdb_backend, QUERIES["float32_values"][0])
    assert floats.schema.field("mag_auto_g").type == pa.float32()
    nulls = await _run(duckdb_backend, QUERIES["nulls_from_left_join"][0])
    features = nulls.column("feature").to_pylist()
    assert None in features and any(f is not None for f in features)
    case = await _run(duckdb_backend, QUERIES["case_to_null"][0])
    assert case.column("g_psf").null_count > 0
    obscore = await _run(duckdb_backend, QUERIES["obscore_view"][0])
    assert all(url.startswith("http://127.0.0.1:8000/soda/links?ID=")
               for url in obscore.column("access_url").to_pylist())


# ADQL through the real translator and the query engine: the same rows and Arrow types on both.
ADQL = {
    "top_sample": "SELECT TOP 5 ra, dec, mag_auto_g, tilename FROM des_dr1.main_sample ORDER BY coadd_object_id",
    "cone_count": "SELECT COUNT(*) AS n FROM des_dr1.main "
                  "WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 323.36, -0.82, 0.05))",
    "healpix_map": "SELECT hpix_1024, COUNT(mag_auto_i) AS n FROM des_dr1.main WHERE mag_auto_i < 21 "
                   "GROUP BY hpix_1024 ORDER BY hpix_1024",
    "join": "SELECT t.tilename, t.crossra0, COUNT(*) AS n FROM des_dr1.main AS m "
            "JOIN des_dr1.tile_info AS t ON m.tilename = t.tilename "
            "GROUP BY t.tilename, t.crossra0 ORDER BY t.tilename",
    "nearest": "SELECT TOP 3 coadd_object_id, DISTANCE(POINT('ICRS', ra, dec), POINT('ICRS', 323.36, -0.82)) AS d "
               "FROM des_dr1.main ORDER BY d",
    "tap_schema": 'SELECT column_name, datatype, "size" FROM TAP_SCHEMA.columns '
                  "WHERE table_name = 'des_dr1.tile_info' ORDER BY column_index",
    "obscore": "SELECT obs_publisher_did, access_url, s_region FROM ivoa.obscore ORDER BY obs_publisher_did",
}


@pytest.mark.parametrize("name", sorted(ADQL))
async def test_adql_gives_the_same_result_on_both_backends(
        name: str, ci_engine: Any, ci_metadata: dict[str, Any], postgres_backend: PostgresBackend) -> None:
    from release.engine import QueryEngine

    pg_engine = QueryEngine(postgres_backend, ci_metadata)
    results = []
    for engine in (ci_engine, pg_engine):
        result = await engine.execute(ADQL[name], maxrec=1000, timeout=60)
        results.append(pa.Table.from_batches([b async for b in result.batches]))
    duck, pg = results
    assert duck.num_rows > 0
    assert duck.schema == pg.schema
    for d, p in zip(duck.to_pylist(), pg.to_pylist(), strict=True):
        assert all(_same(d[k], p[k]) for k in d), f"{d} != {p}"
