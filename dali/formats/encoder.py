"""The one interface every output format implements, and the INFO values it is given.

An encoder turns a result into bytes in three steps: the head (metadata before the rows), one
piece per batch of prepared columns, and the tail (after the rows, where the final QUERY_STATUS
goes). Besides the columns it is given the document's ``Envelope``: INFOs, and for VOTable the
FIELD IDs and service descriptors. It knows nothing of MAXREC, of the batch source or of threads:
``dali.writers.TableWriter`` drives it. Tests: tests/dali/test_writers.py, tests/dali/test_votable.py.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

from dali.descriptors import ServiceDescriptor

__all__ = ["Encoder", "Envelope", "Info"]


@dataclass(frozen=True, slots=True)
class Info:
    """An ``<INFO name value>content</INFO>`` element written before the table."""

    name: str
    value: str
    content: str | None = None
    ucd: str | None = None


@dataclass(frozen=True, slots=True)
class Envelope:
    """What a result document says besides its rows; each format keeps what it can hold.

    ``infos`` follow ``QUERY_STATUS=OK``. VOTable only: the FIELDs of the columns named in
    ``field_ids`` carry ``ID`` = their name (a descriptor's ``ref`` points at one), and
    ``descriptors`` are written as ``RESOURCE type="meta"`` after the results RESOURCE.
    """

    infos: tuple[Info, ...] = ()
    field_ids: frozenset[str] = frozenset()
    descriptors: tuple[ServiceDescriptor, ...] = ()


class Encoder(Protocol):
    """One result in one format: ``head()``, then ``encode()`` per batch, then ``tail()``.

    Constructed with the output columns and the ``Envelope``; ``encode`` receives the batch's columns
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
