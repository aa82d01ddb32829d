"""Load catalogs into the release database and publish them in TAP_SCHEMA.

Reads FITS binary tables (astropy; ``TUNITn``/``TUCDn``/``TCOMMn``), Parquet (pyarrow; field
metadata keys ``unit``, ``ucd``, ``description``, also ``utype``, ``arraysize``, ``xtype``,
``principal``) and CSV (pyarrow.csv) in batches, so memory stays bounded whatever the size.
A metadata file (JSON or TOML, see ``read_metadata_file``) overrides the table description and
any column's metadata. Names are lower-cased. With ``ra``/``dec`` the table gets the internal
HEALPix NESTED index column ``skygate_hpx`` (order 14, cdshealpix) and a ``Position``.

Writes go to DuckDB (the catalog file, rows sorted by ``skygate_hpx`` so zone maps make range
predicates fast; DuckDB's ART indexes are not built because they must fit in memory) or to
PostgreSQL as admin (btree indexes, ``CLUSTER`` on ``skygate_hpx``, ``ANALYZE``, grants to the
read-only role). After each table the whole TAP_SCHEMA and ``skygate_meta.tables`` are
rewritten in one transaction. No HTTP, no ADQL.
Tests: tests/release/test_ingest.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import tomllib
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import asyncpg
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from dali.errors import FatalError, TransientError, UsageError
from dali.values import Column, Position, TableMeta
from release.backends import is_postgres_url, postgres_type, quote_ident
from release.metadata import Catalog, read_catalog
from release.progress import Progress, counted_batches
from release.tapschema import META_SCHEMA, NOT_NULL, TAP_SCHEMA, is_internal, tap_schema_rows

__all__ = [
    "HPX_COLUMN",
    "HPX_ORDER",
    "INDEXED_COLUMNS",
    "INGEST_LAYOUT",
    "RELEASE_SCHEMA",
    "LoadedTable",
    "Source",
    "Store",
    "TablePlan",
    "arrow_column",
    "healpix_index",
    "ingest_arrow",
    "ingest_obscore",
    "ingest_release",
    "ingest_table",
    "ingested_stamp",
    "open_source",
    "open_store",
    "plan_table",
    "publish_table",
    "read_metadata_file",
    "release_stamp",
    "transform_batches",
]

HPX_COLUMN = "skygate_hpx"
HPX_ORDER = 14
# Columns indexed whenever a table has them (DATA.md §1: DR1_MAIN is indexed on these).
INDEXED_COLUMNS = ("coadd_object_id", "tilename", "ra", "dec")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_BATCH_ROWS = 65536
_DUCKDB_MEMORY = "1GB"


# ---------------------------------------------------------------------------------------------
# Sources


@dataclass
class Source:
    """A table being read: its Arrow schema (with per-field metadata) and its batches, lazily."""

    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
    description: str | None = None
    rows: int | None = None  # when the file says (for a progress total)


def open_source(path: Path, *, batch_rows: int = _BATCH_ROWS) -> Source:
    """A streaming reader for a FITS, Parquet or CSV catalog, chosen by the file name.

    Raises
    ------
    UsageError
        When the file is missing or its format is not one of those.
    """
    if not path.is_file():
        raise UsageError(f"catalog file {path} does not exist", param="PATH")
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return _parquet_source(path, batch_rows)
    if name.endswith((".fits", ".fit", ".fits.gz", ".fits.fz")):
        return _fits_source(path, batch_rows)
    if name.endswith((".csv", ".csv.gz")):
        return _csv_source(path, batch_rows)
    raise UsageError(f"cannot read {path.name}", param="PATH", hint="use a .parquet, .fits or .csv file")


def _parquet_source(path: Path, batch_rows: int) -> Source:
    parquet = pq.ParquetFile(path)
    schema = parquet.schema_arrow
    meta = schema.metadata or {}
    description = meta.get(b"description", b"").decode() or None
    return Source(schema=schema, batches=parquet.iter_batches(batch_size=batch_rows), description=description,
                  rows=parquet.metadata.num_rows)


def _csv_source(path: Path, batch_rows: int) -> Source:
    reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 22))
    return Source(schema=reader.schema, batches=iter(reader))


def _fits_source(path: Path, batch_rows: int) -> Source:
    from astropy.io import fits  # heavy import kept out of module import

    hdul = fits.open(path, memmap=True)
    hdu = next((h for h in hdul if isinstance(h, fits.BinTableHDU)), None)
    if hdu is None:
        hdul.close()
        raise UsageError(f"{path.name} holds no binary table", param="PATH")
    header = hdu.header
    fields = []
    for i, col in enumerate(hdu.columns, start=1):
        meta = {k: v for k, v in {"unit": col.unit, "ucd": header.get(f"TUCD{i}"),
                                  "description": header.get(f"TCOMM{i}")}.items() if v}
        arrow = _fits_arrow_type(hdu.data.dtype[i - 1])
        fields.append(pa.field(col.name, arrow, metadata=meta or None))
    schema = pa.schema(fields)
    nulls = {col.name: col.null for col in hdu.columns if col.null is not None}

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            data = hdu.data
            for start in range(0, len(data), batch_rows):
                chunk = data[start:start + batch_rows]
                arrays = [_fits_array(chunk[f.name], f.type, nulls.get(f.name)) for f in schema]
                yield pa.RecordBatch.from_arrays(arrays, schema=schema)
        finally:
            hdul.close()

    return Source(schema=schema, batches=batches(), description=None, rows=int(header.get("NAXIS2", 0)))


def _fits_arrow_type(dtype: np.dtype[Any]) -> pa.DataType:
    if dtype.kind in "SU":
        return pa.string()
    if dtype.shape:
        return pa.list_(pa.from_numpy_dtype(dtype.base.newbyteorder("=")))
    return pa.from_numpy_dtype(dtype.newbyteorder("="))


def _fits_array(values: np.ndarray[Any, Any], arrow: pa.DataType, null: object) -> pa.Array:
    if pa.types.is_string(arrow):
        texts = [v.decode("ascii", "replace").rstrip() if isinstance(v, bytes) else str(v).rstrip()
                 for v in values]
        return pa.array(texts, type=arrow)
    native = np.asarray(values).astype(np.asarray(values).dtype.newbyteorder("="), copy=False)
    if pa.types.is_list(arrow):
        return pa.array(list(native), type=arrow)
    mask = native == null if null is not None and native.dtype.kind in "iu" else None
    return pa.array(native, type=arrow, mask=mask)


def read_metadata_file(path: Path) -> dict[str, Any]:
    """A metadata override file: JSON (``.json``) or TOML (``.toml``); YAML is not supported.

    Shape (both formats)::

        description = "the table"            # optional
        schema_description = "the schema"    # optional
        [columns.mag_auto_g]                 # any column, case-insensitive
        unit = "mag"
        ucd = "phot.mag;em.opt.B"
        description = "Kron-aperture magnitude"
        principal = true                     # also: utype, arraysize, xtype, indexed

    Raises
    ------
    UsageError
        When the file cannot be read or has another shape.
    """
    try:
        text = path.read_text()
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the metadata file {path.name}", param="--metadata",
                         hint="give a JSON or TOML file") from exc
    if not isinstance(data, dict) or not isinstance(data.get("columns", {}), dict):
        raise UsageError("the metadata file must hold a table with an optional 'columns' table",
                         param="--metadata")
    data["columns"] = {str(k).lower(): v for k, v in data.get("columns", {}).items()}
    return data


# ---------------------------------------------------------------------------------------------
# Column metadata


def arrow_column(name: str, arrow: pa.DataType, meta: Mapping[str, Any] | None = None) -> Column:
    """The published ``Column`` for an Arrow field: VOTable datatype plus the given metadata."""
    meta = dict(meta or {})
    datatype, arraysize, xtype = _votable_type(arrow)

    def text(key: str) -> str | None:
        value = meta.get(key)
        return str(value) if value not in (None, "") else None

    return Column(
        name=name, datatype=text("datatype") or datatype, arraysize=text("arraysize") or arraysize,
        xtype=text("xtype") or xtype, unit=text("unit"), ucd=text("ucd"), utype=text("utype"),
        description=text("description"), principal=_flag(meta.get("principal")),
        indexed=_flag(meta.get("indexed")), std=_flag(meta.get("std")),
    )


def _flag(value: object) -> bool:
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes"}
    return bool(value)


def _votable_type(arrow: pa.DataType) -> tuple[str, str | None, str | None]:
    if pa.types.is_boolean(arrow):
        return "boolean", None, None
    if pa.types.is_uint8(arrow):
        return "unsignedByte", None, None
    if pa.types.is_int8(arrow) or pa.types.is_int16(arrow):
        return "short", None, None
    if pa.types.is_int32(arrow) or pa.types.is_uint16(arrow):
        return "int", None, None
    if pa.types.is_integer(arrow):
        return "long", None, None
    if pa.types.is_float16(arrow) or pa.types.is_float32(arrow):
        return "float", None, None
    if pa.types.is_floating(arrow) or pa.types.is_decimal(arrow):
        return "double", None, None
    if pa.types.is_timestamp(arrow) or pa.types.is_date(arrow):
        return "char", "*", "timestamp"
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow) or pa.types.is_fixed_size_list(arrow):
        inner, _, _ = _votable_type(arrow.value_type)
        size = str(arrow.list_size) if pa.types.is_fixed_size_list(arrow) else "*"
        return inner, size, None
    return "char", "*", None


def _field_meta(fld: pa.Field) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in (fld.metadata or {}).items()}


# ---------------------------------------------------------------------------------------------
# Stores


class Store(Protocol):
    """A writable release database (ingest only; the service reads through a ``Backend``)."""

    dialect: str

    async def load(self, qualified: str, schema: pa.Schema, batches: Iterator[pa.RecordBatch], *,
                   sort_by: str | None, indexes: Sequence[str]) -> int:
        """Replace table ``qualified`` with the batches; returns the row count."""
        ...

    async def execute(self, sql: str) -> None: ...

    async def fetch(self, sql: str) -> pa.Table: ...

    async def replace_small_tables(self, tables: Mapping[str, pa.Table]) -> None:
        """Replace small tables (TAP_SCHEMA) in one transaction, with TAP 1.1 NOT NULL constraints."""
        ...

    async def grant(self, schemas: Iterable[str]) -> None:
        """Let the read-only role read ``schemas``."""
        ...

    async def close(self) -> None: ...


class _StoreContext:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def __aenter__(self) -> Store:
        return self.store

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.store.close()


async def open_store(database_url: str, duckdb_path: Path, *, readonly_role: str) -> _StoreContext:
    """The writable store the settings name (``async with await open_store(...) as store``).

    PostgreSQL when ``database_url`` is one (used as admin; the read-only role is created when
    missing), else the DuckDB file ``duckdb_path`` (created when missing).
    """
    if is_postgres_url(database_url):
        try:
            conn = await asyncpg.connect(database_url)
        except (OSError, asyncpg.PostgresError) as exc:
            raise TransientError("cannot connect to the PostgreSQL database to ingest",
                                 param="SKYGATE_DATABASE_URL") from exc
        store: Store = _PostgresStore(conn, readonly_role)
        await store.execute("SET client_min_messages = warning")
        # Index builds and CLUSTER sort in this much memory before spilling (PostgreSQL default 64MB).
        await store.execute("SET maintenance_work_mem = '256MB'")
        return _StoreContext(store)
    duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn_d = await asyncio.to_thread(duckdb.connect, str(duckdb_path))
    except duckdb.IOException as exc:
        raise TransientError(f"cannot open {duckdb_path} for writing",
                             hint="stop `skygate serve` (DuckDB allows one writer per file)") from exc
    # Sorting a large table spills to disk beyond this instead of taking most of the machine.
    await asyncio.to_thread(conn_d.execute, f"SET memory_limit = '{_DUCKDB_MEMORY}'")
    return _StoreContext(_DuckDBStore(conn_d))


def _ddl(qualified: str, schema: pa.Schema, not_null: Sequence[str] = ()) -> str:
    cols = ", ".join(f"{quote_ident(f.name)} {postgres_type(f.type)}{' NOT NULL' if f.name in not_null else ''}"
                     for f in schema)
    return f"CREATE TABLE {_qname(qualified)} ({cols})"


def _qname(qualified: str) -> str:
    return ".".join(quote_ident(p) for p in qualified.split("."))


_KIND_SQL = "SELECT table_type FROM information_schema.tables WHERE table_schema = ? AND table_name = ?"


def _drop_sql(qualified: str, kind: str | None) -> str:
    """DROP for whatever ``qualified`` is now (a view when ObsCore was published, else a table)."""
    what = "VIEW" if kind == "VIEW" else "TABLE"
    return f"DROP {what} IF EXISTS {_qname(qualified)}"


def _relation_kind_duckdb(con: duckdb.DuckDBPyConnection, qualified: str) -> str | None:
    row = con.execute(_KIND_SQL, qualified.split(".")).fetchone()
    return str(row[0]) if row else None


class _DuckDBStore:
    dialect = "duckdb"

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self._conn = conn

    def _run(self, sql: str) -> None:
        self._conn.execute(sql)

    async def execute(self, sql: str) -> None:
        await asyncio.to_thread(self._run, sql)

    async def fetch(self, sql: str) -> pa.Table:
        def run() -> pa.Table:
            return self._conn.execute(sql).to_arrow_table()
        try:
            return await asyncio.to_thread(run)
        except duckdb.Error as exc:
            raise FatalError("the catalog query failed") from exc

    async def load(self, qualified: str, schema: pa.Schema, batches: Iterator[pa.RecordBatch], *,
                   sort_by: str | None, indexes: Sequence[str]) -> int:
        def run() -> int:
            con = self._conn
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(qualified.split('.')[0])}")
            # The reader pulls the batches lazily; DuckDB sorts out of core when rows exceed memory.
            reader = pa.RecordBatchReader.from_batches(schema, batches)
            con.register("skygate_ingest_source", reader)
            try:
                order = f" ORDER BY {quote_ident(sort_by)}" if sort_by else ""
                con.execute("BEGIN")
                con.execute(_drop_sql(qualified, _relation_kind_duckdb(con, qualified)))
                con.execute(_ddl(qualified, schema))
                con.execute(f"INSERT INTO {_qname(qualified)} SELECT * FROM skygate_ingest_source{order}")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            finally:
                con.unregister("skygate_ingest_source")
            row = con.execute(f"SELECT count(*) FROM {_qname(qualified)}").fetchone()
            con.execute("CHECKPOINT")
            return int(row[0]) if row else 0

        return await asyncio.to_thread(run)

    async def replace_small_tables(self, tables: Mapping[str, pa.Table]) -> None:
        def run() -> None:
            con = self._conn
            con.execute("BEGIN")
            try:
                for qualified, table in tables.items():
                    con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(qualified.split('.')[0])}")
                    con.execute(f"DROP TABLE IF EXISTS {_qname(qualified)}")
                    con.execute(_ddl(qualified, table.schema, NOT_NULL.get(qualified, ())))
                    con.register("skygate_small_source", table)
                    con.execute(f"INSERT INTO {_qname(qualified)} SELECT * FROM skygate_small_source")
                    con.unregister("skygate_small_source")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("CHECKPOINT")

        await asyncio.to_thread(run)

    async def grant(self, schemas: Iterable[str]) -> None:
        # The DuckDB file is opened read-only by the service: nothing to grant.
        return None

    async def close(self) -> None:
        await asyncio.to_thread(self._conn.close)


class _PostgresStore:
    dialect = "postgres"

    def __init__(self, conn: asyncpg.Connection, readonly_role: str) -> None:
        if readonly_role and not _NAME.match(readonly_role):
            raise UsageError(f"{readonly_role!r} is not a valid role name", param="SKYGATE_READONLY_ROLE")
        self._conn = conn
        self._role = readonly_role

    async def execute(self, sql: str) -> None:
        await self._conn.execute(sql)

    async def fetch(self, sql: str) -> pa.Table:
        try:
            stmt = await self._conn.prepare(sql)
        except asyncpg.PostgresError as exc:
            raise FatalError("the catalog query failed") from exc
        names = [a.name for a in stmt.get_attributes()]
        rows = await stmt.fetch()
        return pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)}) if names else pa.table({})

    async def load(self, qualified: str, schema: pa.Schema, batches: Iterator[pa.RecordBatch], *,
                   sort_by: str | None, indexes: Sequence[str]) -> int:
        conn = self._conn
        schema_name, table_name = qualified.split(".")
        has_lists = any(pa.types.is_list(f.type) or pa.types.is_large_list(f.type)
                        or pa.types.is_fixed_size_list(f.type) for f in schema)
        async with conn.transaction():
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema_name)}")
            kind = await conn.fetchval(_KIND_SQL.replace("?", "$1", 1).replace("?", "$2", 1), schema_name, table_name)
            await conn.execute(_drop_sql(qualified, kind) + " CASCADE")
            await conn.execute(_ddl(qualified, schema))
            if has_lists:
                async for batch in _in_thread(batches):
                    records = list(zip(*(c.to_pylist() for c in batch.columns), strict=True))
                    await conn.copy_records_to_table(table_name, schema_name=schema_name, records=records,
                                                     columns=list(schema.names))
            else:
                await conn.copy_to_table(table_name, schema_name=schema_name, source=_csv_chunks(batches),
                                         columns=list(schema.names), format="csv")
            # CLUSTER rewrites the table and rebuilds every index: cluster first, index afterwards.
            if sort_by:
                await conn.execute(f"CREATE INDEX {quote_ident(f'{table_name}_{sort_by}_idx')} "
                                   f"ON {_qname(qualified)} ({quote_ident(sort_by)})")
                await conn.execute(f"CLUSTER {_qname(qualified)} USING {quote_ident(f'{table_name}_{sort_by}_idx')}")
            for column in indexes:
                if column != sort_by:
                    await conn.execute(f"CREATE INDEX {quote_ident(f'{table_name}_{column}_idx')} "
                                       f"ON {_qname(qualified)} ({quote_ident(column)})")
            nrows = await conn.fetchval(f"SELECT count(*) FROM {_qname(qualified)}")
        await conn.execute(f"ANALYZE {_qname(qualified)}")
        return int(nrows)

    async def replace_small_tables(self, tables: Mapping[str, pa.Table]) -> None:
        conn = self._conn
        async with conn.transaction():
            for qualified, table in tables.items():
                schema_name, table_name = qualified.split(".")
                await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema_name)}")
                await conn.execute(f"DROP TABLE IF EXISTS {_qname(qualified)}")
                await conn.execute(_ddl(qualified, table.schema, NOT_NULL.get(qualified, ())))
                records = list(zip(*(c.to_pylist() for c in table.columns), strict=True))
                if records:
                    await conn.copy_records_to_table(table_name, schema_name=schema_name, records=records,
                                                     columns=list(table.schema.names))

    async def grant(self, schemas: Iterable[str]) -> None:
        if not self._role:
            return
        conn, role = self._conn, quote_ident(self._role)
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", self._role)
        if not exists:
            # The role may be created meanwhile by a parallel ingest into another database.
            with contextlib.suppress(asyncpg.DuplicateObjectError):
                await conn.execute(f"CREATE ROLE {role} LOGIN")
        # The service connects as this role: reading published schemas and creating temporary
        # upload tables is all it may do (brief §2); sessions also start read-only by default.
        await conn.execute(f"ALTER ROLE {role} SET default_transaction_read_only = on")
        database = await conn.fetchval("SELECT current_database()")
        await conn.execute(f"GRANT CONNECT, TEMPORARY ON DATABASE {quote_ident(database)} TO {role}")
        await conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        for schema in schemas:
            await conn.execute(f"GRANT USAGE ON SCHEMA {quote_ident(schema)} TO {role}")
            await conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {quote_ident(schema)} TO {role}")

    async def close(self) -> None:
        await self._conn.close()


async def _in_thread(batches: Iterator[pa.RecordBatch]) -> AsyncIterator[pa.RecordBatch]:
    """Pull batches in a worker thread (reading files and computing HEALPix indexes block)."""
    done = object()
    while True:
        batch = await asyncio.to_thread(next, batches, done)
        if batch is done:
            return
        yield batch


async def _csv_chunks(batches: Iterator[pa.RecordBatch]) -> AsyncIterator[bytes]:
    options = pacsv.WriteOptions(include_header=False)

    def encode(batch: pa.RecordBatch) -> bytes:
        buffer = io.BytesIO()
        pacsv.write_csv(batch, buffer, options)
        return buffer.getvalue()

    async for batch in _in_thread(batches):
        if batch.num_rows:
            yield await asyncio.to_thread(encode, batch)


# ---------------------------------------------------------------------------------------------
# Ingest


@dataclass(frozen=True, slots=True)
class TablePlan:
    """How a source becomes a stored table: renamed and cast fields, and the published columns."""

    schema: pa.Schema
    columns: tuple[Column, ...]
    position: Position | None
    indexes: tuple[str, ...]


async def ingest_table(
    store: Store,
    source: Source,
    table: str,
    *,
    ra: str | None = None,
    dec: str | None = None,
    tolerance: float = 0.0,
    overrides: Mapping[str, Any] | None = None,
    description: str | None = None,
    schema_description: str | None = None,
    progress: Progress | None = None,
) -> TableMeta:
    """Load ``source`` into ``table`` ("schema.name") and publish it in TAP_SCHEMA.

    Parameters
    ----------
    store
        Where to write (``open_store``).
    source
        The rows and their field metadata (``open_source``, or ``Source`` over Arrow batches).
    table
        Qualified name; lower-cased.
    ra, dec
        Position columns (degrees, ICRS): adds ``skygate_hpx`` and records a ``Position``.
    tolerance
        Degrees by which ra/dec may differ from the position the index should stand for.
    overrides
        Parsed metadata file (``read_metadata_file``): ``description``, ``schema_description``
        and per-column ``columns``.
    progress
        Told the rows read so far, as phase ``ingest <table>``.

    Returns
    -------
    TableMeta
        What was published.

    Raises
    ------
    UsageError
        For bad table or column names, missing position columns, unsupported column types.
    """
    overrides = dict(overrides or {})
    qualified = _check_table_name(table)
    plan = plan_table(source.schema, ra, dec, tolerance, overrides.get("columns", {}))
    batches = transform_batches(source.batches, plan)
    if progress is not None:
        batches = counted_batches(batches, progress, f"ingest {qualified}", source.rows)
    try:
        nrows = await store.load(qualified, plan.schema, batches, sort_by=HPX_COLUMN if plan.position else None,
                                 indexes=plan.indexes)
    except (pa.ArrowInvalid, duckdb.ConversionException, duckdb.InvalidInputException,
            asyncpg.DataError) as exc:
        # E.g. a CSV column whose type was guessed from the first rows and later holds other values.
        raise UsageError(f"could not load {qualified}: a value does not fit its column's type",
                         param="PATH", hint="fix the value, or give the file as Parquet or FITS with types") from exc
    meta = TableMeta(
        schema=qualified.split(".")[0], name=qualified.split(".")[1], columns=plan.columns,
        description=overrides.get("description") or description or source.description, nrows=nrows,
        position=plan.position,
    )
    await publish_table(store, meta, schema_description=overrides.get("schema_description") or schema_description)
    return meta


async def ingest_arrow(store: Store, table: str, data: pa.Table, **options: Any) -> TableMeta:
    """``ingest_table`` over an in-memory Arrow table (field metadata as for Parquet)."""
    source = Source(schema=data.schema, batches=iter(data.to_batches(max_chunksize=_BATCH_ROWS)),
                    description=(data.schema.metadata or {}).get(b"description", b"").decode() or None)
    return await ingest_table(store, source, table, **options)


async def publish_table(store: Store, meta: TableMeta, *, schema_description: str | None = None) -> None:
    """Add or replace ``meta`` in TAP_SCHEMA (rewritten whole, in one transaction) and grant reads."""
    catalog = await _current_catalog(store)
    tables = dict(catalog.tables)
    tables[meta.qualified] = meta
    descriptions = dict(catalog.schema_descriptions)
    if schema_description or meta.schema not in descriptions:
        descriptions[meta.schema] = schema_description or descriptions.get(meta.schema)
    tables = {k: v for k, v in tables.items() if v.schema != TAP_SCHEMA}
    await store.replace_small_tables(tap_schema_rows(tables.values(), descriptions))
    await store.grant(sorted({t.schema for t in tables.values()} | {TAP_SCHEMA, META_SCHEMA}))


async def _current_catalog(store: Store) -> Catalog:
    try:
        return await read_catalog(store.fetch)
    except UsageError:
        return Catalog(tables={}, schema_descriptions={})


def _check_table_name(table: str) -> str:
    qualified = table.strip().lower()
    parts = qualified.split(".")
    if len(parts) != 2 or not all(_NAME.match(p) for p in parts):
        raise UsageError(f"{table!r} is not a table name of the form schema.name", param="--table",
                         hint="letters, digits and underscores, e.g. des_dr1.main")
    if parts[0] in {TAP_SCHEMA, META_SCHEMA}:
        raise UsageError(f"schema {parts[0]} is reserved", param="--table")
    return qualified


def plan_table(schema: pa.Schema, ra: str | None, dec: str | None, tolerance: float,
               overrides: Mapping[str, Mapping[str, Any]], *, param: str = "PATH") -> TablePlan:
    """How rows of ``schema`` are stored and published: names checked and lower-cased, types made
    storable, and with ``ra``/``dec`` the HEALPix index column and a ``Position``; errors name ``param``."""
    fields: list[pa.Field] = []
    columns: list[Column] = []
    seen: set[str] = set()
    for fld in schema:
        name = fld.name.strip().lower()
        if not _NAME.match(name) or is_internal(name):
            raise UsageError(f"column {fld.name!r} cannot be published under that name", param=param,
                             hint="use letters, digits and underscores, not starting with skygate_")
        if name in seen:
            raise UsageError(f"two columns are called {name!r} once lower-cased", param=param)
        seen.add(name)
        arrow = _storable(fld.type, fld.name, param)
        fields.append(pa.field(name, arrow))
        meta = {**_field_meta(fld), **{str(k): v for k, v in overrides.get(name, {}).items()}}
        if name in INDEXED_COLUMNS:
            meta.setdefault("indexed", True)
        columns.append(arrow_column(name, arrow, meta))
    position = None
    indexes = [c.name for c in columns if c.indexed]
    if ra or dec:
        if not (ra and dec) or ra.lower() not in seen or dec.lower() not in seen:
            raise UsageError("--ra and --dec must both name columns of the table", param="--ra")
        ra, dec = ra.lower(), dec.lower()
        fields.append(pa.field(HPX_COLUMN, pa.int64()))
        position = Position(ra=ra, dec=dec, index_column=HPX_COLUMN, index_order=HPX_ORDER, tolerance=tolerance)
        columns = [replace(c, indexed=True) if c.name in (ra, dec) else c for c in columns]
        indexes = [HPX_COLUMN, *(c.name for c in columns if c.indexed)]
        columns.append(Column(name=HPX_COLUMN, datatype="long", indexed=True,
                              description=f"HEALPix NESTED index at order {HPX_ORDER} (internal)"))
    return TablePlan(schema=pa.schema(fields), columns=tuple(columns), position=position, indexes=tuple(indexes))


def _storable(arrow: pa.DataType, name: str, param: str = "PATH") -> pa.DataType:
    """The Arrow type stored for a source type (dictionaries decoded, large types narrowed)."""
    if pa.types.is_dictionary(arrow):
        return _storable(arrow.value_type, name, param)
    if pa.types.is_large_string(arrow) or pa.types.is_string_view(arrow):
        return pa.string()
    if pa.types.is_large_binary(arrow):
        return pa.binary()
    if pa.types.is_uint64(arrow):
        return pa.int64()
    if pa.types.is_float16(arrow):
        return pa.float32()
    if (pa.types.is_boolean(arrow) or pa.types.is_integer(arrow) or pa.types.is_floating(arrow)
            or pa.types.is_string(arrow) or pa.types.is_timestamp(arrow) or pa.types.is_date(arrow)
            or pa.types.is_binary(arrow) or pa.types.is_decimal(arrow)):
        return arrow
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow) or pa.types.is_fixed_size_list(arrow):
        return pa.list_(_storable(arrow.value_type, name, param))
    raise UsageError(f"column {name!r} has a type this service cannot publish ({arrow})", param=param)


def transform_batches(batches: Iterator[pa.RecordBatch], plan: TablePlan) -> Iterator[pa.RecordBatch]:
    position = plan.position
    stored = [f for f in plan.schema if f.name != HPX_COLUMN]
    for batch in batches:
        arrays = [batch.column(i).cast(f.type) if batch.column(i).type != f.type else batch.column(i)
                  for i, f in enumerate(stored)]
        if position is not None:
            names = [f.name for f in stored]
            arrays.append(healpix_index(arrays[names.index(position.ra)], arrays[names.index(position.dec)]))
        yield pa.RecordBatch.from_arrays(arrays, schema=plan.schema)


def healpix_index(ra: pa.Array, dec: pa.Array) -> pa.Array:
    """HEALPix NESTED order-14 index of each (ra, dec); NULL where either is NULL or out of range."""
    import astropy.units as u  # heavy imports kept out of module import
    from astropy.coordinates import Latitude, Longitude
    from cdshealpix.nested import lonlat_to_healpix

    lon = np.asarray(ra.to_numpy(zero_copy_only=False), dtype=np.float64)
    lat = np.asarray(dec.to_numpy(zero_copy_only=False), dtype=np.float64)
    bad = ~np.isfinite(lon) | ~np.isfinite(lat) | (np.abs(lat) > 90)
    if ra.null_count or dec.null_count:
        bad |= np.asarray(ra.is_null()) | np.asarray(dec.is_null())
    lon = np.where(bad, 0.0, lon)
    lat = np.where(bad, 0.0, lat)
    cells = lonlat_to_healpix(Longitude(lon, u.deg), Latitude(lat, u.deg), HPX_ORDER)
    return pa.array(np.asarray(cells, dtype=np.int64), type=pa.int64(), mask=bad)


# ---------------------------------------------------------------------------------------------
# A whole release (the demo layout of DATA.md §5)

RELEASE_SCHEMA = "des_dr1"
RELEASE_DESCRIPTION = "Synthetic copy of the Dark Energy Survey Data Release 1 (Skygate demo release)"
# DATA.md §1: ra/dec are copies of the windowed position rounded to 1e-6 deg.
MAIN_TOLERANCE = 2e-6
_STAMP_TABLE = f"{META_SCHEMA}.release"


@dataclass(frozen=True, slots=True)
class LoadedTable:
    """One table of ``ingest_release``: what was published and how long it took."""

    meta: TableMeta
    seconds: float


# Bumped whenever what ingest_release writes changes shape (tables, columns, metadata), so that
# `skygate demo --if-missing` re-ingests a release ingested by an older Skygate.
INGEST_LAYOUT = 2


def release_stamp(release_dir: Path) -> str | None:
    """The identity of an ingested release: sha256 of its ``manifest.json`` and the ingest layout."""
    import hashlib

    manifest = release_dir / "manifest.json"
    if not manifest.is_file():
        return None
    return f"{hashlib.sha256(manifest.read_bytes()).hexdigest()}/layout-{INGEST_LAYOUT}"


async def ingested_stamp(store: Store) -> str | None:
    """The stamp of the release last ingested completely into ``store``, or None."""
    try:
        table = await store.fetch(f"SELECT stamp FROM {_STAMP_TABLE}")
    except FatalError:
        return None
    values = table.column("stamp").to_pylist() if table.num_rows else []
    return str(values[0]) if values else None


async def ingest_release(store: Store, release_dir: Path, *, stamp: str | None = None,
                         progress: Progress | None = None) -> list[LoadedTable]:
    """Ingest the demo release layout: ``des_dr1.{main, main_sample, tile_info, demo_truth}`` and ObsCore.

    ``main`` and ``demo_truth`` get a position (``main`` on its rounded ra/dec, tolerance
    ``MAIN_TOLERANCE``); ``main_sample`` is the 1 % subsample (``catalog/dr1_main_sample.parquet``
    when the generator wrote one, else ``release.demo.sample.main_sample_mask``: splitmix64 % 100 == 0).
    ``ivoa.obscore`` is ingested when ``release.obscore.build_obscore`` is available.
    The release stamp (``stamp``, default ``release_stamp(release_dir)``) is recorded last, so an
    interrupted ingest is redone by ``--if-missing``. ``progress`` is told the rows of each table.
    """
    import time

    catalog = release_dir / "catalog"
    loaded: list[LoadedTable] = []

    async def load(table: str, source: Source, **options: Any) -> None:
        start = time.perf_counter()
        meta = await ingest_table(store, source, table, schema_description=RELEASE_DESCRIPTION, progress=progress,
                                  **options)
        loaded.append(LoadedTable(meta, time.perf_counter() - start))

    main_path = catalog / "dr1_main.parquet"
    await load(f"{RELEASE_SCHEMA}.main", open_source(main_path), ra="ra", dec="dec", tolerance=MAIN_TOLERANCE)
    sample_path = catalog / "dr1_main_sample.parquet"
    if sample_path.is_file():
        sample = open_source(sample_path)
    else:
        main = open_source(main_path)
        sample = Source(schema=main.schema, batches=_sample_rows(main.batches),
                        description="1 % subsample of des_dr1.main (splitmix64(coadd_object_id) mod 100 = 0)")
    await load(f"{RELEASE_SCHEMA}.main_sample", sample, ra="ra", dec="dec", tolerance=MAIN_TOLERANCE)
    await load(f"{RELEASE_SCHEMA}.tile_info", open_source(catalog / "dr1_tile_info.parquet"))
    truth_path = catalog / "demo_truth.parquet"
    if truth_path.is_file():
        await load(f"{RELEASE_SCHEMA}.demo_truth", open_source(truth_path), ra="ra", dec="dec")
    obscore = await ingest_obscore(store, release_dir, catalog / "dr1_tile_info.parquet")
    if obscore is not None:
        loaded.append(obscore)
    stamp = stamp or release_stamp(release_dir)
    if stamp is not None:
        await store.replace_small_tables({_STAMP_TABLE: pa.table({"stamp": [stamp]})})
    return loaded


async def ingest_obscore(store: Store, release_dir: Path, tile_info_path: Path) -> LoadedTable | None:
    """Hook for the image index: store ``ivoa.skygate_obscore``, create the ``ivoa.obscore`` view, publish it.

    Uses ``release.obscore.build_obscore`` (the images engineer's); returns None when that
    module is not available.
    """
    import time

    try:
        from release.obscore import build_obscore
    except ImportError:
        return None
    start = time.perf_counter()
    tile_info = await asyncio.to_thread(pq.read_table, tile_info_path)
    build = await asyncio.to_thread(build_obscore, release_dir, tile_info)
    base = build.base_meta
    await store.load(base.qualified, build.table.schema, iter(build.table.to_batches()), sort_by=None, indexes=())
    await store.execute(build.view_sql(store.dialect))
    meta = replace(build.meta, nrows=build.table.num_rows)
    await publish_table(store, meta, schema_description="IVOA data models: ObsCore 1.1 image index")
    return LoadedTable(meta, time.perf_counter() - start)


def _sample_rows(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    from release.demo.sample import main_sample_mask

    for batch in batches:
        names = [n.lower() for n in batch.schema.names]
        ids = batch.column(names.index("coadd_object_id")).to_numpy(zero_copy_only=False)
        yield batch.filter(pa.array(main_sample_mask(ids)))
