"""The writable side of the release database: replace a table, run DDL, grant reads (ingest only).

``open_store`` gives a DuckDB store (the catalog file, rows sorted by the given column so zone
maps make range predicates fast; DuckDB's ART indexes are not built because they must fit in
memory) or a PostgreSQL store used as admin (btree indexes, ``CLUSTER`` on the sort column,
``ANALYZE``, the read-only role created when missing and granted reads). Small tables (TAP_SCHEMA)
are replaced in one transaction. It decides nothing about names or metadata (``release.ingest``
does) and the service never writes through it (it reads through ``release.backends``).
Tests: tests/release/test_ingest.py, tests/release/test_backends.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Protocol

import asyncpg
import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from dali.errors import FatalError, TransientError, UsageError
from release.sqlnames import is_postgres_url, postgres_type, quote_ident
from release.tapschema import NOT_NULL

__all__ = ["Store", "open_store"]

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_DUCKDB_MEMORY = "1GB"


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


class _StoreContext:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def __aenter__(self) -> Store:
        return self.store

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.store.close()


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
        if readonly_role and not _ROLE_NAME.match(readonly_role):
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
        # upload tables is all it may do, so no query changes the release; sessions also start read-only.
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
