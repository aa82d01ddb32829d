"""``skygate ingest catalog`` and ``skygate demo``: run in-process through ``skygate.cli.main``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import astropy.units as u
import asyncpg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from release.backends import open_backend
from release.metadata import load_metadata
from skygate.cli import main
from tests.isolation import per_worker


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("SKYGATE_DATABASE_URL", "SKYGATE_DATA_DIR", "SKYGATE_READONLY_ROLE", "SKYGATE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SKYGATE_DATA_DIR", str(tmp_path / "var"))
    return tmp_path / "var"


def parquet_catalog(path: Path) -> Path:
    table = pa.table({"ID": pa.array([3_000_000_001, 3_000_000_002], pa.int64()), "RA": [10.0, 10.5],
                      "DEC": [-5.0, -5.5], "G": pa.array([20.5, 21.25], pa.float32())})
    pq.write_table(table, path)
    return path


def published(database_url: str, duckdb_path: Path, role: str = "") -> dict[str, object]:
    async def run() -> dict[str, object]:
        backend = open_backend(database_url, duckdb_path, base_url="http://x", readonly_role=role)
        try:
            return dict(await load_metadata(backend))
        finally:
            await backend.close()

    return asyncio.run(run())


def test_ingest_catalog_with_metadata(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = parquet_catalog(tmp_path / "cat.parquet")
    metadata = tmp_path / "meta.json"
    metadata.write_text(json.dumps({"description": "my catalogue", "columns": {"g": {"unit": "mag"}}}))
    status = main(["ingest", "catalog", str(source), "--table", "Mine.Cat", "--ra", "RA", "--dec", "DEC",
                   "--metadata", str(metadata)])
    assert status == 0
    out = capsys.readouterr().out
    assert "mine.cat: 2 rows, 4 columns, position (ra, dec)" in out
    tables = published("", data_dir / "catalog.duckdb")
    meta = tables["mine.cat"]
    assert meta.description == (  # type: ignore[attr-defined]
        "my catalogue Footprint (IVOA MOC 2.0): http://127.0.0.1:8000/moc/mine.cat")
    assert meta.column("g").unit == "mag"  # type: ignore[attr-defined]
    # The release changed, so its footprints were rebuilt: the new table's MOC holds both rows.
    assert "footprints (MOC order 12)" in out and "mine.cat" in out
    from mocpy import MOC

    moc = MOC.from_fits(data_dir / "moc" / "mine.cat.fits")
    assert moc.contains_lonlat([10.0, 10.5] * u.deg, [-5.0, -5.5] * u.deg).all()
    assert moc.sky_fraction * 12 * 4**12 == pytest.approx(2)


@pytest.mark.parametrize(("argv", "message"), [
    (["ingest", "catalog", "missing.parquet", "--table", "a.b"], "does not exist"),
    (["ingest", "catalog", "{src}", "--table", "nodot"], "schema.name"),
    (["ingest", "catalog", "{src}", "--table", "a.b", "--ra", "RA"], "--ra and --dec"),
])
def test_ingest_errors_are_one_line_and_status_2(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 argv: list[str], message: str) -> None:
    source = parquet_catalog(tmp_path / "cat.parquet")
    status = main([a.replace("{src}", str(source)) for a in argv])
    err = capsys.readouterr().err
    assert status == 2
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_demo_ingests_a_generated_release_and_then_does_nothing(
        data_dir: Path, ci_release_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir.mkdir(parents=True)
    (data_dir / "release").symlink_to(ci_release_dir, target_is_directory=True)
    assert main(["demo", "--profile", "ci", "--if-missing"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "generated the" not in out, "the files were there: only ingest runs"
    assert "ingest des_dr1.main:" in captured.err and "100%" in captured.err, "a progress bar per table"
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("ci release ready in ") and "2 tiles, 6 band images, 5 tables" in summary
    for table in ("des_dr1.main", "des_dr1.main_sample", "des_dr1.tile_info", "des_dr1.demo_truth", "ivoa.obscore"):
        assert table in out
    tables = published("", data_dir / "catalog.duckdb")
    main_meta = tables["des_dr1.main"]
    assert main_meta.position.tolerance == 2e-6  # type: ignore[attr-defined]
    sample = tables["des_dr1.main_sample"]
    assert 0 < sample.nrows < main_meta.nrows / 50  # type: ignore[attr-defined]
    mag = main_meta.column("mag_auto_g")  # type: ignore[attr-defined]
    assert (mag.unit, mag.ucd) == ("mag", "phot.mag;em.opt.B")
    index = json.loads((data_dir / "moc" / "index.json").read_text())
    assert {row["name"] for row in index} >= {"des_dr1.main", "ivoa.obscore"}

    assert main(["demo", "--profile", "ci", "--if-missing"]) == 0
    assert "already generated and ingested" in capsys.readouterr().out


def test_table_descriptions_name_their_footprint_in_tap_schema_and_tap_tables_alike(
        data_dir: Path, ci_release_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from lxml import etree

    from skygate.app import create_app
    from skygate.settings import Settings
    from tests.tap.conftest import TestClient  # type: ignore[attr-defined]  # starlette's, with its warning filtered

    data_dir.mkdir(parents=True)
    (data_dir / "release").symlink_to(ci_release_dir, target_is_directory=True)
    monkeypatch.setenv("SKYGATE_BASE_URL", "https://sky.example.org/a")
    assert main(["demo", "--profile", "ci", "--if-missing"]) == 0
    out = capsys.readouterr().out
    assert "table descriptions name their footprints" in out and "run `skygate hips build`" in out
    stored = {name: meta.description  # type: ignore[attr-defined]
              for name, meta in published("", data_dir / "catalog.duckdb").items()}
    for table in ("des_dr1.main", "des_dr1.main_sample", "des_dr1.demo_truth", "ivoa.obscore"):
        assert str(stored[table]).endswith(f" Footprint (IVOA MOC 2.0): https://sky.example.org/a/moc/{table}"), table
    assert "Footprint" not in str(stored["des_dr1.tile_info"]), "no position, no footprint"

    with TestClient(create_app(Settings.from_env())) as client:
        tables = etree.fromstring(client.get("/tap/tables").content)
        described = {t.findtext("name"): t.findtext("description") for t in tables.iter("table")}
        for table in ("des_dr1.main", "ivoa.obscore"):
            assert described[table] == stored[table]
            footprint = client.get("/moc/" + str(stored[table]).rsplit("/moc/", 1)[1])
            assert footprint.status_code == 200 and footprint.headers["content-type"] == "application/fits"

    monkeypatch.setenv("SKYGATE_BASE_URL", "https://elsewhere.example.org")
    assert main(["demo", "--profile", "ci", "--if-missing"]) == 0
    assert "already generated and ingested" in capsys.readouterr().out
    moved = published("", data_dir / "catalog.duckdb")["des_dr1.main"].description  # type: ignore[attr-defined]
    assert moved.endswith("Footprint (IVOA MOC 2.0): https://elsewhere.example.org/moc/des_dr1.main")
    assert moved.count("Footprint") == 1


@pytest.mark.postgres
def test_ingest_into_postgres_as_admin_read_as_reader(
        data_dir: Path, tmp_path: Path, postgres_admin_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    database, role = per_worker("skygate_test_cli"), per_worker("skygate_test_reader")

    async def fresh() -> str:
        conn = await asyncpg.connect(postgres_admin_url)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
            await conn.execute(f"CREATE DATABASE {database}")
        finally:
            await conn.close()
        return postgres_admin_url.rsplit("/", 1)[0] + "/" + database

    url = asyncio.run(fresh())
    monkeypatch.setenv("SKYGATE_DATABASE_URL", url)
    monkeypatch.setenv("SKYGATE_READONLY_ROLE", role)
    source = parquet_catalog(tmp_path / "cat.parquet")
    assert main(["ingest", "catalog", str(source), "--table", "mine.cat", "--ra", "ra", "--dec", "dec"]) == 0
    tables = published(url, Path("unused"), role=role)
    assert tables["mine.cat"].nrows == 2  # type: ignore[attr-defined]
    assert not (data_dir / "catalog.duckdb").exists()


def test_demo_generates_with_the_given_pixscale_and_no_ingest(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import release.demo

    calls: list[tuple[str, Path, float | None]] = []

    def fake_generate(profile: str, out_dir: Path, *, pixscale: float | None = None, **options: object) -> Path:
        calls.append((profile, out_dir, pixscale))
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "manifest.json").write_text(json.dumps({"profile": profile}))
        return out_dir / "manifest.json"

    monkeypatch.setattr(release.demo, "generate", fake_generate)
    assert main(["demo", "--profile", "ci", "--pixscale", "0.526", "--no-ingest"]) == 0
    assert calls == [("ci", data_dir / "release", 0.526)]
    assert "generated the ci release" in capsys.readouterr().out
    assert not (data_dir / "catalog.duckdb").exists()
    assert main(["demo", "--profile", "ci", "--no-ingest", "--if-missing"]) == 0
    assert len(calls) == 1, "--if-missing keeps the generated files"
    assert main(["demo", "--profile", "demo", "--no-ingest", "--if-missing"]) == 0
    assert [c[0] for c in calls] == ["ci", "demo"], "another profile is generated"
