"""The partitioned ``ci`` release (tests/partitioned_fixtures.py) served by DuckDB in place, and cone helpers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from release.backends import DuckDBBackend, open_backend
from release.engine import QueryEngine
from release.metadata import load_metadata
from tests.partitioned_fixtures import MAX_ROWS  # noqa: F401 (tests/release/test_hats.py reads it here)


def cone_center() -> tuple[float, float, float]:
    """A cone inside the ci release's footprint (ra, dec, radius in degrees)."""
    return 0.3, -0.7, 0.08


def cone_adql(columns: str) -> str:
    ra, dec, radius = cone_center()
    return (f"SELECT {columns} FROM des_dr1.main "
            f"WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', {ra}, {dec}, {radius}))")


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


def normalised(rows: list[dict[str, object]]) -> list[tuple[object, ...]]:
    """Rows as sorted tuples with floats to 10 significant digits (engines sum and round differently)."""
    def value(v: object) -> object:
        return float(f"{v:.10g}") if isinstance(v, float) else v

    return sorted((tuple(value(v) for v in r.values()) for r in rows), key=repr)
