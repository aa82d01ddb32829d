"""The one interface every output format implements, and the INFO values it is given.

An encoder turns a result into bytes in three steps: the head (metadata before the rows), one
piece per batch of prepared columns, and the tail (after the rows, where the final QUERY_STATUS
goes). It knows nothing of MAXREC, of the batch source or of threads: ``dali.writers.TableWriter``
drives it. Tests: tests/dali/test_writers.py, tests/dali/test_votable.py.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

__all__ = ["Encoder", "Info"]


@dataclass(frozen=True, slots=True)
class Info:
    """An ``<INFO name value>content</INFO>`` element written before the table."""

    name: str
    value: str
    content: str | None = None
    ucd: str | None = None


class Encoder(Protocol):
    """One result in one format: ``head()``, then ``encode()`` per batch, then ``tail()``.

    Constructed with the output columns and the INFOs; ``encode`` receives the batch's columns
    already converted by ``dali.formats.columns.prepare_batch``. Empty bytes are not sent.
    """

    @property
    def in_band_errors(self) -> bool:
        """Whether an error after the head is written into the document (VOTable's trailing
        ``QUERY_STATUS=ERROR``, DALI §4.4); otherwise the writer raises it to its caller."""
        ...

    def head(self) -> bytes:
        """The bytes before the first row."""
        ...

    def encode(self, arrays: list[pa.Array]) -> bytes:
        """One batch's rows (may be empty when the format holds them back)."""
        ...

    def tail(self, status: str | None, message: str | None) -> Generator[bytes, None, None]:
        """The rest of the document, in pieces; ``status`` is OVERFLOW or ERROR, None when OK.

        A generator, so a format that held its rows back (FITS) sends them piece by piece and
        releases what it held when the consumer stops early.
        """
        ...
