"""What the shell prints: result tables with units in the header, errors pointing into the query.

Pure text building on astropy tables; the terminal (paging) is the caller's.
Tests: tests/skygate/shell/test_units.py.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from typing import Any

from astropy.table import Table

from skygate.shell.client import QueryError, error_position

__all__ = ["Result", "describe_error", "read_result", "render_table"]

_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Result:
    """A result document read: the table, whether the service cut it (OVERFLOW), its INFO notes."""

    table: Table
    overflow: bool
    status_text: str | None = None


def read_result(data: bytes) -> Result:
    """Read a VOTable result document (TAP §4.4 QUERY_STATUS honoured: ERROR raises QueryError)."""
    from astropy.io.votable import parse

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            document = parse(io.BytesIO(data), verify="ignore")
        except Exception as exc:
            raise QueryError(f"the result is not a readable VOTable ({type(exc).__name__})", None) from exc
        status, text = _status(document)
        if status == "ERROR":
            raise QueryError(text or "the service reported an error without a message", None)
        try:
            table = document.get_first_table().to_table(use_names_over_ids=True)
        except (IndexError, ValueError) as exc:
            raise QueryError("the service answered OK but sent no table", None) from exc
    return Result(table, status == "OVERFLOW", text)


def render_table(table: Table, *, width: int, limit: int | None = None) -> list[str]:
    """The table as text lines: names, then units in brackets, then rows (at most ``limit``)."""
    shown = table if limit is None or len(table) <= limit else table[:limit]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lines = shown.pformat(max_lines=-1, max_width=max(width, 40), show_unit=None, show_dtype=False)
    return [_clean(line) for line in lines]


def describe_error(exc: QueryError | Exception, query: str | None) -> list[str]:
    """The service's message, then the query with the offending line and a caret under the column."""
    message = _clean(str(exc))
    lines = [f"error: {message}"]
    if not query:
        return lines
    position = error_position(message, query)
    if position is None:
        return lines
    row, col = position
    query_lines = query.splitlines() or [query]
    if not 1 <= row <= len(query_lines):
        return lines
    digits = len(str(len(query_lines)))
    for number, text in enumerate(query_lines, start=1):
        lines.append(f"  {number:>{digits}} | {text}")
        if number == row:
            lines.append(f"  {' ' * digits} | {' ' * (col - 1)}^")
    return lines


def _status(document: object) -> tuple[str | None, str | None]:
    infos: list[Any] = []
    for resource in getattr(document, "resources", []):
        if getattr(resource, "type", None) == "results" or not infos:
            infos = list(resource.infos) + [i for t in resource.tables for i in getattr(t, "infos", [])]
            # the trailing INFO after the table (TAP §4.4.3) lands in the resource's list as well
    infos += list(getattr(document, "infos", []))
    status = text = None
    for info in infos:
        if info.name == "QUERY_STATUS":
            status, text = str(info.value).upper(), (str(info.content) if info.content else None)
    return status, text


def _clean(text: str) -> str:
    return _CONTROL.sub("", text)
