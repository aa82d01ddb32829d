"""Tab completion for ADQL and the shell's commands: keywords, functions, tables, columns.

Tables after FROM/JOIN (and after ``schema.``), columns after ``table.`` or ``alias.`` and, elsewhere,
the columns of the tables the statement names; command arguments (tables, files, command names)
after a command word. Reads the service metadata through a callable so a refresh is seen at once.
Tests: tests/skygate/shell/test_units.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping

from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from skygate.shell.metadata import ColumnInfo, ServiceMetadata, TableInfo

__all__ = ["ADQL_FUNCTIONS", "ADQL_KEYWORDS", "AdqlCompleter"]

ADQL_KEYWORDS = (
    "SELECT", "TOP", "DISTINCT", "ALL", "FROM", "WHERE", "AND", "OR", "NOT", "AS", "JOIN", "INNER", "LEFT",
    "RIGHT", "FULL", "OUTER", "NATURAL", "CROSS", "ON", "USING", "GROUP", "BY", "HAVING", "ORDER", "ASC",
    "DESC", "BETWEEN", "LIKE", "ILIKE", "IN", "IS", "NULL", "EXISTS", "UNION", "EXCEPT", "INTERSECT",
    "WITH", "OFFSET", "CASE", "WHEN", "THEN", "ELSE", "END", "TAP_UPLOAD",
)
ADQL_FUNCTIONS = (
    "ABS", "ACOS", "ASIN", "ATAN", "ATAN2", "CEILING", "COS", "COT", "DEGREES", "EXP", "FLOOR", "LOG",
    "LOG10", "MOD", "PI", "POWER", "RADIANS", "RAND", "ROUND", "SIN", "SQRT", "TAN", "TRUNCATE", "COUNT",
    "AVG", "MIN", "MAX", "SUM", "LOWER", "UPPER", "COALESCE", "CAST", "IN_UNIT", "POINT", "CIRCLE", "BOX",
    "POLYGON", "REGION", "CONTAINS", "INTERSECTS", "DISTANCE", "AREA", "CENTROID", "COORD1", "COORD2",
    "COORDSYS", "IVO_HEALPIX_INDEX",
)
_WORD = re.compile(r"[\w.\"]*$")
_FROM = re.compile(r"\b(?:FROM|JOIN)\b(.*?)(?=\b(?:WHERE|GROUP|ORDER|HAVING|ON|USING|JOIN|INNER|LEFT|RIGHT|FULL"
                   r"|CROSS|NATURAL|UNION|EXCEPT|INTERSECT|OFFSET)\b|[();]|\Z)", re.IGNORECASE | re.DOTALL)
_LAST_KEYWORD = re.compile(r"\b(FROM|JOIN|SELECT|WHERE|ON|BY|AND|OR|HAVING|TOP|\w+)\s*$", re.IGNORECASE)
_TABLE_AFTER = {"FROM", "JOIN"}


class AdqlCompleter(Completer):
    """Completes ADQL against ``metadata()``; ``uploads()`` gives session tables (name -> columns)."""

    def __init__(self, metadata: Callable[[], ServiceMetadata | None],
                 uploads: Callable[[], Mapping[str, list[ColumnInfo]]],
                 commands: Mapping[str, str]) -> None:
        self.metadata = metadata
        self.uploads = uploads
        self.commands = commands
        self.paths = PathCompleter(expanduser=True)

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        text = document.text_before_cursor
        words = text.split()
        if words and words[0].lower() in self.commands and "\n" not in text:
            yield from self._command_argument(words[0].lower(), document, complete_event)
            return
        word = _WORD.search(text)
        current = word.group(0) if word else ""
        before = text[: len(text) - len(current)]
        if not before.strip():
            yield from _names(self.commands, current, meta="command")
        yield from self._adql(current, before, document.text)

    # ------------------------------------------------------------------ ADQL

    def _tables(self) -> dict[str, TableInfo]:
        meta = self.metadata()
        tables = dict(meta.tables) if meta is not None else {}
        for name, columns in self.uploads().items():
            tables[f"tap_upload.{name.lower()}"] = TableInfo(f"TAP_UPLOAD.{name}", "session upload", columns)
        return tables

    def _adql(self, current: str, before: str, whole: str) -> Iterator[Completion]:
        tables = self._tables()
        lowered = current.lower().replace('"', "")
        if "." in current:
            qualifier, _, partial = lowered.rpartition(".")
            target = _resolve(qualifier, whole, tables)
            if target is not None:
                yield from _columns(target.columns, partial)
                return
            yield from _names((t.name for k, t in tables.items() if k.startswith(qualifier + ".")), current)
            return
        keyword = _LAST_KEYWORD.search(before)
        if keyword and keyword.group(1).upper() in _TABLE_AFTER:
            yield from _names(sorted({t.name for t in tables.values()} | _schemas(tables)), current)
            return
        mentioned = [t for name, _ in _sources(whole)
                     if (t := tables.get(name.lower().replace('"', ""))) is not None
                     or (t := _short(name, tables)) is not None]
        seen: set[str] = set()
        for table in mentioned:
            for completion in _columns(table.columns, lowered):
                if completion.text not in seen:
                    seen.add(completion.text)
                    yield completion
        yield from _names(ADQL_FUNCTIONS, current, upper=True, meta="function")
        yield from _names(ADQL_KEYWORDS, current, upper=True, meta="keyword")
        if not mentioned:
            yield from _names(sorted({t.name for t in tables.values()}), current)

    # ------------------------------------------------------------------ commands

    def _command_argument(self, command: str, document: Document, event: CompleteEvent) -> Iterator[Completion]:
        text = document.text_before_cursor
        if " " not in text:
            yield from _names(self.commands, text, meta="command")
            return
        current = text.rsplit(" ", 1)[-1]
        if command in ("load_table", "loadsql"):
            sub = Document(current, len(current))
            yield from self.paths.get_completions(sub, event)
        elif command in ("describe_table", "drop_table"):
            names = [t.name for t in self._tables().values()]
            yield from _names(names, current)
        elif command == "help":
            yield from _names(self.commands, current, meta="command")


def _sources(whole: str) -> list[tuple[str, str]]:
    """(table, alias or "") for each table of the FROM and JOIN clauses."""
    found = []
    for clause in _FROM.finditer(whole):
        for part in clause.group(1).split(","):
            words = part.split()
            if words:
                alias = words[-1] if len(words) > 1 and words[-1].upper() != "AS" else ""
                found.append((words[0], alias))
    return found


def _schemas(tables: Mapping[str, TableInfo]) -> set[str]:
    return {t.name.rsplit(".", 1)[0] for t in tables.values() if "." in t.name}


def _short(name: str, tables: Mapping[str, TableInfo]) -> TableInfo | None:
    key = name.lower().replace('"', "")
    found = [t for k, t in tables.items() if k.rsplit(".", 1)[-1] == key]
    return found[0] if len(found) == 1 else None


def _resolve(qualifier: str, whole: str, tables: Mapping[str, TableInfo]) -> TableInfo | None:
    """The table a ``qualifier.`` refers to: a table name (full or short) or an alias in the statement."""
    if qualifier in tables:
        return tables[qualifier]
    for name, alias in _sources(whole):
        if alias and alias.lower() == qualifier:
            return tables.get(name.lower().replace('"', "")) or _short(name, tables)
    if "." not in qualifier:
        return _short(qualifier, tables)
    return None


def _columns(columns: Iterable[ColumnInfo], partial: str) -> Iterator[Completion]:
    for column in columns:
        if column.name.lower().startswith(partial):
            unit = f" [{column.unit}]" if column.unit else ""
            yield Completion(column.name, -len(partial), display_meta=f"{column.datatype or ''}{unit}")


def _names(names: Iterable[str], current: str, *, upper: bool = False, meta: str = "") -> Iterator[Completion]:
    lowered = current.lower()
    for name in names:
        if name.lower().startswith(lowered):
            text = name if not upper or current[:1].isupper() or not current else name.lower()
            yield Completion(text, -len(current), display_meta=meta)
