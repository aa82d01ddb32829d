"""The steps of an anomaly-scoring job between the query and the result files.

Turn the selected rows into a feature matrix (checking the columns, applying the NULL/NaN policy),
fit or reuse a model, rank the scores, build the result tables, draw ``scores.png`` and write a
table file with ``dali.writers``. No UWS and no queue here (``anomaly/jobs.py``), no HTTP.

NULL/NaN policy: a row with a NULL, NaN or infinite value in any feature column is skipped (not
imputed) and counted; so is a row with a feature equal to one of the job's NULL_VALUES (by default the
survey's "not measured" sentinels 99, -99, 999 and -999, which would otherwise be the most anomalous
rows of any selection), and by default one whose feature equals the null value its column's metadata
declares (``Column.null``, e.g. -9999, for that column only). Both counts are reported in the result's
INFO elements and in summary.json, declared nulls with the sentinels.
A sentinel inside a derived feature (``mag_auto_g - mag_auto_r`` with g = 99) is no longer recognisable:
select the raw columns, or exclude sentinels in the query's WHERE clause.
Tests: tests/anomaly/test_service.py.
"""

from __future__ import annotations

import io
import math
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from anomaly import forest
from anomaly.forest import FloatArray
from anomaly.model import Model, standardization
from anomaly.params import ScoreParams
from anomaly.sample import training_sample
from dali.errors import UsageError
from dali.values import Column
from dali.writers import Format, Info, write_table

__all__ = [
    "NUMERIC_DATATYPES",
    "SCORE_BINS",
    "Selection",
    "as_float",
    "check_model",
    "declared_nulls",
    "fit_model",
    "fit_sample",
    "plot_histogram",
    "plot_scores",
    "ranks",
    "result_columns",
    "result_table",
    "score_range",
    "select",
    "top_table",
    "write_table_file",
]

SCORE_BINS = 100
NUMERIC_DATATYPES = frozenset({"unsignedByte", "short", "int", "long", "float", "double"})


@dataclass(frozen=True, slots=True, eq=False)
class Selection:
    """The rows a job scores.

    Attributes
    ----------
    id_column, feature_columns : the query's output columns
    table : the kept rows (id and features, selection order)
    features : (rows, d) float64 raw feature values of the kept rows
    rows_selected : rows the query returned
    rows_skipped : rows left out by the NULL/NaN policy (sentinel rows included)
    rows_sentinel : of those, rows left out because a feature held one of NULL_VALUES, or its
        column's declared null
    """

    id_column: Column
    feature_columns: tuple[Column, ...]
    table: pa.Table
    features: FloatArray
    rows_selected: int
    rows_skipped: int
    rows_sentinel: int = 0

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.feature_columns)


def select(columns: Sequence[Column], table: pa.Table, id_column: str | None,
           null_values: Sequence[float] = (), *, allow_empty: bool = False, declared: bool = True) -> Selection:
    """Split the query's output into the identifier and the features; skip incomplete rows.

    Rows with a NULL, NaN or infinite feature are skipped, and so are rows with a feature equal to
    one of ``null_values`` (sentinels meaning "not measured") or, when ``declared``, to the null
    value its column declares (``declared_nulls``). ``allow_empty``: no rows, or none kept, is not
    refused (for one batch of a larger selection, anomaly/spark.py).

    Raises
    ------
    UsageError
        ID_COLUMN not among the selected columns; no feature column; a non-numeric feature; no
        rows selected, or none left after skipping rows with NULL/NaN features.
    """
    names = [c.name for c in columns]
    if id_column is None:
        id_index = 0
    else:
        lowered = [n.lower() for n in names]
        if id_column.lower() not in lowered:
            raise UsageError(f"ID_COLUMN {id_column!r} is not one of the selected columns ({', '.join(names)})",
                             param="ID_COLUMN", hint="name a column of the SELECT list, or leave it out for the first")
        id_index = lowered.index(id_column.lower())
    features = tuple(c for i, c in enumerate(columns) if i != id_index)
    if not features:
        raise UsageError("the query selects no feature column besides the identifier", param="QUERY",
                         hint="select an identifier and at least one numeric column")
    for column in features:
        if column.datatype not in NUMERIC_DATATYPES or (column.arraysize not in (None, "1")):
            raise UsageError(f"feature column {column.name!r} is not numeric ({column.datatype})", param="QUERY",
                             hint="select only numeric columns besides the identifier, e.g. mag_auto_g - mag_auto_r")
    if table.num_rows == 0 and not allow_empty:
        raise UsageError("the query selected no rows", param="QUERY", hint="widen the selection")
    matrix = np.column_stack([as_float(table.column(i)) for i in range(len(columns)) if i != id_index])
    complete = np.isfinite(matrix).all(axis=1)
    flagged = np.isin(matrix, np.asarray(null_values, dtype=np.float64)).any(axis=1) if null_values \
        else np.zeros(matrix.shape[0], dtype=bool)
    nulls = declared_nulls(features) if declared else {}
    for j, column in enumerate(features):
        if column.name in nulls:
            flagged |= matrix[:, j] == nulls[column.name]
    sentinel = int((complete & flagged).sum())
    complete &= ~flagged
    kept = int(complete.sum())
    if kept == 0 and not allow_empty:
        raise UsageError(f"all {table.num_rows} selected rows have NULL, NaN or sentinel features", param="QUERY",
                         hint="rows with missing features (NULL_VALUES) are skipped; select rows with measured values")
    order = [id_index, *(i for i in range(len(columns)) if i != id_index)]
    kept_table = table.select(order)
    if kept < table.num_rows:
        kept_table = kept_table.filter(pa.array(complete))
        matrix = matrix[complete]
    return Selection(columns[id_index], features, kept_table, np.ascontiguousarray(matrix), table.num_rows,
                     table.num_rows - kept, sentinel)


def declared_nulls(features: Sequence[Column]) -> dict[str, float]:
    """Feature name -> the null value its column declares (``Column.null``), as the features hold it:
    a ``float`` column's null rounded to single precision, as its values are stored."""
    found: dict[str, float] = {}
    for column in features:
        try:
            value = float(column.null) if column.null is not None else math.nan
        except ValueError:
            continue  # not a number: no value of a numeric feature equals it
        if math.isfinite(value):
            found[column.name] = float(np.float32(value)) if column.datatype == "float" else value
    return found


def fit_model(selection: Selection, params: ScoreParams, checkpoint: Callable[[], None] | None = None) -> Model:
    """Fit a forest to the selection's training sample (``anomaly.sample``) with the job's parameters.

    Raises
    ------
    UsageError
        EXTENSION_LEVEL not below the number of features.
    """
    sample = training_sample(selection.table.column(0), selection.features, params.ntrees * params.sample_size,
                             params.seed)
    return fit_sample(sample, selection.feature_names, params, checkpoint)


def fit_sample(sample: FloatArray, feature_names: tuple[str, ...], params: ScoreParams,
               checkpoint: Callable[[], None] | None = None) -> Model:
    """Fit a forest to a training sample (standardised, by the sample's mean and spread, when asked).

    Raises
    ------
    UsageError
        EXTENSION_LEVEL not below the number of features.
    """
    d = sample.shape[1]
    if params.extension_level is not None and params.extension_level >= d:
        raise UsageError(f"EXTENSION_LEVEL must be below the number of features ({d}), not {params.extension_level}",
                         param="EXTENSION_LEVEL", hint=f"0 is the axis-parallel forest, {d - 1} fully extended")
    center = scale = None
    data = sample
    if params.standardize:
        center, scale = standardization(data)
        data = (data - center) / scale
    fitted = forest.fit(data, ntrees=params.ntrees, sample_size=params.sample_size,
                        extension_level=params.extension_level, seed=params.seed, checkpoint=checkpoint)
    return Model(fitted, feature_names, center, scale, params.seed)


def check_model(model: Model, selection: Selection, model_id: str) -> None:
    """Refuse to apply ``model`` to a selection with other feature columns (by name and order)."""
    got = tuple(n.lower() for n in selection.feature_names)
    if got != tuple(n.lower() for n in model.features):
        raise UsageError(
            f"the model of job {model_id} was fitted on features ({', '.join(model.features)}), "
            f"but the query selects ({', '.join(selection.feature_names)})",
            param="MODEL", hint="select the same feature columns, in the same order, as the model's job")


def ranks(scores: FloatArray) -> npt.NDArray[np.int64]:
    """1 for the highest score; equal scores keep selection order (a stable sort)."""
    order = np.argsort(-scores, kind="stable")
    rank = np.empty(scores.shape[0], dtype=np.int64)
    rank[order] = np.arange(1, scores.shape[0] + 1)
    return rank


def result_columns(selection: Selection) -> tuple[Column, ...]:
    """id, score, rank, then the features (with the query's metadata)."""
    taken = {c.name.lower() for c in selection.feature_columns} | {selection.id_column.name.lower()}
    score_name = "score" if "score" not in taken else "anomaly_score"
    rank_name = "rank" if "rank" not in taken else "anomaly_rank"
    return (
        selection.id_column,
        Column(score_name, "double", ucd="stat.value",
               description="Extended Isolation Forest anomaly score s(x,n) = 2^(-E(h(x))/c(n)); near 1 is anomalous"),
        Column(rank_name, "long", ucd="meta.number", description="1 = the highest score of the selection"),
        *selection.feature_columns,
    )


def result_table(selection: Selection, scores: FloatArray) -> pa.Table:
    """The kept rows with their score and rank, in selection order."""
    columns = result_columns(selection)
    arrays = [selection.table.column(0), pa.array(scores, pa.float64()), pa.array(ranks(scores), pa.int64()),
              *(selection.table.column(i) for i in range(1, selection.table.num_columns))]
    return pa.Table.from_arrays(arrays, names=[c.name for c in columns])


def top_table(table: pa.Table, top: int) -> pa.Table:
    """The ``top`` highest-scoring rows, best first."""
    rank = table.column(2).to_numpy()
    order = np.argsort(rank, kind="stable")[:top]
    return table.take(pa.array(order))


def plot_scores(scores: FloatArray, threshold: float | None, top: int) -> bytes:
    """``scores.png``: the histogram of scores (log counts) with the TOP threshold marked."""
    counts, edges = np.histogram(scores, bins=SCORE_BINS, range=score_range(float(scores.min()), float(scores.max())))
    return plot_histogram(counts, edges, threshold, top)


def score_range(low: float, high: float) -> tuple[float, float]:
    """The histogram's range for scores from ``low`` to ``high``."""
    return low, high or 1.0


def plot_histogram(counts: npt.NDArray[np.int64], edges: FloatArray, threshold: float | None, top: int) -> bytes:
    """``scores.png`` from the histogram's counts (``SCORE_BINS`` bins between ``edges``)."""
    from matplotlib.figure import Figure  # Agg canvas, no pyplot state, safe in threads

    figure = Figure(figsize=(7.0, 4.2), dpi=100)
    axes = figure.add_subplot()
    axes.hist(edges[:-1], bins=edges.tolist(), weights=counts, color="#4c72b0", log=True)
    if threshold is not None:
        axes.axvline(threshold, color="#c44e52", linestyle="--", label=f"top {top}: score >= {threshold:.4f}")
        axes.legend(loc="upper right")
    axes.set_xlabel("anomaly score s(x, n)")
    axes.set_ylabel("rows")
    axes.set_title(f"Extended Isolation Forest scores of {int(counts.sum()):,} rows")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


async def write_table_file(path: Path, format: Format, columns: Sequence[Column], table: pa.Table,
                           infos: Sequence[Info]) -> None:
    """Write ``table`` to ``path`` in ``format`` with ``dali.writers`` (streamed, batch by batch)."""
    writer = write_table(format, columns, _batches(table), infos=infos)
    with path.open("wb") as out:
        async for chunk in writer.chunks():
            out.write(chunk)
    if writer.error is not None:
        raise writer.error


async def _batches(table: pa.Table) -> AsyncIterator[pa.RecordBatch]:
    for batch in table.to_batches(max_chunksize=65_536):
        yield batch


def as_float(column: pa.Array | pa.ChunkedArray) -> FloatArray:
    """A feature column as float64, NULL as NaN (how ``select`` reads every feature)."""
    values = pc.fill_null(pc.cast(column, pa.float64()), float("nan"))
    return np.asarray(values.to_numpy(), dtype=np.float64)
