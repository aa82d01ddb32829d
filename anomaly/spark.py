"""Anomaly jobs on Spark: the selected rows stay in the executors, and the scoring core runs there.

When the release's backend is Spark (``SKYGATE_DATABASE_URL=sc://``), ``anomaly/jobs.py`` hands the
job here. The job's ADQL becomes the DataFrame of its Spark SQL (``SparkBackend.frame``), and these
Spark jobs follow, each watching the UWS job's checkpoint so that ABORT or the execution duration
interrupts it (``SparkBackend.run``):

1. count the selected rows (refused above the worker's row limit, as in the local path);
2. ``mapInArrow``: each Arrow batch goes through ``service.select`` (the local path's NULL/NaN and
   NULL_VALUES policy) and ``anomaly.sample.row_keys``; back come the counts of selected, skipped and
   sentinel rows and the rows whose key is below ``sample.key_bound``. The driver keeps those with the
   smallest keys, the training sample the local path fits on, and fits the same forest (or loads MODEL's);
3. ``mapInArrow`` with the fitted model in the function (Spark ships it to the executors with the
   stage's tasks): each batch is selected again, transformed and scored by ``forest.score``, and the
   executors write (pos, id, score, features) as Parquet in the job's scratch directory (``pos`` is
   Spark's selection order);
4. Spark sorts those rows (score descending, then ``pos``) into ``scratch/scores.parquet``, whose files
   are in rank order; the worker reads them (it sees the job directory, as the executors do) into the
   usual writers, counting ranks and the histogram on the way, so its memory stays flat.

A row's score depends only on the row and the forest (anomaly/forest.py), and the forest only on the
training sample (anomaly/sample.py), so every score equals the local path's bit for bit; so does every
rank, except among equal scores, which keep each engine's selection order. The results are the local
path's: ``result`` (rows best first here, in selection order there), ``top``, ``scores.png``, ``model``
and ``summary.json`` (which adds ``engine``, ``spark``: where the Parquet scores are, and ``rank_s``).

The executors import this module (the functions ``mapInArrow`` runs), so Spark's Python workers need
skygate installed, with numpy, pyarrow and numba (deploy/README.md).
Tests: tests/anomaly/test_spark.py (``spark`` marker).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import shutil
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from anomaly import forest
from anomaly import model as model_file
from anomaly.memory import check_memory
from anomaly.model import Model
from anomaly.params import ScoreParams
from anomaly.sample import below, key_bound, row_keys, smallest
from anomaly.service import (
    SCORE_BINS,
    Selection,
    check_model,
    fit_sample,
    plot_histogram,
    result_columns,
    score_range,
    select,
    write_table_file,
)
from dali.errors import FatalError, UsageError
from dali.values import Column
from dali.writers import Info, write_table
from release.engine import QueryEngine, StatementTable, arrow_type
from release.spark import SparkBackend
from uws import JobContext, Result

__all__ = ["Report", "on_spark", "run_score_on_spark"]

_COUNTS = ("selected", "skipped", "sentinel")
# Spark SQL types of the Arrow types a declared column becomes (release.engine.arrow_type); Spark has
# no unsigned byte, so unsignedByte travels as a short and is cast back on the worker.
_SPARK_TYPES: dict[pa.DataType, tuple[str, pa.DataType]] = {
    pa.bool_(): ("boolean", pa.bool_()),
    pa.uint8(): ("smallint", pa.int16()),
    pa.int16(): ("smallint", pa.int16()),
    pa.int32(): ("int", pa.int32()),
    pa.int64(): ("bigint", pa.int64()),
    pa.float32(): ("float", pa.float32()),
    pa.float64(): ("double", pa.float64()),
    pa.string(): ("string", pa.string()),
}


@dataclass(frozen=True, slots=True)
class Report:
    """How ``anomaly/jobs.py`` describes a job (INFO elements, summary.json), so both paths say the same."""

    infos: Callable[[ScoreParams, Selection, Model, float | None, int], list[Info]]
    summary: Callable[..., dict[str, Any]]


@dataclass(frozen=True, slots=True)
class _Batches:
    """What an executor needs to select a batch as the local path does (pickled into the tasks)."""

    columns: tuple[Column, ...]
    id_column: str | None
    null_values: tuple[float, ...]
    declared_nulls: bool
    # per query column: the Arrow type it is declared as (None: as Spark gives it)
    declared: tuple[pa.DataType | None, ...]
    # per result column (id, then the features): the declared Arrow type, and the one written to Parquet
    kept: tuple[pa.DataType, ...]
    written: tuple[pa.DataType, ...]

    def select(self, batch: pa.RecordBatch) -> Selection:
        arrays = []
        for array, kind in zip(batch.columns, self.declared, strict=True):
            if kind is not None and array.type != kind:
                with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    array = array.cast(kind)  # as release.engine conforms the local path's batches
            arrays.append(array)
        table = pa.Table.from_arrays(arrays, names=[f"c{i}" for i in range(len(arrays))])
        return select(self.columns, table, self.id_column, self.null_values, allow_empty=True,
                      declared=self.declared_nulls)


def on_spark(engine: QueryEngine) -> bool:
    """Whether ``engine`` runs on Spark (then ``run_score_on_spark`` scores its selections)."""
    return isinstance(engine.backend, SparkBackend)


async def run_score_on_spark(p: ScoreParams, ctx: JobContext, engine: QueryEngine, given: Model | None, *,
                             tables: Mapping[str, StatementTable], max_rows: int, query_timeout: float,
                             memory_limit: int | None, report: Report) -> list[Result]:
    """The ``anomaly.score`` job with its selection in Spark: select, fit or load, score, publish.

    Parameters
    ----------
    p, ctx
        The job's parameters and context.
    engine
        The release's query engine; its backend is a ``SparkBackend``.
    given
        MODEL's forest, or None to fit one.
    tables
        The job owner's own tables, as for any query.
    max_rows, query_timeout, memory_limit
        The worker's limits (``AnomalyResources``): most rows a job scores, seconds for each
        selecting pass, bytes of the forest and the training sample.
    report
        The local path's INFO elements and summary.json.

    Raises
    ------
    UsageError
        As the local path: bad columns, no rows, too many rows, a MODEL with other features, memory.
    """
    backend = engine.backend
    if not isinstance(backend, SparkBackend):
        raise FatalError("an anomaly job on Spark needs the Spark backend")
    timings: dict[str, float] = {}
    started = time.perf_counter()
    statement = await engine.prepare(p.query, maxrec=None, tables=tables)
    async with backend.frame(statement.sql, uploads=statement.relations) as frame:
        spec = _spec(statement.columns, p)
        selection, candidates = await _select(backend, frame, spec, p, given, ctx, max_rows, query_timeout,
                                              memory_limit)
        timings["query_s"] = time.perf_counter() - started
        mark = time.perf_counter()
        rows, d = selection.rows_selected - selection.rows_skipped, len(spec.columns) - 1
        if given is not None:
            check_model(given, selection, str(p.model))
            memory = check_memory(given.forest.ntrees, given.forest.sample_size, d, None, memory_limit)
            fitted = given
        else:
            keys, features = candidates
            sample = smallest(keys, features, p.ntrees * p.sample_size)
            memory = check_memory(p.ntrees, p.sample_size, d, sample.shape[0], memory_limit)
            fitted = await asyncio.to_thread(fit_sample, sample, selection.feature_names, p, ctx.checkpoint)
        timings["fit_s"] = time.perf_counter() - mark
        mark = time.perf_counter()
        scored = ctx.scratch_path("scored.parquet")
        ctx.progress(0, rows)
        await backend.run(lambda spark: _scored(frame, spec, fitted).write.mode("overwrite").parquet(str(scored)),
                          stop=ctx.checkpoint)
        timings["score_s"] = time.perf_counter() - mark
    ctx.progress(rows, rows)
    mark = time.perf_counter()
    scores = ctx.scratch_path("scores.parquet")
    await backend.run(lambda spark: _ranked(spark, scored).write.mode("overwrite").parquet(str(scores)),
                      stop=ctx.checkpoint)
    await asyncio.to_thread(shutil.rmtree, scored, True)
    timings["rank_s"] = time.perf_counter() - mark
    return await _publish(ctx, p, _Ranked(scores, rows), selection, fitted, timings, memory, report, spec)


# -- selecting and sampling ----------------------------------------------------------------------


def _spec(columns: tuple[Column, ...], p: ScoreParams) -> _Batches:
    """Check the columns as the local path does; the types each column is read and written as."""
    empty = pa.table({f"c{i}": pa.array([], pa.float64()) for i in range(len(columns))})
    chosen = select(columns, empty, p.id_column, allow_empty=True)  # raises for bad columns
    id_index = next(i for i, c in enumerate(columns) if c is chosen.id_column)
    order = [id_index, *(i for i in range(len(columns)) if i != id_index)]
    declared = tuple(arrow_type(c) for c in columns)
    kept: list[pa.DataType] = []
    for i in order:
        kind = declared[i]
        if kind is None or kind not in _SPARK_TYPES:  # features are numeric: only an identifier gets here
            raise UsageError(f"ID_COLUMN {columns[i].name!r} ({columns[i].datatype}) cannot identify rows here",
                             param="ID_COLUMN", hint="select an integer or text identifier")
        kept.append(kind)
    return _Batches(columns, p.id_column, p.null_values, p.declared_nulls, declared, tuple(kept),
                    tuple(_SPARK_TYPES[k][1] for k in kept))


async def _select(backend: SparkBackend, frame: Any, spec: _Batches, p: ScoreParams, given: Model | None,
                  ctx: JobContext, max_rows: int, timeout: float, memory_limit: int | None
                  ) -> tuple[Selection, tuple[npt.NDArray[np.uint64], npt.NDArray[np.float64]]]:
    """The selection's counts (a ``Selection`` without rows) and the training sample's candidates."""
    selected = await backend.run(lambda spark: int(frame.count()), timeout=timeout, stop=ctx.checkpoint)
    if selected > max_rows:
        raise UsageError(f"QUERY selects more than {max_rows:,} rows, the most one job scores",
                         param="QUERY", hint="split the selection, e.g. by region, and reuse the model with MODEL")
    empty = pa.table({f"c{i}": pa.array([], pa.float64()) for i in range(len(spec.columns))})
    if selected == 0:
        select(spec.columns, empty, p.id_column)  # the local path's refusal
    wanted = 0 if given is not None else p.ntrees * p.sample_size
    if wanted:
        # the sample lives on the worker: refused before it is collected, as the local path refuses
        check_memory(p.ntrees, p.sample_size, len(spec.columns) - 1, min(wanted, selected), memory_limit)
    bound = key_bound(wanted, selected) if wanted else 0
    counts, keys, features = await _candidates(backend, frame, spec, p.seed, bound, timeout, ctx)
    kept = counts["selected"] - counts["skipped"]
    if kept == 0:
        raise UsageError(f"all {counts['selected']} selected rows have NULL, NaN or sentinel features", param="QUERY",
                         hint="rows with missing features (NULL_VALUES) are skipped; select rows with measured values")
    for again in (key_bound(wanted, kept), 2**64):
        # fewer keys below the bound than the sample needs: the bound counted skipped rows (or a
        # one-in-10**15 draw); the kept rows set the next one, and every row is the last resort
        if keys.shape[0] >= min(wanted, kept):
            break
        if again > bound:
            bound = again
            counts, keys, features = await _candidates(backend, frame, spec, p.seed, bound, timeout, ctx)
    chosen = select(spec.columns, empty, p.id_column, allow_empty=True)
    selection = Selection(chosen.id_column, chosen.feature_columns, chosen.table, chosen.features,
                          counts["selected"], counts["skipped"], counts["sentinel"])
    return selection, (keys, features)


async def _candidates(backend: SparkBackend, frame: Any, spec: _Batches, seed: int, bound: int, timeout: float,
                      ctx: JobContext) -> tuple[dict[str, int], npt.NDArray[np.uint64], npt.NDArray[np.float64]]:
    d = len(spec.columns) - 1
    schema = ", ".join(["key bigint", *(f"f{j} double" for j in range(d)), *(f"{c} bigint" for c in _COUNTS)])
    sample = functools.partial(_sample_partition, spec=spec, seed=seed, bound=bound)
    table: pa.Table = await backend.run(lambda spark: frame.mapInArrow(sample, schema).toArrow(), timeout=timeout,
                                        stop=ctx.checkpoint)
    counts = {c: int(pc.sum(table.column(c)).as_py() or 0) for c in _COUNTS}
    rows = table.filter(table.column("key").is_valid())
    keys = np.asarray(rows.column("key").to_numpy(), dtype=np.int64).view(np.uint64)
    features = np.column_stack([np.asarray(rows.column(f"f{j}").to_numpy(), dtype=np.float64) for j in range(d)]) \
        if rows.num_rows else np.empty((0, d))
    return counts, keys, features


def _sample_partition(batches: Iterator[pa.RecordBatch], *, spec: _Batches, seed: int, bound: int
                      ) -> Iterator[pa.RecordBatch]:
    """Runs in the executors: a partition's sample candidates, then one row of its counts."""
    d = len(spec.columns) - 1
    names = ["key", *(f"f{j}" for j in range(d)), *_COUNTS]
    totals = dict.fromkeys(_COUNTS, 0)
    for batch in batches:
        chosen = spec.select(batch)
        totals["selected"] += chosen.rows_selected
        totals["skipped"] += chosen.rows_skipped
        totals["sentinel"] += chosen.rows_sentinel
        if bound == 0 or chosen.features.shape[0] == 0:
            continue
        keys = row_keys(chosen.table.column(0), chosen.features, seed)
        keep = below(keys, bound)
        if keep.any():
            n = int(keep.sum())
            zeros = pa.array(np.zeros(n, dtype=np.int64))
            yield pa.RecordBatch.from_arrays(
                [pa.array(keys[keep].view(np.int64)), *(pa.array(chosen.features[keep, j]) for j in range(d)),
                 zeros, zeros, zeros], names=names)
    yield pa.RecordBatch.from_arrays(
        [pa.nulls(1, pa.int64()), *(pa.nulls(1, pa.float64()) for _ in range(d)),
         *(pa.array([totals[c]], pa.int64()) for c in _COUNTS)], names=names)


# -- scoring ---------------------------------------------------------------------------------------


def _scored(frame: Any, spec: _Batches, fitted: Model) -> Any:
    """The DataFrame of (pos, id, score, f0...) for the kept rows, scored in the executors."""
    kinds = [_SPARK_TYPES[t][0] for t in spec.written]
    schema = ", ".join(["pos bigint", f"id {kinds[0]}", "score double",
                        *(f"f{j} {kind}" for j, kind in enumerate(kinds[1:]))])
    return frame.mapInArrow(functools.partial(_score_partition, spec=spec, fitted=fitted), schema)


def _score_partition(batches: Iterator[pa.RecordBatch], *, spec: _Batches, fitted: Model) -> Iterator[pa.RecordBatch]:
    """Runs in the executors: score each batch's kept rows with the job's forest."""
    from pyspark import TaskContext

    task = TaskContext.get()
    # Spark's selection order: the partition, then the row (as monotonically_increasing_id counts)
    pos = (task.partitionId() if task is not None else 0) << 33
    names = ["pos", "id", "score", *(f"f{j}" for j in range(len(spec.columns) - 1))]
    for batch in batches:
        chosen = spec.select(batch)
        n = chosen.features.shape[0]
        if n == 0:
            continue
        scores = forest.score(fitted.forest, fitted.transform(chosen.features))
        columns = [chosen.table.column(i).combine_chunks().cast(kind) for i, kind in enumerate(spec.written)]
        yield pa.RecordBatch.from_arrays(
            [pa.array(np.arange(pos, pos + n, dtype=np.int64)), columns[0], pa.array(scores), *columns[1:]],
            names=names)
        pos += n


# -- publishing ------------------------------------------------------------------------------------


def _ranked(spark: Any, scored: Path) -> Any:
    """The scored rows best first: score descending, then Spark's selection order."""
    from pyspark.sql import functions

    return spark.read.parquet(str(scored)).orderBy(functions.desc("score"), functions.asc("pos"))


class _Ranked:
    """The ranked Parquet files Spark wrote (range-partitioned by the sort: file order is rank order),
    read here on the worker, which sees the job directory, rather than streamed back through Spark Connect
    (measured 0.2-0.3 M rows/s on two cores, against several M rows/s reading the files)."""

    def __init__(self, where: Path, rows: int) -> None:
        self.where = where
        self.rows = rows

    def files(self) -> list[Path]:
        # Spark names its outputs part-<partition>-<uuid>...; the partition number is the order.
        return sorted(self.where.glob("part-*.parquet"), key=lambda f: int(f.name.split("-")[1]))

    def batches(self, rows: int | None = None) -> Iterator[pa.RecordBatch]:
        """The rows in rank order (the first ``rows`` of them, when given)."""
        left = self.rows if rows is None else rows
        for path in self.files():
            for batch in pq.ParquetFile(path).iter_batches(batch_size=65_536):
                if left <= 0:
                    return
                batch = batch.slice(0, left)
                left -= batch.num_rows
                yield batch

    def extent(self) -> tuple[int, float, float]:
        """Rows, lowest and highest score (the last row of the last file, the first of the first)."""
        files = [pq.ParquetFile(f) for f in self.files()]
        files = [f for f in files if f.metadata.num_rows]
        if not files:
            return 0, 0.0, 0.0
        high = files[0].read_row_group(0, columns=["score"]).column(0)[0].as_py()
        last = files[-1].read_row_group(files[-1].num_row_groups - 1, columns=["score"]).column(0)
        return sum(f.metadata.num_rows for f in files), float(last[len(last) - 1].as_py()), float(high)


async def _publish(ctx: JobContext, p: ScoreParams, ranked: _Ranked, selection: Selection, fitted: Model,
                   timings: dict[str, float], memory: int, report: Report, spec: _Batches) -> list[Result]:
    started = time.perf_counter()
    rows, low, high = await asyncio.to_thread(ranked.extent)
    if rows != ranked.rows:
        raise FatalError(f"Spark scored {rows} rows of {ranked.rows}")
    top = min(p.top, rows)
    best = await asyncio.to_thread(lambda: pa.Table.from_batches(list(ranked.batches(top)))) if top else None
    threshold = float(best.column("score")[-1].as_py()) if best is not None else None
    columns = result_columns(selection)
    infos = report.infos(p, selection, fitted, threshold, top)
    fmt = p.responseformat
    counts = np.zeros(SCORE_BINS, dtype=np.int64)
    span = score_range(low, high)
    edges = np.histogram(np.empty(0), bins=SCORE_BINS, range=span)[1]

    async def result_batches() -> AsyncIterator[pa.RecordBatch]:
        source = ranked.batches()
        rank = 1
        while (batch := await asyncio.to_thread(next, source, None)) is not None:
            ctx.checkpoint()
            counts[:] += np.histogram(batch.column("score").to_numpy(), bins=SCORE_BINS, range=span)[0]
            yield _result_batch(batch, rank, columns, spec)
            rank += batch.num_rows

    out = ctx.scratch_path("result.out")
    writer = write_table(fmt, columns, result_batches(), infos=infos)
    with out.open("wb") as stream:
        async for chunk in writer.chunks():
            stream.write(chunk)
    if writer.error is not None:
        raise writer.error
    results = [ctx.add_result("result", out, fmt.media_type)]
    await write_table_file(out, fmt, columns, _result_table(best, columns, spec), infos)
    results.append(ctx.add_result("top", out, fmt.media_type))
    png = await asyncio.to_thread(plot_histogram, counts, edges, threshold, top)
    results.append(ctx.add_result("scores.png", png, "image/png"))
    model_path = ctx.scratch_path("model.out.npz")
    await asyncio.to_thread(model_file.save, fitted, model_path)
    results.append(ctx.add_result("model", model_path, "application/x-npz"))
    timings["write_s"] = time.perf_counter() - started
    summary = report.summary(ctx, p, selection, fitted, threshold, top, [], timings, memory)
    summary["engine"] = "spark"
    summary["spark"] = {"scores": "scratch/scores.parquet", "order": "rank (score descending, then pos)",
                        "columns": ["pos", "id", "score", *selection.feature_names]}
    results.append(ctx.add_result("summary.json", json.dumps(summary, indent=2).encode(), "application/json"))
    return results


def _result_batch(batch: pa.RecordBatch, first_rank: int, columns: tuple[Column, ...], spec: _Batches
                  ) -> pa.RecordBatch:
    """Rows (pos, id, score, f0...) in rank order as the result's (id, score, rank, features...)."""
    values = [_as(batch.column(1), spec.kept[0]), batch.column(2),
              pa.array(np.arange(first_rank, first_rank + batch.num_rows, dtype=np.int64)),
              *(_as(batch.column(3 + j), kind) for j, kind in enumerate(spec.kept[1:]))]
    return pa.RecordBatch.from_arrays(values, names=[c.name for c in columns])


def _result_table(table: pa.Table | None, columns: tuple[Column, ...], spec: _Batches) -> pa.Table:
    """The TOP rows (in rank order) as the result's columns."""
    schema = pa.schema([pa.field(c.name, kind) for c, kind in
                        zip(columns, [spec.kept[0], pa.float64(), pa.int64(), *spec.kept[1:]], strict=True)])
    if table is None or table.num_rows == 0:
        return schema.empty_table()
    return pa.Table.from_batches([_result_batch(table.combine_chunks().to_batches()[0], 1, columns, spec)])


def _as(array: pa.Array, kind: pa.DataType) -> pa.Array:
    return array if array.type == kind else array.cast(kind)
