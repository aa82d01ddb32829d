"""The Spark backend: a local Spark Connect server (``local[2]``) over the partitioned ci release.

Behind the ``spark`` marker; skipped with the reason when pyspark (the ``[spark]`` extra) or Java
is missing. The server starts once per session (about 10 s on two cores; tests/partitioned_fixtures.py)
and answers the same ADQL as DuckDB on the ordinary ci release: a cone, an aggregate, a join with an upload.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pyarrow as pa
import pytest

from dali.errors import UsageError
from dali.values import Column, TableMeta
from release.engine import QueryEngine, UploadTable
from release.runtime import OpenRelease
from tests.adql.test_release_queries import DES_ADQL
from tests.release.conftest import cone_adql, normalised

pytestmark = pytest.mark.spark


async def rows(engine: QueryEngine, adql: str, uploads: dict[str, UploadTable] | None = None
               ) -> list[dict[str, object]]:
    result = await engine.execute(adql, maxrec=None, timeout=120, uploads=uploads or {})
    out = [row async for batch in result.batches for row in batch.to_pylist()]
    return sorted(out, key=repr)


async def test_a_cone(spark_release: OpenRelease, ci_engine: QueryEngine) -> None:
    assert spark_release.engine is not None
    adql = cone_adql("coadd_object_id, ra, dec, mag_auto_g")
    got = await rows(spark_release.engine, adql)
    assert got and got == await rows(ci_engine, adql)


async def test_an_aggregate(spark_release: OpenRelease, ci_engine: QueryEngine) -> None:
    assert spark_release.engine is not None
    adql = ("SELECT tilename, COUNT(*) AS n, AVG(mag_auto_g) AS g FROM des_dr1.main "
            "GROUP BY tilename ORDER BY tilename")
    got, want = await rows(spark_release.engine, adql), await rows(ci_engine, adql)
    assert [(r["tilename"], r["n"]) for r in got] == [(r["tilename"], r["n"]) for r in want]
    assert [r["g"] for r in got] == pytest.approx([r["g"] for r in want], rel=1e-9)


async def test_a_join_with_an_upload(spark_release: OpenRelease, ci_engine: QueryEngine) -> None:
    assert spark_release.engine is not None
    picked = (await rows(ci_engine, cone_adql("coadd_object_id")))[:5]
    table = pa.table({"id": [r["coadd_object_id"] for r in picked], "label": ["a", "b", "c", "d", "e"][:len(picked)]})
    meta = TableMeta(schema="tap_upload", name="mine", columns=(Column("id", "long"), Column("label", "char",
                                                                                             arraysize="*")))
    uploads = {"mine": UploadTable("mine", meta, table)}
    adql = ("SELECT u.label, m.ra FROM TAP_UPLOAD.mine AS u JOIN des_dr1.main AS m ON m.coadd_object_id = u.id "
            "WHERE 1 = CONTAINS(POINT('ICRS', m.ra, m.dec), CIRCLE('ICRS', 0.3, -0.7, 0.08))")
    got = await rows(spark_release.engine, adql, uploads)
    assert len(got) == len(picked) > 0
    assert got == await rows(ci_engine, adql, uploads)


async def test_a_cone_scans_only_the_partitions_it_overlaps(spark_release: OpenRelease) -> None:
    from adql.spark import translate_spark
    from release.spark import SparkBackend

    backend = spark_release.backend
    assert isinstance(backend, SparkBackend)
    total = len(backend.partitioned.catalogs["des_dr1.main"].partitions)
    cone = await backend.explain(translate_spark(cone_adql("ra"), spark_release.metadata).sql)
    whole = await backend.explain(translate_spark("SELECT ra FROM des_dr1.main", spark_release.metadata).sql)
    assert scanned_files(whole) == total
    assert 1 <= scanned_files(cone) <= 4 < total


def scanned_files(plan: str) -> int:
    """The files of the one Parquet scan in a formatted Spark plan."""
    found = re.findall(r"Location: InMemoryFileIndex \[([^\]]*)\]", plan)
    assert len(found) == 1, plan
    listed = found[0]
    more = re.search(r"\.\.\. (\d+) more entries|\.\.\. (\d+) entries", listed)
    # Spark lists the first paths, then "... N entries" for those it left out
    return listed.count("Npix=") + (int(more.group(1) or more.group(2)) if more else 0)


async def test_a_timeout_cancels_the_spark_job(spark_release: OpenRelease, spark_server: tuple[str, Path]) -> None:
    from dali.errors import UsageError

    assert spark_release.engine is not None
    # 20 k x 20 k rows through a nested-loop join: far longer than the limit on two cores
    heavy = ("SELECT COUNT(*) AS n FROM des_dr1.main AS a JOIN des_dr1.main AS b "
             "ON a.mag_auto_g < b.mag_auto_g + a.mag_auto_i - b.mag_auto_i")
    start = time.monotonic()
    with pytest.raises(UsageError, match="time limit of 2 s"):
        result = await spark_release.engine.execute(heavy, maxrec=None, timeout=2)
        [b async for b in result.batches]
    assert time.monotonic() - start < 15
    # the job was interrupted (the server says so), not left running: the next query answers at once
    for _ in range(40):
        if "OPERATION_CANCELED" in spark_server[1].read_text(errors="replace"):
            break
        await asyncio.sleep(0.25)
    assert "OPERATION_CANCELED" in spark_server[1].read_text(errors="replace")
    start = time.monotonic()
    assert await rows(spark_release.engine, "SELECT COUNT(*) AS n FROM des_dr1.tile_info") == [{"n": 2}]
    assert time.monotonic() - start < 15


async def test_a_query_spark_cannot_express_is_a_usage_error_saying_why(spark_release: OpenRelease) -> None:
    assert spark_release.engine is not None
    # valid ADQL (DuckDB and PostgreSQL run it: tests/adql/cases/semantics.toml); Spark SQL refuses an
    # outer reference in a subquery of the select list
    adql = ("SELECT t.tilename, (SELECT MAX(m.ra) + t.ra_cent FROM des_dr1.main AS m) AS x "
            "FROM des_dr1.tile_info AS t")
    with pytest.raises(UsageError, match=r"Spark cannot run this query: .*outer query") as caught:
        await rows(spark_release.engine, adql)
    assert caught.value.param == "QUERY" and "SQLSTATE" not in str(caught.value)


@pytest.mark.parametrize("name", list(DES_ADQL))
async def test_the_des_examples_agree(name: str, spark_release: OpenRelease, ci_engine: QueryEngine) -> None:
    assert spark_release.engine is not None
    got = normalised(await rows(spark_release.engine, DES_ADQL[name]))
    assert got == normalised(await rows(ci_engine, DES_ADQL[name]))
