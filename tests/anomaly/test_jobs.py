"""The anomaly.score job kind on the real job system (SQLite store, in-process queue) and the `ci`
release (DuckDB, real ADQL): results, chunked scoring, MODEL reuse, refusals, a worker lost mid-chunk."""

from __future__ import annotations

import asyncio
import functools
import io
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from anomaly import forest, model
from anomaly.jobs import CHUNK_KIND, SCORE_KIND, AnomalyResources, check, merge_chunks, run_chunk, run_score
from release.backends import open_backend
from release.engine import QueryEngine
from release.ingest import ingest_arrow
from release.metadata import load_metadata
from release.stores import open_store
from tests.configs import job_config
from uws import Job, JobContext, JobKind, Parameter, Parameters, Phase, Result
from uws.system import JobSystem, open_job_system

FEATURES = ("mag_auto_i, mag_auto_g - mag_auto_r AS g_r, mag_auto_r - mag_auto_i AS r_i, "
            "mag_auto_i - mag_auto_z AS i_z")
QUERY = f"SELECT coadd_object_id, {FEATURES} FROM des_dr1.main WHERE tilename = 'DES2134-0041'"
OTHER_REGION = f"SELECT coadd_object_id, {FEATURES} FROM des_dr1.main WHERE tilename = 'DES2359-0041'"
FINAL = (Phase.COMPLETED, Phase.ERROR, Phase.ABORTED)

Opener = Callable[[int], "asyncio.Future[JobSystem]"]


@pytest.fixture
async def open_system(tmp_path: Path, ci_engine: QueryEngine) -> AsyncIterator[Callable[..., object]]:
    """Open job systems sharing one results directory, scoring in chunks of ``chunk_rows``."""
    opened: list[JobSystem] = []

    async def opener(chunk_rows: int = 1_000_000, name: str = "jobs",
                     chunk: Callable[..., list[Result]] = run_chunk, engine: QueryEngine = ci_engine) -> JobSystem:
        holder: dict[str, JobSystem] = {}
        resources = AnomalyResources(engine=lambda: engine, jobs=lambda: holder.get("system"),
                                     chunk_rows=chunk_rows, poll_interval=0.01, query_timeout=60)
        kinds = [JobKind(SCORE_KIND, run_score, check=check, resources=resources),
                 JobKind(CHUNK_KIND, chunk, resources=resources)]
        config = job_config(store_url=f"sqlite:///{tmp_path / (name + '.sqlite')}", results_dir=tmp_path / "results",
                            heartbeat_interval=0.1, heartbeat_timeout=1.0, sweep_interval=0, local_workers=2)
        system = await open_job_system(config, kinds)
        holder["system"] = system
        opened.append(system)
        return system

    yield opener
    for system in opened:
        await system.close()


async def _run(system: JobSystem, **params: str) -> Job:
    job = await system.create(SCORE_KIND, [Parameter(k, v) for k, v in params.items()], run=True)
    for _ in range(600):
        current = await system.store.get(job.job_id)
        assert current is not None
        if current.phase in FINAL:
            return current
        await system.wait(job.job_id, current.phase, 1.0)
    raise AssertionError("the job did not finish")


def _result(system: JobSystem, job: Job, name: str) -> Path:
    return system.job_dir(job.job_id) / "results" / name


async def test_a_job_publishes_result_top_plot_model_and_summary(open_system: Callable[..., object]) -> None:
    from astropy.io.votable import parse_single_table

    system: JobSystem = await open_system()  # type: ignore[misc]
    job = await _run(system, QUERY=QUERY, NTREES="50", TOP="25")
    assert job.phase is Phase.COMPLETED, job.error
    assert [r.id for r in job.results] == ["result", "top", "scores.png", "model", "summary.json"]
    summary = json.loads(_result(system, job, "summary.json").read_text())
    result = parse_single_table(str(_result(system, job, "result"))).to_table()
    top = parse_single_table(str(_result(system, job, "top"))).to_table()
    assert summary["rows"]["scored"] == len(result) == summary["rows"]["selected"] - summary["rows"]["skipped"]
    assert len(result) > 5000
    assert result.colnames == ["coadd_object_id", "score", "rank", "mag_auto_i", "g_r", "r_i", "i_z"]
    assert sorted(result["rank"].tolist()) == list(range(1, len(result) + 1))
    assert top["rank"].tolist() == list(range(1, 26))
    assert float(top["score"][-1]) == summary["top"]["threshold"] == pytest.approx(np.sort(result["score"])[-25])
    assert _result(system, job, "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fitted = model.load(_result(system, job, "model"))
    assert fitted.features == ("mag_auto_i", "g_r", "r_i", "i_z") and fitted.forest.ntrees == 50
    assert summary["model"]["extension_level"] == 3 and summary["parameters"]["NTREES"] == 50
    assert set(summary["timings"]) == {"query_s", "fit_s", "score_s", "write_s"}


async def test_chunked_scores_equal_a_single_process_run(open_system: Callable[..., object]) -> None:
    single: JobSystem = await open_system(1_000_000, "single")  # type: ignore[misc]
    chunked: JobSystem = await open_system(3000, "chunked")  # type: ignore[misc]
    params = {"QUERY": QUERY, "NTREES": "40", "SEED": "5", "RESPONSEFORMAT": "parquet"}
    one, many = await _run(single, **params), await _run(chunked, **params)
    assert one.phase is many.phase is Phase.COMPLETED
    a = pq.read_table(_result(single, one, "result"))
    b = pq.read_table(_result(chunked, many, "result"))
    assert a.num_rows > 9000 and a.equals(b)
    assert json.loads(_result(chunked, many, "summary.json").read_text())["chunks"] == -(-a.num_rows // 3000)
    assert await chunked.store.list_jobs(kind=CHUNK_KIND, owner=None) == []  # chunk jobs cleaned up


async def test_a_model_from_an_earlier_job_scores_another_region(open_system: Callable[..., object]) -> None:
    system: JobSystem = await open_system()  # type: ignore[misc]
    first = await _run(system, QUERY=QUERY, NTREES="30", RESPONSEFORMAT="parquet")
    second = await _run(system, QUERY=OTHER_REGION, MODEL=first.job_id, RESPONSEFORMAT="parquet")
    assert second.phase is Phase.COMPLETED, second.error
    summary = json.loads(_result(system, second, "summary.json").read_text())
    assert summary["model"]["source"] == f"job {first.job_id}"
    table = pq.read_table(_result(system, second, "result"))
    fitted = model.load(_result(system, first, "model"))
    features = np.column_stack([table.column(n).to_numpy().astype(np.float64) for n in fitted.features])
    expected = forest.score(fitted.forest, fitted.transform(features))
    assert np.array_equal(table.column("score").to_numpy(), expected)
    # A model is refused for a selection with other features.
    other = await _run(system, QUERY="SELECT coadd_object_id, mag_auto_g FROM des_dr1.main", MODEL=first.job_id)
    assert other.phase is Phase.ERROR and other.error is not None
    assert other.error.message.startswith("MODEL") and "fitted on features" in other.error.message


@pytest.mark.parametrize(
    ("params", "starts", "words"),
    [
        ({"QUERY": "SELECT coadd_object_id, mag_auto_q FROM des_dr1.main"}, "QUERY", "mag_auto_q"),
        ({"QUERY": "SELECT coadd_object_id, tilename FROM des_dr1.main"}, "QUERY", "'tilename' is not numeric"),
        ({"QUERY": QUERY, "EXTENSION_LEVEL": "4"}, "EXTENSION_LEVEL", "below the number of features (4)"),
        ({"QUERY": "SELECT coadd_object_id, mag_auto_g FROM des_dr1.main WHERE 1 = 0"}, "QUERY", "no rows"),
        ({"QUERY": QUERY, "ID_COLUMN": "objid"}, "ID_COLUMN", "not one of the selected columns"),
        ({"QUERY": QUERY, "MODEL": "0123456789abcdef"}, "MODEL", "no anomaly job"),
        ({"QUERY": QUERY, "NTREES": "0"}, "NTREES", "between 1 and"),
    ],
)
async def test_bad_values_end_in_error_naming_the_parameter(
    open_system: Callable[..., object], params: dict[str, str], starts: str, words: str
) -> None:
    system: JobSystem = await open_system()  # type: ignore[misc]
    job = await _run(system, **params)
    assert job.phase is Phase.ERROR and job.error is not None
    assert job.error.message.startswith(starts), job.error.message
    assert words in job.error.message


async def test_a_chunk_whose_worker_died_runs_again_without_losing_or_repeating_rows(
    open_system: Callable[..., object], tmp_path: Path
) -> None:
    system: JobSystem = await open_system(1000)  # type: ignore[misc]
    data = np.random.default_rng(0).normal(size=(2500, 3))
    fitted = model.Model(forest.fit(data, ntrees=20, seed=3), ("a", "b", "c"))
    parent = JobContext(job_id="parent0", kind=SCORE_KIND, parameters=None,  # type: ignore[arg-type]
                        job_dir=system.job_dir("parent0"))
    np.save(parent.scratch_path("input.npy"), data)
    model.save(fitted, parent.scratch_path("model.npz"))
    bounds = [(0, 1000), (1000, 2000), (2000, 2500)]
    ids = []
    for a, b in bounds:
        job = await system.create(CHUNK_KIND, [Parameter("PARENT", "parent0"), Parameter("START", str(a)),
                                               Parameter("STOP", str(b))])
        ids.append(job.job_id)
    # Chunk 1 was claimed by a worker that died mid-write: EXECUTING, an old heartbeat, a partial file.
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    assert await system.store.transition(ids[1], Phase.PENDING, Phase.EXECUTING, start_time=long_ago,
                                         heartbeat=long_ago, attempts=1)
    partial = system.job_dir(ids[1]) / "results" / ".scores.x1.part"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"\x93NUMPY half a file")
    for i in (0, 2):
        assert await system.store.transition(ids[i], Phase.PENDING, Phase.QUEUED)

    async def janitor() -> None:
        await asyncio.sleep(0.3)
        # Silent for a minute: the dead worker's chunk, not one running now (on a busy machine a
        # running chunk's last heartbeat is older than "now").
        assert await system.recover_stale(datetime.now(UTC) - timedelta(minutes=1)) == [ids[1]]

    merged, _ = await asyncio.gather(merge_chunks(system, ids, bounds, parent, 0.01), janitor())
    assert np.array_equal(merged, forest.score(fitted.forest, data))
    assert parent.last_progress == (2500, 2500)
    rerun = await system.store.get(ids[1])
    assert rerun is not None and rerun.phase is Phase.COMPLETED and rerun.attempts == 2
    stored = np.load(io.BytesIO((system.job_dir(ids[1]) / "results" / "scores").read_bytes()))
    assert stored.shape == (1000,)


async def test_planted_anomalies_of_the_ci_release_rank_high(open_system: Callable[..., object],
                                                              ci_engine: QueryEngine) -> None:
    """demo_truth (``release.demo.catalog``'s planted features): the dropout (7) and the single-band
    detection (8) of the `ci` rows rank in the top 1 %; the 'extreme z-Y' objects of feature 7 lie
    within the faint galaxies' Y noise."""
    from anomaly.fidelity import recall_at, roc_auc

    system: JobSystem = await open_system()  # type: ignore[misc]
    mags = "mag_auto_g, mag_auto_r, mag_auto_i, mag_auto_z, mag_auto_y"
    colours = ("mag_auto_g - mag_auto_r AS g_r, mag_auto_r - mag_auto_i AS r_i, "
               "mag_auto_i - mag_auto_z AS i_z, mag_auto_z - mag_auto_y AS z_y")
    # Dropouts and single-band detections are defined by their 99 magnitudes: this science case
    # scores the sentinels (NULL_VALUES=none) instead of skipping them as the default does.
    job = await _run(system, QUERY=f"SELECT coadd_object_id, {mags}, {colours} FROM des_dr1.main",
                     RESPONSEFORMAT="parquet", NULL_VALUES="none")
    assert job.phase is Phase.COMPLETED, job.error
    table = pq.read_table(_result(system, job, "result"))
    truth = await ci_engine.execute("SELECT coadd_object_id, feature_id, note FROM des_dr1.demo_truth "
                                    "WHERE feature_id IN (7, 8)", maxrec=None, timeout=30)
    rows = [r for batch in [b async for b in truth.batches] for r in batch.to_pylist()]
    ids = table.column("coadd_object_id").to_numpy()
    scores = table.column("score").to_numpy()
    ranks = dict(zip(ids.tolist(), table.column("rank").to_numpy().tolist(), strict=True))
    clear = [r["coadd_object_id"] for r in rows if not r["note"].startswith("extreme colour")]
    assert len(clear) == 2 and all(ranks[i] <= 0.01 * len(ids) for i in clear), [ranks[i] for i in clear]
    planted = np.isin(ids, [r["coadd_object_id"] for r in rows])
    assert recall_at(scores, np.isin(ids, clear)) == 1.0
    assert roc_auc(scores, planted) > 0.65  # measured 0.74: two of the four sit inside the noise


def _slow_chunk(params: Parameters, ctx: JobContext) -> list[Result]:
    """A chunk that takes longer than a few heartbeats, so progress between chunks is always stored."""
    results = run_chunk(params, ctx)
    time.sleep(0.3)
    return results


async def test_progress_is_visible_while_a_chunked_job_runs(open_system: Callable[..., object]) -> None:
    system: JobSystem = await open_system(1000, chunk=_slow_chunk)  # type: ignore[misc]
    job = await system.create(SCORE_KIND, [Parameter("QUERY", QUERY), Parameter("NTREES", "100")], run=True)
    seen: set[tuple[int, int]] = set()
    for _ in range(3000):
        current = await system.store.get(job.job_id)
        assert current is not None
        if current.phase in FINAL:
            break
        if current.progress is not None:
            seen.add(current.progress)
        await asyncio.sleep(0.01)
    assert current.phase is Phase.COMPLETED
    totals = {total for _, total in seen}
    assert len(totals) == 1 and totals.pop() > 9000
    done, total = current.progress or (0, 0)
    assert done == total > 9000  # the final state is exact, not the last heartbeat's
    assert any(0 < done < total for done, total in seen), sorted(seen)


async def test_aborting_a_chunked_job_leaves_no_chunk_behind(open_system: Callable[..., object]) -> None:
    system: JobSystem = await open_system(1000)  # type: ignore[misc]
    job = await system.create(SCORE_KIND, [Parameter("QUERY", QUERY), Parameter("NTREES", "100")], run=True)
    for _ in range(3000):
        if await system.store.list_jobs(kind=CHUNK_KIND, owner=None):
            break
        await asyncio.sleep(0.01)
    assert await system.abort(job.job_id) is Phase.ABORTED
    for _ in range(600):
        left = await system.store.list_jobs(kind=CHUNK_KIND, owner=None)
        dirs = [p.name for p in system.config.results_dir.iterdir() if p.name != job.job_id]
        if not left and not dirs:
            break
        await asyncio.sleep(0.05)
    assert left == [] and dirs == []


async def test_sentinel_magnitudes_are_skipped_and_counted_by_default(open_system: Callable[..., object]) -> None:
    system: JobSystem = await open_system()  # type: ignore[misc]
    mags = "SELECT coadd_object_id, mag_auto_g, mag_auto_r, mag_auto_i, mag_auto_z, mag_auto_y FROM des_dr1.main"
    job = await _run(system, QUERY=mags, NTREES="30", RESPONSEFORMAT="parquet", COLOUR="red")
    assert job.phase is Phase.COMPLETED, job.error
    summary = json.loads(_result(system, job, "summary.json").read_text())
    rows = summary["rows"]
    assert rows["skipped_sentinel"] > 0 and rows["imputed"] == 0
    assert rows["skipped"] == rows["skipped_sentinel"] + rows["skipped_null"]
    assert rows["null_values"] == [99.0, -99.0, 999.0, -999.0]
    top = pq.read_table(_result(system, job, "top"))
    values = np.column_stack([top.column(n).to_numpy() for n in top.column_names[3:]])
    assert not np.isin(values, [99.0, -99.0, 999.0, -999.0]).any()  # no sentinel in the top list
    assert summary["warnings"] == ["unknown parameters ignored: COLOUR"]
    infos = _infos(_result(system, job, "top"))
    assert infos["warning"] == "unknown parameters ignored: COLOUR"
    assert int(infos["rows_sentinel"]) == rows["skipped_sentinel"]
    assert summary["memory_estimate_bytes"] > 0
    # With NULL_VALUES=none the same selection keeps every measured row.
    kept = await _run(system, QUERY=mags, NTREES="30", RESPONSEFORMAT="parquet", NULL_VALUES="none")
    again = json.loads(_result(system, kept, "summary.json").read_text())["rows"]
    assert again["skipped_sentinel"] == 0 and again["scored"] == rows["scored"] + rows["skipped_sentinel"]


@pytest.fixture
async def declared_engine(tmp_path: Path) -> AsyncIterator[QueryEngine]:
    """A release of one table whose column ``y`` declares -9999 its null (as a metadata file does:
    ``[columns.y] null = -9999``); in ``x``, which declares none, -9999 is a value like any other."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(20.0, 1.0, 400).astype(np.float32), rng.normal(0.0, 1.0, 400)
    y[:7], x[7:10], x[10:12] = -9999.0, 99.0, -9999.0
    data = pa.table({"id": np.arange(400, dtype=np.int64), "x": x, "y": y})
    path = tmp_path / "declared.duckdb"
    async with await open_store("", path, readonly_role="") as store:
        await ingest_arrow(store, "t.objects", data, overrides={"columns": {"y": {"null": -9999}}})
    backend = open_backend("", path, base_url="http://x", readonly_role="")
    try:
        yield QueryEngine(backend, await load_metadata(backend))
    finally:
        await backend.close()


async def test_a_columns_declared_null_is_skipped_and_counted(open_system: Callable[..., object],
                                                              declared_engine: QueryEngine) -> None:
    query = "SELECT id, x, y FROM t.objects"
    result = await declared_engine.execute(query, maxrec=None, timeout=30)
    assert [c.null for c in result.columns] == [None, None, "-9999"]  # the ADQL output keeps the declaration
    system: JobSystem = await open_system(engine=declared_engine)  # type: ignore[misc]
    job = await _run(system, QUERY=query, NTREES="20", RESPONSEFORMAT="parquet")
    assert job.phase is Phase.COMPLETED, job.error
    rows = json.loads(_result(system, job, "summary.json").read_text())["rows"]
    # 7 rows with y = -9999 (declared) and 3 with x = 99 (a survey sentinel); x = -9999 is scored.
    assert (rows["skipped"], rows["skipped_sentinel"], rows["skipped_null"]) == (10, 10, 0)
    assert rows["declared_nulls"] == {"y": -9999.0}
    assert int(_infos(_result(system, job, "top"))["rows_sentinel"]) == 10
    ids = pq.read_table(_result(system, job, "result")).column("id").to_pylist()
    assert sorted(ids) == list(range(10, 400))
    # NULL_VALUES=none scores them all as numbers, declared nulls included.
    raw = await _run(system, QUERY=query, NTREES="20", RESPONSEFORMAT="parquet", NULL_VALUES="none")
    again = json.loads(_result(system, raw, "summary.json").read_text())["rows"]
    assert (again["skipped"], again["declared_nulls"]) == (0, {})


def _infos(path: Path) -> dict[str, str]:
    """The INFO name/value pairs a Parquet result carries (``skygate.info.<name>`` metadata)."""
    meta = pq.read_schema(path).metadata or {}
    prefix = b"skygate.info."
    return {k[len(prefix):].decode(): v.decode() for k, v in meta.items() if k.startswith(prefix)}


async def test_a_job_over_the_worker_memory_is_refused_naming_its_parameters(tmp_path: Path,
                                                                            ci_engine: QueryEngine) -> None:
    resources = AnomalyResources(engine=lambda: ci_engine, memory_limit=2**30)
    kinds = [JobKind(SCORE_KIND, run_score, check=functools.partial(check, memory_limit=2**30),
                     resources=resources)]
    config = job_config(store_url=f"sqlite:///{tmp_path / 'jobs.sqlite'}", results_dir=tmp_path / "results",
                        sweep_interval=0)
    system = await open_job_system(config, kinds)
    try:
        job = await system.create(SCORE_KIND, [Parameter("QUERY", QUERY), Parameter("NTREES", "10000"),
                                               Parameter("SAMPLE_SIZE", "20000")], run=True)
        assert job.phase is Phase.ERROR and job.error is not None  # refused before it was queued
        assert "NTREES=10000 and SAMPLE_SIZE=20000 with 4 features need about 48.8 GiB" in job.error.message
        assert "a job may use 1 GiB" in job.error.message
    finally:
        await system.close()
