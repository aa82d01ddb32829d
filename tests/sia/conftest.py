"""An ``ivoa.obscore`` in DuckDB over small test tiles, and a row source that streams from it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from release.obscore import build_obscore
from tests.soda.tiles import tile_info, write_tile


class DuckRows:
    """The ``stream`` of ``release.backends.Backend``, reduced to what SIA calls."""

    dialect = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.statements: list[str] = []

    async def stream(self, sql: str, *, timeout: float) -> AsyncIterator[pa.RecordBatch]:
        self.statements.append(sql)
        reader = self.con.execute(sql).to_arrow_reader(1000)
        for batch in reader:
            yield batch


@pytest.fixture(scope="session")
def image_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("images")
    for band in ("g", "r", "i"):
        write_tile(root, "DES2134-0041", band, star=(323.36, -0.82))
    write_tile(root, "DES2359-0041", "g", star=(0.1, -0.7))
    return root


@pytest.fixture()
def obscore_rows(image_release: Path) -> Iterator[DuckRows]:
    build = build_obscore(image_release, tile_info())
    con = duckdb.connect()
    con.execute("CREATE SCHEMA ivoa")
    con.register("rows", build.table)
    con.execute("CREATE TABLE ivoa.skygate_obscore AS SELECT * FROM rows")
    con.unregister("rows")
    con.execute(build.view_sql("duckdb"))
    con.execute("SET VARIABLE skygate_base_url = 'http://testserver'")
    yield DuckRows(con)
    con.close()
