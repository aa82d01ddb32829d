"""The ``anomaly.score`` UWS job kind and its chunk kind ``anomaly.score.chunk``.

``run_score`` runs the job's ADQL through the release's query engine, fits an Extended Isolation
Forest on a sample (or loads the forest of the job named by MODEL), scores every selected row and
publishes ``result``, ``top``, ``scores.png``, ``model`` and ``summary.json``.

Scaling. Fitting uses only ``NTREES x SAMPLE_SIZE`` rows, so it runs in the job. Scoring a selection
larger than ``AnomalyResources.chunk_rows`` is split: the job writes the standardised feature matrix
and the forest to its scratch directory (on the shared results volume) and creates one
``anomaly.score.chunk`` job per row range; any worker on any machine runs them (dramatiq on Redis, or
the in-process queue). While it waits, the parent job runs chunks nobody has started yet itself
(claiming is the store's compare-and-set, so each chunk runs once), so it never deadlocks when all
workers are busy. A chunk publishes its scores as one result file, written atomically; a worker killed
mid-chunk leaves no file, the UWS janitor queues the chunk again, and the parent merges chunk files in
row order, so no row is lost or counted twice. Scores depend only on the row and the forest
(anomaly/forest.py), so the merged scores equal a single-process run bit for bit. When the release
is served by Spark, the whole job runs in anomaly/spark.py instead: the rows never leave Spark.

Resources come through ``ctx.resources`` (an ``AnomalyResources`` built by ``skygate/worker.py``):
the query engine and the job system, looked up when a job runs. This module never imports ``skygate``.
Tests: tests/anomaly/test_jobs.py.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from anomaly import forest
from anomaly import model as model_file
from anomaly.forest import FloatArray
from anomaly.memory import check_memory, feature_count
from anomaly.model import Model, ModelFormatError
from anomaly.params import ScoreParams, parse_score
from anomaly.service import (
    Selection,
    check_model,
    declared_nulls,
    fit_model,
    plot_scores,
    result_columns,
    result_table,
    select,
    top_table,
    write_table_file,
)
from anomaly.spark import Report, on_spark, run_score_on_spark
from dali.errors import FatalError, TransientError, UsageError
from dali.writers import Info
from release.engine import QueryEngine, StatementTable
from uws import JobContext, Parameter, Parameters, Phase, Result
from uws.system import JobNotFound, JobSystem

__all__ = [
    "CHUNK_KIND",
    "SCORE_KIND",
    "AnomalyResources",
    "check",
    "merge_chunks",
    "run_chunk",
    "run_score",
]

SCORE_KIND = "anomaly.score"
CHUNK_KIND = "anomaly.score.chunk"
NULL_POLICY = ("rows with a NULL, NaN or infinite feature, or a feature equal to one of NULL_VALUES (with survey, "
               "also to the null value its column declares), are skipped (not imputed) and counted")
_SCORE_BLOCK = 65_536
_NPY = "application/x-npy"


async def _no_tables(owner: str | None) -> Mapping[str, StatementTable]:
    return {}


@dataclass(frozen=True, slots=True)
class AnomalyResources:
    """What ``skygate/worker.py`` hands the anomaly job kinds (``JobKind.resources``).

    Attributes
    ----------
    engine
        Returns the release's query engine, or None when no release is loaded.
    jobs
        Returns the job system of this process (to create and run chunk jobs), or None to score
        every selection in the job itself.
    chunk_rows
        Selections with more rows are scored in chunks of this many rows.
    max_rows
        Most rows a selection may have (the query is limited to this plus one).
    query_timeout
        Seconds the query may take.
    poll_interval
        Seconds between looks at the chunk jobs' phases.
    memory_limit
        Bytes a job's estimated arrays may take (``anomaly/memory.py``); None: no limit.
    tables
        The tables a job's owner sees besides the release (their own tables), for the query.
    """

    engine: Callable[[], QueryEngine | None]
    jobs: Callable[[], JobSystem | None] = lambda: None
    chunk_rows: int = 250_000
    max_rows: int = 20_000_000
    query_timeout: float = 3600.0
    poll_interval: float = 0.05
    memory_limit: int | None = None
    tables: Callable[[str | None], Awaitable[Mapping[str, StatementTable]]] = _no_tables


def check(params: Parameters, memory_limit: int | None = None) -> None:
    """Cheap validation in the API before the job is queued (no I/O): the parameters, and the
    forest's memory against ``memory_limit`` (features counted from the query's select list)."""
    p = _named(parse_score, params)
    if p.model is None:
        check_memory(p.ntrees, p.sample_size, feature_count(p.query), None, memory_limit)


async def run_score(params: Parameters, ctx: JobContext) -> list[Result]:
    """The ``anomaly.score`` job: query, fit or load, score, publish."""
    p = _named(parse_score, params)
    resources = _resources(ctx)
    engine = resources.engine()
    if engine is None:
        raise TransientError("no data release is loaded on this server", hint="try again once it is ingested")
    timings: dict[str, float] = {}
    started = time.perf_counter()
    given = await _earlier_model(p.model, ctx, resources) if p.model else None
    if on_spark(engine):  # the rows stay in Spark, which scores them (anomaly/spark.py)
        try:
            return await run_score_on_spark(p, ctx, engine, given, tables=await resources.tables(ctx.owner),
                                            max_rows=resources.max_rows, query_timeout=resources.query_timeout,
                                            memory_limit=resources.memory_limit, report=Report(_infos, _summary))
        except UsageError as exc:
            raise _with_param(exc, "QUERY") from exc
    selection = await _selection(engine, p, resources, await resources.tables(ctx.owner))
    timings["query_s"] = time.perf_counter() - started
    ctx.checkpoint()
    mark = time.perf_counter()
    rows, features = selection.features.shape
    if given is not None:
        _named(check_model, given, selection, p.model)
        memory = check_memory(given.forest.ntrees, given.forest.sample_size, features, rows, resources.memory_limit)
        fitted = given
    else:
        memory = check_memory(p.ntrees, p.sample_size, features, rows, resources.memory_limit)
        # The fit stops between trees when the job is aborted or the worker shuts down.
        fitted = await asyncio.to_thread(_named, fit_model, selection, p, ctx.checkpoint)
    timings["fit_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    data = fitted.transform(selection.features)
    scores, chunks = await _scores(data, fitted, ctx, resources)
    timings["score_s"] = time.perf_counter() - mark
    ctx.progress(rows, rows)  # exact, however the chunks reported
    return await _publish(ctx, p, selection, fitted, scores, chunks, timings, memory)


def run_chunk(params: Parameters, ctx: JobContext) -> list[Result]:
    """The ``anomaly.score.chunk`` job: score rows START..STOP of its parent's matrix.

    Reads ``input.npy`` (features as the forest sees them) and ``model.npz`` from the parent job's
    scratch directory; publishes ``scores`` (``.npy``, float64, one per row).
    """
    try:
        parent = params["PARENT"]
        start, stop = int(params["START"]), int(params["STOP"])
    except (KeyError, ValueError) as exc:
        raise FatalError("an anomaly chunk job needs PARENT, START and STOP") from exc
    scratch = ctx.job_dir.parent / parent / "scratch"
    try:
        fitted = model_file.load(scratch / "model.npz")
        data = np.load(scratch / "input.npy", mmap_mode="r")
    except (OSError, ModelFormatError) as exc:
        raise FatalError(f"the input of anomaly job {parent} is gone") from exc
    if not 0 <= start < stop <= data.shape[0]:
        raise FatalError(f"rows {start}..{stop} are outside anomaly job {parent}'s input")
    scores = _score_rows(fitted.forest, data, start, stop, ctx)
    buffer = io.BytesIO()
    np.save(buffer, scores)
    return [ctx.add_result("scores", buffer.getvalue(), _NPY)]


# -- the steps of run_score -----------------------------------------------------------------


def _resources(ctx: JobContext) -> AnomalyResources:
    if not isinstance(ctx.resources, AnomalyResources):
        raise FatalError("the anomaly job kind was registered without its resources")
    return ctx.resources


async def _earlier_model(model_id: str | None, ctx: JobContext, resources: AnomalyResources) -> Model:
    """The forest published by job ``model_id`` (same owner, same kind, COMPLETED)."""
    jobs = resources.jobs()
    if jobs is None:
        # Without the job store the owner cannot be checked, and another owner's model is never read.
        raise UsageError("MODEL cannot be used here: this worker has no job store to check the job's owner",
                         param="MODEL")
    try:
        job = await jobs.get(str(model_id), kind=SCORE_KIND, owner=ctx.owner)
    except JobNotFound:
        raise UsageError(f"MODEL: there is no anomaly job {model_id} of yours", param="MODEL") from None
    if job.phase is not Phase.COMPLETED:
        raise UsageError(f"MODEL: anomaly job {model_id} is {job.phase}, not COMPLETED", param="MODEL",
                         hint="wait until it has completed")
    path = ctx.job_dir.parent / str(model_id) / "results" / "model"
    try:
        return await asyncio.to_thread(model_file.load, path)
    except ModelFormatError:
        raise UsageError(f"MODEL: anomaly job {model_id} has no readable model", param="MODEL") from None


async def _selection(engine: QueryEngine, p: ScoreParams, resources: AnomalyResources,
                     tables: Mapping[str, StatementTable]) -> Selection:
    try:
        result = await engine.execute(p.query, maxrec=resources.max_rows, timeout=resources.query_timeout,
                                      tables=tables)
        batches = [batch async for batch in result.batches]
    except UsageError as exc:
        raise _with_param(exc, "QUERY") from exc
    columns = result.columns
    schema = pa.schema([pa.field(f"c{i}", batches[0].schema.field(i).type) for i in range(len(columns))]) \
        if batches else None
    if schema is None:
        table = pa.table({f"c{i}": pa.array([], pa.float64()) for i in range(len(columns))})
    else:
        table = pa.Table.from_batches([pa.RecordBatch.from_arrays(b.columns, schema=schema) for b in batches])
    if table.num_rows > resources.max_rows:
        raise UsageError(f"QUERY selects more than {resources.max_rows:,} rows, the most one job scores",
                         param="QUERY", hint="split the selection, e.g. by region, and reuse the model with MODEL")
    return await asyncio.to_thread(_named, select, columns, table, p.id_column, p.null_values,
                                   declared=p.declared_nulls)


async def _scores(data: FloatArray, fitted: Model, ctx: JobContext,
                  resources: AnomalyResources) -> tuple[FloatArray, list[str]]:
    """Every row's score, in the job or spread over chunk jobs; returns the chunk job ids too."""
    rows = data.shape[0]
    jobs = resources.jobs()
    if jobs is None or rows <= resources.chunk_rows:
        return await asyncio.to_thread(_score_rows, fitted.forest, data, 0, rows, ctx), []
    return await _scores_in_chunks(data, fitted, ctx, resources, jobs)


def _score_rows(fitted: forest.Forest, data: Any, start: int, stop: int, ctx: JobContext) -> FloatArray:
    """Score rows start..stop block by block, reporting progress and stopping when asked."""
    out = np.empty(stop - start)
    ctx.progress(0, stop - start)
    for a in range(start, stop, _SCORE_BLOCK):
        b = min(a + _SCORE_BLOCK, stop)
        ctx.checkpoint()
        out[a - start : b - start] = forest.score(fitted, np.asarray(data[a:b]))
        ctx.progress(b - start, stop - start)
    return out


async def _scores_in_chunks(data: FloatArray, fitted: Model, ctx: JobContext, resources: AnomalyResources,
                            jobs: JobSystem) -> tuple[FloatArray, list[str]]:
    rows = data.shape[0]
    await asyncio.to_thread(np.save, ctx.scratch_path("input.npy"), data)
    await asyncio.to_thread(model_file.save, fitted, ctx.scratch_path("model.npz"))
    bounds = [(a, min(a + resources.chunk_rows, rows)) for a in range(0, rows, resources.chunk_rows)]
    chunk_ids: list[str] = []
    try:
        for a, b in bounds:
            job = await jobs.create(CHUNK_KIND, [Parameter("PARENT", ctx.job_id), Parameter("START", str(a)),
                                                 Parameter("STOP", str(b))], owner=ctx.owner, run=True)
            chunk_ids.append(job.job_id)
        return await merge_chunks(jobs, chunk_ids, bounds, ctx, resources.poll_interval), chunk_ids
    finally:
        # Shielded: an ABORT arriving now must not leave chunk jobs behind.
        await asyncio.shield(_delete_chunks(jobs, chunk_ids))


async def merge_chunks(jobs: JobSystem, chunk_ids: list[str], bounds: list[tuple[int, int]], ctx: JobContext,
                       poll: float) -> FloatArray:
    """Wait for the chunk jobs (running queued ones here) and join their scores in row order.

    Each chunk's ``scores`` file exists only once complete (``add_result`` writes beside it and
    renames), and must hold exactly its range's rows: the merge neither loses nor repeats a row.
    """
    await _wait_for_chunks(jobs, chunk_ids, bounds, ctx, poll)
    parts = []
    for chunk_id, (a, b) in zip(chunk_ids, bounds, strict=True):
        part = await asyncio.to_thread(np.load, jobs.job_dir(chunk_id) / "results" / "scores")
        if part.shape != (b - a,):
            raise FatalError(f"chunk job {chunk_id} returned {part.shape[0]} scores for rows {a}..{b}")
        parts.append(part)
    return np.concatenate(parts)


async def _wait_for_chunks(jobs: JobSystem, chunk_ids: list[str], bounds: list[tuple[int, int]], ctx: JobContext,
                           poll: float) -> None:
    """Return once every chunk is COMPLETED, reporting rows scored / total as chunks finish."""
    total = bounds[-1][1]
    finished: set[int] = set()
    while len(finished) < len(chunk_ids):
        for i in range(len(chunk_ids)):
            if i in finished:
                continue
            ctx.checkpoint()
            phase = await jobs.store.phase(chunk_ids[i])
            if phase is Phase.QUEUED:
                # Nobody has started it: run it here (a lost race with a worker is harmless). Shielded:
                # if this job is aborted meanwhile, the chunk's own runner sees it deleted and cleans up.
                await asyncio.shield(jobs.runner.execute(chunk_ids[i]))
                phase = await jobs.store.phase(chunk_ids[i])
            if phase is Phase.COMPLETED:
                finished.add(i)
                ctx.progress(sum(bounds[k][1] - bounds[k][0] for k in finished), total)
            elif phase not in (Phase.QUEUED, Phase.EXECUTING):
                a, b = bounds[i]
                job = await jobs.store.get(chunk_ids[i])
                reason = job.error.message if job is not None and job.error is not None else f"it ended {phase}"
                raise TransientError(f"scoring rows {a}..{b} failed: {reason}", hint="submit the job again")
        if len(finished) < len(chunk_ids):
            await asyncio.sleep(poll)


async def _delete_chunks(jobs: JobSystem, chunk_ids: list[str]) -> None:
    for chunk_id in chunk_ids:
        await jobs.delete(chunk_id)


async def _publish(ctx: JobContext, p: ScoreParams, selection: Selection, fitted: Model, scores: FloatArray,
                   chunks: list[str], timings: dict[str, float], memory: int) -> list[Result]:
    started = time.perf_counter()
    table = await asyncio.to_thread(result_table, selection, scores)
    top = min(p.top, table.num_rows)
    threshold = float(np.sort(scores)[-top]) if top else None
    columns = result_columns(selection)
    infos = _infos(p, selection, fitted, threshold, top)
    fmt = p.responseformat
    out = ctx.scratch_path("result.out")
    await write_table_file(out, fmt, columns, table, infos)
    results = [ctx.add_result("result", out, fmt.media_type)]
    top_rows = await asyncio.to_thread(top_table, table, top)
    await write_table_file(out, fmt, columns, top_rows, infos)
    results.append(ctx.add_result("top", out, fmt.media_type))
    png = await asyncio.to_thread(plot_scores, scores, threshold, top)
    results.append(ctx.add_result("scores.png", png, "image/png"))
    model_path = ctx.scratch_path("model.out.npz")
    await asyncio.to_thread(model_file.save, fitted, model_path)
    results.append(ctx.add_result("model", model_path, "application/x-npz"))
    timings["write_s"] = time.perf_counter() - started  # result, top, plot and model
    summary = _summary(ctx, p, selection, fitted, threshold, top, chunks, timings, memory)
    results.append(ctx.add_result("summary.json", json.dumps(summary, indent=2).encode(), "application/json"))
    return results


def _infos(p: ScoreParams, selection: Selection, fitted: Model, threshold: float | None, top: int) -> list[Info]:
    f = fitted.forest
    scored = selection.rows_selected - selection.rows_skipped
    infos = [
        Info("rows_selected", str(selection.rows_selected)),
        Info("rows_scored", str(scored)),
        Info("rows_skipped", str(selection.rows_skipped), NULL_POLICY),
        Info("rows_sentinel", str(selection.rows_sentinel), _sentinel_note(p, selection)),
        Info("model", p.model or "fitted by this job", "MODEL job id, or fitted on this selection"),
        Info("features", ",".join(fitted.features)),
        Info("ntrees", str(f.ntrees)),
        Info("sample_size", str(f.sample_size)),
        Info("extension_level", str(f.extension_level)),
        Info("seed", str(fitted.seed)),
        Info("standardize", "yes" if fitted.center is not None else "no"),
        Info("top", str(top), f"score threshold {threshold!r}" if threshold is not None else None),
    ]
    if p.unknown:
        infos.append(Info("warning", _unknown_warning(p)))
    return infos


def _declared(p: ScoreParams, selection: Selection) -> dict[str, float]:
    """The null values the feature columns declare, when the job treats them as missing."""
    return declared_nulls(selection.feature_columns) if p.declared_nulls else {}


def _sentinel_note(p: ScoreParams, selection: Selection) -> str:
    note = f"rows skipped for a feature equal to NULL_VALUES {p.echo()['NULL_VALUES']}"
    declared = _declared(p, selection)
    if declared:
        note += " or to its column's declared null (" + ", ".join(f"{k}={v:g}" for k, v in declared.items()) + ")"
    return note


def _unknown_warning(p: ScoreParams) -> str:
    return f"unknown parameters ignored: {', '.join(p.unknown)}"


def _summary(ctx: JobContext, p: ScoreParams, selection: Selection, fitted: Model, threshold: float | None,
             top: int, chunks: list[str], timings: dict[str, float], memory: int) -> dict[str, Any]:
    f = fitted.forest
    return {
        "format": "skygate-anomaly-summary",
        "version": 1,
        "job_id": ctx.job_id,
        "parameters": p.echo(),
        "model": {
            "source": f"job {p.model}" if p.model else "fitted",
            "format": f"{model_file.FORMAT} {model_file.VERSION}",
            "features": list(fitted.features),
            "ntrees": f.ntrees,
            "sample_size": f.sample_size,
            "extension_level": f.extension_level,
            "height_limit": f.height_limit,
            "seed": fitted.seed,
            "standardize": fitted.center is not None,
        },
        "rows": {
            "selected": selection.rows_selected,
            "scored": selection.rows_selected - selection.rows_skipped,
            "skipped": selection.rows_skipped,
            "skipped_sentinel": selection.rows_sentinel,
            "skipped_null": selection.rows_skipped - selection.rows_sentinel,
            "imputed": 0,
            "null_values": list(p.null_values),
            "declared_nulls": _declared(p, selection),
            "null_policy": NULL_POLICY,
        },
        "memory_estimate_bytes": memory,
        "warnings": [_unknown_warning(p)] if p.unknown else [],
        "top": {"rows": top, "threshold": threshold},
        "chunks": len(chunks) or 1,
        "timings": {k: round(v, 4) for k, v in timings.items()},
    }


def _with_param(exc: UsageError, param: str) -> UsageError:
    """The same refusal, its message starting with the parameter's name (users see only the text)."""
    name = exc.param or param
    message = exc.message if exc.message.upper().startswith(name.upper()) else f"{name}: {exc.message}"
    return UsageError(message, param=name, hint=exc.hint)


def _named(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``func``; a ``UsageError`` it raises comes back naming its parameter first."""
    try:
        return func(*args, **kwargs)
    except UsageError as exc:
        raise _with_param(exc, "QUERY") from exc
