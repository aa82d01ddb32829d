"""The HATS writer: adaptive partitions, the layout and its files, and the community readers (hats, lsdb).

The ``ci`` release is written partitioned once per session (``partitioned_ci``, 2 000 rows per
partition, so its 20 k rows make a few dozen files) by ``tests/release/conftest.py``.
"""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from dali.errors import UsageError
from release.engine import QueryEngine
from release.hats import Partition, plan_partitions, write_catalog
from tests.release.conftest import MAX_ROWS, cone_adql, cone_center


def test_a_dense_pixel_is_split_until_each_part_fits() -> None:
    order = 3
    counts = np.zeros(12 * 4**order, dtype=np.int64)
    counts[5] = 10  # one pixel at order 3, alone in base pixel 0
    counts[64 * 7:64 * 7 + 64] = 3  # base pixel 7: 192 rows spread evenly
    counts[64 * 7] = 500  # and a hot spot
    parts = plan_partitions(counts, order, max_rows=100)
    assert Partition(0, 0) in parts  # 10 rows: never split
    assert Partition(3, 64 * 7) in parts  # the hot spot stops at the highest order, over the limit
    assert all(p.order > 0 for p in parts if p.index_range(order)[0] >= 64 * 7)
    covered = sum(int(counts[p.index_range(order)[0]:p.index_range(order)[1] + 1].sum()) for p in parts)
    assert covered == counts.sum()
    ranges = [p.index_range(order) for p in parts]
    assert all(a[1] < b[0] for a, b in itertools.pairwise(ranges))  # sorted, disjoint
    assert all(counts[lo:hi + 1].sum() <= 100 or hi == lo for lo, hi in ranges)


def test_overlapping_partitions() -> None:
    from release.hats import HatsCatalog

    parts = (Partition(1, 0), Partition(2, 4), Partition(2, 7), Partition(0, 5))
    catalog = HatsCatalog(root=Path("/x"), partitions=tuple(sorted(parts, key=lambda p: p.index_range(4))),
                          index_column="h", index_order=4, nrows=0)
    assert catalog.overlapping([(0, 0)]) == [Partition(1, 0)]
    assert catalog.overlapping([(70, 70)]) == [Partition(2, 4)]
    assert catalog.overlapping([(80, 111)]) == []  # pixels 5 and 6 at order 2 hold nothing
    assert catalog.overlapping([(0, 5 * 256)]) == sorted(parts, key=lambda p: p.index_range(4))
    assert catalog.overlapping([(120, 120), (1281, 1300)]) == [Partition(2, 7), Partition(0, 5)]


def test_the_layout(partitioned_ci: Path) -> None:
    root = partitioned_ci / "hats" / "des_dr1" / "main"
    props = dict(line.split("=", 1) for line in (root / "properties").read_text().splitlines() if "=" in line)
    assert props["dataproduct_type"] == "object"
    assert (props["hats_col_ra"], props["hats_col_dec"]) == ("ra", "dec")
    assert (props["hats_col_healpix"], props["hats_col_healpix_order"]) == ("skygate_hpx", "14")
    nrows = int(props["hats_nrows"])
    with (root / "partition_info.csv").open() as handle:
        listed = [(int(r["Norder"]), int(r["Npix"])) for r in csv.DictReader(handle)]
    files = sorted((root / "dataset").glob("Norder=*/Dir=*/Npix=*.parquet"))
    assert len(files) == len(listed) > 4
    metadata = pq.read_metadata(root / "dataset" / "_metadata")
    assert metadata.num_rows == nrows
    assert pq.read_schema(root / "dataset" / "_common_metadata").names == pq.read_schema(files[0]).names
    total = 0
    for order, pixel in listed:
        path = root / "dataset" / f"Norder={order}" / f"Dir={pixel // 10000 * 10000}" / f"Npix={pixel}.parquet"
        table = pq.read_table(path)
        index = table.column("skygate_hpx").to_numpy()
        lo, hi = Partition(order, pixel).index_range(14)
        assert index.min() >= lo and index.max() <= hi  # every row in its pixel
        assert (np.diff(index) >= 0).all()  # sorted by the fine index
        assert table.num_rows <= MAX_ROWS or order == 9
        stats = pq.ParquetFile(path).metadata.row_group(0).column(table.schema.get_field_index("ra")).statistics
        assert stats is not None and stats.has_min_max
        total += table.num_rows
    assert total == nrows


def test_rows_without_a_position_are_refused(tmp_path: Path) -> None:
    import pyarrow as pa

    schema = pa.schema([("x", pa.int64()), ("skygate_hpx", pa.int64())])
    batch = pa.RecordBatch.from_pylist([{"x": 1, "skygate_hpx": None}], schema=schema)
    with pytest.raises(UsageError, match="no valid position"):
        write_catalog(tmp_path / "cat", schema, iter([batch]), index_column="skygate_hpx", index_order=14)
    assert not (tmp_path / "cat").exists()
    assert list(tmp_path.iterdir()) == []  # the staging directory is gone too


# lsdb 0.11 calls a pandas API that pandas 2.3 deprecates: the warning is theirs, not ours.
@pytest.mark.filterwarnings("ignore:The inplace keyword")
async def test_hats_and_lsdb_read_it(partitioned_ci: Path, ci_engine: QueryEngine) -> None:
    hats = pytest.importorskip("hats", reason="the hats package (extra [hats]) is not installed")
    lsdb = pytest.importorskip("lsdb", reason="the lsdb package (extra [hats]) is not installed")
    root = partitioned_ci / "hats" / "des_dr1" / "main"
    catalog = hats.read_hats(root)
    count = await ci_engine.execute("SELECT COUNT(*) AS n FROM des_dr1.main", maxrec=None, timeout=30)
    expected = (await anext(count.batches)).column(0)[0].as_py()
    assert catalog.catalog_info.total_rows == expected
    assert len(catalog.get_healpix_pixels()) == len(list((root / "dataset").glob("Norder=*/Dir=*/*.parquet")))
    ra, dec, radius = cone_center()
    result = await ci_engine.execute(cone_adql("coadd_object_id"), maxrec=None, timeout=30)
    ours = sorted(id_ for b in [b async for b in result.batches] for id_ in b.column(0).to_pylist())
    found = lsdb.open_catalog(root).cone_search(ra=ra, dec=dec, radius_arcsec=radius * 3600).compute()
    assert 0 < len(ours) < expected
    assert sorted(found["coadd_object_id"].tolist()) == ours
