"""SIA 2.0 search over ``ivoa.obscore``: SQL for the plain constraints, the exact sky test in Python.

The SQL (sqlglot expressions through ``adql.filters``: every value a literal the backend's dialect
escapes, never formatted text) keeps the rows that pass every non-spatial constraint and a
declination band around each POS region; the exact spherical overlap of ``s_region`` with the
regions (``dali.regions.region_overlaps``) then decides, so a tile touched only at a corner, or
straddling RA 0, is found. The rows go out through ``dali.writers`` like every other table, with the
DataLink and SODA service descriptors (``dali.descriptors``) after the results. No HTTP here.
Tests: tests/sia/test_service.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

import pyarrow as pa

from adql.filters import (
    Condition,
    all_of,
    any_of,
    column,
    compare,
    contains_text,
    divided,
    lower,
    minus,
    never,
    not_null,
    plus,
    select_sql,
)
from dali.descriptors import datalink_descriptor, soda_descriptor
from dali.regions import Region, region_bounds, region_overlaps
from dali.writers import Format, Info, TableWriter, arrow_type, write_table
from dali.xtypes import format_stcs_polygon
from release.obscore import DATALINK_FORMAT, OBSCORE_TABLE, obscore_meta
from sia.params import INTERVAL_OVERLAP, INTERVAL_VALUE, STRING_MATCH, Interval, SiaQuery

__all__ = ["STANDARD_ID", "RowSource", "build_sql", "result_writer", "search"]

STANDARD_ID = "ivo://ivoa.net/std/SIA#query-2.0"
# Every ivoa.obscore row is a FITS image reached through DataLink: access_format is the DataLink
# type and the document's #this link is the FITS file (soda.service). SIA 2.0 FORMAT matches
# access_format, so a FITS FORMAT also matches the DataLink rows, whose product it names. Both
# registered FITS types (RFC 4047: application/fits, image/fits) mean the same files.
_FITS_TYPES = frozenset({"application/fits", "image/fits"})
# The dataset identifier column: the ID the DataLink and SODA descriptors take from each row.
_ID_COLUMN = "obs_publisher_did"


class RowSource(Protocol):
    """The part of ``release.backends.Backend`` a search uses."""

    dialect: str

    def stream(self, sql: str, *, timeout: float) -> AsyncIterator[pa.RecordBatch]: ...


def _interval_overlap(lo_col: str, hi_col: str, interval: Interval) -> Condition:
    # A NULL metadata field never matches (SIA 2.0 §2.1).
    terms = [not_null(column(lo_col)), not_null(column(hi_col))]
    if not math.isinf(interval.hi):
        terms.append(compare(column(lo_col), "<=", interval.hi))
    if not math.isinf(interval.lo):
        terms.append(compare(column(hi_col), ">=", interval.lo))
    return all_of(terms)


def _interval_contains(col: str, interval: Interval) -> Condition:
    terms = [not_null(column(col))]
    if not math.isinf(interval.lo):
        terms.append(compare(column(col), ">=", interval.lo))
    if not math.isinf(interval.hi):
        terms.append(compare(column(col), "<=", interval.hi))
    return all_of(terms)


def _dec_band(region: Region) -> Condition:
    """|s_dec - dec| <= radius + s_fov/2: necessary for any overlap with ``region``."""
    _, dec, radius = region_bounds(region)
    half_fov = divided(column("s_fov"), 2)
    return all_of([compare(plus(column("s_dec"), half_fov), ">=", dec - radius),
                   compare(minus(column("s_dec"), half_fov), "<=", dec + radius)])


def _pol_state(state: str) -> Condition:
    """``pol_states`` lists the state: ObsCore writes the list as ``/I/Q/U/``, so the state with its
    slashes is a substring; a value holding a slash is no single state and matches nothing."""
    return never() if "/" in state else contains_text(column("pol_states"), f"/{state}/")


def _conditions(query: SiaQuery) -> list[Condition]:
    """One condition per constrained parameter (AND'ed); a parameter's values are OR'ed."""
    where: list[Condition] = []
    if query.pos:
        where.append(any_of([_dec_band(r) for r in query.pos]))
    for name, (lo_col, hi_col) in INTERVAL_OVERLAP.items():
        if intervals := (query.overlaps or {}).get(name, ()):
            where.append(any_of([_interval_overlap(lo_col, hi_col, i) for i in intervals]))
    for name, col in INTERVAL_VALUE.items():
        if intervals := (query.values or {}).get(name, ()):
            where.append(any_of([_interval_contains(col, i) for i in intervals]))
    for name, col in STRING_MATCH.items():
        if values := (query.strings or {}).get(name, ()):
            matches = [compare(column(col), "=", v) for v in values]
            if name == "FORMAT" and any(_is_fits(v) for v in values):
                matches.append(compare(column(col), "=", DATALINK_FORMAT))
            where.append(any_of(matches))
    if query.pol:
        where.append(any_of([_pol_state(p) for p in query.pol]))
    if query.ids:
        # IVOIDs compare case-insensitively (IVOA Identifiers 2.0 §2.1).
        where.append(any_of([compare(lower(column(_ID_COLUMN)), "=", i.lower()) for i in query.ids]))
    if query.calib:
        where.append(any_of([compare(column("calib_level"), "=", int(c)) for c in query.calib]))
    return where


def build_sql(query: SiaQuery, dialect: str) -> str:
    """The SELECT over ``ivoa.obscore`` for every constraint but the exact sky overlap, in ``dialect``."""
    columns = [c.name for c in obscore_meta().columns]
    return select_sql(OBSCORE_TABLE, columns, _conditions(query), order_by=[_ID_COLUMN], dialect=dialect)


def _is_fits(mime: str) -> bool:
    """A FITS MIME type, parameters and case aside (MIME types are case-insensitive, RFC 2045 §5.1)."""
    return mime.split(";")[0].strip().lower() in _FITS_TYPES


async def search(source: RowSource, query: SiaQuery, *, timeout: float) -> AsyncIterator[pa.RecordBatch]:
    """Start ``query``: the matching rows as ObsCore batches, in ``obs_publisher_did`` order.

    Returns once the statement has produced its first batch, so a bad statement, a timeout or an
    unreachable database is raised here, before any byte of an answer is sent. The rows are not
    limited: ``dali.writers`` reads at most MAXREC + 1 of them and then closes the stream, which
    stops the statement. With MAXREC=0 no statement runs (DALI 1.1 §4.3: it need not).
    """
    if query.maxrec == 0:
        return _no_rows()
    stream = source.stream(build_sql(query, source.dialect), timeout=timeout)
    try:
        first = await anext(stream, None)
    except BaseException:
        await _close(stream)
        raise
    return _matching(first, stream, query.pos)


async def _no_rows() -> AsyncIterator[pa.RecordBatch]:
    return
    yield  # an async generator that yields nothing


async def _close(stream: AsyncIterator[pa.RecordBatch]) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        await close()


async def _matching(first: pa.RecordBatch | None, rest: AsyncIterator[pa.RecordBatch],
                    regions: Sequence[Region]) -> AsyncIterator[pa.RecordBatch]:
    """The batches of the statement, filtered by the exact overlap and published."""
    schema = _published_schema()
    try:
        batch: pa.RecordBatch | None = first
        while batch is not None:
            # The exact overlap test is pure Python and costs vertices x edges per row: in a
            # thread, so a large POS polygon slows this query only, not every endpoint.
            yield await asyncio.to_thread(_published, batch, regions, schema)
            batch = await anext(rest, None)
    finally:
        with contextlib.suppress(Exception):
            await _close(rest)


def _published_schema() -> pa.Schema:
    return pa.schema([pa.field(c.name, arrow_type(c)) for c in obscore_meta().columns])


def _published(batch: pa.RecordBatch, regions: Sequence[Region], schema: pa.Schema) -> pa.RecordBatch:
    """The rows of ``batch`` whose ``s_region`` overlaps one of ``regions`` (all rows without
    regions), as ObsCore publishes them: s_region (stored as vertices) as adql:REGION STC-S text."""
    rows: list[dict[str, Any]] = batch.to_pylist()
    if regions:
        rows = [row for row in rows if any(region_overlaps(r, row["s_region"]) for r in regions)]
    for row in rows:
        region = row.get("s_region")
        row["s_region"] = None if region is None else format_stcs_polygon(region)
    return pa.RecordBatch.from_pylist(rows, schema=schema)


def result_writer(rows: AsyncIterator[pa.RecordBatch], query: SiaQuery, format: Format, *, base_url: str,
                  echo: Sequence[tuple[str, str]] = ()) -> TableWriter:
    """The SIA 2.0 response: ObsCore FIELDs (each with its ID), the rows up to MAXREC (then
    OVERFLOW), the standardID and echoed parameters as INFOs, and the DataLink and SODA service
    descriptors whose ID input comes from ``obs_publisher_did``.

    Parameters
    ----------
    rows
        What ``search`` returned.
    query
        The parsed request (its MAXREC).
    format
        The resolved RESPONSEFORMAT; formats other than VOTable have no place for the descriptors.
    base_url
        The service's public root; the descriptors point at ``/soda/links`` and ``/soda/sync`` below it.
    echo
        Parameters (name, value) repeated as INFOs (DALI 1.1 §4.4).
    """
    columns = obscore_meta().columns
    infos = [Info("standardID", STANDARD_ID), *(Info(name, value) for name, value in echo)]
    descriptors = (datalink_descriptor(f"{base_url}/soda/links", id_ref=_ID_COLUMN),
                   soda_descriptor(f"{base_url}/soda/sync", id_ref=_ID_COLUMN))
    return write_table(format, columns, rows, maxrec=query.maxrec, infos=infos,
                       field_ids=[c.name for c in columns], descriptors=descriptors)
