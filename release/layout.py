"""Ingest the demo release layout (what ``release.demo.generate`` writes) into a store, and tell whether it already is.

``ingest_release`` loads ``des_dr1.{main, main_sample, tile_info, demo_truth}`` from the
release's ``catalog/`` folder through ``release.ingest``, then the ObsCore image index (rows from
``release.obscore.build_obscore``, stored as ``ivoa.skygate_obscore`` behind the ``ivoa.obscore``
view), and records the release stamp last, so ``skygate demo --if-missing`` redoes an interrupted
or outdated ingest. Knows where the demo files are, not how a table is stored or published.
``reference_footprints`` names each table's footprint MOC URL at the end of its TAP_SCHEMA description,
after ingest (so /tap/tables, read from TAP_SCHEMA, says the same).
Tests: tests/skygate/test_cli_release.py (``demo --if-missing``), tests/release/test_obscore_ingested.py
and tests/release/test_engine.py (over the ``ci`` release that tests/release_fixtures.py ingests).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from dali.errors import FatalError
from release.ingest import LoadedTable, ingest_table, publish_table
from release.metadata import read_catalog
from release.progress import Progress
from release.sources import Source, open_source
from release.stores import Store
from release.tapschema import META_SCHEMA, TAP_SCHEMA, tap_schema_rows, with_footprint

__all__ = [
    "INGEST_LAYOUT",
    "MAIN_TOLERANCE",
    "RELEASE_DESCRIPTION",
    "RELEASE_SCHEMA",
    "ingest_obscore",
    "ingest_release",
    "ingested_stamp",
    "reference_footprints",
    "release_stamp",
]

RELEASE_SCHEMA = "des_dr1"
RELEASE_DESCRIPTION = "Synthetic copy of the Dark Energy Survey Data Release 1 (Skygate demo release)"
# ra/dec are the windowed position rounded to 1e-6 deg (``release.demo.catalog.round_inside``).
MAIN_TOLERANCE = 2e-6
_STAMP_TABLE = f"{META_SCHEMA}.release"

# Bumped whenever what ingest_release writes changes shape (tables, columns, metadata), so that
# `skygate demo --if-missing` re-ingests a release ingested by an older Skygate.
INGEST_LAYOUT = 2


def release_stamp(release_dir: Path) -> str | None:
    """The identity of an ingested release: sha256 of its ``manifest.json`` and the ingest layout."""
    import hashlib

    manifest = release_dir / "manifest.json"
    if not manifest.is_file():
        return None
    return f"{hashlib.sha256(manifest.read_bytes()).hexdigest()}/layout-{INGEST_LAYOUT}"


async def ingested_stamp(store: Store) -> str | None:
    """The stamp of the release last ingested completely into ``store``, or None."""
    try:
        table = await store.fetch(f"SELECT stamp FROM {_STAMP_TABLE}")
    except FatalError:
        return None
    values = table.column("stamp").to_pylist() if table.num_rows else []
    return str(values[0]) if values else None


async def ingest_release(store: Store, release_dir: Path, *, stamp: str | None = None,
                         progress: Progress | None = None) -> list[LoadedTable]:
    """Ingest the demo release layout: ``des_dr1.{main, main_sample, tile_info, demo_truth}`` and ObsCore.

    ``main`` and ``demo_truth`` get a position (``main`` on its rounded ra/dec, tolerance
    ``MAIN_TOLERANCE``); ``main_sample`` is the 1 % subsample (``catalog/dr1_main_sample.parquet``
    when the generator wrote one, else ``release.demo.sample.main_sample_mask``: splitmix64 % 100 == 0).
    ``ivoa.obscore`` is ingested when ``release.obscore.build_obscore`` is available.
    The release stamp (``stamp``, default ``release_stamp(release_dir)``) is recorded last, so an
    interrupted ingest is redone by ``--if-missing``. ``progress`` is told the rows of each table.
    """
    import time

    catalog = release_dir / "catalog"
    loaded: list[LoadedTable] = []

    async def load(table: str, source: Source, **options: Any) -> None:
        start = time.perf_counter()
        meta = await ingest_table(store, source, table, schema_description=RELEASE_DESCRIPTION, progress=progress,
                                  **options)
        loaded.append(LoadedTable(meta, time.perf_counter() - start))

    main_path = catalog / "dr1_main.parquet"
    await load(f"{RELEASE_SCHEMA}.main", open_source(main_path), ra="ra", dec="dec", tolerance=MAIN_TOLERANCE)
    sample_path = catalog / "dr1_main_sample.parquet"
    if sample_path.is_file():
        sample = open_source(sample_path)
    else:
        main = open_source(main_path)
        sample = Source(schema=main.schema, batches=_sample_rows(main.batches),
                        description="1 % subsample of des_dr1.main (splitmix64(coadd_object_id) mod 100 = 0)")
    await load(f"{RELEASE_SCHEMA}.main_sample", sample, ra="ra", dec="dec", tolerance=MAIN_TOLERANCE)
    await load(f"{RELEASE_SCHEMA}.tile_info", open_source(catalog / "dr1_tile_info.parquet"))
    truth_path = catalog / "demo_truth.parquet"
    if truth_path.is_file():
        await load(f"{RELEASE_SCHEMA}.demo_truth", open_source(truth_path), ra="ra", dec="dec")
    obscore = await ingest_obscore(store, release_dir, catalog / "dr1_tile_info.parquet")
    if obscore is not None:
        loaded.append(obscore)
    stamp = stamp or release_stamp(release_dir)
    if stamp is not None:
        await store.replace_small_tables({_STAMP_TABLE: pa.table({"stamp": [stamp]})})
    return loaded


async def reference_footprints(store: Store, urls: Mapping[str, str]) -> bool:
    """End each table's description with its footprint's URL (``urls``: ``schema.table`` -> URL; other tables
    lose an earlier one), rewriting TAP_SCHEMA when that changes anything. Returns whether it did."""
    catalog = await read_catalog(store.fetch)
    tables = {k: t for k, t in catalog.tables.items() if t.schema != TAP_SCHEMA}
    updated = {k: replace(t, description=with_footprint(t.description, urls.get(k))) for k, t in tables.items()}
    if all(updated[k].description == t.description for k, t in tables.items()):
        return False
    await store.replace_small_tables(tap_schema_rows(updated.values(), catalog.schema_descriptions))
    await store.grant(sorted({t.schema for t in updated.values()} | {TAP_SCHEMA, META_SCHEMA}))
    return True


async def ingest_obscore(store: Store, release_dir: Path, tile_info_path: Path) -> LoadedTable | None:
    """Hook for the image index: store ``ivoa.skygate_obscore``, create the ``ivoa.obscore`` view, publish it.

    Uses ``release.obscore.build_obscore`` (the images engineer's); returns None when that
    module is not available.
    """
    import time

    try:
        from release.obscore import build_obscore
    except ImportError:
        return None
    start = time.perf_counter()
    tile_info = await asyncio.to_thread(pq.read_table, tile_info_path)
    build = await asyncio.to_thread(build_obscore, release_dir, tile_info)
    base = build.base_meta
    await store.load(base.qualified, build.table.schema, iter(build.table.to_batches()), sort_by=None, indexes=())
    await store.execute(build.view_sql(store.dialect))
    meta = replace(build.meta, nrows=build.table.num_rows)
    await publish_table(store, meta, schema_description="IVOA data models: ObsCore 1.1 image index")
    return LoadedTable(meta, time.perf_counter() - start)


def _sample_rows(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    from release.demo.sample import main_sample_mask

    for batch in batches:
        names = [n.lower() for n in batch.schema.names]
        ids = batch.column(names.index("coadd_object_id")).to_numpy(zero_copy_only=False)
        yield batch.filter(pa.array(main_sample_mask(ids)))
