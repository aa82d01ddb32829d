"""The caller's own tables at the TAP edge: whose they are, what a caller's queries and /tables see,
``PUT``/``DELETE /tap/tables/{schema.table}`` (CADC's convention), and DESTINATION results.

Ownership: an authenticated caller owns the tables of ``user_<name>``; with ``SKYGATE_AUTH=none``
everyone is the one anonymous user and owns ``user_anonymous``; in the authenticated modes a caller
without credentials owns none and may make none (403). Nobody else's tables are ever listed, named
in a query, described or dropped: to anyone else they do not exist (404, "unknown table").
A ``PUT`` body is a VOTable, CSV, FITS or Parquet table, chosen by its ``Content-Type`` (or, sent
as ``application/octet-stream`` or without one, by its first bytes); compressed bodies are refused,
as for uploads. Size: the body at most ``upload_max_bytes``, the owner's stored tables together at
most ``user_table_max_bytes`` (413 naming the quota).
Tests: tests/tap/test_user_tables.py.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from starlette.requests import Request

from dali.errors import SkygateError, TooLargeError, UsageError
from dali.form import check_announced, read_body
from dali.values import Column, TableMeta
from dali.votable import read_votable
from release.engine import StatementTable
from release.served import NO_SERVED, ServedTables
from release.sources import Source, open_source
from release.user_tables import (
    TableExists,
    UserTable,
    UserTables,
    caller_tables,
    check_table_name,
    prepare_table,
    remaining_quota,
    schema_description,
    schema_for,
)
from tap.service import TapConfig, require_engine

__all__ = ["CallerTables", "caller_view", "delete_table", "destination_name", "put_table", "store_destination"]

_FORMATS = {
    "application/x-votable+xml": "votable", "text/xml": "votable", "application/xml": "votable",
    "text/csv": "csv", "application/fits": "fits", "image/fits": "fits",
    "application/vnd.apache.parquet": "parquet", "application/x-parquet": "parquet", "application/parquet": "parquet",
}
_SUFFIX = {"csv": ".csv", "fits": ".fits", "parquet": ".parquet"}
_COMPRESSED = (b"\x1f\x8b", b"BZh", b"PK\x03\x04", b"\xfd7zXZ", b"\x28\xb5\x2f\xfd")


class CallerTables:
    """One caller's tables as a request sees them: their metadata, and what the engine reads
    (``served``: the tables the service serves beside the release for everyone, RegTAP's ``rr``)."""

    def __init__(self, owner: str | None, tables: Mapping[str, UserTable],
                 statement: Mapping[str, StatementTable], served: ServedTables = NO_SERVED) -> None:
        self.owner = owner
        self.tables = dict(tables)
        self.statement = dict(statement)
        self.served = served

    def metadata(self, release: Mapping[str, TableMeta]) -> dict[str, TableMeta]:
        """The release's tables, the served ones and the caller's."""
        return {**release, **self.served.metadata(), **{key: t.meta for key, t in self.tables.items()}}

    def schema_descriptions(self, release: Mapping[str, str | None]) -> dict[str, str | None]:
        found = {**self.served.schema_descriptions, **release}
        for table in self.tables.values():
            found.setdefault(table.meta.schema, schema_description(table.owner))
        return found


async def caller_view(release: Any, owner: str | None) -> CallerTables:
    """The tables ``owner`` (from ``table_owner``) sees besides the release: the served ones and theirs."""
    served: ServedTables = getattr(release, "served", None) or NO_SERVED
    store: UserTables | None = getattr(release, "user_tables", None)
    tables = await store.list(owner) if owner is not None and store is not None else {}
    if release is None or getattr(release, "engine", None) is None:
        return CallerTables(owner, tables, {}, served)
    statement = caller_tables(store, tables, release.metadata, getattr(release, "schema_descriptions", {}), served)
    return CallerTables(owner, tables, statement, served)


# ----------------------------------------------------------------------------- PUT and DELETE

def _store(release: Any) -> UserTables:
    require_engine(getattr(release, "engine", None), getattr(release, "problem", None))  # 503 without a release
    store: UserTables | None = getattr(release, "user_tables", None)
    if store is None:
        raise UsageError("this service keeps no user tables (its catalogue is served by Spark)",
                         hint="user tables need the embedded DuckDB catalogue or PostgreSQL")
    return store


def _own_name(path_name: str, owner: str | None) -> str:
    """The qualified name a caller may create or drop: in their own schema (an unqualified name goes there)."""
    if owner is None:
        raise PermissionError("only a logged-in user may create or drop tables here; log in (see /tap/capabilities)")
    own = schema_for(owner)
    parts = path_name.strip().split(".")
    if len(parts) == 1:
        parts = [own, parts[0]]
    if len(parts) != 2 or parts[0].lower() != own:
        raise PermissionError(f"you may create and drop tables only in your own schema {own}")
    return f"{own}.{check_table_name(parts[1])}"


async def put_table(request: Request, config: TapConfig, release: Any, owner: str | None) -> TableMeta:
    """``PUT /tap/tables/{name}``: store the body as the caller's new table; its metadata.

    Raises
    ------
    PermissionError
        Anonymous callers in an authenticated mode, or a schema not the caller's (403).
    UsageError, TooLargeError
        Bad names, unreadable or unknown formats (the message says which), over a limit or quota;
        a name already taken (``TableExists``, 409).
    """
    qualified = _own_name(request.path_params["name"], owner)
    assert owner is not None  # _own_name refused anonymous callers
    store = _store(release)
    kind = _format(request.headers.get("content-type"))
    data = await _read_body(request.stream(), request.headers.get("content-length"), config.upload_max_bytes)
    kind = kind or _sniff(data)
    existing = await store.list(owner)
    if qualified in existing:
        raise TableExists(f"you already have a table called {qualified}", param="table",
                          hint=f"drop it first (DELETE /tap/tables/{qualified}) or choose another name")
    schema, name = qualified.split(".")
    meta, rows = await asyncio.to_thread(
        _prepare, data, kind, schema, name, remaining_quota(existing, config.user_table_max_bytes), config)
    return (await store.create(owner, meta, rows)).meta


async def delete_table(request: Request, release: Any, owner: str | None) -> bool:
    """``DELETE /tap/tables/{name}``: drop the caller's table; False when they have none of that name."""
    qualified = _own_name(request.path_params["name"], owner)
    assert owner is not None
    return await _store(release).drop(owner, qualified)


def _format(content_type: str | None) -> str | None:
    media = (content_type or "").split(";")[0].strip().lower()
    if media in ("", "application/octet-stream"):
        return None
    if media not in _FORMATS:
        raise UnsupportedFormat(f"cannot store a table sent as {media[:60]}")
    return _FORMATS[media]


class UnsupportedFormat(UsageError):
    """A body whose format is none of those a table can be made from (HTTP 415)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, param="Content-Type",
                         hint="send a VOTable (application/x-votable+xml), CSV (text/csv), FITS (application/fits) "
                              "or Parquet (application/vnd.apache.parquet)")


def _sniff(data: bytes) -> str:
    head = data[:80].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"SIMPLE  ="):
        return "fits"
    if head.startswith(b"<"):
        return "votable"
    raise UnsupportedFormat("the body's format was not given (Content-Type) and is not recognisable")


async def _read_body(chunks: AsyncIterator[bytes], announced: str | None, limit: int) -> bytes:
    check_announced(announced, limit, lambda: _body_too_large(limit))
    body = await read_body(chunks, limit, lambda: _body_too_large(limit))
    if not body:
        raise UsageError("the request has no body: send the table to store", param="table")
    return body


def _body_too_large(limit: int) -> TooLargeError:
    return TooLargeError(f"a table sent to be stored may have at most {limit} bytes", param="table",
                         hint="send fewer rows, or make the table from a query (DESTINATION on /tap/async)")


def _prepare(data: bytes, kind: str, schema: str, name: str, max_bytes: int,
             config: TapConfig) -> tuple[TableMeta, pa.Table]:
    if data.startswith(_COMPRESSED):
        raise UsageError("compressed tables are not accepted", param="table", hint="send the table uncompressed")
    if kind == "votable":
        columns, table = read_votable(data, max_rows=config.upload_max_rows, param="table")
        source = Source(schema=table.schema, batches=iter(table.to_batches(max_chunksize=65_536)))
        return prepare_table(source, columns, schema=schema, name=name, description=None, max_bytes=max_bytes)
    with tempfile.TemporaryDirectory(prefix="skygate-table-") as folder:
        path = Path(folder) / f"table{_SUFFIX[kind]}"
        path.write_bytes(data)
        if kind == "parquet":
            _check_parquet(path, max_bytes)
        try:
            source = open_source(path)
            return prepare_table(source, (), schema=schema, name=name, description=source.description,
                                 max_bytes=max_bytes)
        except SkygateError:
            raise
        except Exception as exc:  # noqa: BLE001 (a reader's own error: the body is not a readable table)
            raise UsageError(f"the body is not a readable {kind} table ({type(exc).__name__})",
                             param="table") from None


def _check_parquet(path: Path, max_bytes: int) -> None:
    """Refuse a Parquet file whose rows would unpack past ``max_bytes`` before reading any."""
    try:
        meta = pq.ParquetFile(path).metadata
    except Exception:  # noqa: BLE001 (pyarrow raises several kinds for a damaged file)
        raise UsageError("the body is not a readable Parquet file", param="table") from None
    unpacked = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if unpacked > max_bytes:
        raise TooLargeError(f"the Parquet table unpacks to {unpacked} bytes, more than the {max_bytes} "
                            "bytes left of your table quota", param="table")


# ----------------------------------------------------------------------------- DESTINATION

def destination_name(destination: str, view: CallerTables) -> str:
    """The qualified name of the caller's new table for ``DESTINATION``, checked before the query runs.

    Raises
    ------
    UsageError
        Anonymous callers in an authenticated mode, another's schema, a bad or taken name.
    """
    try:
        qualified = _own_name(destination, view.owner)
    except PermissionError as exc:
        raise UsageError(str(exc), param="DESTINATION") from None
    if qualified in view.tables:
        raise UsageError(f"you already have a table called {qualified}", param="DESTINATION",
                         hint="drop it first (DELETE /tap/tables/...) or choose another name")
    return qualified


async def store_destination(qualified: str, view: CallerTables, release: Any, columns: Iterable[Column],
                            batches: list[pa.RecordBatch], config: TapConfig) -> TableMeta:
    """Store a query's result rows as the caller's table ``qualified`` (from ``destination_name``).

    Raises
    ------
    UsageError
        Result column names that cannot name table columns (alias them in the query), a name
        taken meanwhile, over the quota.
    """
    assert view.owner is not None  # destination_name refused anonymous callers
    store = _store(release)
    existing = await store.list(view.owner)
    column_list = tuple(columns)
    names = [c.name for c in column_list]
    source = Source(schema=batches[0].schema.with_metadata(None) if batches else pa.schema([]),
                    batches=iter(batches))
    if batches and len(names) == batches[0].num_columns:
        renamed = [b.rename_columns(names) for b in batches]
        source = Source(schema=renamed[0].schema, batches=iter(renamed))
    schema, name = qualified.split(".")
    meta, rows = await asyncio.to_thread(
        prepare_table, source, column_list, schema=schema, name=name, description=None,
        max_bytes=remaining_quota(existing, config.user_table_max_bytes))
    return (await store.create(view.owner, meta, rows)).meta
