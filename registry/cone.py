"""Simple Cone Search 1.03 over every positional table, run as ADQL through the release's query engine.

A cone on ``schema.table`` is the ADQL ``1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', RA,
DEC, SR))`` over the table's position columns, executed by ``release.engine.QueryEngine`` (the one
TAP calls), so a cone answers exactly the rows the same TAP query answers, with the same HEALPix
index and the same exact spherical test. The rows leave through ``dali.writers``. What SCS adds
is the column choice (VERB) and the UCD1 names SCS 1.03 §3 requires on three fields: ``ID_MAIN``
(a string, so the identifier is sent as text), ``POS_EQ_RA_MAIN`` and ``POS_EQ_DEC_MAIN``.
No HTTP here. Tests: tests/registry/test_cone.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from html import escape
from typing import Any, Protocol

from adql import translate
from dali.errors import UsageError
from dali.values import Column, TableMeta
from dali.writers import Info, TableWriter, write_table
from registry.params import ConeQuery

__all__ = [
    "STANDARD_ID",
    "ConeTable",
    "cone_adql",
    "cone_capabilities",
    "cone_tables",
    "error_document",
    "find_cone_table",
    "start_cone",
]

STANDARD_ID = "ivo://ivoa.net/std/ConeSearch"
ID_MAIN, RA_MAIN, DEC_MAIN = "ID_MAIN", "POS_EQ_RA_MAIN", "POS_EQ_DEC_MAIN"
_CS_NS = "http://www.ivoa.net/xml/ConeSearch/v1.0"


class Engine(Protocol):
    """The part of ``release.engine.QueryEngine`` a cone uses."""

    metadata: Mapping[str, TableMeta]

    @property
    def backend(self) -> Any: ...

    async def execute(self, adql_text: str, *, maxrec: int | None, timeout: float) -> Any: ...


@dataclass(frozen=True, slots=True)
class ConeTable:
    """A table served by cone search: its metadata and the columns playing the three SCS roles."""

    meta: TableMeta
    id_column: str
    ra_column: str
    dec_column: str

    @property
    def name(self) -> str:
        return self.meta.qualified

    def columns(self, verb: int) -> tuple[Column, ...]:
        """The columns a VERB asks for, in table order; the three SCS roles are always there.

        1: the principal columns; 2: those and the indexed ones (the columns the release expects
        to be searched on); 3: every published column.
        """
        roles = {self.id_column, self.ra_column, self.dec_column}
        chosen = []
        for col in self.meta.published_columns:
            if col.name in roles or verb == 3 or col.principal or (verb == 2 and col.indexed):
                chosen.append(col)
        return tuple(chosen)


def cone_tables(metadata: Mapping[str, TableMeta]) -> dict[str, ConeTable]:
    """Every table of ``metadata`` with a sky position, by qualified name."""
    found = {}
    for name, meta in sorted(metadata.items()):
        if meta.position is None or meta.schema == "tap_schema":
            continue
        found[name] = ConeTable(meta, _id_column(meta), meta.position.ra, meta.position.dec)
    return found


def find_cone_table(metadata: Mapping[str, TableMeta], name: str) -> ConeTable:
    """The cone table called ``name`` (case-insensitive).

    Raises
    ------
    UsageError
        When no positional table has that name.
    """
    table = cone_tables(metadata).get(name.lower())
    if table is None:
        raise UsageError(f"there is no positional table called {name[:80]!r}",
                         hint="see /registry for the cone search services")
    return table


def _id_column(meta: TableMeta) -> str:
    """The main identifier: the column whose UCD is meta.id;meta.main, else the first meta.id one,
    else the first column."""
    columns = meta.published_columns
    for test in (lambda u: "meta.id;meta.main" in u, lambda u: u.startswith("meta.id")):
        for col in columns:
            if col.ucd and test(col.ucd.lower()):
                return col.name
    return columns[0].name


def _number(value: float) -> str:
    return repr(float(value))


def cone_adql(table: ConeTable, query: ConeQuery) -> str:
    """The ADQL the cone runs: the VERB's columns (the identifier as text, the position as doubles)
    inside the circle."""
    selected = []
    for col in table.columns(query.verb):
        if col.name == table.id_column and col.datatype not in ("char", "unicodeChar"):
            selected.append(f"CAST({col.name} AS VARCHAR) AS {col.name}")
        elif col.name in (table.ra_column, table.dec_column) and col.datatype != "double":
            # SCS 1.03 §3: the main position is double precision.
            selected.append(f"CAST({col.name} AS DOUBLE) AS {col.name}")
        else:
            selected.append(col.name)
    circle = f"CIRCLE('ICRS', {_number(query.ra)}, {_number(query.dec)}, {_number(query.sr)})"
    return (f"SELECT {', '.join(selected)} FROM {table.name} "
            f"WHERE 1 = CONTAINS(POINT('ICRS', {table.ra_column}, {table.dec_column}), {circle})")


def _published(table: ConeTable, columns: Sequence[Column]) -> tuple[Column, ...]:
    """The output columns with the table's own descriptions and units, and the SCS UCDs."""
    roles = {table.id_column: ID_MAIN, table.ra_column: RA_MAIN, table.dec_column: DEC_MAIN}
    out = []
    for col in columns:
        source = table.meta.column(col.name)
        if source is not None:
            col = replace(col, unit=source.unit, ucd=source.ucd, description=source.description)
        if col.name in roles:
            col = replace(col, ucd=roles[col.name])
        out.append(col)
    return tuple(out)


def _infos(query: ConeQuery) -> tuple[Info, ...]:
    return (Info("standardID", STANDARD_ID), Info("RA", _number(query.ra)), Info("DEC", _number(query.dec)),
            Info("SR", _number(query.sr)), Info("VERB", str(query.verb)), Info("MAXREC", str(query.maxrec)))


async def start_cone(engine: Engine, table: ConeTable, query: ConeQuery, *, timeout: float) -> TableWriter:
    """Start the cone and return the writer for its result (iterate ``writer.chunks()``).

    ``SR=0`` writes the columns and no rows without touching the database (SCS 1.03 §2: pyvo
    discovers the columns that way).

    Raises
    ------
    UsageError, TransientError, FatalError
        From the query engine, before any byte is written.
    """
    if query.sr == 0:
        # Translated for its columns only (ADQL refuses a zero CIRCLE radius; any radius does).
        translation = translate(cone_adql(table, replace(query, sr=1.0)), engine.metadata, engine.backend.dialect)
        return write_table(query.format, _published(table, translation.columns), None, infos=_infos(query))
    result = await engine.execute(cone_adql(table, query), maxrec=query.maxrec, timeout=timeout)
    return write_table(query.format, _published(table, result.columns), result.batches, maxrec=query.maxrec,
                       infos=_infos(query))


def error_document(message: str) -> bytes:
    """The SCS 1.03 error VOTable: ``INFO name="Error"`` directly under VOTABLE (where pyvo looks
    first), and the DALI ``QUERY_STATUS=ERROR`` in the results resource for DALI clients."""
    text = escape(message, quote=True)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">\n'
        f'<INFO name="Error" value="{text}"/>\n'
        '<RESOURCE type="results">\n'
        f'<INFO name="QUERY_STATUS" value="ERROR">{escape(message, quote=False)}</INFO>\n'
        "</RESOURCE>\n</VOTABLE>\n"
    ).encode()


def cone_capabilities(base_url: str, table: ConeTable, *, max_sr: float, max_records: int,
                      test: tuple[float, float, float] = (0.0, 0.0, 0.1)) -> bytes:
    """VOSI capabilities of ``{base_url}/scs/{table}``: the ``cs:ConeSearch`` capability (SimpleDALRegExt
    1.0: maxSR, maxRecords, verbosity, the test query ``test`` (ra, dec, sr), which should hold rows:
    validators run it) and the VOSI endpoints."""
    root = f"{base_url}/scs/{table.name}"
    cone = (
        f' <capability standardID="{STANDARD_ID}" xsi:type="cs:ConeSearch">\n'
        f"  <description>Cone search over {escape(table.name)}</description>\n"
        '  <interface xsi:type="vs:ParamHTTP" role="std" version="1.03">'
        f'<accessURL use="base">{escape(root)}?</accessURL>'
        "<queryType>GET</queryType><resultType>text/xml</resultType></interface>\n"
        f"  <maxSR>{_number(max_sr)}</maxSR>\n  <maxRecords>{max_records}</maxRecords>\n"
        "  <verbosity>true</verbosity>\n"
        f"  <testQuery><ra>{_number(test[0])}</ra><dec>{_number(test[1])}</dec>"
        f"<sr>{_number(test[2])}</sr></testQuery>\n"
        " </capability>\n"
    )
    support = "".join(
        f' <capability standardID="ivo://ivoa.net/std/VOSI#{kind}">\n'
        f'  <interface xsi:type="vs:ParamHTTP"><accessURL use="full">{escape(root)}/{kind}</accessURL></interface>\n'
        " </capability>\n"
        for kind in ("capabilities", "availability"))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<vosi:capabilities xmlns:vosi="http://www.ivoa.net/xml/VOSICapabilities/v1.0" '
        'xmlns:vr="http://www.ivoa.net/xml/VOResource/v1.0" '
        'xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1" '
        f'xmlns:cs="{_CS_NS}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        f"{cone}{support}</vosi:capabilities>\n"
    ).encode()
