"""Anomaly jobs on Spark: the selected rows stay in the executors, and the scoring core runs there.

When the release's backend is Spark (``SKYGATE_DATABASE_URL=sc://``), ``anomaly/jobs.py`` hands the
job here. The job's ADQL becomes the DataFrame of its Spark SQL (``SparkBackend.frame``), and these
Spark jobs follow, each watching the UWS job's checkpoint so that ABORT or the execution duration
interrupts it (``SparkBackend.run``):

1. count the selected rows (refused above the worker's row limit, as in the local path);
2. ``mapInArrow``: each Arrow batch goes through ``service.select`` (the local path's NULL/NaN and
   NULL_VALUES policy) and ``anomaly.sample.row_keys``; each task writes its partition's kept rows to
   the job's ``scratch/selected`` (Arrow IPC, deleted once scored), and back come the counts of
   selected, skipped and sentinel rows and the rows whose key is below ``sample.key_bound``. The
   driver keeps those with the smallest keys, the training sample the local path fits on, and fits the
   same forest (or loads MODEL's);
3. ``mapInArrow`` over tasks of a few batches of those files each, with the fitted model in the
   function (Spark ships it to the executors with the stage's tasks): each task scores its rows with
   ``forest.score`` and writes them (pos, id, score, features), sorted by rank (score descending, then
   ``pos``, Spark's selection order), as one Parquet file in the job's ``scratch/scores.parquet``; back
   through Spark come only a row per file (its rows, lowest and highest score). As in the local path,
   the rows are read and selected once, before the fit, and scored from there;
4. the worker (it sees the job directory, as the executors do) merges those files into rank order, a
   few batches of each at a time, into the usual writers, counting ranks and the histogram on the way,
   so its memory stays flat. No Spark sort: a shuffle of every scored row cost more than the scoring.

A row's score depends only on the row and the forest (anomaly/forest.py), and the forest only on the
training sample (anomaly/sample.py), so every score equals the local path's bit for bit; so does every
rank, except among equal scores, which keep each engine's selection order. The results are the local
path's: ``result`` (rows best first here, in selection order there), ``top``, ``scores.png``, ``model``
and ``summary.json`` (which adds ``engine`` and ``spark``: where the Parquet scores are).

The executors import this module (the functions ``mapInArrow`` runs), so Spark's Python workers need
skygate installed, with numpy, pyarrow and numba (deploy/README.md).
Tests: tests/anomaly/test_spark.py (``spark`` marker).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
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
from anomaly.forest import FloatArray
from anomaly.memory import check_memory
from anomaly.model import Model
from anomaly.params import ScoreParams
from anomaly.sample import below, key_bound, row_keys, smallest
from anomaly.service import (
    SCORE_BINS,
    Selection,
    as_float,
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
# The ranking: score descending, then Spark's selection order (unique).
_RANK = [("score", "descending"), ("pos", "ascending")]
# Rows the worker holds while it merges the executors' files (about 50 bytes each).
_MERGE_ROWS = 2_000_000
_WRITTEN = pa.schema([("file", pa.string()), ("rows", pa.int64()), ("low", pa.float64()), ("high", pa.float64())])
# Batches of kept rows (up to 64 k rows each, spark.sql.execution.arrow.maxRecordsPerBatch) a scoring task
# takes: about 3 s of work. Each task also costs about 0.1 CPU s outside the scoring (PySpark's worker
# re-reads the zip files on its import path, takes the function and the model again and collects
# garbage; the JVM launches it), so tasks are not smaller: at 4 batches this cost a tenth of the scoring.
# The longest run first (``_tasks``), and the partitions' shorter remainders fill the cores at the end.
_TASK_BATCHES = 8
# The Arrow types a declared column may become (release.engine.arrow_type), each with the type the
# scores' Parquet files hold it as: Spark has no unsigned byte, so unsignedByte is written as a short
# (and cast back on the worker).
_WRITTEN_TYPES: dict[pa.DataType, pa.DataType] = {
    pa.bool_(): pa.bool_(),
    pa.uint8(): pa.int16(),
    pa.int16(): pa.int16(),
    pa.int32(): pa.int32(),
    pa.int64(): pa.int64(),
    pa.float32(): pa.float32(),
    pa.float64(): pa.float64(),
    pa.string(): pa.string(),
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
    kept, scores = ctx.scratch_path("selected"), ctx.scratch_path("scores.parquet")
    try:
        async with backend.frame(statement.sql, uploads=statement.relations) as frame:
            spec = _spec(statement.columns, p)
            selection, candidates, parts = await _select(backend, frame, spec, p, given, ctx, max_rows,
                                                         query_timeout, memory_limit, kept)
        timings["query_s"] = time.perf_counter() - started
        mark = time.perf_counter()
        fitted, memory = await _fitted(p, given, selection, candidates, len(spec.columns) - 1, memory_limit, ctx)
        timings["fit_s"] = time.perf_counter() - mark
        mark = time.perf_counter()
        rows = selection.rows_selected - selection.rows_skipped
        await asyncio.to_thread(_fresh, scores)
        ctx.progress(0, rows)
        tasks = _tasks(parts)
        written: pa.Table = await backend.run(lambda spark: _scored(spark, tasks, kept, spec, fitted, scores).toArrow(),
                                              stop=ctx.checkpoint)
        timings["score_s"] = time.perf_counter() - mark
    finally:
        await asyncio.to_thread(shutil.rmtree, kept, True)  # the selection's rows, held only to be scored
    ctx.progress(rows, rows)
    return await _publish(ctx, p, _Ranked(scores, written, rows), selection, fitted, timings, memory, report, spec)


async def _fitted(p: ScoreParams, given: Model | None, selection: Selection,
                  candidates: tuple[npt.NDArray[np.uint64], npt.NDArray[np.float64]], d: int,
                  memory_limit: int | None, ctx: JobContext) -> tuple[Model, int]:
    """MODEL's forest (checked against the selection) or one fitted to the training sample; its memory."""
    if given is not None:
        check_model(given, selection, str(p.model))
        return given, check_memory(given.forest.ntrees, given.forest.sample_size, d, None, memory_limit)
    keys, features = candidates
    sample = smallest(keys, features, p.ntrees * p.sample_size)
    memory = check_memory(p.ntrees, p.sample_size, d, sample.shape[0], memory_limit)
    return await asyncio.to_thread(fit_sample, sample, selection.feature_names, p, ctx.checkpoint), memory


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
        if kind is None or kind not in _WRITTEN_TYPES:  # features are numeric: only an identifier gets here
            raise UsageError(f"ID_COLUMN {columns[i].name!r} ({columns[i].datatype}) cannot identify rows here",
                             param="ID_COLUMN", hint="select an integer or text identifier")
        kept.append(kind)
    return _Batches(columns, p.id_column, p.null_values, p.declared_nulls, declared, tuple(kept),
                    tuple(_WRITTEN_TYPES[k] for k in kept))


async def _select(backend: SparkBackend, frame: Any, spec: _Batches, p: ScoreParams, given: Model | None,
                  ctx: JobContext, max_rows: int, timeout: float, memory_limit: int | None, kept: Path
                  ) -> tuple[Selection, tuple[npt.NDArray[np.uint64], npt.NDArray[np.float64]], list[tuple[int, int]]]:
    """The selection's counts (a ``Selection`` without rows), the training sample's candidates, and the
    partitions whose kept rows the executors wrote to ``kept`` with their numbers of batches
    (``_sample_partition``)."""
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
    counts, keys, features, parts = await _candidates(backend, frame, spec, p.seed, bound, timeout, ctx, kept)
    scored = counts["selected"] - counts["skipped"]
    if scored == 0:
        raise UsageError(f"all {counts['selected']} selected rows have NULL, NaN or sentinel features", param="QUERY",
                         hint="rows with missing features (NULL_VALUES) are skipped; select rows with measured values")
    for again in (key_bound(wanted, scored), 2**64):
        # fewer keys below the bound than the sample needs: the bound counted skipped rows (or a
        # one-in-10**15 draw); the kept rows set the next one, and every row is the last resort
        if keys.shape[0] >= min(wanted, scored):
            break
        if again > bound:
            bound = again
            counts, keys, features, parts = await _candidates(backend, frame, spec, p.seed, bound, timeout, ctx,
                                                              kept)
    chosen = select(spec.columns, empty, p.id_column, allow_empty=True)
    selection = Selection(chosen.id_column, chosen.feature_columns, chosen.table, chosen.features,
                          counts["selected"], counts["skipped"], counts["sentinel"])
    return selection, (keys, features), parts


async def _candidates(backend: SparkBackend, frame: Any, spec: _Batches, seed: int, bound: int, timeout: float,
                      ctx: JobContext, kept: Path
                      ) -> tuple[dict[str, int], npt.NDArray[np.uint64], FloatArray, list[tuple[int, int]]]:
    d = len(spec.columns) - 1
    schema = ", ".join(["key bigint", *(f"f{j} double" for j in range(d)), *(f"{c} bigint" for c in _COUNTS),
                        "part int", "batches int"])
    await asyncio.to_thread(_fresh, kept)
    sample = functools.partial(_sample_partition, spec=spec, seed=seed, bound=bound, where=str(kept))
    table: pa.Table = await backend.run(lambda spark: frame.mapInArrow(sample, schema).toArrow(), timeout=timeout,
                                        stop=ctx.checkpoint)
    counts = {c: int(pc.sum(table.column(c)).as_py() or 0) for c in _COUNTS}
    totals = table.filter(pc.greater(table.column("batches"), 0))
    parts = sorted(zip(totals.column("part").to_pylist(), totals.column("batches").to_pylist(), strict=True))
    rows = table.filter(table.column("key").is_valid())
    keys = np.asarray(rows.column("key").to_numpy(), dtype=np.int64).view(np.uint64)
    features = np.column_stack([np.asarray(rows.column(f"f{j}").to_numpy(), dtype=np.float64) for j in range(d)]) \
        if rows.num_rows else np.empty((0, d))
    return counts, keys, features, parts


def _sample_partition(batches: Iterator[pa.RecordBatch], *, spec: _Batches, seed: int, bound: int, where: str
                      ) -> Iterator[pa.RecordBatch]:
    """Runs in the executors: a partition's sample candidates, then one row of its counts (and its number).

    The kept rows (id and features, as ``service.select`` leaves them) go to ``where/part-<partition>.arrow``
    (Arrow IPC, in selection order), which the scoring pass reads instead of selecting the rows again:
    Spark reads and converts every row once, not twice (see ``_score_partition``).
    """
    from pyspark import TaskContext

    task = TaskContext.get()
    part = task.partitionId() if task is not None else 0
    d = len(spec.columns) - 1
    names = ["key", *(f"f{j}" for j in range(d)), *_COUNTS, "part", "batches"]
    totals = dict.fromkeys(_COUNTS, 0)
    with _KeptFile(Path(where) / f"part-{part:05d}.arrow") as kept:
        for batch in batches:
            chosen = spec.select(batch)
            totals["selected"] += chosen.rows_selected
            totals["skipped"] += chosen.rows_skipped
            totals["sentinel"] += chosen.rows_sentinel
            if chosen.features.shape[0] == 0:
                continue
            kept.write(chosen.table)
            if bound == 0:
                continue
            keys = row_keys(chosen.table.column(0), chosen.features, seed)
            keep = below(keys, bound)
            if keep.any():
                n = int(keep.sum())
                zeros = pa.array(np.zeros(n, dtype=np.int64))
                yield pa.RecordBatch.from_arrays(
                    [pa.array(keys[keep].view(np.int64)), *(pa.array(chosen.features[keep, j]) for j in range(d)),
                     zeros, zeros, zeros, pa.array(np.full(n, part, dtype=np.int32)), pa.array(np.zeros(n, np.int32))],
                    names=names)
    yield pa.RecordBatch.from_arrays(
        [pa.nulls(1, pa.int64()), *(pa.nulls(1, pa.float64()) for _ in range(d)),
         *(pa.array([totals[c]], pa.int64()) for c in _COUNTS), pa.array([part], pa.int32()),
         pa.array([kept.batches], pa.int32())], names=names)


class _KeptFile:
    """A partition's kept rows as an Arrow IPC file, written beside and renamed when whole (a retried
    task replaces it); no rows, no file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self._writer: pa.ipc.RecordBatchFileWriter | None = None
        self.batches = 0

    def write(self, table: pa.Table) -> None:
        table = table.rename_columns(["id", *(f"f{j}" for j in range(table.num_columns - 1))])
        if self._writer is None:
            self._writer = pa.ipc.new_file(self._temporary, table.schema)
        for batch in table.to_batches():
            self._writer.write_batch(batch)
            self.batches += 1

    def __enter__(self) -> _KeptFile:
        return self

    def __exit__(self, kind: object, *rest: object) -> None:
        if self._writer is None:
            return
        self._writer.close()
        if kind is None:
            os.replace(self._temporary, self.path)
        else:
            self._temporary.unlink(missing_ok=True)


# -- scoring ---------------------------------------------------------------------------------------


def _fresh(where: Path) -> None:
    """An empty directory for the executors' files (a rerun's old files removed)."""
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)


def _tasks(parts: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """The scoring tasks (partition, first batch, stop) for partitions of (partition, kept batches): up
    to ``_TASK_BATCHES`` batches each, the longest first (Spark starts a stage's tasks in their order),
    equal lengths in partition order."""
    tasks = [(part, a, min(a + _TASK_BATCHES, n)) for part, n in parts for a in range(0, n, _TASK_BATCHES)]
    return sorted(tasks, key=lambda task: task[1] - task[2])


def _scored(spark: Any, tasks: list[tuple[int, int, int]], kept: Path, spec: _Batches, fitted: Model,
            where: Path) -> Any:
    """The DataFrame of one row per task (file, rows, low, high): each task scores batches ``first`` to
    ``stop`` of a partition's kept rows, which the sample pass wrote to ``kept``, and writes them to
    ``where`` (``_score_partition``)."""
    return spark.range(0, len(tasks), 1, max(1, len(tasks))).mapInArrow(
        functools.partial(_score_partition, tasks=tasks, kept=str(kept), spec=spec, fitted=fitted, where=str(where)),
        "file string, rows bigint, low double, high double")


def _score_partition(ids: Iterator[pa.RecordBatch], *, tasks: list[tuple[int, int, int]], kept: str, spec: _Batches,
                     fitted: Model, where: str) -> Iterator[pa.RecordBatch]:
    """Runs in the executors: for each task of ``ids`` (indexes into ``tasks``), score the kept rows of its
    batches, write them in rank order to ``where/part-<partition>-<first batch>.parquet`` (pos, id, score,
    f0...) and yield (file, rows, low, high).

    The rows come from the sample pass's files, not through Spark again, and go to the file from here:
    the JVM spent more CPU reading, converting and taking back each row than this process spends
    scoring it. Sorted here, the files need no Spark sort (the worker merges them, ``_Ranked``).
    A task's scored rows are held until written: about 50 bytes a row.
    """
    for batch in ids:
        for index in batch.column(0).to_pylist():
            part, first, stop = tasks[index]
            name = f"part-{part:05d}-{first:05d}.parquet"
            rows, low, high = _write_ranked(list(_score_file(Path(kept) / f"part-{part:05d}.arrow", part, first, stop,
                                                             spec, fitted)), Path(where) / name)
            yield pa.RecordBatch.from_pylist([{"file": name, "rows": rows, "low": low, "high": high}], schema=_WRITTEN)


def _score_file(path: Path, part: int, first: int, stop: int, spec: _Batches, fitted: Model
                ) -> Iterator[pa.RecordBatch]:
    """Batches ``first`` to ``stop`` of one partition's kept rows, scored: (pos, id, score, f0...)."""
    names = ["pos", "id", "score", *(f"f{j}" for j in range(len(spec.columns) - 1))]
    with pa.memory_map(str(path)) as source:
        reader = pa.ipc.open_file(source)
        # Spark's selection order: the partition, then the row (as monotonically_increasing_id)
        pos = (part << 33) + sum(reader.get_batch(i).num_rows for i in range(first))
        for i in range(first, stop):
            batch = reader.get_batch(i)
            n = batch.num_rows
            # the features as service.select makes them from the same columns
            features = np.column_stack([as_float(batch.column(j)) for j in range(1, batch.num_columns)])
            scores = forest.score(fitted.forest, fitted.transform(features))
            columns = [batch.column(j).cast(kind) for j, kind in enumerate(spec.written)]
            yield pa.RecordBatch.from_arrays(
                [pa.array(np.arange(pos, pos + n, dtype=np.int64)), columns[0], pa.array(scores), *columns[1:]],
                names=names)
            pos += n


def _write_ranked(batches: list[pa.RecordBatch], path: Path) -> tuple[int, float, float]:
    """Write the rows in rank order (score descending, then pos) as ``path``; rows, lowest and highest score.

    Written beside and renamed, so a retried task replaces its file whole; no rows, no file.
    """
    if not batches:
        return 0, 0.0, 0.0
    table = pa.Table.from_batches(batches)
    table = table.take(pc.sort_indices(table, _RANK))
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # No dictionaries (scores and features rarely repeat, and trying them tripled the time to write) and
    # no compression: the file lives only until the worker has merged it, and compressing it cost CPU
    # the local path does not spend on its scores.
    pq.write_table(table, temporary, row_group_size=65_536, use_dictionary=False, compression="none")
    os.replace(temporary, path)
    score = table.column("score")
    return table.num_rows, float(score[-1].as_py()), float(score[0].as_py())


# -- publishing ------------------------------------------------------------------------------------


class _Ranked:
    """The executors' Parquet files (each in rank order), merged into rank order here on the worker,
    which sees the job directory as the executors do. Memory stays flat: about ``_MERGE_ROWS`` rows are
    held across the files (at least 1 024 a file), whatever the selection's size."""

    def __init__(self, where: Path, parts: pa.Table, rows: int) -> None:
        self.rows = rows
        kept = parts.filter(pc.greater(parts.column("rows"), 0)).sort_by("file")
        self.parts = [where / name for name in kept.column("file").to_pylist()]
        self.written = int(pc.sum(parts.column("rows")).as_py() or 0)
        self.low = float(pc.min(kept.column("low")).as_py() or 0.0) if kept.num_rows else 0.0
        self.high = float(pc.max(kept.column("high")).as_py() or 0.0) if kept.num_rows else 0.0

    def batches(self, rows: int | None = None) -> Iterator[pa.RecordBatch]:
        """The rows in rank order (the first ``rows`` of them, when given)."""
        left = self.rows if rows is None else rows
        batch_rows = max(1024, min(65_536, _MERGE_ROWS // max(1, len(self.parts))))
        for batch in _merged([_Run(path, batch_rows) for path in self.parts]):
            if left <= 0:
                return
            batch = batch.slice(0, left)
            left -= batch.num_rows
            yield batch

    def extent(self) -> tuple[int, float, float]:
        """Rows, lowest and highest score (as the executors reported them)."""
        return self.written, self.low, self.high


class _Run:
    """One executor's file, in rank order, held a batch at a time."""

    def __init__(self, path: Path, batch_rows: int) -> None:
        self._source = pq.ParquetFile(path).iter_batches(batch_size=batch_rows)
        self.batch: pa.RecordBatch | None = None
        self._fill()

    def _fill(self) -> None:
        self.batch = next(self._source, None)
        while self.batch is not None and self.batch.num_rows == 0:
            self.batch = next(self._source, None)
        if self.batch is not None:
            self._neg = -np.asarray(self.batch.column("score").to_numpy(), dtype=np.float64)  # ascending
            self._pos = np.asarray(self.batch.column("pos").to_numpy(), dtype=np.int64)

    def last(self) -> tuple[float, int]:
        """The rank key (-score, pos) of the last row held."""
        return float(self._neg[-1]), int(self._pos[-1])

    def take(self, cut: tuple[float, int]) -> pa.RecordBatch:
        """The held rows whose rank key is at most ``cut`` (they leave the run; an empty run reads on)."""
        assert self.batch is not None
        first = int(np.searchsorted(self._neg, cut[0], "left"))
        ties = int(np.searchsorted(self._neg, cut[0], "right"))
        k = first + int(np.searchsorted(self._pos[first:ties], cut[1], "right"))
        out = self.batch.slice(0, k)
        if k == self.batch.num_rows:
            self._fill()
        else:
            self.batch, self._neg, self._pos = self.batch.slice(k), self._neg[k:], self._pos[k:]
        return out


def _merged(runs: list[_Run]) -> Iterator[pa.RecordBatch]:
    """The runs' rows in rank order: each step takes, from every run, the rows ranked up to the first
    of the runs' last held rows (no row still unread can come before it), and sorts those."""
    runs = [r for r in runs if r.batch is not None]
    while runs:
        cut = min(r.last() for r in runs)
        taken = [b for b in (r.take(cut) for r in runs) if b.num_rows]
        if len(taken) == 1:
            yield taken[0]
        else:
            table = pa.Table.from_batches(taken)
            yield from table.take(pc.sort_indices(table, _RANK)).to_batches()
        runs = [r for r in runs if r.batch is not None]


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
    summary["spark"] = {"scores": "scratch/scores.parquet",
                        "order": "each file (one per scoring task) in rank order: score descending, then pos",
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
