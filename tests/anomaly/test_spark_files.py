"""The parts of Spark's anomaly scoring (anomaly/spark.py) that need no Spark: how the kept batches are
cut into scoring tasks, and the merge of the tasks' ranked Parquet files on the worker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from anomaly import spark as on_spark


def test_scoring_tasks_take_every_kept_batch_once_the_longest_first() -> None:
    most = on_spark._TASK_BATCHES
    parts = [(0, 3), (1, 2 * most + 4), (4, most), (7, 1)]
    tasks = on_spark._tasks(parts)
    assert sorted((part, b) for part, first, stop in tasks for b in range(first, stop)) == \
        sorted((part, b) for part, n in parts for b in range(n))
    # the longest first, so that the short ones fill the cores at the end; equal ones in partition order
    assert tasks == [(1, 0, most), (1, most, 2 * most), (4, 0, most), (1, 2 * most, 2 * most + 4), (0, 0, 3),
                     (7, 0, 1)]
    assert on_spark._tasks([]) == []


@pytest.mark.parametrize("parts", [1, 3, 40])
def test_merging_ranked_files_gives_the_full_sort(tmp_path: Path, parts: int) -> None:
    rng = np.random.default_rng(parts)
    stats: list[dict[str, object]] = []
    total = 0
    for part in range(parts):
        n = int(rng.integers(0, 5000))
        batch = pa.RecordBatch.from_arrays(
            [pa.array((part << 33) + np.arange(n, dtype=np.int64)), pa.array(rng.integers(0, 10**9, n)),
             pa.array(rng.integers(0, 300, n) / 300.0)],  # many equal scores, in and across files
            names=["pos", "id", "score"])
        name = f"part-{part:05d}-00000.parquet"
        rows, low, high = on_spark._write_ranked([batch] if n else [], tmp_path / name)
        stats.append({"file": name, "rows": rows, "low": low, "high": high})
        total += rows
    ranked = on_spark._Ranked(tmp_path, pa.Table.from_pylist(stats), total)
    every = pa.concat_tables([pq.read_table(p) for p in ranked.parts])
    assert pa.Table.from_batches(list(ranked.batches())).equals(every.take(pc.sort_indices(every, on_spark._RANK)))
    assert ranked.extent() == (total, pc.min(every["score"]).as_py(), pc.max(every["score"]).as_py())
    assert pa.Table.from_batches(list(ranked.batches(7))).num_rows == min(7, total)
