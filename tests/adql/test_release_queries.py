"""The DES DR1 example queries (``DES_ADQL``) over the ingested ``ci`` release, on DuckDB and PostgreSQL.

Uses the release engineer's fixtures (``ci_engine``, ``ci_metadata``, ``postgres_backend``): the
ADQL forms run and agree across backends; the Oracle forms are refused with the ADQL way to
write them.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

import adql
from dali.values import TableMeta

DES_ADQL = {
    "Q1 random peek": "SELECT TOP 5 ra, dec, mag_auto_g, tilename FROM des_dr1.main_sample ORDER BY coadd_object_id",
    "Q2 box": "SELECT TOP 1000 alphawin_j2000 AS rap, deltawin_j2000 AS decp, mag_auto_g, tilename FROM des_dr1.main "
              "WHERE ra BETWEEN 323.0 AND 324.0 AND dec BETWEEN -1.0 AND 0.0 ORDER BY rap",
    "Q3 M2 stars": "SELECT coadd_object_id, ra, dec, mag_auto_g AS g, mag_auto_r AS r, wavg_mag_psf_g AS g_psf, "
                   "wavg_mag_psf_r AS r_psf FROM des_dr1.main WHERE ra BETWEEN 323.24 AND 323.48 "
                   "AND dec BETWEEN -0.94 AND -0.70 AND wavg_spread_model_i + 3.0*wavg_spreaderr_model_i < 0.005 "
                   "AND wavg_spread_model_i > -1 AND imaflags_iso_g = 0 AND imaflags_iso_r = 0 AND flags_g < 4 "
                   "AND flags_r < 4",
    "Q4 star map": "SELECT hpix_1024, COUNT(mag_auto_i) AS n FROM des_dr1.main WHERE wavg_spread_model_i + "
                   "3.0*wavg_spreaderr_model_i < 0.005 AND wavg_spread_model_i > -1 AND imaflags_iso_i = 0 "
                   "AND mag_auto_i < 21 GROUP BY hpix_1024",
    "Q5 galaxy map": "SELECT hpix_1024, COUNT(mag_auto_i) AS n, AVG(mag_auto_i) AS mean_i FROM des_dr1.main "
                     "WHERE extended_class_coadd = 3 AND mag_auto_i < 23 GROUP BY hpix_1024",
    "Q6 tile at RA 0": "SELECT tilename FROM des_dr1.tile_info WHERE -0.5 >= udecmin AND -0.5 < udecmax AND "
                       "((crossra0='N' AND 359.95 >= uramin AND 359.95 < uramax) OR (crossra0='Y' AND "
                       "(359.95 >= uramax OR 359.95 < uramin)))",
    "cone around M2": "SELECT coadd_object_id, DISTANCE(POINT(ra, dec), POINT(323.36, -0.82)) AS d FROM des_dr1.main "
                      "WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 323.36, -0.82, 0.05))",
    "healpix udf": "SELECT COUNT(*) AS n FROM des_dr1.main WHERE ivo_healpix_index(10, ra, dec) = hpix_1024",
}

ORACLE = {
    "SELECT RA, DEC, MAG_AUTO_G, TILENAME FROM DR1_MAIN sample(0.001) FETCH FIRST 5 ROWS ONLY": "main_sample",
    "SELECT ALPHAWIN_J2000 RAP, DELTAWIN_J2000 DECP, MAG_AUTO_G, TILENAME FROM DR1_MAIN "
    "WHERE RA BETWEEN 323.0 AND 324.0 AND DEC BETWEEN -1.0 AND 0.0 AND ROWNUM < 1001": "SELECT TOP",
    "SELECT RA, DEC FROM DR1_MAIN FETCH FIRST 5 ROWS ONLY": "SELECT TOP",
    "SELECT COUNT(MAG_AUTO_I) COUNT, HPIX_1024 FROM DR1_MAIN GROUP BY HPIX_1024": "reserved word",
}


async def _rows(engine: Any, text: str) -> list[tuple[Any, ...]]:
    result = await engine.execute(text, maxrec=100_000, timeout=60.0)
    batches = [b async for b in result.batches]
    table = pa.Table.from_batches(batches) if batches else pa.table({})
    assert [c.name for c in result.columns] == table.column_names
    rows = [tuple(r.values()) for r in table.to_pylist()]
    return sorted(rows, key=repr)


@pytest.mark.parametrize("name", list(DES_ADQL))
async def test_des_examples_duckdb(name: str, ci_engine: Any) -> None:
    rows = await _rows(ci_engine, DES_ADQL[name])
    if name != "Q6 tile at RA 0":
        assert rows, name
    if name == "healpix udf":
        count = (await _rows(ci_engine, "SELECT COUNT(*) AS n FROM des_dr1.main"))[0][0]
        assert rows[0][0] == count
    if name == "cone around M2":
        assert all(r[1] <= 0.05 for r in rows)


@pytest.mark.postgres
async def test_des_examples_same_on_postgres(ci_engine: Any, ci_metadata: dict[str, TableMeta],
                                             postgres_backend: Any) -> None:
    from release.engine import QueryEngine

    pg_engine = QueryEngine(postgres_backend, ci_metadata)
    for name, text in DES_ADQL.items():
        duck = await _rows(ci_engine, text)
        pg = await _rows(pg_engine, text)
        assert len(duck) == len(pg), name
        for a, b in zip(duck, pg, strict=True):
            assert a == pytest.approx(b, rel=1e-6) if all(isinstance(x, float) for x in a) else a[0] == b[0], name


@pytest.mark.parametrize(("text", "expected"), list(ORACLE.items()))
def test_oracle_habits_get_the_adql_way(text: str, expected: str, ci_metadata: dict[str, TableMeta]) -> None:
    with pytest.raises(adql.ADQLError) as info:
        adql.translate(text, ci_metadata, "duckdb")
    assert expected in str(info.value)


def test_ci_metadata_has_the_indexed_position(ci_metadata: dict[str, TableMeta]) -> None:
    sql = adql.translate(DES_ADQL["cone around M2"], ci_metadata, "postgres").sql
    assert "skygate_hpx" in sql


NEGATIONS = {
    "NOT LIKE": ("tilename LIKE 'DES2134%'", "tilename NOT LIKE 'DES2134%'"),
    "NOT ILIKE": ("tilename ILIKE 'des2134%'", "tilename NOT ILIKE 'des2134%'"),
}


async def _partition(engine: Any, condition: str, negated: str) -> tuple[int, int, int]:
    count = "SELECT COUNT(*) AS n FROM des_dr1.main"
    return ((await _rows(engine, f"{count} WHERE {condition}"))[0][0],
            (await _rows(engine, f"{count} WHERE {negated}"))[0][0], (await _rows(engine, count))[0][0])


@pytest.mark.parametrize("name", list(NEGATIONS))
async def test_not_like_selects_the_other_rows(name: str, ci_engine: Any, ci_metadata: dict[str, TableMeta]) -> None:
    matching, others, total = await _partition(ci_engine, *NEGATIONS[name])
    assert matching > 0 and others > 0 and matching + others == total, "tilename is never NULL"
    assert " NOT " in adql.translate(f"SELECT ra FROM des_dr1.main WHERE {NEGATIONS[name][1]}", ci_metadata,
                                     "postgres").sql


@pytest.mark.postgres
@pytest.mark.parametrize("name", list(NEGATIONS))
async def test_not_like_on_postgres(name: str, ci_engine: Any, ci_metadata: dict[str, TableMeta],
                                    postgres_backend: Any) -> None:
    from release.engine import QueryEngine

    pg = await _partition(QueryEngine(postgres_backend, ci_metadata), *NEGATIONS[name])
    assert pg == await _partition(ci_engine, *NEGATIONS[name])
