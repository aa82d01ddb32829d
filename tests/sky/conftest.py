"""Fixtures of the sky tests: the ``ci`` release's footprints, built once per session."""

from __future__ import annotations

import asyncio
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from release.metadata import Fetch
from sky.moc import Footprint, build_footprints


def duckdb_fetch(path: Path) -> tuple[Fetch, duckdb.DuckDBPyConnection]:
    """A read-only ``fetch`` on an ingested DuckDB file (and its connection, to close)."""
    con = duckdb.connect(str(path), read_only=True)

    async def fetch(sql: str) -> pa.Table:
        return con.execute(sql).to_arrow_table()

    return fetch, con


@pytest.fixture(scope="session")
def ci_moc_dir(ci_duckdb_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The footprints of the ingested ``ci`` release at the default order."""
    out = tmp_path_factory.mktemp("sky") / "moc"
    fetch, con = duckdb_fetch(ci_duckdb_path)
    try:
        asyncio.run(build_footprints(fetch, out))
    finally:
        con.close()
    return out


@pytest.fixture(scope="session")
def ci_footprints(ci_moc_dir: Path) -> dict[str, Footprint]:
    from sky.moc import read_footprints

    return read_footprints(ci_moc_dir)
