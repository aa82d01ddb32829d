"""ivoa.obscore rows, view and identifiers (the regions and their overlap test: tests/dali/test_regions.py)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from dali.regions import Circle, region_overlaps
from release.obscore import (
    BAND_WAVELENGTHS,
    DID_BASE,
    build_obscore,
    image_did,
    obscore_meta,
    obscore_view_sql,
    parse_did,
    tile_did,
)
from tests.isolation import per_worker
from tests.soda.tiles import tile_info, write_tile


def test_identifiers_round_trip() -> None:
    assert parse_did(image_did("DES2134-0041", "Y")) == parse_did(DID_BASE.upper() + "?DES2134-0041_Y")
    ref = parse_did(image_did("DES2134-0041", "Y"))
    assert ref is not None and (ref.tilename, ref.band) == ("DES2134-0041", "Y")
    tile = parse_did(tile_did("DES2134-0041"))
    assert tile is not None and (tile.tilename, tile.band) == ("DES2134-0041", None)
    assert parse_did("ivo://elsewhere/x?DES2134-0041_g") is None
    assert parse_did(tile_did("../../etc")) is None


def test_meta_has_every_mandatory_column() -> None:
    names = {c.name for c in obscore_meta().columns}
    mandatory = {"dataproduct_type", "calib_level", "obs_collection", "obs_id", "obs_publisher_did", "access_url",
                 "access_format", "access_estsize", "target_name", "s_ra", "s_dec", "s_fov", "s_region",
                 "s_resolution", "s_xel1", "s_xel2", "t_min", "t_max", "t_exptime", "t_resolution", "t_xel",
                 "em_min", "em_max", "em_res_power", "em_xel", "o_ucd", "pol_states", "pol_xel",
                 "facility_name", "instrument_name"}
    assert mandatory <= names
    for column in obscore_meta().columns:
        assert column.ucd and column.utype and column.utype.startswith("obscore:"), column.name
    region = obscore_meta().column("s_region")
    assert region is not None and region.xtype == "adql:REGION" and region.datatype == "char"
    assert region.unit is None  # ObsCore 1.1 App. C (taplint E-OBS-CUNI)


@pytest.fixture(scope="module")
def release_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("release")
    for band in ("g", "r", "i"):
        write_tile(root, "DES2134-0041", band)
    write_tile(root, "DES2359-0041", "g")
    return root


def _duckdb_with_obscore(release_dir: Path, base_url: str) -> duckdb.DuckDBPyConnection:
    build = build_obscore(release_dir, tile_info())
    con = duckdb.connect()
    con.execute("CREATE SCHEMA ivoa")
    con.register("rows", build.table)
    con.execute("CREATE TABLE ivoa.skygate_obscore AS SELECT * FROM rows")
    con.execute(build.view_sql("duckdb"))
    con.execute("SET VARIABLE skygate_base_url = ?", [base_url])
    return con


def test_rows_one_per_tile_and_band(release_dir: Path) -> None:
    con = _duckdb_with_obscore(release_dir, "https://example.org/dr1")
    rows = con.execute("SELECT obs_id, em_min, em_max, s_xel1, s_region, access_url, calib_level "
                       "FROM ivoa.obscore ORDER BY obs_id").fetchall()
    assert [r[0] for r in rows] == ["DES2134-0041_g", "DES2134-0041_i", "DES2134-0041_r", "DES2359-0041_g"]
    assert rows[0][1:3] == BAND_WAVELENGTHS["g"]
    assert rows[0][3] == 250 and len(rows[0][4]) == 8 and rows[0][6] == 3
    assert rows[0][5] == ("https://example.org/dr1/soda/links?ID=ivo%3A%2F%2Fskygate%2Fdes_dr1%2Fcoadd"
                          "%3FDES2134-0041_g")
    # The link follows the base URL of the connection, not the one at ingest.
    con.execute("SET VARIABLE skygate_base_url = 'http://127.0.0.1:9'")
    assert con.execute("SELECT access_url FROM ivoa.obscore LIMIT 1").fetchone()[0].startswith(
        "http://127.0.0.1:9/soda/links?ID=")
    # The stored polygon is counter-clockwise and holds M2.
    assert region_overlaps(Circle(323.36, -0.82, 0.001), rows[0][4])


@pytest.mark.postgres
def test_view_on_postgres(release_dir: Path, postgres_admin_url: str) -> None:
    import asyncio

    import asyncpg

    build = build_obscore(release_dir, tile_info())

    database = per_worker("skygate_test_obscore")

    async def run() -> str:
        admin = await asyncpg.connect(postgres_admin_url)
        await admin.execute(f"DROP DATABASE IF EXISTS {database}")
        await admin.execute(f"CREATE DATABASE {database}")
        try:
            con = await asyncpg.connect(postgres_admin_url.rsplit("/", 1)[0] + "/" + database)
            try:
                await con.execute("CREATE SCHEMA ivoa; CREATE TABLE ivoa.skygate_obscore "
                                  "(obs_id text, skygate_access_path text)")
                await con.executemany("INSERT INTO ivoa.skygate_obscore VALUES ($1, $2)", list(zip(
                    build.table.column("obs_id").to_pylist(),
                    build.table.column("skygate_access_path").to_pylist(), strict=True)))
                sql = build.view_sql("postgres")
                # Only the two stored columns exist in this reduced table: select just those.
                sql = sql.split("SELECT")[0] + "SELECT obs_id, coalesce(current_setting('skygate.base_url', true)," \
                    " '') || skygate_access_path AS access_url FROM ivoa.skygate_obscore"
                assert "current_setting('skygate.base_url', true)" in build.view_sql("postgres")
                await con.execute(sql)
                await con.execute("SET skygate.base_url = 'https://pg.example'")
                return str(await con.fetchval("SELECT access_url FROM ivoa.obscore ORDER BY obs_id LIMIT 1"))
            finally:
                await con.close()
        finally:
            await admin.execute(f"DROP DATABASE IF EXISTS {database}")
            await admin.close()

    assert asyncio.run(run()).startswith("https://pg.example/soda/links?ID=ivo%3A%2F%2F")


def test_view_sql_rejects_unknown_dialect() -> None:
    with pytest.raises(ValueError, match="dialect"):
        obscore_view_sql("oracle")
