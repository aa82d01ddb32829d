"""SIA 2.0 search over ``ivoa.obscore``: SQL for the plain constraints, the exact sky test in Python.

The SQL (built from parsed numbers and quoted literals, never from raw text) keeps the rows that
pass every non-spatial constraint and a declination band around each POS region; the exact
spherical overlap of ``s_region`` with the regions (``release.regions.region_overlaps``) then
decides, so a tile touched only at a corner, or straddling RA 0, is found. The response is an
ObsCore-shaped VOTable with a DataLink service descriptor. No HTTP here.
Tests: tests/sia/test_service.py.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any, Protocol

import pyarrow as pa

from dali.errors import UsageError
from dali.values import Column
from dali.writers import COOSYS_ID, coosys_element, is_position
from dali.xtypes import format_stcs_polygon
from release.obscore import DATALINK_FORMAT, OBSCORE_TABLE, obscore_meta
from release.regions import Region, region_bounds, region_overlaps
from sia.params import INTERVAL_OVERLAP, INTERVAL_VALUE, STRING_MATCH, Interval, SiaQuery

__all__ = [
    "STANDARD_ID",
    "VOTABLE_TYPES",
    "RowSource",
    "SiaResult",
    "build_sql",
    "error_votable",
    "render_votable",
    "search",
]

STANDARD_ID = "ivo://ivoa.net/std/SIA#query-2.0"
# Every ivoa.obscore row is a FITS image reached through DataLink: access_format is the DataLink
# type and the document's #this link is the FITS file (soda.service). SIA 2.0 FORMAT matches
# access_format, so a FITS FORMAT also matches the DataLink rows, whose product it names. Both
# registered FITS types (RFC 4047: application/fits, image/fits) mean the same files.
_FITS_TYPES = frozenset({"application/fits", "image/fits"})
VOTABLE_TYPES = ("application/x-votable+xml", "text/xml", "votable")


class RowSource(Protocol):
    """The part of ``release.backends.Backend`` a search uses."""

    dialect: str

    def stream(self, sql: str, *, timeout: float) -> AsyncIterator[pa.RecordBatch]: ...


@dataclass(frozen=True, slots=True)
class SiaResult:
    """Matching rows (as dicts, ObsCore column names) and whether MAXREC cut the list."""

    rows: tuple[Mapping[str, Any], ...]
    overflow: bool


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _number(value: float) -> str:
    return repr(float(value))


def _interval_overlap(lo_col: str, hi_col: str, interval: Interval) -> str:
    terms = []
    if not math.isinf(interval.hi):
        terms.append(f"{lo_col} <= {_number(interval.hi)}")
    if not math.isinf(interval.lo):
        terms.append(f"{hi_col} >= {_number(interval.lo)}")
    # A NULL metadata field never matches (SIA 2.0 §2.1).
    terms += [f"{lo_col} IS NOT NULL", f"{hi_col} IS NOT NULL"]
    return "(" + " AND ".join(terms) + ")"


def _interval_contains(col: str, interval: Interval) -> str:
    terms = [f"{col} IS NOT NULL"]
    if not math.isinf(interval.lo):
        terms.append(f"{col} >= {_number(interval.lo)}")
    if not math.isinf(interval.hi):
        terms.append(f"{col} <= {_number(interval.hi)}")
    return "(" + " AND ".join(terms) + ")"


def _any(terms: Sequence[str]) -> str:
    return "(" + " OR ".join(terms) + ")"


def build_sql(query: SiaQuery) -> str:
    """The SELECT over ``ivoa.obscore`` for every constraint but the exact sky overlap."""
    where: list[str] = []
    if query.pos:
        bands = []
        for region in query.pos:
            _, dec, radius = region_bounds(region)
            reach = _number(radius)
            # |s_dec - dec| <= radius + s_fov/2 is necessary for any overlap.
            bands.append(f"(s_dec + s_fov / 2 >= {_number(dec)} - {reach} AND "
                         f"s_dec - s_fov / 2 <= {_number(dec)} + {reach})")
        where.append(_any(bands))
    for name, (lo_col, hi_col) in INTERVAL_OVERLAP.items():
        intervals = (query.overlaps or {}).get(name, ())
        if intervals:
            where.append(_any([_interval_overlap(lo_col, hi_col, i) for i in intervals]))
    for name, col in INTERVAL_VALUE.items():
        intervals = (query.values or {}).get(name, ())
        if intervals:
            where.append(_any([_interval_contains(col, i) for i in intervals]))
    for name, col in STRING_MATCH.items():
        values = (query.strings or {}).get(name, ())
        if values:
            terms = [f"{col} = {_literal(v)}" for v in values]
            if name == "FORMAT" and any(_is_fits(v) for v in values):
                terms.append(f"{col} = {_literal(DATALINK_FORMAT)}")
            where.append(_any(terms))
    if query.pol:
        where.append(_any([f"pol_states LIKE {_literal('%/' + p.replace('%', '').replace('_', '') + '/%')}"
                           for p in query.pol]))
    if query.ids:
        where.append(_any([f"lower(obs_publisher_did) = {_literal(i.lower())}" for i in query.ids]))
    if query.calib:
        where.append(_any([f"calib_level = {int(c)}" for c in query.calib]))
    columns = ", ".join(c.name for c in obscore_meta().columns)
    sql = f"SELECT {columns} FROM {OBSCORE_TABLE}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + " ORDER BY obs_publisher_did"


def _is_fits(mime: str) -> bool:
    """A FITS MIME type, parameters and case aside (MIME types are case-insensitive, RFC 2045 §5.1)."""
    return mime.split(";")[0].strip().lower() in _FITS_TYPES


async def search(source: RowSource, query: SiaQuery, *, timeout: float) -> SiaResult:
    """Run ``query``: at most ``query.maxrec`` rows, flagged when more matched."""
    limit = query.maxrec
    rows: list[Mapping[str, Any]] = []
    overflow = False
    if limit == 0:
        return SiaResult((), True)
    stream = source.stream(build_sql(query), timeout=timeout)
    try:
        async for batch in stream:
            # The exact overlap test is pure Python and costs vertices x edges per row: in a
            # thread, so a large POS polygon slows this query only, not every endpoint.
            kept = await asyncio.to_thread(_overlapping, batch, query.pos) if query.pos else batch.to_pylist()
            for row in kept:
                if limit is not None and len(rows) >= limit:
                    overflow = True
                    break
                rows.append(_published(row))
            if overflow:
                break
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()
    return SiaResult(tuple(rows), overflow)


def _overlapping(batch: pa.RecordBatch, regions: Sequence[Region]) -> list[dict[str, Any]]:
    """The rows of ``batch`` whose ``s_region`` overlaps one of ``regions``."""
    return [row for row in batch.to_pylist() if any(region_overlaps(r, row["s_region"]) for r in regions)]


def _published(row: dict[str, Any]) -> dict[str, Any]:
    """The row as ObsCore publishes it: s_region (stored as vertices) as adql:REGION STC-S text."""
    region = row.get("s_region")
    return {**row, "s_region": None if region is None else format_stcs_polygon(region)}


# ---------------------------------------------------------------------------------------------
# VOTable


def _attr(value: str) -> str:
    return escape(value, quote=True)


def _field(col: Column) -> str:
    attrs = [f'name="{col.name}"', f'ID="{col.name}"', f'datatype="{col.datatype}"']
    if is_position(col):  # s_ra, s_dec: ICRS (ObsCore 1.1)
        attrs.append(f'ref="{COOSYS_ID}"')
    if col.arraysize:
        attrs.append(f'arraysize="{col.arraysize}"')
    for key in ("xtype", "unit", "ucd", "utype"):
        value = getattr(col, key)
        if value:
            attrs.append(f'{key}="{_attr(value)}"')
    desc = f"<DESCRIPTION>{escape(col.description)}</DESCRIPTION>" if col.description else ""
    return f"<FIELD {' '.join(attrs)}>{desc}</FIELD>"


def _cell(value: Any, col: Column) -> str:
    if value is None:
        return "<TD/>"
    if isinstance(value, list):
        return "<TD>" + " ".join(repr(float(v)) for v in value) + "</TD>"
    if isinstance(value, float):
        if math.isnan(value):
            return "<TD/>"
        return f"<TD>{value!r}</TD>"
    return f"<TD>{escape(str(value), quote=False)}</TD>"


def render_votable(result: SiaResult, *, base_url: str, infos: Sequence[tuple[str, str]] = ()) -> bytes:
    """The SIA 2.0 response: ObsCore FIELDs, the rows, QUERY_STATUS, and a DataLink descriptor."""
    columns = obscore_meta().columns
    parts = [
        ('<?xml version="1.0" encoding="UTF-8"?>\n'
        '<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        '<RESOURCE type="results">\n'
        '<INFO name="QUERY_STATUS" value="OK">Query successful</INFO>\n'
        f'<INFO name="standardID" value="{STANDARD_ID}"/>\n')
    ]
    parts += [f'<INFO name="{_attr(n)}" value="{_attr(v)}"/>\n' for n, v in infos]
    parts.append(coosys_element())
    parts.append('<TABLE>\n' + "\n".join(_field(c) for c in columns) + "\n<DATA><TABLEDATA>\n")
    for row in result.rows:
        parts.append("<TR>" + "".join(_cell(row.get(c.name), c) for c in columns) + "</TR>\n")
    parts.append("</TABLEDATA></DATA>\n</TABLE>\n")
    if result.overflow:
        parts.append('<INFO name="QUERY_STATUS" value="OVERFLOW">Result truncated at MAXREC</INFO>\n')
    parts.append("</RESOURCE>\n")
    parts.append(
        '<RESOURCE type="meta" utype="adhoc:service" name="datalink">\n'
        '<PARAM name="standardID" datatype="char" arraysize="*" '
        'value="ivo://ivoa.net/std/DataLink#links-1.1"/>\n'
        f'<PARAM name="accessURL" datatype="char" arraysize="*" value="{_attr(base_url)}/soda/links"/>\n'
        f'<PARAM name="contentType" datatype="char" arraysize="*" value="{_attr(DATALINK_FORMAT)}"/>\n'
        '<GROUP name="inputParams">\n'
        '<PARAM name="ID" datatype="char" arraysize="*" ucd="meta.id;meta.main" ref="obs_publisher_did" value=""/>\n'
        "</GROUP>\n</RESOURCE>\n"
    )
    parts.append(_soda_descriptor(base_url))
    parts.append("</VOTABLE>\n")
    return "".join(parts).encode()


def _soda_descriptor(base_url: str) -> str:
    """SODA sync for each row (pyvo's ``processed(circle=...)`` uses it): ID from obs_publisher_did."""
    return (
        '<RESOURCE type="meta" utype="adhoc:service" name="soda">\n'
        '<PARAM name="standardID" datatype="char" arraysize="*" value="ivo://ivoa.net/std/SODA#sync-1.0"/>\n'
        f'<PARAM name="accessURL" datatype="char" arraysize="*" value="{_attr(base_url)}/soda/sync"/>\n'
        '<GROUP name="inputParams">\n'
        '<PARAM name="ID" datatype="char" arraysize="*" ucd="meta.ref.url;meta.curation" '
        'ref="obs_publisher_did" value=""/>\n'
        '<PARAM name="CIRCLE" datatype="double" arraysize="3" xtype="circle" unit="deg" ucd="pos.outline;obs" '
        'value=""/>\n'
        '<PARAM name="POLYGON" datatype="double" arraysize="*" xtype="polygon" unit="deg" ucd="pos.outline;obs" '
        'value=""/>\n'
        '<PARAM name="POS" datatype="char" arraysize="*" ucd="pos.outline;obs" value=""/>\n'
        '<PARAM name="BAND" datatype="double" arraysize="2" xtype="interval" unit="m" ucd="em.wl;stat.interval" '
        'value=""/>\n'
        "</GROUP>\n</RESOURCE>\n"
    )


def error_votable(exc: BaseException) -> bytes:
    """A DALI error document, the SIA way (``UsageFault: ...``)."""
    if isinstance(exc, UsageError):
        message = f"UsageFault: {exc}"
    elif getattr(exc, "kind", "") == "transient":
        message = f"TransientFault: {exc}"
    else:
        message = "FatalFault: the search failed; the failure was logged"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">\n'
        '<RESOURCE type="results">\n'
        f'<INFO name="QUERY_STATUS" value="ERROR">{escape(message, quote=False)}</INFO>\n'
        "</RESOURCE>\n</VOTABLE>\n"
    ).encode()
