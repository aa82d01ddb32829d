"""The caller's own tables: ``load_table``, ``mytables`` and ``drop_table``.

A service keeping tables for its users (CADC's convention, which Skygate follows: ``PUT`` and
``DELETE {tap}/tables/{schema.table}``, the caller's tables listed by /tables in a ``user_<name>``
schema) stores a loaded table for good, queryable by its qualified name in every later session.
Any other service, or one that keeps no tables for this caller, gets the table as a session upload
instead, sent with each query naming ``TAP_UPLOAD.name`` (TAP's table upload). The table metadata
cache (metadata.py) is amended as tables come and go, so completion and ``describe_table`` know them.
Tests: tests/skygate/shell/test_usertables.py.
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from astropy.table import Table

from skygate.shell.client import NoUserTables, ServiceError
from skygate.shell.metadata import ColumnInfo, TableInfo, Upload, fetch_user_tables, read_table, save_metadata

if TYPE_CHECKING:
    from skygate.shell.session import Shell

__all__ = ["drop_table", "list_tables", "load_table"]

VOTABLE_MIME = "application/x-votable+xml"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_FORMATS = {".csv": "ascii.csv", ".tsv": "ascii.tab", ".fits": "fits", ".fit": "fits", ".vot": "votable",
            ".xml": "votable", ".parquet": "parquet", ".h5": "hdf5", ".hdf5": "hdf5"}


def load_table(shell: Shell, args: str) -> None:
    """``load_table FILE [NAME]``: store the file's table on the service, else keep it for the session."""
    words = args.split()
    if not 1 <= len(words) <= 2:
        raise ServiceError("usage: load_table FILE [NAME]")
    path = Path(words[0]).expanduser()
    name = words[1] if len(words) == 2 else re.sub(r"\W", "_", path.name.split(".")[0])
    if not _NAME.match(name):
        raise ServiceError(f"load_table: {name!r} is not a table name (letters, digits, _; a letter first)")
    table = _read_local(path)
    votable = _to_votable(table)
    try:
        document = shell.client.put_table(name, votable, VOTABLE_MIME)
    except NoUserTables as exc:
        shell.user_tables_refusal = str(exc)
        _keep_for_session(shell, name, path, table, votable, str(exc))
        return
    stored = _remember(shell, _described(shell, document, name))
    rows = stored.nrows if stored.nrows is not None else len(table)
    shell.say(f"{stored.name}: {rows} rows, {len(stored.columns) or len(table.colnames)} columns from {path.name}, "
              f"stored on the service; it stays there across sessions: query it as {stored.name}")


def list_tables(shell: Shell, args: str) -> None:
    """``mytables``: the caller's tables on the service, then this session's uploads."""
    stored = fetch_user_tables(shell.client)
    if stored:
        shell.say(f"on the service ({len(stored)} table{'s' if len(stored) != 1 else ''}, kept across sessions):")
        for info in stored:
            rows = f"{info.nrows:>8} rows" if info.nrows is not None else "rows not stated"
            shell.say(f"  {info.name:<32} {rows}  {info.description or ''}".rstrip())
    elif shell.user_tables_refusal:
        shell.say(f"no tables of yours on the service: {shell.user_tables_refusal}")
    else:
        shell.say("no tables of yours on the service (load_table FILE [NAME] stores one)")
    if not shell.uploads:
        shell.say("no session tables (sent as TAP_UPLOAD.name where the service stores none)")
        return
    shell.say("in this session only (sent with each query naming them):")
    for upload in shell.uploads.values():
        shell.say(f"  TAP_UPLOAD.{upload.name:<21} {upload.rows:>8} rows  {len(upload.columns):>3} columns  "
                  f"{upload.source}")


def drop_table(shell: Shell, args: str) -> None:
    """``drop_table NAME``: the caller's table on the service (``user_x.name`` or ``name``), else the
    session table of that name (``TAP_UPLOAD.name`` names only that)."""
    words = args.split()
    if len(words) != 1:
        raise ServiceError("usage: drop_table NAME")
    given = words[0]
    schema, _, short = given.rpartition(".")
    refusal = None
    if schema.lower() != "tap_upload":
        try:
            if shell.client.delete_table(given):
                _forget(shell, given)
                shell.say(f"dropped {given} from the service")
                return
        except NoUserTables as exc:
            refusal = str(exc)
        if schema:
            raise ServiceError(refusal or f"drop_table: you have no table {given} on the service (mytables lists "
                                          "yours)")
    if shell.uploads.pop(short.lower(), None) is not None:
        shell.say(f"dropped TAP_UPLOAD.{short} from this session")
        return
    where = f"no session table {short!r}, and {refusal}" if refusal else (
        f"no table {given!r}, neither on the service nor in this session")
    raise ServiceError(f"drop_table: {where} (mytables lists yours)")


# ---------------------------------------------------------------------------- helpers

def _keep_for_session(shell: Shell, name: str, path: Path, table: Table, votable: bytes, why: str) -> None:
    limit = shell.capabilities.upload_limit_bytes
    if limit is not None and len(votable) > limit:
        raise ServiceError(f"{path.name} is {len(votable)} bytes as a VOTable; the service takes at most {limit} "
                           f"as an upload ({why})")
    columns = [ColumnInfo(c, str(table[c].dtype), str(table[c].unit) if table[c].unit is not None else None)
               for c in table.colnames]
    shell.uploads[name.lower()] = Upload(name, path, votable, len(table), columns)
    shell.say(f"not stored on the service: {why}",
              f"{name}: {len(table)} rows, {len(columns)} columns from {path.name}, kept for this session; "
              f"use it as TAP_UPLOAD.{name} (sent with each query naming it)")


def _described(shell: Shell, document: bytes, name: str) -> TableInfo:
    """The stored table as the service's answer describes it, else as /tables lists it afterwards."""
    try:
        return read_table(shell.client, document)
    except ServiceError:  # stored all the same; a service may answer a PUT with no VOSI document
        shell.load_tables(refresh=True)
        assert shell.metadata is not None
        return shell.metadata.find(name) or TableInfo(name)


def _remember(shell: Shell, stored: TableInfo) -> TableInfo:
    """Add a table just stored to the metadata and its cache (its columns asked for if not given)."""
    if not stored.columns:
        answer = shell.client.get(f"tables/{stored.name}", missing_ok=True)
        if answer is not None:
            stored.columns = read_table(shell.client, answer.content).columns
    if shell.metadata is None:
        shell.load_tables(refresh=True)
    else:
        shell.metadata.tables[stored.name.lower()] = stored
        save_metadata(shell.client, shell.config.cache_dir.expanduser(), shell.metadata)
    return stored


def _forget(shell: Shell, name: str) -> None:
    """Remove a dropped table (``user_x.name`` or the bare ``name``) from the metadata and its cache."""
    if shell.metadata is None:
        return
    key = name.lower()
    found = [k for k in shell.metadata.tables if k == key or (
        "." not in key and k.startswith("user_") and k.rsplit(".", 1)[-1] == key)]
    for k in found:
        del shell.metadata.tables[k]
    save_metadata(shell.client, shell.config.cache_dir.expanduser(), shell.metadata)


def _read_local(path: Path) -> Table:
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ServiceError(f"{path.name}: unknown file type; use one of {', '.join(sorted(_FORMATS))}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Table.read(path, format=fmt)
    except FileNotFoundError as exc:
        raise ServiceError(f"no file {path}") from exc
    except Exception as exc:
        raise ServiceError(f"cannot read {path.name} as {fmt} ({type(exc).__name__})") from exc


def _to_votable(table: Table) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table.write(buffer, format="votable")
    return buffer.getvalue()
