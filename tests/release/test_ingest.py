"""Ingest: FITS, Parquet and CSV sources, metadata overrides, HEALPix index, TAP_SCHEMA round trip.

The TAP_SCHEMA checks run on DuckDB and (``postgres`` marker) on PostgreSQL, in a database of
their own (``skygate_test_ingest_<checkout>_<worker>``, tests/isolation.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import astropy.units as u
import asyncpg
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy.coordinates import Latitude, Longitude
from astropy.io import fits
from cdshealpix.nested import lonlat_to_healpix

from dali.errors import UsageError
from dali.values import TableMeta
from release.backends import open_backend
from release.ingest import ingest_arrow, ingest_table, read_metadata_file
from release.metadata import load_metadata
from release.sources import Source, open_source
from release.stores import Store, open_store
from tests.isolation import per_worker

ROLE = per_worker("skygate_test_reader")


def catalog(n: int = 500) -> pa.Table:
    rng = np.random.default_rng(7)
    ra = rng.uniform(322.5, 324.5, n)
    ra[0] = 359.95  # wraps around RA 0 in the index
    return pa.table({
        "COADD_OBJECT_ID": pa.array(np.arange(n, dtype=np.int64) + 3_000_000_000),
        "RA": ra,
        "DEC": rng.uniform(-1.5, 0.3, n),
        "MAG_AUTO_G": pa.array(rng.uniform(18, 25, n).astype(np.float32)),
        "TILENAME": pa.array(["DES2134-0041"] * n),
    })


def with_field_metadata(table: pa.Table) -> pa.Table:
    fields = [
        f.with_metadata({"unit": "mag", "ucd": "phot.mag;em.opt.B", "description": "g magnitude",
                         "principal": "true"}) if f.name == "MAG_AUTO_G" else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields, metadata={"description": "a test catalogue"}))


@pytest.fixture
async def duck_store(tmp_path: Path) -> AsyncIterator[tuple[Store, Path]]:
    path = tmp_path / "catalog.duckdb"
    async with await open_store("", path, readonly_role="") as store:
        yield store, path


async def test_parquet_metadata_names_and_position(duck_store: tuple[Store, Path], tmp_path: Path) -> None:
    store, _ = duck_store
    source_path = tmp_path / "cat.parquet"
    pq.write_table(with_field_metadata(catalog()), source_path, row_group_size=100)
    meta = await ingest_table(store, open_source(source_path, batch_rows=64), "Test.Main", ra="RA", dec="DEC",
                              tolerance=2e-6)
    assert meta.qualified == "test.main" and meta.nrows == 500 and meta.description == "a test catalogue"
    assert [c.name for c in meta.columns] == ["coadd_object_id", "ra", "dec", "mag_auto_g", "tilename", "skygate_hpx"]
    mag = meta.column("mag_auto_g")
    assert mag is not None
    assert (mag.datatype, mag.unit, mag.ucd, mag.description, mag.principal) == (
        "float", "mag", "phot.mag;em.opt.B", "g magnitude", True)
    assert {c.name for c in meta.columns if c.indexed} == {"coadd_object_id", "ra", "dec", "tilename", "skygate_hpx"}
    assert meta.position is not None and meta.position.tolerance == 2e-6

    rows = (await store.fetch("SELECT ra, dec, skygate_hpx FROM test.main")).to_pydict()
    expected = lonlat_to_healpix(Longitude(rows["ra"], u.deg), Latitude(rows["dec"], u.deg), 14)
    assert rows["skygate_hpx"] == [int(x) for x in expected]
    assert rows["skygate_hpx"] == sorted(rows["skygate_hpx"]), "rows are stored in index order"


def test_fits_source_reads_units_ucds_comments_and_nulls(tmp_path: Path) -> None:
    path = tmp_path / "cat.fits"
    cols = [
        fits.Column(name="ID", format="K", array=np.array([2**40, 2, 3], dtype=">i8")),
        fits.Column(name="Flag", format="J", null=-1, array=np.array([0, -1, 5], dtype=">i4")),
        fits.Column(name="MAG", format="E", unit="mag", array=np.array([20.5, np.nan, 21.0], dtype=">f4")),
        fits.Column(name="TILE", format="12A", array=np.array(["DES2134-0041", "X", ""])),
    ]
    hdu = fits.BinTableHDU.from_columns(cols)
    hdu.header["TUCD3"] = "phot.mag"
    hdu.header["TCOMM3"] = "a magnitude"
    hdu.writeto(path)
    source = open_source(path, batch_rows=2)
    table = pa.Table.from_batches(list(source.batches), schema=source.schema)
    assert table.column("ID").to_pylist() == [2**40, 2, 3]
    assert table.column("Flag").to_pylist() == [0, None, 5]
    assert table.column("MAG").type == pa.float32()
    assert table.column("TILE").to_pylist() == ["DES2134-0041", "X", ""]
    meta = {k.decode(): v.decode() for k, v in source.schema.field("MAG").metadata.items()}
    assert meta == {"unit": "mag", "ucd": "phot.mag", "description": "a magnitude"}


@pytest.mark.parametrize("suffix", [".toml", ".json"])
async def test_csv_with_a_metadata_file(duck_store: tuple[Store, Path], tmp_path: Path, suffix: str) -> None:
    store, _ = duck_store
    csv = tmp_path / "cat.csv"
    csv.write_text("Obj_ID,RA,Dec,Note\n3000000001,10.5,-5.25,first\n3000000002,10.6,-5.3,\n")
    overrides = {"description": "from a file", "schema_description": "my schema",
                 "columns": {"RA": {"unit": "deg", "ucd": "pos.eq.ra;meta.main"}, "note": {"description": "text"}}}
    metafile = tmp_path / f"meta{suffix}"
    if suffix == ".json":
        metafile.write_text(json.dumps(overrides))
    else:
        metafile.write_text('description = "from a file"\nschema_description = "my schema"\n'
                            '[columns.RA]\nunit = "deg"\nucd = "pos.eq.ra;meta.main"\n'
                            '[columns.note]\ndescription = "text"\n')
    meta = await ingest_table(store, open_source(csv), "mine.cat", ra="ra", dec="dec",
                              overrides=read_metadata_file(metafile))
    assert meta.description == "from a file"
    ra, note, obj = meta.column("ra"), meta.column("note"), meta.column("obj_id")
    assert ra is not None and (ra.unit, ra.ucd) == ("deg", "pos.eq.ra;meta.main")
    assert note is not None and (note.datatype, note.arraysize, note.description) == ("char", "*", "text")
    assert obj is not None and obj.datatype == "long"
    schemas = (await store.fetch("SELECT schema_name, description FROM tap_schema.schemas")).to_pylist()
    assert {"schema_name": "mine", "description": "my schema"} in schemas


def test_a_bad_metadata_file_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "meta.toml"
    bad.write_text("columns = 3\n")
    with pytest.raises(UsageError, match="metadata file"):
        read_metadata_file(bad)
    broken = tmp_path / "meta.json"
    broken.write_text("{")
    with pytest.raises(UsageError, match="cannot read"):
        read_metadata_file(broken)


@pytest.mark.parametrize(("table", "data", "options", "message"), [
    ("main", catalog(3), {}, "schema.name"),
    ("tap_schema.x", catalog(3), {}, "reserved"),
    ("t.x", pa.table({"A": [1], "a": [2]}), {}, "two columns"),
    ("t.x", pa.table({"skygate_x": [1]}), {}, "cannot be published"),
    ("t.x", pa.table({"a b": [1]}), {}, "cannot be published"),
    ("t.x", catalog(3), {"ra": "ra"}, "--ra and --dec"),
    ("t.x", catalog(3), {"ra": "ra", "dec": "nope"}, "--ra and --dec"),
])
async def test_bad_input_is_refused(duck_store: tuple[Store, Path], table: str, data: pa.Table,
                                    options: dict[str, str], message: str) -> None:
    store, _ = duck_store
    with pytest.raises(UsageError, match=message):
        await ingest_arrow(store, table, data, **options)  # type: ignore[arg-type]


def test_unknown_file_types_are_refused(tmp_path: Path) -> None:
    (tmp_path / "x.xlsx").write_text("")
    with pytest.raises(UsageError, match="cannot read"):
        open_source(tmp_path / "x.xlsx")
    with pytest.raises(UsageError, match="does not exist"):
        open_source(tmp_path / "missing.parquet")


async def test_ingest_streams_with_bounded_memory(duck_store: tuple[Store, Path]) -> None:
    store, _ = duck_store
    n_batches, rows = 40, 50_000  # 2 M rows, ~64 MB of Arrow data in all
    peak = 0

    def batches() -> Iterator[pa.RecordBatch]:
        nonlocal peak
        for i in range(n_batches):
            ids = np.arange(i * rows, (i + 1) * rows, dtype=np.int64)
            peak = max(peak, pa.total_allocated_bytes())
            yield pa.record_batch({"id": ids, "ra": (ids % 3600) / 10.0, "dec": (ids % 1700) / 10.0 - 85.0,
                                   "x": ids.astype(np.float64)})

    schema = pa.schema({"id": pa.int64(), "ra": pa.float64(), "dec": pa.float64(), "x": pa.float64()})
    base = pa.total_allocated_bytes()
    meta = await ingest_table(store, Source(schema=schema, batches=batches()), "big.t", ra="ra", dec="dec")
    assert meta.nrows == n_batches * rows
    assert peak - base < 24 * 2**20, "at most a few batches are alive at any time"


# ---------------------------------------------------------------------------------------------
# TAP_SCHEMA on both backends


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path]:
    if request.param == "duckdb":
        return "", tmp_path / "catalog.duckdb"
    admin = request.getfixturevalue("postgres_admin_url")
    return _fresh_database_sync(admin, per_worker("skygate_test_ingest")), tmp_path / "unused"


def _fresh_database_sync(admin_url: str, name: str) -> str:
    import asyncio

    async def run() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            await conn.execute(f"CREATE DATABASE {name}")
        finally:
            await conn.close()

    asyncio.run(run())
    return admin_url.rsplit("/", 1)[0] + "/" + name


async def _published(target: tuple[str, Path]) -> tuple[dict[str, TableMeta], dict[str, list[dict[str, object]]]]:
    url, path = target
    backend = open_backend(url, path, base_url="http://x", readonly_role=ROLE if url else "")
    try:
        metadata = await load_metadata(backend)
        raw = {}
        for table in ("schemas", "tables", "columns", "keys", "key_columns"):
            batches = [b async for b in backend.stream(f"SELECT * FROM tap_schema.{table}", timeout=10)]
            raw[table] = pa.Table.from_batches(batches).to_pylist()
    finally:
        await backend.close()
    return metadata, raw


async def test_tap_schema_round_trip(target: tuple[str, Path]) -> None:
    url, path = target
    async with await open_store(url, path, readonly_role=ROLE) as store:
        await ingest_arrow(store, "cat.main", with_field_metadata(catalog()), ra="ra", dec="dec", tolerance=1e-6)
        await ingest_arrow(store, "cat.other", pa.table({"coadd_object_id": pa.array([1], pa.int64()),
                                                         "label": ["x"]}))
        await ingest_arrow(store, "cat.other", pa.table({"coadd_object_id": pa.array([1, 2], pa.int64()),
                                                         "label": ["x", "y"]}))  # replaces, no duplicates
    metadata, raw = await _published(target)

    assert set(metadata) == {"cat.main", "cat.other", "tap_schema.schemas", "tap_schema.tables",
                             "tap_schema.columns", "tap_schema.keys", "tap_schema.key_columns"}
    main = metadata["cat.main"]
    assert main.nrows == 500 and main.position is not None and main.position.index_order == 14
    assert main.position.tolerance == 1e-6
    assert main.column("skygate_hpx") is not None, "internal index column is known to the translator"
    mag = main.column("mag_auto_g")
    assert mag is not None and (mag.unit, mag.ucd, mag.principal) == ("mag", "phot.mag;em.opt.B", True)
    assert metadata["cat.other"].nrows == 2

    columns = raw["columns"]
    assert not any(str(c["column_name"]).startswith("skygate_") for c in columns)
    assert set(columns[0]) == {"table_name", "column_name", "datatype", "arraysize", "xtype", "size", "description",
                               "utype", "unit", "ucd", "indexed", "principal", "std", "column_index"}
    assert set(raw["tables"][0]) == {"schema_name", "table_name", "table_type", "utype", "description",
                                     "table_index"}
    assert set(raw["schemas"][0]) == {"schema_name", "utype", "description", "schema_index"}
    assert len([c for c in columns if c["table_name"] == "cat.other"]) == 2
    tilename = next(c for c in columns if c["column_name"] == "tilename")
    assert (tilename["datatype"], tilename["arraysize"], tilename["size"], tilename["indexed"]) == (
        "char", "*", None, 1)
    own = {c["column_name"] for c in columns if c["table_name"] == "tap_schema.columns"}
    assert {'"size"', "column_index", "principal", "indexed", "std"} <= own, "reserved words are delimited"
    assert metadata["tap_schema.columns"].column("size") is not None, "metadata holds the plain name"
    key_targets = {(k["from_table"], k["target_table"]) for k in raw["keys"]}
    assert ("tap_schema.columns", "tap_schema.tables") in key_targets
    assert ("tap_schema.tables", "tap_schema.schemas") in key_targets
    assert len(raw["key_columns"]) == len(raw["keys"]) == 5


async def test_a_value_that_breaks_the_guessed_type_is_a_usage_error(duck_store: tuple[Store, Path]) -> None:
    store, _ = duck_store
    # As a CSV reader gives it: the type was guessed from the first block, a later block disagrees.
    batches = iter([pa.record_batch({"a": pa.array([1, 2], pa.int64()), "b": ["x", "y"]}),
                    pa.record_batch({"a": pa.array(["oops", "3"]), "b": ["x", "y"]})])
    source = Source(schema=pa.schema({"a": pa.int64(), "b": pa.string()}), batches=batches)
    with pytest.raises(UsageError, match="does not fit its column's type"):
        await ingest_table(store, source, "t.bad")


async def test_declared_nulls_round_trip_and_survive_the_next_table(target: tuple[str, Path]) -> None:
    url, path = target
    flux = pa.field("flux", pa.float32(), metadata={"null": "-9999.5"})  # in the Parquet field metadata
    data = pa.table({"id": pa.array([1, 2], pa.int64()), "flux": pa.array([1.0, -9999.5], pa.float32()),
                     "flag": pa.array([0, -1], pa.int16())}).cast(pa.schema([pa.field("id", pa.int64()), flux,
                                                                           pa.field("flag", pa.int16())]))
    async with await open_store(url, path, readonly_role=ROLE) as store:
        # The metadata file's form, null = -1.0 on an integer column, is written as VOTable writes it.
        await ingest_arrow(store, "cat.nulls", data, overrides={"columns": {"flag": {"null": -1.0}}})
        await ingest_arrow(store, "cat.later", pa.table({"a": [1]}))  # rewrites TAP_SCHEMA and skygate_meta
    metadata, raw = await _published(target)
    nulls = metadata["cat.nulls"]
    assert [(c.name, c.null) for c in nulls.columns] == [("id", None), ("flux", "-9999.5"), ("flag", "-1")]
    assert all(c.null is None for c in metadata["cat.later"].columns)
    assert "null_value" not in raw["columns"][0], "TAP_SCHEMA keeps its standard columns"


async def test_a_release_without_declared_nulls_stored_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "catalog.duckdb"
    async with await open_store("", path, readonly_role="") as store:
        await ingest_arrow(store, "cat.old", pa.table({"a": pa.array([1], pa.int64())}),
                           overrides={"columns": {"a": {"null": 0}}})
        await store.execute("DROP TABLE skygate_meta.columns")  # as ingested before nulls were declared
    backend = open_backend("", path, base_url="http://x", readonly_role="")
    try:
        metadata = await load_metadata(backend)
    finally:
        await backend.close()
    assert metadata["cat.old"].column("a") is not None and metadata["cat.old"].columns[0].null is None


@pytest.mark.parametrize(("kind", "null", "message"), [
    (pa.int32(), "-1.5", "must be a whole number"), (pa.float64(), "missing", "must be a number"),
    (pa.float64(), "nan", "must be a number"),
])
async def test_a_null_that_is_no_value_of_the_column_is_refused(duck_store: tuple[Store, Path], kind: pa.DataType,
                                                                null: str, message: str) -> None:
    store, _ = duck_store
    with pytest.raises(UsageError, match=message):
        await ingest_arrow(store, "t.x", pa.table({"a": pa.array([1], kind)}),
                           overrides={"columns": {"a": {"null": null}}})
