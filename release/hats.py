"""A catalogue as HEALPix-partitioned Parquet in the HATS layout: write it, read its partition list, prune.

HATS (Hierarchical Adaptive Tiling Scheme, IVOA Note "HATS"; the ``hats`` package on PyPI reads
it, and ``lsdb`` on top of that) stores one Parquet file per HEALPix NESTED pixel at an adaptive
order: a pixel is split into its four children until each holds at most ``max_rows`` rows::

    <root>/properties                          java-style key=value (hats.catalog TableProperties)
    <root>/partition_info.csv                  Norder,Npix of every file
    <root>/dataset/_common_metadata            the Arrow schema
    <root>/dataset/_metadata                   every file's row-group footers (paths relative to dataset/)
    <root>/dataset/Norder=k/Dir=d/Npix=n.parquet   d = n // 10000 * 10000

Inside each file rows are sorted by the table's fine index column (``skygate_hpx``, order 14), and
Parquet min/max statistics are written for every column, so a reader prunes row groups too.
The writer streams: rows go once through a scratch DuckDB file (which sorts out of core), a
histogram of the index at ``highest_order`` chooses the partitions, and each partition is read
back by its index range (zone maps on the sorted scratch table) and written with pyarrow.
No HTTP, no ADQL, no SQL from user text. Tests: tests/release/test_hats.py.
"""

from __future__ import annotations

import bisect
import csv
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dali.errors import UsageError

__all__ = [
    "DEFAULT_HIGHEST_ORDER",
    "DEFAULT_MAX_ROWS",
    "HatsCatalog",
    "Partition",
    "plan_partitions",
    "read_catalog",
    "write_catalog",
    "write_properties",
]

DEFAULT_MAX_ROWS = 1_000_000
# The histogram that chooses partitions has 12 * 4**order bins (order 9: 3.1 M, 25 MB); partitions
# of order 9 are 0.11 deg wide, small enough for the densest survey fields at a million rows each.
DEFAULT_HIGHEST_ORDER = 9
_ROW_GROUP_ROWS = 65536
_SCRATCH_MEMORY = "1GB"


@dataclass(frozen=True, slots=True, order=True)
class Partition:
    """One HEALPix NESTED pixel of the partitioning and its file."""

    order: int
    pixel: int

    @property
    def directory(self) -> int:
        """The ``Dir=`` number: pixels grouped by ten thousand (HATS, to keep directories small)."""
        return self.pixel // 10_000 * 10_000

    def relative_path(self) -> str:
        """The file's path below ``<root>/dataset``."""
        return f"Norder={self.order}/Dir={self.directory}/Npix={self.pixel}.parquet"

    def index_range(self, index_order: int) -> tuple[int, int]:
        """The inclusive range of index values (NESTED at ``index_order``) inside this pixel."""
        shift = 2 * (index_order - self.order)
        return self.pixel << shift, ((self.pixel + 1) << shift) - 1


@dataclass(frozen=True, slots=True)
class HatsCatalog:
    """A written catalogue: where it is, its partitions in index order, and how its rows are indexed."""

    root: Path
    partitions: tuple[Partition, ...]
    index_column: str
    index_order: int
    nrows: int

    @property
    def dataset(self) -> Path:
        return self.root / "dataset"

    def files(self, partitions: Sequence[Partition] | None = None) -> list[str]:
        """Absolute paths of the files of ``partitions`` (default: all), in index order."""
        chosen = self.partitions if partitions is None else partitions
        return [str(self.dataset / p.relative_path()) for p in chosen]

    def overlapping(self, ranges: Sequence[tuple[int, int]]) -> list[Partition]:
        """The partitions holding any index value in ``ranges`` (inclusive pairs at ``index_order``)."""
        bounds = [p.index_range(self.index_order) for p in self.partitions]
        starts = [lo for lo, _ in bounds]
        chosen: set[int] = set()
        for lo, hi in ranges:
            # partitions never overlap and are sorted by start: the first candidate is the one
            # starting at or before lo, the last the one starting at or before hi.
            first = max(bisect.bisect_right(starts, lo) - 1, 0)
            last = bisect.bisect_right(starts, hi)
            chosen.update(i for i in range(first, last) if bounds[i][1] >= lo and bounds[i][0] <= hi)
        return [self.partitions[i] for i in sorted(chosen)]


def plan_partitions(counts: np.ndarray, order: int, max_rows: int) -> list[Partition]:
    """Split the sky until each pixel holds at most ``max_rows`` rows (or is at ``order``).

    ``counts`` is the number of rows in each NESTED pixel at ``order`` (length 12 * 4**order).
    Empty pixels get no partition. The result is sorted by index range.
    """
    if len(counts) != 12 * 4**order:
        raise ValueError("counts must have one entry per pixel at the given order")
    chosen: list[Partition] = []
    pending = [(0, p) for p in range(12)]
    while pending:
        k, pixel = pending.pop()
        width = 4 ** (order - k)
        total = int(counts[pixel * width:(pixel + 1) * width].sum())
        if total == 0:
            continue
        if total <= max_rows or k == order:
            chosen.append(Partition(k, pixel))
        else:
            pending.extend((k + 1, 4 * pixel + c) for c in range(4))
    return sorted(chosen, key=lambda p: p.index_range(order))


def write_catalog(
    root: Path,
    schema: pa.Schema,
    batches: Iterator[pa.RecordBatch],
    *,
    index_column: str,
    index_order: int,
    max_rows: int = DEFAULT_MAX_ROWS,
    highest_order: int = DEFAULT_HIGHEST_ORDER,
) -> HatsCatalog:
    """Write the batches as a HATS catalogue in ``root`` (replaced whole; ``properties`` not yet written).

    Parameters
    ----------
    root
        The catalogue directory; written beside and renamed into place, so readers never see half.
    schema, batches
        The rows, with the NESTED index ``index_column`` (int64 at ``index_order``) already computed.
    max_rows
        Split a pixel while it holds more rows than this.
    highest_order
        Never split below this order (capped at ``index_order``).

    Returns
    -------
    HatsCatalog
        The partitions written.

    Raises
    ------
    UsageError
        When a row has no index value (no valid position), or ``max_rows`` is not positive.
    """
    if max_rows < 1:
        raise UsageError("the partition size must be at least one row", param="--max-rows")
    order = min(highest_order, index_order)
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        counts, nrows = _spill_and_count(staging / "scratch.duckdb", schema, batches, index_column,
                                         index_order, order)
        partitions = plan_partitions(counts, order, max_rows)
        catalog = HatsCatalog(root=staging, partitions=tuple(partitions), index_column=index_column,
                              index_order=index_order, nrows=nrows)
        _write_partitions(staging / "scratch.duckdb", catalog, schema)
        (staging / "scratch.duckdb").unlink()
        _write_partition_info(staging, partitions)
        if root.exists():
            shutil.rmtree(root)
        staging.rename(root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return HatsCatalog(root=root, partitions=tuple(partitions), index_column=index_column,
                       index_order=index_order, nrows=nrows)


def write_properties(catalog: HatsCatalog, *, name: str, ra: str, dec: str, max_rows: int) -> None:
    """Write ``<root>/properties``: the keys ``hats`` reads for an object catalogue (TableProperties)."""
    values = {
        "obs_collection": name,
        "dataproduct_type": "object",
        "hats_nrows": str(catalog.nrows),
        "hats_col_ra": ra,
        "hats_col_dec": dec,
        "hats_col_healpix": catalog.index_column,
        "hats_col_healpix_order": str(catalog.index_order),
        "hats_max_rows": str(max_rows),
        "hats_npix_suffix": ".parquet",
        "hats_order": str(max((p.order for p in catalog.partitions), default=0)),
        "hats_builder": "skygate",
        "hats_version": "v1.0",
    }
    lines = ["#HATS catalog"] + [f"{key}={value}" for key, value in values.items()]
    (catalog.root / "properties").write_text("\n".join(lines) + "\n")


def read_catalog(root: Path, *, index_column: str, index_order: int) -> HatsCatalog:
    """The partitions of a written catalogue, from ``partition_info.csv`` and ``properties``.

    Raises
    ------
    UsageError
        When ``root`` holds no readable HATS catalogue.
    """
    try:
        with (root / "partition_info.csv").open(newline="") as handle:
            partitions = [Partition(int(row["Norder"]), int(row["Npix"])) for row in csv.DictReader(handle)]
        props = dict(line.split("=", 1) for line in (root / "properties").read_text().splitlines()
                     if "=" in line and not line.startswith("#"))
        nrows = int(props.get("hats_nrows", "0"))
    except (OSError, KeyError, ValueError) as exc:
        raise UsageError(f"{root} holds no readable HATS catalogue", param="SKYGATE_DATA_DIR",
                         hint="ingest the table again with --partitioned") from exc
    partitions.sort(key=lambda p: p.index_range(index_order))
    return HatsCatalog(root=root, partitions=tuple(partitions), index_column=index_column,
                       index_order=index_order, nrows=nrows)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _spill_and_count(scratch: Path, schema: pa.Schema, batches: Iterator[pa.RecordBatch], index_column: str,
                     index_order: int, order: int) -> tuple[np.ndarray, int]:
    """Copy the rows into a scratch DuckDB table sorted by the index; count them per pixel at ``order``."""
    counts = np.zeros(12 * 4**order, dtype=np.int64)
    shift = 2 * (index_order - order)
    position = schema.get_field_index(index_column)
    unplaced = False

    def counted() -> Iterator[pa.RecordBatch]:
        nonlocal unplaced
        for batch in batches:
            index = batch.column(position)
            if index.null_count:
                # Raised below: DuckDB would wrap an exception raised inside its scan in its own.
                unplaced = True
                return
            values = index.to_numpy(zero_copy_only=False)
            counts[:] += np.bincount(values >> shift, minlength=len(counts))
            yield batch

    con = duckdb.connect(str(scratch))
    try:
        con.execute(f"SET memory_limit = '{_SCRATCH_MEMORY}'")
        con.execute("SET preserve_insertion_order = true")
        con.register("skygate_hats_source", pa.RecordBatchReader.from_batches(schema, counted()))
        con.execute(f"CREATE TABLE rows AS SELECT * FROM skygate_hats_source ORDER BY {_quote(index_column)}")
        con.unregister("skygate_hats_source")
    finally:
        con.close()
    if unplaced:
        raise UsageError("a row has no valid position, so it belongs to no HEALPix partition",
                         param="PATH", hint="drop the rows without ra/dec, or ingest without --partitioned")
    return counts, int(counts.sum())


def _write_partitions(scratch: Path, catalog: HatsCatalog, schema: pa.Schema) -> None:
    """One Parquet file per partition (sorted, with statistics), then ``_metadata`` and ``_common_metadata``."""
    # Field-level metadata (units, UCDs) lives in TAP_SCHEMA; the files keep the plain Arrow types.
    plain = pa.schema([pa.field(f.name, f.type, nullable=f.nullable) for f in schema])
    collected: list[pq.FileMetaData] = []
    con = duckdb.connect(str(scratch), read_only=True)
    try:
        column = _quote(catalog.index_column)
        for partition in catalog.partitions:
            lo, hi = partition.index_range(catalog.index_order)
            table = con.execute(f"SELECT * FROM rows WHERE {column} BETWEEN ? AND ? ORDER BY {column}",
                                [lo, hi]).to_arrow_table().cast(plain)
            path = catalog.dataset / partition.relative_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            metadata: list[pq.FileMetaData] = []
            pq.write_table(table, path, row_group_size=_ROW_GROUP_ROWS, write_statistics=True,
                           metadata_collector=metadata)
            metadata[0].set_file_path(partition.relative_path())
            collected.extend(metadata)
    finally:
        con.close()
    pq.write_metadata(plain, catalog.dataset / "_common_metadata")
    pq.write_metadata(plain, catalog.dataset / "_metadata", metadata_collector=collected)


def _write_partition_info(root: Path, partitions: Sequence[Partition]) -> None:
    with (root / "partition_info.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Norder", "Npix"])
        # HATS lists partitions breadth first: by order, then pixel.
        writer.writerows([p.order, p.pixel] for p in sorted(partitions))
