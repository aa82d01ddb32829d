"""A caller's own tables beside the release ("my tables"): stored, listed, dropped, queried by their owner.

A user table lives in the schema ``user_<owner>`` (``schema_for``) and only its owner sees it:
``UserTables.list(owner)`` is what the TAP service adds to that caller's metadata, and
``caller_tables`` turns it, with the tables the service serves beside the release
(``release.served``), into the query engine's ``StatementTable`` values, with the caller's own
view of TAP_SCHEMA (the release's rows plus those) so TAP_SCHEMA and ``/tables`` agree.
Rows are prepared as ingest prepares a release table (``release.ingest.plan_table``): names
checked and lower-cased, types made storable, and when the table has a position (ra/dec found by
UCD, else by name) the HEALPix index column ``skygate_hpx`` with rows sorted on it, so cone
searches and positional joins are rewritten and indexed as on the release.

Two stores, chosen by the backend; both survive restarts and are read afresh by every process
(API and workers) on each request, so a table made through one process is seen by all (the
Parquet store reads a folder again only when its mtime changed):
- ``ParquetUserTables`` (DuckDB, whose catalog file the service opens read-only): one Parquet
  file per table under ``<root>/<schema>/`` with row groups in index order (DuckDB pushes a
  cone's index ranges into its scan of the registered Arrow dataset, which skips the other
  groups), and a JSON file with its metadata written last: a table exists once its JSON does.
- ``PostgresUserTables``: a real table in the owner's schema, written as the admin role (btree on
  the index column, clustered; SELECT granted to the reader role the queries run as), its
  metadata a row of ``skygate_meta.user_tables``. The admin connection only ever runs DDL and
  COPY built here from checked names, never a caller's SQL.
Tests: tests/release/test_user_tables.py, tests/tap/test_user_tables.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from adql.features import RESERVED_WORDS
from dali.errors import TooLargeError, TransientError, UsageError
from dali.values import Column, Position, TableMeta
from release.engine import StatementTable
from release.ingest import HPX_COLUMN, plan_table, transform_batches
from release.served import NO_SERVED, ServedTables, statement_tables
from release.sources import Source
from release.sqlnames import is_postgres_url, quote_ident
from release.stores import open_store
from release.tapschema import META_SCHEMA

__all__ = [
    "ParquetUserTables",
    "PostgresUserTables",
    "TableExists",
    "UserTable",
    "UserTables",
    "caller_tables",
    "check_table_name",
    "open_user_tables",
    "prepare_table",
    "remaining_quota",
    "schema_description",
    "schema_for",
    "table_owner",
]

SCHEMA_PREFIX = "user_"
ANONYMOUS_OWNER = "anonymous"
CATALOG_TABLE = f"{META_SCHEMA}.user_tables"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_MAX_NAME = 48  # PostgreSQL identifiers end at 63 bytes; index names add the column's
_ROW_GROUP = 16_384  # rows per Parquet row group: the unit a cone's scan skips or reads
_SETTLED_NS = 1_000_000_000  # a folder's listing is reused once its mtime is this old
_LISTED_MAX = 4096  # folders whose listing is kept (then all are forgotten at once)


@dataclass(frozen=True, slots=True)
class UserTable:
    """One stored user table: its owner, its published metadata, its size in bytes (what counts
    against the owner's quota: the Arrow size of the stored rows) and when it was made."""

    owner: str
    meta: TableMeta
    nbytes: int
    created: str


class UserTables(Protocol):
    """A store of user tables (``ParquetUserTables`` or ``PostgresUserTables``)."""

    async def list(self, owner: str) -> dict[str, UserTable]:
        """The owner's tables by qualified name."""
        ...

    async def create(self, owner: str, meta: TableMeta, rows: pa.Table) -> UserTable:
        """Store ``rows`` as ``meta`` (prepared by ``prepare_table``); the name must be free."""
        ...

    async def drop(self, owner: str, qualified: str) -> bool:
        """Drop the owner's table; False when there was none."""
        ...

    def statement_table(self, table: UserTable) -> StatementTable:
        """How a statement reads the table."""
        ...

    async def close(self) -> None: ...


def table_owner(owner: str | None, auth_mode: str) -> str | None:
    """Whose tables a caller sees and makes: an authenticated caller their own; with
    ``SKYGATE_AUTH=none`` everyone is the one anonymous user, who owns ``user_anonymous``; in the
    authenticated modes a caller without credentials owns none (None)."""
    if owner is not None:
        return owner
    return ANONYMOUS_OWNER if auth_mode == "none" else None


def schema_for(owner: str) -> str:
    """The schema of ``owner``'s tables: ``user_`` and the name; a name that is not already a plain
    lower-case identifier gets its other characters replaced and a hash of the original, so two
    owners never share a schema."""
    plain = re.sub(r"[^a-z0-9_]", "_", owner.lower())[:_MAX_NAME - len(SCHEMA_PREFIX) - 9]
    if plain != owner:  # "Alice" and "alice" may be two people
        plain += "_" + hashlib.sha256(owner.encode()).hexdigest()[:8]
    return SCHEMA_PREFIX + plain


def schema_description(owner: str) -> str:
    """What ``/tables`` and TAP_SCHEMA say of an owner's schema."""
    return f"tables of the user {owner}"


def check_table_name(name: str, *, param: str = "table") -> str:
    """``name`` lower-cased when it can name a user table (letters, digits, underscores, starting with
    a letter, at most 48 characters, not an ADQL reserved word, not ``skygate_*``)."""
    lowered = name.strip().lower()
    if not _NAME.match(lowered) or len(lowered) > _MAX_NAME or lowered.startswith("skygate_"):
        raise UsageError(f"{name[:80]!r} cannot name a table", param=param,
                         hint=f"use letters, digits and underscores, starting with a letter, at most {_MAX_NAME}")
    if lowered.upper() in RESERVED_WORDS:
        raise UsageError(f"{name!r} is an ADQL reserved word and cannot name a table", param=param,
                         hint="choose another name")
    return lowered


def prepare_table(source: Source, columns: Iterable[Column], *, schema: str, name: str,
                  description: str | None, max_bytes: int) -> tuple[TableMeta, pa.Table]:
    """The metadata and stored rows of a new user table, from ``source`` (its fields' metadata,
    overridden by ``columns`` where given, e.g. a VOTable's units and UCDs).

    Raises
    ------
    UsageError
        Names or types that cannot be stored (saying which column).
    TooLargeError
        When the rows take more than ``max_bytes``.
    """
    overrides = {c.name.lower(): {k: v for k, v in (("unit", c.unit), ("ucd", c.ucd), ("utype", c.utype),
                                                       ("description", c.description)) if v}
                 for c in columns}
    ra, dec = _position_columns(source.schema, overrides)
    plan = plan_table(source.schema, ra, dec, 0.0, overrides, param="table")
    batches, size = [], 0
    for batch in transform_batches(source.batches, plan):
        size += batch.nbytes
        if size > max_bytes:
            raise _over_quota(size, max_bytes)
        batches.append(batch)
    rows = pa.Table.from_batches(batches, schema=plan.schema)
    if plan.position is not None:
        rows = rows.sort_by([(HPX_COLUMN, "ascending")])
    meta = TableMeta(schema=schema, name=name, columns=plan.columns, description=description,
                     nrows=rows.num_rows, position=plan.position)
    return meta, rows


def _position_columns(schema: pa.Schema, overrides: Mapping[str, Mapping[str, Any]]) -> tuple[str | None, str | None]:
    """The (ra, dec) columns of a table: by UCD (``pos.eq.ra;meta.main`` first), else the columns
    called ra and dec; only floating-point columns count. (None, None) when there is no position."""
    ucds: dict[str, str] = {}
    for fld in schema:
        if not pa.types.is_floating(fld.type):
            continue
        meta = {k.decode(): v.decode() for k, v in (fld.metadata or {}).items()}
        ucd = str(overrides.get(fld.name.lower(), {}).get("ucd") or meta.get("ucd") or "").lower()
        ucds[fld.name] = ucd
    for wanted in (("pos.eq.ra;meta.main", "pos.eq.dec;meta.main"), ("pos.eq.ra", "pos.eq.dec")):
        ra = [n for n, u in ucds.items() if u == wanted[0]]
        dec = [n for n, u in ucds.items() if u == wanted[1]]
        if len(ra) == 1 and len(dec) == 1:
            return ra[0], dec[0]
    by_name = {n.lower(): n for n in ucds}
    if "ra" in by_name and "dec" in by_name:
        return by_name["ra"], by_name["dec"]
    return None, None


def _over_quota(size: int, limit: int) -> TooLargeError:
    return TooLargeError(
        f"the table would take more than the {limit} bytes left of your table quota "
        f"(at least {size} bytes)", param="table",
        hint="store fewer rows or columns, or drop one of your tables (DELETE /tap/tables/<schema.table>)")


def remaining_quota(existing: Mapping[str, UserTable], limit: int) -> int:
    """Bytes the owner may still store (a very large number when there is no limit)."""
    return max(0, limit - sum(t.nbytes for t in existing.values())) if limit else 1 << 62


# ----------------------------------------------------------------------------- metadata as JSON

def _meta_json(table: UserTable) -> str:
    return json.dumps({"owner": table.owner, "nbytes": table.nbytes, "created": table.created,
                       "meta": dataclasses.asdict(table.meta)})


def _from_json(text: str) -> UserTable:
    data = json.loads(text)
    meta = dict(data["meta"])
    meta["columns"] = tuple(Column(**c) for c in meta["columns"])
    meta["position"] = Position(**meta["position"]) if meta.get("position") else None
    meta["foreign_keys"] = ()
    return UserTable(owner=data["owner"], meta=TableMeta(**meta), nbytes=int(data["nbytes"]),
                     created=data["created"])


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ----------------------------------------------------------------------------- Parquet files (DuckDB)

class ParquetUserTables:
    """User tables as Parquet files under ``root`` (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # (folder, owner) -> (the folder's mtime when listed, its tables): every query asks, and
        # listing is a trip to a thread, a stat is not.
        self._listed: dict[tuple[Path, str], tuple[int, dict[str, UserTable]]] = {}

    def _paths(self, qualified: str) -> tuple[Path, Path]:
        schema, name = qualified.split(".")
        folder = self.root / schema
        return folder / f"{name}.parquet", folder / f"{name}.json"

    async def list(self, owner: str) -> dict[str, UserTable]:
        folder = self.root / schema_for(owner)
        # A table written (renamed into place) or dropped, by any process, changes the folder's
        # mtime; so an unchanged mtime means an unchanged list. Timestamps are as coarse as the
        # kernel's clock tick, so a folder changed within the last second is always read again.
        try:
            mtime = os.stat(folder).st_mtime_ns
        except FileNotFoundError:
            return {}
        key = (folder, owner)
        listed = self._listed.get(key)
        if listed is not None and listed[0] == mtime and time.time_ns() - mtime > _SETTLED_NS:
            return dict(listed[1])
        found = await asyncio.to_thread(self._read_folder, folder, owner)
        if len(self._listed) >= _LISTED_MAX:
            self._listed.clear()
        self._listed[key] = (mtime, found)
        return dict(found)

    @staticmethod
    def _read_folder(folder: Path, owner: str) -> dict[str, UserTable]:
        found: dict[str, UserTable] = {}
        if not folder.is_dir():
            return found
        for path in sorted(folder.glob("*.json")):
            with contextlib.suppress(FileNotFoundError):  # dropped meanwhile
                table = _from_json(path.read_text())
                if table.owner == owner:
                    found[table.meta.qualified] = table
        return found

    async def create(self, owner: str, meta: TableMeta, rows: pa.Table) -> UserTable:
        table = UserTable(owner=owner, meta=meta, nbytes=rows.nbytes, created=_now())
        await asyncio.to_thread(self._write, table, rows)
        return table

    def _write(self, table: UserTable, rows: pa.Table) -> None:
        data_path, meta_path = self._paths(table.meta.qualified)
        data_path.parent.mkdir(parents=True, exist_ok=True)
        if meta_path.exists():
            raise _exists(table.meta.qualified)
        _atomic(data_path, lambda path: pq.write_table(rows, path, row_group_size=_ROW_GROUP, compression="zstd"))
        _atomic(meta_path, lambda path: path.write_text(_meta_json(table)))

    async def drop(self, owner: str, qualified: str) -> bool:
        data_path, meta_path = self._paths(qualified)
        tables = await self.list(owner)
        if qualified not in tables:
            return False
        meta_path.unlink(missing_ok=True)  # first: the table is gone once its JSON is
        data_path.unlink(missing_ok=True)
        return True

    def statement_table(self, table: UserTable) -> StatementTable:
        data_path, _ = self._paths(table.meta.qualified)
        # Unqualified and unique: the length of the schema name keeps "a_b"."c" apart from "a"."b_c".
        physical = f"skygate_user_{len(table.meta.schema)}_{table.meta.schema}_{table.meta.name}"
        return StatementTable(meta=table.meta, physical=physical, data=pads.dataset(data_path, format="parquet"))

    async def close(self) -> None:
        return None


def _atomic(path: Path, write: Any) -> None:
    """Write ``path`` through a temporary file beside it, renamed into place when complete."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(handle)
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


class TableExists(UsageError):
    """The owner already has a table of that name (HTTP 409)."""


def _exists(qualified: str) -> TableExists:
    return TableExists(f"you already have a table called {qualified}", param="table",
                       hint=f"drop it first (DELETE /tap/tables/{qualified}) or choose another name")


# ----------------------------------------------------------------------------- PostgreSQL

_CATALOG_DDL = f"""CREATE TABLE IF NOT EXISTS {CATALOG_TABLE} (
    table_name text PRIMARY KEY, owner text NOT NULL, nbytes bigint NOT NULL, created text NOT NULL,
    metadata text NOT NULL)"""


class PostgresUserTables:
    """User tables as tables of the release database (see the module docstring)."""

    def __init__(self, admin_url: str, readonly_role: str) -> None:
        self.admin_url = admin_url
        self.readonly_role = readonly_role
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    async def _get_pool(self) -> asyncpg.Pool:
        async with self._lock:
            if self._pool is None:
                try:
                    self._pool = await asyncpg.create_pool(self.admin_url, min_size=0, max_size=2,
                                                           statement_cache_size=0)
                    async with self._pool.acquire() as conn:
                        await conn.execute("SET client_min_messages = warning")
                        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {META_SCHEMA}")
                        await conn.execute(_CATALOG_DDL)
                except (OSError, asyncpg.PostgresError) as exc:
                    if self._pool is not None:
                        await self._pool.close()
                        self._pool = None
                    raise TransientError("the database holding user tables is not reachable",
                                         hint="try again later") from exc
            return self._pool

    async def list(self, owner: str) -> dict[str, UserTable]:
        pool = await self._get_pool()
        try:
            rows = await pool.fetch(f"SELECT metadata, owner, nbytes, created FROM {CATALOG_TABLE} "
                                    "WHERE owner = $1 ORDER BY table_name", owner)
        except (OSError, asyncpg.PostgresError) as exc:
            raise TransientError("the list of your tables cannot be read now", hint="try again later") from exc
        found = {}
        for row in rows:
            table = _from_json(row["metadata"])
            found[table.meta.qualified] = table
        return found

    async def create(self, owner: str, meta: TableMeta, rows: pa.Table) -> UserTable:
        table = UserTable(owner=owner, meta=meta, nbytes=rows.nbytes, created=_now())
        pool = await self._get_pool()
        async with pool.acquire() as conn:
            # The catalog row first, as a claim on the name: a second creation of it fails here.
            try:
                await conn.execute(f"INSERT INTO {CATALOG_TABLE} (table_name, owner, nbytes, created, metadata) "
                                   "VALUES ($1, $2, $3, $4, $5)", meta.qualified, owner, table.nbytes,
                                   table.created, _meta_json(table))
            except asyncpg.UniqueViolationError:
                raise _exists(meta.qualified) from None
        try:
            async with await open_store(self.admin_url, Path(), readonly_role=self.readonly_role) as store:
                indexes = [HPX_COLUMN] if meta.position is not None else []
                await store.load(meta.qualified, rows.schema, iter(rows.to_batches(max_chunksize=65_536)),
                                 sort_by=HPX_COLUMN if meta.position is not None else None, indexes=indexes)
                await store.grant([meta.schema])
        except BaseException:
            await self._forget(meta.qualified, drop=True)
            raise
        return table

    async def _forget(self, qualified: str, *, drop: bool) -> None:
        pool = await self._get_pool()
        async with pool.acquire() as conn, conn.transaction():
            if drop:
                await conn.execute(f"DROP TABLE IF EXISTS {_qname(qualified)}")
            await conn.execute(f"DELETE FROM {CATALOG_TABLE} WHERE table_name = $1", qualified)

    async def drop(self, owner: str, qualified: str) -> bool:
        if qualified not in await self.list(owner):
            return False
        await self._forget(qualified, drop=True)
        return True

    def statement_table(self, table: UserTable) -> StatementTable:
        return StatementTable(meta=table.meta)

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()


def _qname(qualified: str) -> str:
    return ".".join(quote_ident(part) for part in qualified.split("."))


def open_user_tables(database_url: str, root: Path, *, readonly_role: str) -> UserTables | None:
    """The store for the backend the settings name (None for Spark, which serves no user tables)."""
    if is_postgres_url(database_url):
        return PostgresUserTables(database_url, readonly_role)
    if database_url:
        return None
    return ParquetUserTables(root)


# ----------------------------------------------------------------------------- a caller's view

def caller_tables(store: UserTables | None, tables: Mapping[str, UserTable], release: Mapping[str, TableMeta],
                  schema_descriptions: Mapping[str, str | None], served: ServedTables = NO_SERVED,
                  ) -> dict[str, StatementTable]:
    """The ``StatementTable`` values a caller's queries see: the tables the service serves beside the
    release (``served``: RegTAP's ``rr``), the caller's own, and TAP_SCHEMA as they see it (the
    release's rows and those), so queries of TAP_SCHEMA list them (``release.served.statement_tables``)."""
    own = {key: store.statement_table(table) for key, table in tables.items()} if store is not None else {}
    descriptions = {table.meta.schema: schema_description(table.owner) for table in tables.values()}
    return statement_tables(release, schema_descriptions, served, own, descriptions)
