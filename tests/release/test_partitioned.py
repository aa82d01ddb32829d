"""The DuckDB backend serving a partitioned (HATS) release in place, with partition pruning.

Every query is run on the partitioned ci release and on the ordinary one (``ci_engine``) and must
give the same rows; the cone must open only the partitions its HEALPix ranges overlap, which
DuckDB's own profile (EXPLAIN ANALYZE, "Total Files Read") confirms.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from dali.errors import UsageError
from release.backends import DuckDBBackend
from release.engine import QueryEngine
from release.partitioned import files_variable
from tests.adql.test_release_queries import DES_ADQL
from tests.release.conftest import cone_adql, normalised

QUERIES = {
    "cone": cone_adql("coadd_object_id, ra, dec, mag_auto_g"),
    "count": "SELECT COUNT(*) AS n, SUM(mag_auto_g) AS s FROM des_dr1.main",
    "cone or a column test": cone_adql("coadd_object_id") + " OR coadd_object_id < 1000",
    "join": ("SELECT m.coadd_object_id, s.ra FROM des_dr1.main AS m JOIN des_dr1.main_sample AS s "
             "ON m.coadd_object_id = s.coadd_object_id "
             "WHERE 1 = CONTAINS(POINT('ICRS', m.ra, m.dec), CIRCLE('ICRS', 0.3, -0.7, 1.0))"),
    "subquery": ("SELECT coadd_object_id FROM des_dr1.main WHERE coadd_object_id IN "
                 "(SELECT coadd_object_id FROM des_dr1.main_sample) AND 1 = CONTAINS(POINT('ICRS', ra, dec), "
                 "CIRCLE('ICRS', 0.3, -0.7, 0.5))"),
    "empty sky": "SELECT coadd_object_id FROM des_dr1.main WHERE 1 = CONTAINS(POINT(ra, dec), CIRCLE(150, 40, 0.1))",
}


async def rows(engine: QueryEngine, adql: str) -> list[tuple[object, ...]]:
    result = await engine.execute(adql, maxrec=None, timeout=30)
    out: list[tuple[object, ...]] = []
    async for batch in result.batches:
        out.extend(tuple(r.values()) for r in batch.to_pylist())
    return sorted(out, key=repr)


@pytest.mark.parametrize("name", QUERIES)
async def test_same_rows_as_the_unpartitioned_release(name: str, partitioned_engine: QueryEngine,
                                                      ci_engine: QueryEngine) -> None:
    got = await rows(partitioned_engine, QUERIES[name])
    assert got == await rows(ci_engine, QUERIES[name])
    if name in ("cone", "join"):
        assert got


async def test_a_cone_reads_only_the_partitions_it_overlaps(partitioned_engine: QueryEngine,
                                                           partitioned_backend: DuckDBBackend,
                                                           partitioned_ci: Path) -> None:
    catalog = partitioned_backend.partitioned.catalogs["des_dr1.main"]
    result = await partitioned_engine.execute(QUERIES["cone"], maxrec=None, timeout=30)
    [b async for b in result.batches]
    files = partitioned_backend.partitioned.variables(result.sql)[files_variable("des_dr1.main")]
    assert 1 <= len(files) <= 4 < len(catalog.partitions)
    # DuckDB's profile of the same statement with the same variable: it opened exactly those files.
    con = duckdb.connect(str(partitioned_ci / "catalog.duckdb"), read_only=True)
    try:
        con.execute(f'SET VARIABLE "{files_variable("des_dr1.main")}" = ?', [files])
        plan = con.execute("EXPLAIN ANALYZE " + result.sql).fetchall()[0][1]
        con.execute(f'SET VARIABLE "{files_variable("des_dr1.main")}" = NULL')
        whole = con.execute("EXPLAIN ANALYZE " + result.sql).fetchall()[0][1]
    finally:
        con.close()
    assert re.findall(r"Total Files Read: (\d+)", plan) == [str(len(files))]
    assert re.findall(r"Total Files Read: (\d+)", whole) == [str(len(catalog.partitions))]


async def test_an_unconstrained_reference_reads_every_file(partitioned_engine: QueryEngine,
                                                          partitioned_backend: DuckDBBackend) -> None:
    result = await partitioned_engine.execute(QUERIES["cone or a column test"], maxrec=None, timeout=30)
    [b async for b in result.batches]
    files = partitioned_backend.partitioned.variables(result.sql)[files_variable("des_dr1.main")]
    assert len(files) == len(partitioned_backend.partitioned.catalogs["des_dr1.main"].partitions)


async def test_only_queries_run_on_a_partitioned_release(partitioned_backend: DuckDBBackend,
                                                         partitioned_ci: Path) -> None:
    target = partitioned_ci / "hats" / "des_dr1" / "main" / "dataset" / "x.csv"
    with pytest.raises(UsageError, match="only queries"):
        async for _ in partitioned_backend.stream(f"COPY (SELECT 1) TO '{target}'", timeout=5):
            pass
    assert not target.exists()
    with pytest.raises(UsageError):  # files outside the catalogues stay out of reach
        async for _ in partitioned_backend.stream("SELECT * FROM read_csv('/etc/passwd')", timeout=5):
            pass


def test_sql_sqlglot_cannot_read_gets_every_file(partitioned_backend: DuckDBBackend) -> None:
    partitioned = partitioned_backend.partitioned
    files = partitioned.variables('SELECT "m"."ra" FROM "des_dr1"."main" AS "m" WHERE ((')
    assert len(files[files_variable("des_dr1.main")]) == len(partitioned.catalogs["des_dr1.main"].partitions)


@pytest.mark.parametrize("name", list(DES_ADQL))
async def test_the_des_examples_agree(name: str, partitioned_engine: QueryEngine, ci_engine: QueryEngine) -> None:
    async def run(engine: QueryEngine) -> list[tuple[object, ...]]:
        result = await engine.execute(DES_ADQL[name], maxrec=100_000, timeout=60)
        return normalised([r async for b in result.batches for r in b.to_pylist()])

    assert await run(partitioned_engine) == await run(ci_engine)
