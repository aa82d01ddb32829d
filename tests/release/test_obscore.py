"""ivoa.obscore rows, view and identifiers; the exact spherical overlap test of SIA and SODA."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

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
from release.regions import Circle, Polygon, Range, RegionError, parse_pos, region_overlaps
from tests.isolation import per_worker
from tests.soda.tiles import tile_info, write_tile

# DES2134-0041 corners (from the DES tile list), counter-clockwise.
M2_TILE = (323.91333, -1.06244, 323.91327, -0.33198, 323.18280, -0.33198, 323.18275, -1.06244)
# DES2359-0041 straddles RA 0.
RA0_TILE = (0.324360, -1.062437, 0.324303, -0.331976, 359.593833, -0.331976, 359.593776, -1.062437)

OVERLAP_CASES = [
    # (name, region, tile, expected)
    ("centre inside", Circle(323.36, -0.82, 0.05), M2_TILE, True),
    ("far away", Circle(10.0, 40.0, 1.0), M2_TILE, False),
    ("touches corner only", Circle(323.91333 + 0.01, -1.06244 - 0.01, 0.01415), M2_TILE, True),
    ("just misses corner", Circle(323.91333 + 0.01, -1.06244 - 0.01, 0.0141), M2_TILE, False),
    ("crosses an edge, centre and corners outside", Circle(323.55, -0.30, 0.04), M2_TILE, True),
    ("circle holding the tile", Circle(323.5, -0.7, 5.0), M2_TILE, True),
    ("RA 0.1 in the RA-0 tile", Circle(0.1, -0.7, 0.01), RA0_TILE, True),
    ("RA 359.9 in the RA-0 tile", Circle(359.9, -0.7, 0.01), RA0_TILE, True),
    ("RA 0.1 misses the M2 tile", Circle(0.1, -0.7, 0.01), M2_TILE, False),
    ("range inside", Range(323.3, 323.4, -0.9, -0.8), M2_TILE, True),
    ("range holding the tile", Range(320, 330, -5, 5), M2_TILE, True),
    ("range wrapping RA 0", Range(359.0, 1.0, -1.0, 0.0), RA0_TILE, True),
    ("range wrapping RA 0 misses M2", Range(359.0, 1.0, -1.0, 0.0), M2_TILE, False),
    ("range crossing one edge only", Range(323.0, 323.2, -0.9, -0.8), M2_TILE, True),
    ("range through the middle, no corners", Range(323.4, 323.5, -2.0, 2.0), M2_TILE, True),
    ("range beside", Range(324.0, 325.0, -2.0, 2.0), M2_TILE, False),
    ("polygon inside", Polygon(((323.3, -0.9), (323.4, -0.9), (323.4, -0.8))), M2_TILE, True),
    ("polygon holding the tile", Polygon(((320.0, -5.0), (330.0, -5.0), (330.0, 5.0), (320.0, 5.0))), M2_TILE,
     True),
    ("polygon crossing, no vertex inside either",
     Polygon(((323.5, -2.0), (323.6, -2.0), (323.6, 2.0), (323.5, 2.0))), M2_TILE, True),
    ("polygon beside", Polygon(((324.0, -1.0), (325.0, -1.0), (325.0, 0.0))), M2_TILE, False),
]


@pytest.mark.parametrize(("region", "tile", "expected"), [c[1:] for c in OVERLAP_CASES],
                         ids=[c[0] for c in OVERLAP_CASES])
def test_region_overlaps(region: Circle | Range | Polygon, tile: tuple[float, ...], expected: bool) -> None:
    assert region_overlaps(region, tile) is expected


@pytest.mark.parametrize(("text", "expected"), [
    ("CIRCLE 323.36 -0.82 0.05", Circle(323.36, -0.82, 0.05)),
    ("circle 363.36 -0.82 0.05", Circle(3.36 + 0.0, -0.82, 0.05)),
    ("RANGE 10 20 -5 5", Range(10, 20, -5, 5)),
    ("RANGE -Inf +Inf -Inf 0", Range(0, 360, -90, 0)),
    ("RANGE 350 10 -1 1", Range(350, 10, -1, 1)),
    ("POLYGON 1 1 2 1 2 2", Polygon(((1, 1), (2, 1), (2, 2)))),
])
def test_parse_pos(text: str, expected: object) -> None:
    parsed = parse_pos(text)
    assert type(parsed) is type(expected)
    if isinstance(expected, Circle):
        assert isinstance(parsed, Circle)
        assert parsed.ra == pytest.approx(expected.ra) and parsed.radius == expected.radius
    else:
        assert parsed == expected


@pytest.mark.parametrize("text", ["BOX 1 2 3 4", "CIRCLE 1 2", "CIRCLE 1 2 -1", "CIRCLE 1 95 1",
                                  "POLYGON 1 2 3 4", "RANGE 1 2 5 3", "CIRCLE a b c", "CIRCLE nan 1 1"])
def test_parse_pos_rejects(text: str) -> None:
    with pytest.raises(RegionError):
        parse_pos(text)


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
