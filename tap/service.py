"""Run one TAP query: fetch and parse its uploads, start it on the query engine, wrap the result writer.

Shared by ``/sync`` (streamed to the socket) and the async job kind (streamed to a result file), so
both give the same document with the same INFO echoes (pitfall 21). No HTTP framework here.
Tests: tests/tap/test_routes.py, tests/tap/test_clients.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import httpx
import pyarrow as pa

from auth.quotas import Quota
from dali.errors import FatalError, TooLargeError, TransientError, UsageError
from dali.params import UploadRef
from dali.values import Column, TableMeta
from dali.votable import read_votable
from dali.writers import Info, TableWriter, write_table
from release.engine import QueryEngine, StatementTable, UploadTable
from tap.params import TapQuery

__all__ = ["STANDARD_ID", "Engine", "KeptRows", "TapConfig", "load_uploads", "query_infos", "start_query"]

STANDARD_ID = "ivo://ivoa.net/std/TAP"
_log = logging.getLogger(__name__)
_REDIRECTS = 3


class Engine(Protocol):
    """What the service needs from ``release.engine.QueryEngine``."""

    metadata: Mapping[str, TableMeta]

    async def execute(self, adql_text: str, *, maxrec: int | None, uploads: Mapping[str, UploadTable],
                      timeout: float, tables: Mapping[str, StatementTable]) -> Any: ...


@dataclass(frozen=True, slots=True)
class TapConfig:
    """The settings TAP uses. No defaults: ``skygate.settings.Settings`` holds them, and the assembly
    (``skygate.assembly.tap_config``) copies the same-named settings into this value."""

    base_url: str
    maxrec_default: int
    maxrec_hard: int
    sync_timeout: float
    query_timeout: float
    upload_max_rows: int
    upload_max_bytes: int
    upload_allow_private: bool
    upload_timeout: float
    body_max_bytes: int
    gzip_loopback: bool
    execution_duration: int
    execution_duration_max: int
    destruction_days: float
    auth: str
    user_table_max_bytes: int

    def for_caller(self, quota: Quota) -> TapConfig:
        """These settings with a caller's own limits (``auth.quotas``; 0: no limit, though an upload
        stays within the request body limit): their table quota and the size of their uploads."""
        return replace(self, user_table_max_bytes=quota.table_bytes or 0,
                       upload_max_bytes=quota.upload_bytes or self.body_max_bytes,
                       upload_max_rows=quota.upload_rows or 1 << 62)

    @property
    def tap_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/tap"


def query_infos(tq: TapQuery) -> tuple[Info, ...]:
    """The INFOs echoed before every result table: the submitted ADQL (never the SQL), LANG, limits."""
    infos = [Info("standardID", STANDARD_ID), Info("LANG", tq.lang), Info("QUERY", tq.query),
             Info("MAXREC", str(tq.maxrec)),
             Info("request_date", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))]
    if tq.runid:
        infos.append(Info("RUNID", tq.runid))
    infos.append(Info("citation", "Skygate TAP service", "Please acknowledge the survey release you queried.",
                      ucd="meta.bib"))
    return tuple(infos)


async def start_query(engine: Engine, tq: TapQuery, uploads: Mapping[str, UploadTable], *,
                      timeout: float, tables: Mapping[str, StatementTable] | None = None,
                      keep: KeptRows | None = None) -> TableWriter:
    """Start ``tq`` and return the writer for its result (iterate ``writer.chunks()``).

    ``tables`` are the caller's own tables (``tap.user_tables.caller_view``); ``keep`` collects the
    rows as they are written (for DESTINATION). Errors found before any row (bad ADQL, unknown
    table, database down) are raised here, so the caller can still answer with an error document
    and a 4xx/5xx status.
    """
    result = await engine.execute(tq.query, maxrec=tq.maxrec, uploads=uploads, timeout=timeout, tables=tables or {})
    batches = result.batches if keep is None else keep.collect(result.batches)
    if keep is not None:
        keep.columns = result.columns
    return write_table(tq.format, result.columns, batches, maxrec=tq.maxrec, infos=query_infos(tq))


class KeptRows:
    """The first ``max_rows`` rows of a result, kept while it is written, up to ``max_bytes``
    (beyond: ``TooLargeError``, which ends the result as an error)."""

    def __init__(self, *, max_rows: int, max_bytes: int) -> None:
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.batches: list[pa.RecordBatch] = []
        self.columns: tuple[Column, ...] = ()
        self._rows = 0
        self._bytes = 0

    async def collect(self, batches: AsyncIterator[pa.RecordBatch]) -> AsyncIterator[pa.RecordBatch]:
        async with contextlib.aclosing(batches):  # type: ignore[type-var]
            async for batch in batches:
                kept = batch.slice(0, max(0, self.max_rows - self._rows))
                self._rows += kept.num_rows
                self._bytes += kept.nbytes
                if self._bytes > self.max_bytes:
                    raise TooLargeError(f"the result is larger than the {self.max_bytes} bytes left of your "
                                        "table quota", param="DESTINATION",
                                        hint="select fewer rows or columns, or drop one of your tables")
                if kept.num_rows or not self.batches:
                    self.batches.append(kept)
                yield batch


async def load_uploads(
    refs: tuple[UploadRef, ...], files: Mapping[str, bytes], config: TapConfig
) -> dict[str, UploadTable]:
    """Fetch (http/https) or take (inline ``param:``) each upload and parse it into an Arrow table.

    Parameters
    ----------
    refs
        The UPLOAD values.
    files
        Multipart parts by field name (``UPLOAD=t,param:t`` reads field ``t``; case-insensitive).
    config
        Limits: ``upload_max_bytes`` per table, ``upload_max_rows``, private addresses.

    Raises
    ------
    UsageError
        Missing part, over-size table, unreadable VOTable, refused or failing URL.
    """
    lowered = {name.lower(): data for name, data in files.items()}
    tables: dict[str, UploadTable] = {}
    for ref in refs:
        if ref.inline_field is not None:
            data = files.get(ref.inline_field, lowered.get(ref.inline_field.lower()))
            if data is None:
                raise UsageError(f"UPLOAD {ref.name} refers to a multipart part {ref.inline_field!r} that was not sent",
                                 param="UPLOAD", hint="send the table as a file part of a multipart POST")
        else:
            data = await fetch_upload(ref.uri, config)
        if len(data) > config.upload_max_bytes:
            raise _too_big(ref.name, config)
        columns, table = await asyncio.to_thread(read_votable, data, max_rows=config.upload_max_rows)
        name = ref.name.lower()
        meta = TableMeta(schema="tap_upload", name=name, columns=columns, nrows=table.num_rows)
        tables[name] = UploadTable(name=name, meta=meta, table=table)
    return tables


def _too_big(name: str, config: TapConfig) -> UsageError:
    return UsageError(f"upload {name} is larger than {config.upload_max_bytes} bytes", param="UPLOAD",
                      hint="upload fewer rows or columns")


async def fetch_upload(url: str, config: TapConfig) -> bytes:
    """GET an upload URL, refusing private addresses unless allowed and capping the size and the
    time: the whole fetch, redirects included, must end within ``upload_timeout`` seconds (httpx's
    own timeouts are per read, so a server sending a byte every few seconds never trips them)."""
    try:
        async with asyncio.timeout(config.upload_timeout):
            return await _fetch(url, config)
    except TimeoutError:
        raise UsageError(f"the upload at {url[:120]} did not arrive within {config.upload_timeout:g} s",
                         param="UPLOAD", hint="upload the table inline (UPLOAD=name,param:name) instead") from None


async def _fetch(url: str, config: TapConfig) -> bytes:
    async with httpx.AsyncClient(timeout=min(30.0, config.upload_timeout), follow_redirects=False) as client:
        for _ in range(_REDIRECTS + 1):
            await _check_host(url, config.upload_allow_private)
            try:
                async with client.stream("GET", url) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        if urlsplit(url).scheme not in ("http", "https"):
                            raise UsageError("an upload URL redirected to a non-HTTP address", param="UPLOAD")
                        continue
                    if response.status_code != 200:
                        raise UsageError(f"fetching the upload {url[:120]} answered HTTP {response.status_code}",
                                         param="UPLOAD")
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > config.upload_max_bytes:
                            raise UsageError(f"the upload at {url[:120]} is larger than "
                                             f"{config.upload_max_bytes} bytes", param="UPLOAD")
                        chunks.append(chunk)
                    return b"".join(chunks)
            except httpx.HTTPError as exc:
                raise UsageError(f"could not fetch the upload {url[:120]}", param="UPLOAD",
                                 hint="check that the URL is reachable from the service") from exc
    raise UsageError(f"the upload URL {url[:120]} redirected too often", param="UPLOAD")


async def _check_host(url: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"upload URL {url[:120]!r} is not an http(s) URL", param="UPLOAD")
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, parts.port or 443,
                                                             type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UsageError(f"the upload host {parts.hostname!r} cannot be resolved", param="UPLOAD") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise UsageError(f"upload URLs may not point at the private address {address}", param="UPLOAD",
                             hint="upload the table inline (UPLOAD=name,param:name) instead")


def require_engine(engine: QueryEngine | None, problem: str | None) -> QueryEngine:
    """The engine, or a TransientError (503) saying why no release is being served."""
    if engine is None:
        raise TransientError(problem or "no data release is loaded", hint="try again later")
    return engine


def internal_error(exc: BaseException) -> FatalError:
    """Log an unexpected failure and return the error users see instead of it."""
    _log.error("TAP query failed", exc_info=exc)
    return FatalError("the query failed inside the service; the problem has been logged")
