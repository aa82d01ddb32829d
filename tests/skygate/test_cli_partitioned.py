"""``skygate ingest catalog --partitioned``: HATS files under the data dir, served in place."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from release.backends import DuckDBBackend, open_backend
from release.engine import QueryEngine
from release.metadata import load_metadata
from skygate.cli import main


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("SKYGATE_DATABASE_URL", "SKYGATE_DATA_DIR", "SKYGATE_READONLY_ROLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SKYGATE_DATA_DIR", str(tmp_path / "var"))
    return tmp_path / "var"


def source(path: Path, n: int = 3000) -> Path:
    rng = np.random.default_rng(3)
    pq.write_table(pa.table({"ID": np.arange(n, dtype=np.int64), "RA": rng.uniform(0, 360, n),
                             "DEC": np.degrees(np.arcsin(rng.uniform(-1, 1, n)))}), path)
    return path


def query(duckdb_path: Path, adql: str) -> list[dict[str, object]]:
    async def run() -> list[dict[str, object]]:
        backend = open_backend("", duckdb_path, base_url="http://x", readonly_role="")
        assert isinstance(backend, DuckDBBackend)
        try:
            engine = QueryEngine(backend, await load_metadata(backend))
            result = await engine.execute(adql, maxrec=None, timeout=10)
            return [row async for batch in result.batches for row in batch.to_pylist()]
        finally:
            await backend.close()

    return asyncio.run(run())


def test_ingest_partitioned(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = source(tmp_path / "sky.parquet")
    status = main(["ingest", "catalog", str(path), "--table", "sky.points", "--ra", "RA", "--dec", "DEC",
                   "--partitioned", "--max-rows", "100"])
    assert status == 0, capsys.readouterr().err
    root = data_dir / "hats" / "sky" / "points"
    files = list((root / "dataset").glob("Norder=*/Dir=*/Npix=*.parquet"))
    assert len(files) >= 30
    assert all(pq.read_metadata(f).num_rows <= 100 for f in files)
    assert "hats_col_ra=ra" in (root / "properties").read_text()
    assert query(data_dir / "catalog.duckdb", "SELECT COUNT(*) AS n FROM sky.points") == [{"n": 3000}]
    # the DuckDB file holds a view over the files, not a copy of the rows
    con = duckdb.connect(str(data_dir / "catalog.duckdb"), read_only=True)
    try:
        kind = con.execute("SELECT table_type FROM information_schema.tables "
                           "WHERE table_schema = 'sky' AND table_name = 'points'").fetchall()
    finally:
        con.close()
    assert kind == [("VIEW",)]


@pytest.mark.parametrize(("extra", "env", "message"), [
    ([], {}, "--partitioned needs --ra and --dec"),
    (["--ra", "RA", "--dec", "DEC", "--max-rows", "0"], {}, "at least one row"),
    (["--ra", "RA", "--dec", "DEC"], {"SKYGATE_DATABASE_URL": "postgresql://127.0.0.1:1/none"},
     "needs the embedded DuckDB catalog|cannot connect"),
])
def test_partitioned_refusals(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch, extra: list[str], env: dict[str, str],
                              message: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    path = source(tmp_path / "sky.parquet", 10)
    status = main(["ingest", "catalog", str(path), "--table", "sky.points", "--partitioned", *extra])
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.strip().splitlines()) == 1
    assert re.search(message, err)


def test_adql_translate_for_spark(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = source(tmp_path / "sky.parquet", 10)
    assert main(["ingest", "catalog", str(path), "--table", "sky.points", "--ra", "RA", "--dec", "DEC",
                 "--partitioned"]) == 0
    capsys.readouterr()
    assert main(["adql", "translate", "--dialect", "spark", "SELECT TOP 5 ra FROM sky.points"]) == 0
    assert capsys.readouterr().out.strip() == "SELECT `points`.`ra` AS `ra` FROM `sky`.`points` AS `points` LIMIT 5"


def test_a_missing_catalogue_is_no_release(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    from release.runtime import open_release

    path = source(tmp_path / "sky.parquet", 10)
    assert main(["ingest", "catalog", str(path), "--table", "sky.points", "--ra", "RA", "--dec", "DEC",
                 "--partitioned"]) == 0
    shutil.rmtree(data_dir / "hats" / "sky" / "points")
    opened = asyncio.run(open_release("", data_dir / "catalog.duckdb", base_url="http://x", readonly_role=""))
    assert opened.engine is None and opened.problem is not None
    assert "no readable HATS catalogue" in opened.problem


def test_demo_partitioned(data_dir: Path, ci_release_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir.mkdir(parents=True)
    (data_dir / "release").symlink_to(ci_release_dir, target_is_directory=True)
    assert main(["demo", "--profile", "ci", "--if-missing"]) == 0
    assert not (data_dir / "hats").exists()
    # an unpartitioned ingest of the same release does not count as a partitioned one
    assert main(["demo", "--profile", "ci", "--if-missing", "--partitioned", "--max-rows", "5000"]) == 0
    assert "already" not in capsys.readouterr().out
    files = list((data_dir / "hats" / "des_dr1" / "main" / "dataset").glob("Norder=*/Dir=*/*.parquet"))
    assert len(files) >= 4
    assert query(data_dir / "catalog.duckdb", "SELECT COUNT(*) AS n FROM des_dr1.tile_info") == [{"n": 2}]
    assert main(["demo", "--profile", "ci", "--if-missing", "--partitioned", "--max-rows", "5000"]) == 0
    assert "already generated and ingested" in capsys.readouterr().out
