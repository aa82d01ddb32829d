"""Registry test fixtures: a small all-sky table (poles and RA 0 included) served through ASGI.

``sky_client`` serves ``sky.points``, a table with positions ingested by ``release.ingest`` into
a DuckDB file of its own: a ring of points close to each pole, points either side of RA 0 and
random points over the whole sphere, so a cone and the equivalent TAP query can be compared where
spherical geometry is least forgiving.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from dali.values import TableMeta
from release.backends import open_backend
from release.ingest import ingest_table
from release.metadata import load_metadata
from release.sources import Source
from release.stores import open_store
from skygate.app import create_app
from skygate.settings import Settings

with warnings.catch_warnings():
    # starlette 0.52's testclient touches an anyio alias deprecated in anyio 4.12 at import time.
    warnings.simplefilter("ignore", DeprecationWarning)
    from starlette.testclient import TestClient

BASE = "http://testserver"


def sky_points() -> pa.Table:
    """About 6000 points: random over the sphere, dense within 2 degrees of each pole and of RA 0."""
    rng = np.random.default_rng(16)
    n = 3000
    ra = [rng.uniform(0, 360, n)]
    dec = [np.degrees(np.arcsin(rng.uniform(-1, 1, n)))]
    for pole in (1, -1):
        ra.append(rng.uniform(0, 360, 1000))
        dec.append(pole * (90 - rng.uniform(0, 2, 1000)))
    ra.append(np.concatenate([rng.uniform(358, 360, 500), rng.uniform(0, 2, 500)]))
    dec.append(rng.uniform(-2, 2, 1000))
    ras, decs = np.concatenate(ra), np.concatenate(dec)
    ids = np.arange(len(ras), dtype=np.int64) + 1
    schema = pa.schema([
        pa.field("point_id", pa.int64(), metadata={"ucd": "meta.id;meta.main", "description": "point number",
                                                   "principal": "true"}),
        pa.field("ra", pa.float64(), metadata={"ucd": "pos.eq.ra;meta.main", "unit": "deg", "principal": "true"}),
        pa.field("dec", pa.float64(), metadata={"ucd": "pos.eq.dec;meta.main", "unit": "deg", "principal": "true"}),
        pa.field("mag", pa.float32(), metadata={"ucd": "phot.mag", "unit": "mag", "indexed": "true"}),
        pa.field("note", pa.string(), metadata={"ucd": "meta.note", "description": "free text"}),
    ], metadata={"description": "test points over the whole sky"})
    return pa.table([ids, ras, decs, rng.uniform(15, 25, len(ras)).astype(np.float32),
                     [f"p{i}" for i in ids]], schema=schema)


async def _ingest(path: Path) -> None:
    table = sky_points()
    async with await open_store("", path, readonly_role="") as store:
        await ingest_table(store, Source(schema=table.schema, batches=iter(table.to_batches(max_chunksize=2000))),
                           "sky.points", ra="ra", dec="dec")


@pytest.fixture(scope="session")
def sky_duckdb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sky") / "catalog.duckdb"
    asyncio.run(_ingest(path))
    return path


@pytest.fixture(scope="module")
def sky_settings(sky_duckdb: Path) -> Settings:
    return Settings(data_dir=sky_duckdb.parent, base_url=BASE, maxrec_default=1000, maxrec_hard=5000)


@pytest.fixture(scope="module")
def sky_client(sky_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(sky_settings), base_url=BASE) as client:
        yield client


@pytest.fixture(scope="module")
def sky_metadata(sky_duckdb: Path) -> dict[str, TableMeta]:
    """The published metadata of the ``sky`` release, read back through its backend."""
    backend = open_backend("", sky_duckdb, base_url="http://x", readonly_role="")

    async def read() -> dict[str, TableMeta]:
        try:
            return await load_metadata(backend)
        finally:
            await backend.close()

    return asyncio.run(read())


class ReleaseStub:
    """What ``skygate.registry_sources`` reads of an open release: its metadata."""

    def __init__(self, metadata: dict[str, TableMeta]) -> None:
        self.metadata = metadata
