"""The ``ci`` release written partitioned (HATS) beside a DuckDB file, once per session."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from release.backends import DuckDBBackend, open_backend
from release.engine import QueryEngine
from release.layout import ingest_release
from release.metadata import load_metadata
from release.partitioned import PartitionedStore
from release.stores import open_store

MAX_ROWS = 2000  # the ci release's 20 k rows of des_dr1.main make a few dozen partitions


def cone_center() -> tuple[float, float, float]:
    """A cone inside the ci release's footprint (ra, dec, radius in degrees)."""
    return 0.3, -0.7, 0.08


def cone_adql(columns: str) -> str:
    ra, dec, radius = cone_center()
    return (f"SELECT {columns} FROM des_dr1.main "
            f"WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', {ra}, {dec}, {radius}))")


@pytest.fixture(scope="session")
def partitioned_ci(ci_release_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir holding ``catalog.duckdb`` and ``hats/<schema>/<table>`` for the ci release."""
    where = tmp_path_factory.mktemp("partitioned")

    async def ingest() -> None:
        async with await open_store("", where / "catalog.duckdb", readonly_role="") as store:
            await ingest_release(PartitionedStore(store, where / "hats", max_rows=MAX_ROWS), ci_release_dir)

    asyncio.run(ingest())
    return where


@pytest.fixture(scope="session")
def partitioned_backend(partitioned_ci: Path) -> Iterator[DuckDBBackend]:
    backend = open_backend("", partitioned_ci / "catalog.duckdb", base_url="http://127.0.0.1:8000",
                           readonly_role="")
    assert isinstance(backend, DuckDBBackend)
    yield backend
    asyncio.run(backend.close())


@pytest.fixture(scope="session")
def partitioned_engine(partitioned_backend: DuckDBBackend) -> QueryEngine:
    return QueryEngine(partitioned_backend, asyncio.run(load_metadata(partitioned_backend)))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Spark tests start a JVM (10-20 s, two cores busy): they run only when ``-m`` names ``spark``."""
    if "spark" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="Spark tests run with -m spark (.ci/run: SKYGATE_CI_SPARK=1)")
    for item in items:
        if item.get_closest_marker("spark") is not None:
            item.add_marker(skip)


def normalised(rows: list[dict[str, object]]) -> list[tuple[object, ...]]:
    """Rows as sorted tuples with floats to 10 significant digits (engines sum and round differently)."""
    def value(v: object) -> object:
        return float(f"{v:.10g}") if isinstance(v, float) else v

    return sorted((tuple(value(v) for v in r.values()) for r in rows), key=repr)
