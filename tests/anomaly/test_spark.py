"""Anomaly jobs on Spark (anomaly/spark.py) against the same jobs on DuckDB, over the ci release.

Behind the ``spark`` marker: the Spark Connect server (``local[2]``) and the partitioned ci release come
from tests/partitioned_fixtures.py. The same QUERY, SEED and parameters must give every row the same
score, bit for bit, and the same model, counts and TOP rows on both engines. What runs without Spark
(the scoring tasks' plan, the merge of their files) is in test_spark_files.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from anomaly import forest, model
from anomaly.jobs import SCORE_KIND, AnomalyResources, check, run_score
from release.engine import QueryEngine
from release.runtime import OpenRelease
from tests.anomaly.test_jobs import _result, _run  # one way to run a job to its end and find its results
from tests.configs import job_config
from uws import JobKind, Parameter, Phase
from uws.system import JobSystem, open_job_system

pytestmark = pytest.mark.spark

# Colours and a magnitude; mag_auto_y holds the survey's 99 sentinels, so some rows are skipped.
QUERY = ("SELECT coadd_object_id, mag_auto_i, mag_auto_g - mag_auto_r AS g_r, mag_auto_r - mag_auto_i AS r_i, "
         "mag_auto_z - mag_auto_y AS z_y, mag_auto_y FROM des_dr1.main")
Opener = Callable[..., Awaitable[JobSystem]]


@pytest.fixture
async def open_system(tmp_path: Path) -> AsyncIterator[Opener]:
    opened: list[JobSystem] = []

    async def opener(engine: QueryEngine, name: str, max_rows: int = 20_000_000) -> JobSystem:
        holder: dict[str, JobSystem] = {}
        resources = AnomalyResources(engine=lambda: engine, jobs=lambda: holder.get("system"), query_timeout=120,
                                     max_rows=max_rows)
        config = job_config(store_url=f"sqlite:///{tmp_path / (name + '.sqlite')}", results_dir=tmp_path / name,
                            heartbeat_interval=0.1, heartbeat_timeout=5.0, sweep_interval=0, local_workers=1)
        system = await open_job_system(config, [JobKind(SCORE_KIND, run_score, check=check, resources=resources)])
        holder["system"] = system
        opened.append(system)
        return system

    yield opener
    for system in opened:
        await system.close()


async def test_scores_on_spark_equal_scores_on_duckdb(open_system: Opener, ci_engine: QueryEngine,
                                                      spark_release: OpenRelease) -> None:
    assert spark_release.engine is not None
    duck, spark = await open_system(ci_engine, "duckdb"), await open_system(spark_release.engine, "spark")
    # 20 trees x 256 = 5 120 of the ~20 000 rows: the sample is a strict subset on both engines
    params = {"QUERY": QUERY, "NTREES": "20", "SEED": "5", "TOP": "30", "RESPONSEFORMAT": "parquet"}
    local, remote = await _run(duck, **params), await _run(spark, **params)
    assert local.phase is remote.phase is Phase.COMPLETED, (local.error, remote.error)
    assert [r.id for r in remote.results] == [r.id for r in local.results]
    a, b = pq.read_table(_result(duck, local, "result")), pq.read_table(_result(spark, remote, "result"))
    assert a.schema.equals(b.schema) and a.num_rows == b.num_rows > 15_000
    by_id = dict(zip(a.column("coadd_object_id").to_pylist(), a.column("score").to_pylist(), strict=True))
    got = dict(zip(b.column("coadd_object_id").to_pylist(), b.column("score").to_pylist(), strict=True))
    assert got == by_id  # every row's score, bit for bit
    assert b.column("rank").to_pylist() == list(range(1, b.num_rows + 1))  # Spark's result is best first
    # ranks agree except among equal scores (each engine keeps its own selection order there)
    scores, counts = np.unique(a.column("score").to_numpy(), return_counts=True)
    unique = set(scores[counts == 1].tolist())
    ranks = dict(zip(a.column("coadd_object_id").to_pylist(), a.column("rank").to_pylist(), strict=True))
    spark_ranks = dict(zip(b.column("coadd_object_id").to_pylist(), b.column("rank").to_pylist(), strict=True))
    assert len(unique) > 1000 and all(spark_ranks[i] == ranks[i] for i in ranks if by_id[i] in unique)
    top_a, top_b = pq.read_table(_result(duck, local, "top")), pq.read_table(_result(spark, remote, "top"))
    assert top_b.schema.equals(top_a.schema) and top_b.column("score").equals(top_a.column("score"))
    assert all(by_id[i] == v for i, v in zip(top_b.column("coadd_object_id").to_pylist(),
                                              top_b.column("score").to_pylist(), strict=True))
    one, other = model.load(_result(duck, local, "model")), model.load(_result(spark, remote, "model"))
    assert np.array_equal(one.forest.normals, other.forest.normals)
    assert np.array_equal(one.center, other.center)  # type: ignore[arg-type]
    first = json.loads(_result(duck, local, "summary.json").read_text())
    second = json.loads(_result(spark, remote, "summary.json").read_text())
    assert second["rows"] == first["rows"] and first["rows"]["skipped_sentinel"] > 0
    assert second["top"] == first["top"] and second["engine"] == "spark"
    files = sorted((spark.job_dir(remote.job_id) / second["spark"]["scores"]).glob("part-*.parquet"))
    assert files and sum(pq.read_metadata(f).num_rows for f in files) == b.num_rows
    for part in map(pq.read_table, files):  # each executor's file in rank order
        assert part.equals(part.take(pc.sort_indices(part, [("score", "descending"), ("pos", "ascending")])))
    assert _result(spark, remote, "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def test_a_model_scores_another_selection_on_spark(open_system: Opener, spark_release: OpenRelease) -> None:
    assert spark_release.engine is not None
    system = await open_system(spark_release.engine, "spark")
    fitted = await _run(system, QUERY=QUERY + " WHERE tilename = 'DES2134-0041'", NTREES="10",
                        RESPONSEFORMAT="parquet")
    job = await _run(system, QUERY=QUERY + " WHERE tilename = 'DES2359-0041'", MODEL=fitted.job_id,
                     RESPONSEFORMAT="parquet")
    assert job.phase is Phase.COMPLETED, job.error
    table = pq.read_table(_result(system, job, "result"))
    forest_of = model.load(_result(system, fitted, "model"))
    features = np.column_stack([table.column(n).to_numpy().astype(np.float64) for n in forest_of.features])
    assert np.array_equal(table.column("score").to_numpy(), forest.score(forest_of.forest,
                                                                         forest_of.transform(features)))


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("SELECT coadd_object_id, mag_auto_g FROM des_dr1.main WHERE 1 = 0", "QUERY: the query selected no rows"),
        ("SELECT coadd_object_id, tilename FROM des_dr1.main", "QUERY: feature column 'tilename' is not numeric"),
    ],
)
async def test_refusals_on_spark_are_the_local_ones(open_system: Opener, ci_engine: QueryEngine,
                                                    spark_release: OpenRelease, query: str, words: str) -> None:
    assert spark_release.engine is not None
    for engine, name in ((ci_engine, "duckdb"), (spark_release.engine, "spark")):
        job = await _run(await open_system(engine, name), QUERY=query)
        assert job.phase is Phase.ERROR and job.error is not None
        assert job.error.message.startswith(words), (name, job.error.message)


async def test_abort_interrupts_the_spark_job(open_system: Opener, spark_release: OpenRelease,
                                              spark_server: tuple[str, Path]) -> None:
    assert spark_release.engine is not None
    system = await open_system(spark_release.engine, "spark", max_rows=10**12)
    log = spark_server[1]
    before = log.read_text(errors="replace").count("OPERATION_CANCELED")
    # 20 k x 20 k rows through a nested-loop join: Spark counts them in seconds, but selecting and
    # sampling the ~10**8 rows in Python takes many minutes on two cores
    heavy = ("SELECT a.coadd_object_id, a.mag_auto_g FROM des_dr1.main AS a JOIN des_dr1.main AS b "
             "ON a.mag_auto_g < b.mag_auto_g + a.mag_auto_i - b.mag_auto_i")
    job = await system.create(SCORE_KIND, [Parameter("QUERY", heavy)], run=True)
    for _ in range(300):
        current = await system.store.get(job.job_id)
        if current is not None and current.phase is Phase.EXECUTING:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(6.0)  # Spark is counting or sampling now
    started = time.monotonic()
    assert await system.abort(job.job_id) is Phase.ABORTED
    for _ in range(60):
        if log.read_text(errors="replace").count("OPERATION_CANCELED") > before:
            break
        await asyncio.sleep(0.25)
    assert log.read_text(errors="replace").count("OPERATION_CANCELED") > before
    assert time.monotonic() - started < 15
    # the executors are free again: the next query answers at once
    started = time.monotonic()
    result = await spark_release.engine.execute("SELECT COUNT(*) AS n FROM des_dr1.tile_info", maxrec=None, timeout=30)
    assert [r async for b in result.batches for r in b.to_pylist()] == [{"n": 2}]
    assert time.monotonic() - started < 15
