"""AREA() and CENTROID() of polygon columns (adql/polygon_measures.py) against NumPy.

The reference integrates over each polygon independently of the SQL: every fan triangle is cut
into 64 x 64 small spherical triangles whose areas are summed and whose (normalised) vertex means,
weighted by area, give the surface centroid. The translated SQL runs on DuckDB, on PostgreSQL
(``postgres`` marker) and on the ``ci`` release's ivoa.obscore s_region (the stored vertex lists).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import adql
from dali import sphere
from dali.values import TableMeta
from tests.adql.conftest import Runner
from tests.adql.tables import REGIONS

QUERY = ("SELECT id, AREA(footprint) AS a, COORD1(CENTROID(footprint)) AS lon, COORD2(CENTROID(footprint)) AS lat "
         "FROM test.regions ORDER BY id")


def _unit(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lon, lat = np.radians(lon), np.radians(lat)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], -1)


def reference(flat: list[float], level: int = 64) -> tuple[float, float, float]:
    """Area (deg^2) and surface centroid (lon, lat) by fine subdivision."""
    vertices = _unit(np.asarray(flat[0::2]), np.asarray(flat[1::2]))
    area, acc = 0.0, np.zeros(3)
    i, j = np.meshgrid(np.arange(level), np.arange(level), indexing="ij")
    for k in range(1, len(vertices) - 1):
        a, b, c = vertices[0], vertices[k], vertices[k + 1]

        def point(ii: np.ndarray, jj: np.ndarray, a: Any = a, b: Any = b, c: Any = c) -> np.ndarray:
            w = (level - ii - jj)[..., None] * a + ii[..., None] * b + jj[..., None] * c
            return w / np.linalg.norm(w, axis=-1, keepdims=True)

        for corners in (((0, 0), (1, 0), (0, 1)), ((1, 0), (1, 1), (0, 1))):
            keep = i + j + max(ci + cj for ci, cj in corners) <= level
            p = [point(i + ci, j + cj)[keep] for ci, cj in corners]
            num = np.einsum("ij,ij->i", p[0], np.cross(p[1], p[2]))
            den = 1 + sum(np.einsum("ij,ij->i", p[m], p[(m + 1) % 3]) for m in range(3))
            e = 2 * np.arctan2(num, den)
            mid = p[0] + p[1] + p[2]
            mid /= np.linalg.norm(mid, axis=1, keepdims=True)
            area += e.sum()
            acc += (e[:, None] * mid).sum(0)
    acc *= np.sign(acc @ vertices.sum(0))
    acc /= np.linalg.norm(acc)
    lon = float(np.degrees(np.arctan2(acc[1], acc[0])) % 360.0)
    return abs(area) * (180 / np.pi) ** 2, lon, float(np.degrees(np.arcsin(acc[2])))


def _check(rows: list[tuple[Any, ...]], regions: list[list[float]], rel: float = 1e-9) -> None:
    assert len(rows) == len(regions)
    for (_, area, lon, lat), flat in zip(rows, regions, strict=True):
        ref_area, ref_lon, ref_lat = reference(flat)
        assert area == pytest.approx(ref_area, rel=rel)
        assert lat == pytest.approx(ref_lat, abs=1e-7)
        if abs(ref_lat) < 89.999:
            assert (lon - ref_lon + 180.0) % 360.0 - 180.0 == pytest.approx(0.0, abs=1e-7)


def test_constant_polygons_agree_with_the_reference() -> None:
    for flat in REGIONS:
        vertices = list(zip(flat[0::2], flat[1::2], strict=True))
        area, lon, lat = reference(flat)
        assert sphere.polygon_area(vertices) == pytest.approx(area, rel=1e-9)
        clon, clat = sphere.polygon_centroid(vertices)
        assert clat == pytest.approx(lat, abs=1e-7)
        if abs(lat) < 89.999:
            assert (clon - lon + 180.0) % 360.0 - 180.0 == pytest.approx(0.0, abs=1e-7)


def test_polygon_columns_on_duckdb(adql_metadata: dict[str, TableMeta], adql_duckdb: Runner) -> None:
    _check(adql_duckdb(adql.translate(QUERY, adql_metadata, "duckdb").sql), REGIONS)


@pytest.mark.postgres
def test_polygon_columns_on_postgres(adql_metadata: dict[str, TableMeta], adql_pg: Runner) -> None:
    _check(adql_pg(adql.translate(QUERY, adql_metadata, "postgres").sql), REGIONS)


def test_polygons_built_from_columns(adql_metadata: dict[str, TableMeta], adql_duckdb: Runner) -> None:
    text = ("SELECT TOP 5 id, AREA(POLYGON(ra, dec, ra + 1, dec, ra + 1, dec + 1)) AS a, "
            "COORD1(CENTROID(POLYGON(ra, dec, ra + 1, dec, ra + 1, dec + 1))) AS lon, "
            "COORD2(CENTROID(POLYGON(ra, dec, ra + 1, dec, ra + 1, dec + 1))) AS lat, ra, dec "
            "FROM test.points WHERE dec BETWEEN -80 AND 80 ORDER BY id")
    rows = adql_duckdb(adql.translate(text, adql_metadata, "duckdb").sql)
    _check([r[:4] for r in rows], [[r[4], r[5], r[4] + 1, r[5], r[4] + 1, r[5] + 1] for r in rows])


def test_null_polygon_has_no_area(adql_metadata: dict[str, TableMeta], adql_duckdb: Runner) -> None:
    sql = adql.translate("SELECT AREA(footprint) AS a, CENTROID(footprint) AS c FROM test.regions",
                         adql_metadata, "duckdb").sql
    con = adql_duckdb.connection  # type: ignore[attr-defined]
    with_null = sql.replace('"test"."regions"', "(SELECT CAST(NULL AS DOUBLE[]) AS footprint)")
    assert con.execute(with_null).fetchall() == [(None, [None, None])]


async def test_obscore_s_region_of_the_ci_release(ci_engine: Any) -> None:
    result = await ci_engine.execute(
        "SELECT obs_id, AREA(s_region) AS a, COORD1(CENTROID(s_region)) AS lon, COORD2(CENTROID(s_region)) AS lat, "
        "s_region FROM ivoa.obscore ORDER BY obs_id", maxrec=None, timeout=30)
    rows = [tuple(r.values()) async for batch in result.batches for r in batch.to_pylist()]
    assert rows
    # s_region leaves as STC-S text, "Polygon ICRS lon1 lat1 ...": the stored vertices
    regions = [[float(x) for x in str(r[4]).split()[2:]] for r in rows]
    assert all(str(r[4]).upper().startswith("POLYGON ICRS ") and len(v) >= 6
               for r, v in zip(rows, regions, strict=True))
    _check([r[:4] for r in rows], regions, rel=1e-7)  # the text keeps 9 decimals of each vertex


JOIN_TEXT = ("SELECT p.id, r.id AS rid FROM test.points AS p JOIN test.regions AS r "
             "ON 1 = CONTAINS(POINT(p.ra, p.dec), r.footprint) ORDER BY 1, 2")


def _expected_pairs(points: list[tuple[Any, ...]]) -> list[tuple[int, int]]:
    expected = []
    for pid, ra, dec in points:
        for rid, flat in enumerate(REGIONS):
            vertices = sphere.normalize_polygon(list(zip(flat[0::2], flat[1::2], strict=True)))
            if sphere.point_in_polygon(ra, dec, vertices):
                expected.append((pid, rid))
    return expected


def test_point_in_polygon_column_join_uses_a_lateral_per_polygon(adql_metadata: dict[str, TableMeta],
                                                                  adql_duckdb: Runner) -> None:
    """Each polygon's edges and declination band once (a LATERAL row), then a join on the band;
    the pairs are those NumPy finds (sphere.point_in_polygon on the normalised polygons)."""
    sql = adql.translate(JOIN_TEXT, adql_metadata, "duckdb").sql
    assert "CROSS JOIN LATERAL" in sql and '"r_polygon"."lo"' in sql
    pairs = adql_duckdb(sql)
    assert pairs == _expected_pairs(adql_duckdb('SELECT "id", "ra", "dec" FROM "test"."points" ORDER BY 1')) and pairs
    plan = adql_duckdb("EXPLAIN " + sql)[0][1]
    assert "dec >= lo" in plan and "dec <= hi" in plan  # the band is a join condition, not a filter


@pytest.mark.postgres
def test_point_in_polygon_column_join_on_postgres(adql_metadata: dict[str, TableMeta], adql_pg: Runner) -> None:
    sql = adql.translate(JOIN_TEXT, adql_metadata, "postgres").sql
    assert "CROSS JOIN LATERAL" in sql
    pairs = adql_pg(sql)
    assert pairs == _expected_pairs(adql_pg('SELECT "id", "ra", "dec" FROM "test"."points" ORDER BY 1')) and pairs


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
def test_an_uncorrelated_polygon_subquery_is_prepared_once(adql_metadata: dict[str, TableMeta], dialect: str) -> None:
    text = ("SELECT COUNT(*) AS n FROM test.points AS p WHERE 1 = CONTAINS(POINT(p.ra, p.dec), "
            "(SELECT footprint FROM test.regions AS r WHERE r.id = 1))")
    assert "CROSS JOIN LATERAL" in adql.translate(text, adql_metadata, dialect).sql
    correlated = text.replace("r.id = 1", "r.id = MOD(p.id, 4)")
    assert "LATERAL" not in adql.translate(correlated, adql_metadata, dialect).sql
