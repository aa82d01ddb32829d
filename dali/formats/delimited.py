"""CSV (RFC 4180, CRLF, quoted when needed) and TSV (tabs and line breaks in text become spaces).

A header line of column names, then one line per row; the cells are ``text`` cells escaped for
the separator. Neither format can hold QUERY_STATUS: an overflow is reported beside the document
(TAP) and an error mid-stream is raised to the writer's caller.
Tests: tests/dali/test_writers.py.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from dali.formats.columns import shape
from dali.formats.encoder import Envelope
from dali.formats.text import text_cells, text_rows
from dali.values import Column

__all__ = ["CsvEncoder", "DelimitedEncoder", "TsvEncoder"]


class DelimitedEncoder:
    """Rows of ``sep``-separated cells; the subclasses choose the separator."""

    in_band_errors = False
    sep = ","

    def __init__(self, columns: Sequence[Column], envelope: Envelope) -> None:
        self.columns = tuple(columns)
        self.infos = envelope.infos

    def head(self) -> bytes:
        names = pa.array([c.name for c in self.columns], pa.string())
        cells = _csv_cells(names, Column("name", "char"), self.sep).to_pylist()
        return (self.sep.join(cells) + "\r\n" if self.sep == "," else self.sep.join(cells) + "\n").encode()

    def encode(self, arrays: list[pa.Array]) -> bytes:
        cells = [_csv_cells(a, c, self.sep) for a, c in zip(arrays, self.columns, strict=True)]
        return text_rows(cells, self.sep, "", "\r\n" if self.sep == "," else "\n")

    def tail(self, status: str | None, message: str | None) -> Generator[bytes, None, None]:
        yield b""


class CsvEncoder(DelimitedEncoder):
    sep = ","


class TsvEncoder(DelimitedEncoder):
    sep = "\t"


def _csv_cells(array: pa.Array, col: Column, sep: str) -> pa.Array:
    text = text_cells(array, col)
    if shape(col)[0] in ("char", "unicodeChar"):
        if sep == "\t":
            text = pc.replace_substring_regex(text, r"[\t\r\n]", " ")
        else:
            needs = pc.match_substring_regex(text, r'[",\r\n]')
            quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
            text = pc.if_else(needs, quoted, text)
    return pc.fill_null(text, "")

