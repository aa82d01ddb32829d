"""Progress reported by release work: ``counted_batches`` and ``ingest_table(progress=...)``."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from release.ingest import ingest_table
from release.progress import counted_batches
from release.sources import Source, open_source
from release.stores import open_store


def _batches(sizes: list[int]) -> list[pa.RecordBatch]:
    return [pa.record_batch({"x": list(range(n))}) for n in sizes]


def test_counted_batches_reports_rows_handed_out() -> None:
    reported: list[tuple[str, int, int | None]] = []
    out = list(counted_batches(iter(_batches([3, 0, 4])), lambda *a: reported.append(a), "load", 7))
    assert [b.num_rows for b in out] == [3, 0, 4]
    assert reported == [("load", 0, 7), ("load", 3, 7), ("load", 3, 7), ("load", 7, 7)]


async def test_ingest_reports_each_table_rows(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    path = tmp_path / "cat.parquet"
    pq.write_table(pa.table({"id": list(range(1000)), "ra": [1.0] * 1000, "dec": [2.0] * 1000}), path)
    source = open_source(path, batch_rows=300)
    assert source.rows == 1000
    reported: list[tuple[str, int, int | None]] = []
    async with await open_store("", tmp_path / "catalog.duckdb", readonly_role="") as store:
        meta = await ingest_table(store, source, "mine.cat", ra="ra", dec="dec",
                                  progress=lambda *a: reported.append(a))
        unknown = Source(schema=pa.schema([("x", pa.int64())]), batches=iter(_batches([5, 6])))
        await ingest_table(store, unknown, "mine.other", progress=lambda *a: reported.append(a))
    assert meta.nrows == 1000
    mine = [r for r in reported if r[0] == "ingest mine.cat"]
    assert mine[0] == ("ingest mine.cat", 0, 1000) and mine[-1] == ("ingest mine.cat", 1000, 1000)
    assert [r[1:] for r in reported if r[0] == "ingest mine.other"] == [(0, None), (5, None), (11, None)]
