"""The query engine every service calls: ADQL text -> SQL for the backend -> Arrow batches.

``QueryEngine.execute`` translates with ``adql.translate`` (or an injected translator), makes
uploaded tables visible under ``tap_upload_<name>`` and a caller's own tables (``StatementTable``:
user tables, the caller's view of TAP_SCHEMA) beside the release's, starts the statement and waits for its first
batch (so bad SQL, timeouts and data errors are raised before a service sends any bytes), then
streams the rest: at most ``maxrec + 1`` rows, each batch cast to the Arrow types the output
columns declare (so both backends give the same types). No HTTP, no output formats.
Tests: tests/release/test_engine.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

import pyarrow as pa

from dali.values import Column, TableMeta
from dali.xtypes import format_stcs_polygon
from release.backends import Backend

__all__ = ["INLINE_TRANSLATION_CHARS", "QueryEngine", "QueryResult", "Statement", "StatementTable", "Translator",
           "UploadTable", "arrow_type", "upload_table_name"]


@dataclass(frozen=True, slots=True)
class UploadTable:
    """A table uploaded with a query: ``TAP_UPLOAD.<name>`` in ADQL, ``tap_upload_<name>`` in SQL."""

    name: str
    meta: TableMeta
    table: pa.Table


@dataclass(frozen=True, slots=True)
class StatementTable:
    """A table one statement sees besides the release's, as ``meta.qualified`` in ADQL.

    ``physical`` None: a real table of the database, named by ``meta``. Otherwise the statement
    reads ``data`` (an Arrow table or dataset) registered under that unqualified name, and only
    when it names the table.
    """

    meta: TableMeta
    physical: str | None = None
    data: Any = None


@dataclass(frozen=True, slots=True)
class QueryResult:
    """The output columns and the batches (at most maxrec + 1 rows; close ``batches`` when done early)."""

    columns: tuple[Column, ...]
    batches: AsyncIterator[pa.RecordBatch]
    sql: str


@dataclass(frozen=True, slots=True)
class Statement:
    """A translated query as the backend runs it: its SQL, output columns and the relations it reads
    (physical name -> Arrow table or dataset: uploads and the caller's own tables)."""

    sql: str
    columns: tuple[Column, ...]
    relations: Mapping[str, Any]


class _Translation(Protocol):
    @property
    def sql(self) -> str: ...

    @property
    def columns(self) -> tuple[Column, ...]: ...


class Translator(Protocol):
    """The signature of ``adql.translate``."""

    def __call__(self, text: str, metadata: Mapping[str, TableMeta], dialect: str, *, maxrec: int | None = None,
                 uploads: Mapping[str, TableMeta] | None = None,
                 sources: Mapping[str, str] | None = None) -> _Translation: ...


_NO_UPLOADS: Mapping[str, UploadTable] = MappingProxyType({})
_NO_TABLES: Mapping[str, StatementTable] = MappingProxyType({})
INLINE_TRANSLATION_CHARS = 1000  # queries up to this long are translated on the event loop


def upload_table_name(name: str) -> str:
    """The physical (unqualified) name of ``TAP_UPLOAD.<name>``, the schema TAP 1.1 gives uploaded tables."""
    return f"tap_upload_{name.lower()}"


def _adql_translate(text: str, metadata: Mapping[str, TableMeta], dialect: str, *, maxrec: int | None = None,
                    uploads: Mapping[str, TableMeta] | None = None,
                    sources: Mapping[str, str] | None = None) -> _Translation:
    from adql import translate

    result: _Translation = translate(text, metadata, dialect, maxrec=maxrec, uploads=uploads, sources=sources)
    return result


class QueryEngine:
    """Runs ADQL against one backend with one set of published tables."""

    def __init__(self, backend: Backend, metadata: Mapping[str, TableMeta], *,
                 translate: Translator | None = None) -> None:
        self.backend = backend
        self.metadata = metadata
        self._translate: Translator = translate or _adql_translate

    async def execute(
        self,
        adql_text: str,
        *,
        maxrec: int | None,
        uploads: Mapping[str, UploadTable] = _NO_UPLOADS,
        timeout: float,
        tables: Mapping[str, StatementTable] = _NO_TABLES,
    ) -> QueryResult:
        """Translate and start ``adql_text``; return its columns and its batches.

        Parameters
        ----------
        adql_text
            The query.
        maxrec
            Row limit (None: none); at most ``maxrec + 1`` rows come back so the caller can flag
            OVERFLOW when the last one arrives.
        uploads
            Uploaded tables by name.
        timeout
            Seconds of wall-clock time for the whole statement, streaming included.
        tables
            The caller's own tables by qualified name (they may shadow release tables, as the
            caller's view of TAP_SCHEMA does).

        Raises
        ------
        adql.ADQLError
            For a query that is not valid ADQL or names unknown tables or columns.
        UsageError, TransientError, FatalError
            From the backend (timeout, data errors, database unavailable).
        """
        started = time.monotonic()  # the time limit includes the translation
        statement = await self.prepare(adql_text, maxrec=maxrec, uploads=uploads, tables=tables)
        stream = self.backend.stream(statement.sql, timeout=timeout, uploads=statement.relations, started=started)
        try:
            first = await anext(stream)
        except BaseException:
            await _aclose(stream)
            raise
        limit = None if maxrec is None else maxrec + 1
        batches = _shaped(first, stream, statement.columns, limit)
        return QueryResult(columns=statement.columns, batches=batches, sql=statement.sql)

    async def prepare(self, adql_text: str, *, maxrec: int | None, uploads: Mapping[str, UploadTable] = _NO_UPLOADS,
                      tables: Mapping[str, StatementTable] = _NO_TABLES) -> Statement:
        """Translate ``adql_text`` for the backend without running it (``execute`` runs it; the anomaly
        job on Spark builds its own Spark plan on the SQL). Parameters and errors as ``execute``'s."""
        metadata = {**self.metadata, **{key: t.meta for key, t in tables.items()}} if tables else self.metadata
        sources = {key: t.physical for key, t in tables.items() if t.physical is not None}
        options: dict[str, Any] = {"sources": sources} if sources else {}
        translate = functools.partial(self._translate, adql_text, metadata, self.backend.dialect, maxrec=maxrec,
                                      uploads={name: u.meta for name, u in uploads.items()} or None, **options)
        # A long query is parsed and translated in a thread, so the event loop does not wait on it.
        # A short one (a cone: about a millisecond) is translated here: under the GIL the thread
        # would not run beside the loop anyway, and the trip to it and back costs more than it saves.
        translation = translate() if len(adql_text) <= INLINE_TRANSLATION_CHARS else await asyncio.to_thread(translate)
        # The translator names TAP_UPLOAD.<key> tap_upload_<key>: the mapping key decides.
        relations = {upload_table_name(key): u.table for key, u in uploads.items()}
        named = set(getattr(translation, "tables", ()))
        relations.update({t.physical: t.data for key, t in tables.items() if t.physical is not None and key in named})
        return Statement(translation.sql, translation.columns, relations)


async def _aclose(stream: AsyncIterator[pa.RecordBatch]) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        await close()


async def _shaped(first: pa.RecordBatch, stream: AsyncIterator[pa.RecordBatch], columns: tuple[Column, ...],
                  limit: int | None) -> AsyncIterator[pa.RecordBatch]:
    schema = _target_schema(first.schema, columns)
    sent = 0
    async with contextlib.aclosing(stream):  # type: ignore[type-var]
        batch: pa.RecordBatch | None = first
        while batch is not None:
            if limit is not None and sent + batch.num_rows > limit:
                batch = batch.slice(0, limit - sent)
            sent += batch.num_rows
            yield _conform(batch, schema)
            if limit is not None and sent >= limit:
                return
            batch = await anext(stream, None)


def arrow_type(column: Column) -> pa.DataType | None:
    """The Arrow type of a scalar column's VOTable datatype (None for arrays and unknown types)."""
    if column.datatype in ("char", "unicodeChar"):
        return pa.string()
    if column.arraysize:
        return None
    return _SCALARS.get(column.datatype)


_SCALARS: dict[str, pa.DataType] = {
    "boolean": pa.bool_(),
    "unsignedByte": pa.uint8(),
    "short": pa.int16(),
    "int": pa.int32(),
    "long": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
}


def _target_schema(got: pa.Schema, columns: tuple[Column, ...]) -> pa.Schema:
    if len(got) != len(columns):
        return got
    fields = []
    for fld, column in zip(got, columns, strict=True):
        wanted = arrow_type(column)
        if column.xtype in ("timestamp", "point", "circle", "polygon", "interval", "moc"):
            wanted = None  # kept as the backend gives them; the writers format these xtypes
        fields.append(pa.field(column.name, wanted or fld.type))
    return pa.schema(fields)


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    if batch.schema.equals(schema):
        return batch
    if len(batch.schema) != len(schema):
        return batch
    arrays: list[Any] = []
    for array, fld in zip(batch.columns, schema, strict=True):
        if _is_list(array.type) and pa.types.is_string(fld.type):
            # an adql:REGION column stored as a vertex list (ObsCore s_region) leaves as STC-S text
            array = pa.array([None if v is None else format_stcs_polygon(v) for v in array.to_pylist()],
                             type=pa.string())
        if array.type != fld.type:
            try:
                array = array.cast(fld.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return batch
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _is_list(kind: pa.DataType) -> bool:
    return bool(pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind))
