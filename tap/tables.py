"""VOSI 1.1 tables: the ``vosi:tableset`` and single ``vosi:table`` documents from release metadata.

The metadata is what ingest stored in TAP_SCHEMA (read back by ``release.metadata``), so /tables
and TAP_SCHEMA say the same thing (taplint TMC). Internal ``skygate_*`` columns are left out.
Row counts counted at ingest go in ``nrows``.

``esa_flags=True`` writes the dialect astroquery's ``TapPlus`` parser needs: it reads every column's
``esatapplus:flags`` attribute by its literal prefixed name (astroquery
``utils/tap/xmlparser/tableSaxParser.py``) and fails without it. That attribute is ESA's TAP+
extension (namespace ``http://esa.int/xml/EsaTapPlus``, declared by ESA's esaTapPlusAttributes.xsd);
VODataService's strict attribute wildcard accepts it only with that schema at hand, so the
plain documents every other client and validator receives never carry it.
Pure string building. Tests: tests/tap/test_documents.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from adql.features import RESERVED_WORDS
from dali.values import Column, TableMeta

__all__ = ["ESA_TAPPLUS_NS", "find_table", "query_name", "table_document", "tableset_document"]

_NS = ('xmlns:vosi="http://www.ivoa.net/xml/VOSITables/v1.0" '
       'xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1" '
       'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"')
ESA_TAPPLUS_NS = "http://esa.int/xml/EsaTapPlus"
# ESA TAP+ keeps an opaque per-column ``flags`` integer in its TAP_SCHEMA (0: nothing special).
_ESA_FLAGS = ' esatapplus:flags="0"'


def _ns(esa_flags: bool) -> str:
    return _NS + (f' xmlns:esatapplus="{ESA_TAPPLUS_NS}"' if esa_flags else "")


def _el(name: str, value: str | None) -> str:
    return f"<{name}>{escape(value, quote=False)}</{name}>" if value else ""


def query_name(name: str) -> str:
    """A column name as written in queries: reserved words (``size``, ``count``) delimited (TAP 1.1 §4.3,
    taplint E-TME-CRSV)."""
    if name.upper() in RESERVED_WORDS and not name.startswith('"'):
        return f'"{name}"'
    return name


def _column(col: Column, esa_flags: bool = False) -> str:
    attrs = ' xsi:type="vs:VOTableType"'
    arraysize = col.arraysize or ("*" if col.datatype in ("char", "unicodeChar") else None)
    if arraysize:
        attrs += f' arraysize="{escape(arraysize)}"'
    if col.xtype:
        attrs += f' extendedType="{escape(col.xtype)}"'
    flags = "<flag>indexed</flag>" if col.indexed else ""
    std = ' std="true"' if col.std else ""
    extra = _ESA_FLAGS if esa_flags else ""
    return (f"<column{std}{extra}>{_el('name', query_name(col.name))}{_el('description', col.description)}"
            f"{_el('unit', col.unit)}"
            f"{_el('ucd', col.ucd)}{_el('utype', col.utype)}<dataType{attrs}>{col.datatype}</dataType>{flags}"
            "</column>\n")


def _table_body(meta: TableMeta, detail: bool, esa_flags: bool = False) -> str:
    parts = [_el("name", meta.qualified), _el("description", meta.description), _el("utype", meta.utype)]
    if meta.nrows is not None:  # VODataService 1.2 §3.5: an estimate is enough, and it precedes the columns
        parts.append(f"<nrows>{max(meta.nrows, 0)}</nrows>")
    if detail:
        parts.append("\n")
        parts.extend(_column(c, esa_flags) for c in meta.published_columns)
        for fk in meta.foreign_keys:
            pairs = "".join(
                f"<fkColumn>{_el('fromColumn', f)}{_el('targetColumn', t)}</fkColumn>"
                for f, t in zip(fk.from_columns, fk.target_columns, strict=True)
            )
            parts.append(f"<foreignKey>{_el('targetTable', fk.target_table)}{pairs}"
                         f"{_el('description', fk.description)}</foreignKey>\n")
    return "".join(parts)


def _table_type(meta: TableMeta) -> str:
    return "view" if meta.table_type == "view" else "table"


def tableset_document(metadata: Mapping[str, TableMeta], *, detail: bool = True,
                      schema_descriptions: Mapping[str, str | None] | None = None,
                      esa_flags: bool = False, schema_utypes: Mapping[str, str] | None = None) -> bytes:
    """Every published table grouped by schema; ``detail=False`` leaves out columns and keys,
    ``esa_flags`` adds ESA's column attribute for astroquery (see the module docstring),
    ``schema_utypes`` gives schemas their utype (RegTAP 1.1 §7: ``rr``'s data model)."""
    by_schema: dict[str, list[TableMeta]] = {}
    for key in sorted(metadata):
        by_schema.setdefault(metadata[key].schema, []).append(metadata[key])
    body = []
    for schema, tables in by_schema.items():
        description = (schema_descriptions or {}).get(schema)
        inner = "".join(
            f'<table type="{_table_type(t)}">{_table_body(t, detail, esa_flags)}</table>\n' for t in tables
        )
        utype = _el("utype", (schema_utypes or {}).get(schema))
        body.append(f"<schema>{_el('name', schema)}{_el('description', description)}{utype}\n{inner}</schema>\n")
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<vosi:tableset {_ns(esa_flags)}>\n{"".join(body)}'
            "</vosi:tableset>\n").encode()


def table_document(meta: TableMeta) -> bytes:
    """One table with its columns and foreign keys (VOSI 1.1 ``/tables/{name}``)."""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<vosi:table {_NS} type="{_table_type(meta)}">'
            f"{_table_body(meta, True)}</vosi:table>\n").encode()


def find_table(metadata: Mapping[str, TableMeta], name: str) -> TableMeta | None:
    """The table called ``name`` (case-insensitive, as in queries), or None."""
    return metadata.get(name.lower()) or next(
        (m for m in metadata.values() if m.qualified.lower() == name.lower()), None)
