"""What a TAP service publishes about itself: tables and columns (VOSI tables), capabilities, examples.

The table list is read once per service URL (and token: /tables lists the caller's own tables too) and
cached as JSON under the shell's cache directory, so completion works at once in the next session;
``refresh_metadata_cache`` reads it again, and ``load_table`` / ``drop_table`` amend it.
Documents a service does not have (404) are recorded as absent, never as an error.
Tests: tests/skygate/shell/test_units.py.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from skygate.shell.client import ServiceError, TapClient

__all__ = ["Capabilities", "ColumnInfo", "Example", "ServiceMetadata", "TableInfo", "Upload", "fetch_capabilities",
           "fetch_examples", "fetch_tables", "fetch_user_tables", "load_metadata", "read_table", "save_metadata"]

_CACHE_VERSION = 1


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    name: str
    datatype: str | None = None
    unit: str | None = None
    ucd: str | None = None
    description: str | None = None


@dataclass(slots=True)
class Upload:
    """A local table kept for the session and sent as ``TAP_UPLOAD.name`` with the queries using it."""

    name: str
    source: Path
    votable: bytes
    rows: int
    columns: list[ColumnInfo] = field(default_factory=list)


@dataclass(slots=True)
class TableInfo:
    name: str
    description: str | None = None
    columns: list[ColumnInfo] = field(default_factory=list)
    kind: str = "table"
    nrows: int | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """The parts of the TAP capability the shell uses; ``found`` is False when the service has none."""

    found: bool = False
    output_mimes: tuple[str, ...] = ()
    output_aliases: tuple[str, ...] = ()
    maxrec_default: int | None = None
    maxrec_hard: int | None = None
    upload_limit_bytes: int | None = None
    execution_default: int | None = None
    security_methods: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()
    standards: tuple[str, ...] = ()

    def offers(self, fmt: str, mime: str) -> bool:
        return fmt in self.output_aliases or any(m.split(";")[0].strip() == mime for m in self.output_mimes)


@dataclass(frozen=True, slots=True)
class Example:
    name: str
    query: str


@dataclass(slots=True)
class ServiceMetadata:
    """Tables by lower-case qualified name; ``source`` says whether they came from the cache."""

    tables: dict[str, TableInfo]
    source: str = "service"

    def find(self, name: str) -> TableInfo | None:
        key = name.lower()
        if key in self.tables:
            return self.tables[key]
        short = [t for k, t in self.tables.items() if k.rsplit(".", 1)[-1] == key]
        return short[0] if len(short) == 1 else None

    def match_tables(self, pattern: str) -> list[TableInfo]:
        glob = _glob(pattern)
        return [t for k, t in sorted(self.tables.items()) if fnmatch.fnmatchcase(k, glob)]

    def match_columns(self, pattern: str) -> list[tuple[TableInfo, ColumnInfo]]:
        glob = _glob(pattern)
        return [(t, c) for _, t in sorted(self.tables.items()) for c in t.columns
                if fnmatch.fnmatchcase(c.name.lower(), glob)]


def load_metadata(client: TapClient, cache_dir: Path, *, refresh: bool = False) -> ServiceMetadata:
    """The tables of the service: from the cache unless ``refresh`` or absent, else from /tables."""
    path = _cache_path(client, cache_dir)
    if not refresh:
        cached = _read_cache(path, client.tap_url)
        if cached is not None:
            return ServiceMetadata(cached, source="cache")
    tables = fetch_tables(client)
    _write_cache(path, client.tap_url, tables)
    return ServiceMetadata(tables)


def save_metadata(client: TapClient, cache_dir: Path, metadata: ServiceMetadata) -> None:
    """Rewrite the cache with ``metadata`` (after a table of the caller's came or went)."""
    _write_cache(_cache_path(client, cache_dir), client.tap_url, metadata.tables)


def fetch_tables(client: TapClient) -> dict[str, TableInfo]:
    """Every table with its columns from VOSI /tables (detail=max; tables listed bare are asked for one
    by one, as VOSI 1.1 §3.4 allows a service to answer only names)."""
    response = client.get("tables")
    assert response is not None
    tableset = client.parse(_vosi_tables, response.content, "VOSI tables")
    tables: dict[str, TableInfo] = {}
    for vtable in tableset.iter_tables():
        info = _table(vtable)
        if not info.columns:
            one = client.get(f"tables/{info.name}", missing_ok=True)
            if one is not None:
                full = client.parse(_vosi_tables, one.content, "VOSI table").get_first_table()
                info.columns = _table(full).columns
        tables[info.name.lower()] = info
    return tables


def fetch_user_tables(client: TapClient) -> list[TableInfo]:
    """The caller's own tables: those /tables lists in ``user_*`` schemas (CADC's convention, which
    Skygate follows), with their row counts where given; names only (VOSI 1.1 ``detail=min``)."""
    response = client.get("tables", params={"detail": "min"})
    assert response is not None
    tableset = client.parse(_vosi_tables, response.content, "VOSI tables").tableset
    found: list[TableInfo] = []
    for schema in getattr(tableset, "schemas", None) or []:
        prefix = str(schema.name or "")
        if not prefix.lower().startswith("user_"):
            continue
        for vtable in schema.tables:
            info = _table(vtable)
            if "." not in info.name:  # VODataService allows unqualified table names
                info.name = f"{prefix}.{info.name}"
            found.append(info)
    return found


def read_table(client: TapClient, document: bytes) -> TableInfo:
    """A VOSI ``table`` document (what /tables/{name} and a user-table ``PUT`` answer) as a TableInfo."""
    return _table(client.parse(_vosi_tables, document, "VOSI table").get_first_table())


def fetch_capabilities(client: TapClient) -> Capabilities:
    """The TAP capability of the service (an empty one when it publishes no /capabilities)."""
    try:
        response = client.get("capabilities", missing_ok=True)
    except ServiceError:
        return Capabilities()
    if response is None:
        return Capabilities()
    parsed = client.parse(_vosi_capabilities, response.content, "VOSI capabilities")
    return _capabilities(parsed)


def fetch_examples(client: TapClient) -> list[Example] | None:
    """The service's DALI examples (DALI 1.1 §2.3), or None when it publishes none."""
    response = client.get("examples", missing_ok=True)
    if response is None:
        return None
    try:
        root = ET.fromstring(response.content)
    except ET.ParseError as exc:
        raise ServiceError("the service's /examples document is not well-formed XHTML") from exc
    examples: list[Example] = []
    for element in root.iter():
        if (element.get("typeof") or "").split(":")[-1] != "example":
            continue
        name = _property_text(element, "name") or element.get("id") or f"example {len(examples) + 1}"
        query = _property_text(element, "query")
        if query:
            examples.append(Example(" ".join(name.split()), query.strip()))
    return examples


# ---------------------------------------------------------------------------- parsing

def _glob(pattern: str) -> str:
    """easyaccess patterns: SQL ``%``/``_`` or shell ``*``/``?``; a bare word matches anywhere."""
    glob = pattern.lower().replace("%", "*").replace("_", "?") if "%" in pattern else pattern.lower()
    return glob if any(c in glob for c in "*?[") else f"*{glob}*"


def _property_text(element: ET.Element, prop: str) -> str | None:
    for child in element.iter():
        if child.get("property") == prop:
            return "".join(child.itertext())
    return None


def _vosi_tables(source: IO[bytes]) -> Any:
    from pyvo.io.vosi import parse_tables

    return parse_tables(source)


def _vosi_capabilities(source: IO[bytes]) -> Any:
    from pyvo.io.vosi import parse_capabilities

    return parse_capabilities(source)


def _str(value: Any) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def _table(vtable: Any) -> TableInfo:
    columns = []
    for col in vtable.columns or []:
        datatype = getattr(col.datatype, "content", None) if col.datatype is not None else None
        columns.append(ColumnInfo(str(col.name), _str(datatype), _str(col.unit), _str(col.ucd),
                                  _str(col.description)))
    nrows = getattr(vtable, "nrows", None)
    return TableInfo(str(vtable.name), _str(vtable.description), columns, str(vtable.type or "table"),
                     int(nrows) if nrows is not None else None)


def _capabilities(parsed: Any) -> Capabilities:
    from pyvo.io.vosi import tapregext

    standards = tuple(str(c.standardid) for c in parsed.capabilities if c.standardid)
    for capability in parsed.capabilities:
        if not isinstance(capability, tapregext.TableAccess):
            continue
        mimes = tuple(str(f.mime) for f in capability.outputformats if f.mime)
        aliases = tuple(str(a) for f in capability.outputformats for a in (f.aliases or []))
        limit = capability.outputlimit
        upload = capability.uploadlimit
        security = tuple(str(m.standardid) for i in capability.interfaces
                         for m in (getattr(i, "securitymethods", None) or []) if m.standardid)
        functions = tuple(
            str(feature.form).split("(")[0].strip().upper()
            for language in capability.languages for group in language.languagefeaturelists
            for feature in group.features if feature.form)
        return Capabilities(
            True, mimes, aliases,
            _limit(limit.default if limit else None), _limit(limit.hard if limit else None),
            _limit(upload.hard if upload else None, "byte"),
            _limit(capability.executionduration.default if capability.executionduration else None),
            security, functions, standards)
    return Capabilities(False, standards=standards)


def _limit(value: Any, unit: str = "row") -> int | None:
    if value is None:
        return None
    if getattr(value, "unit", unit) not in (unit, None):
        return None
    try:
        return int(getattr(value, "content", value))
    except (TypeError, ValueError):
        return None


def _cache_path(client: TapClient, cache_dir: Path) -> Path:
    """One cache per service and credential, as /tables shows each caller their own tables."""
    key = f"{client.tap_url}\n{client.token}" if client.token else client.tap_url
    return cache_dir / f"tables-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


def _read_cache(path: Path, url: str) -> dict[str, TableInfo] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if data.get("version") != _CACHE_VERSION or data.get("url") != url:
        return None
    try:
        return {t["name"].lower(): TableInfo(t["name"], t.get("description"),
                                             [ColumnInfo(**c) for c in t.get("columns", [])], t.get("kind", "table"),
                                             t.get("nrows"))
                for t in data["tables"]}
    except (KeyError, TypeError):
        return None


def _write_cache(path: Path, url: str, tables: Iterable[TableInfo] | dict[str, TableInfo]) -> None:
    values = tables.values() if isinstance(tables, dict) else tables
    data = {"version": _CACHE_VERSION, "url": url, "tables": [asdict(t) for t in values]}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_suffix(".tmp")
        scratch.write_text(json.dumps(data))
        scratch.replace(path)
    except OSError:
        pass  # a read-only home only costs the next session a fresh /tables
