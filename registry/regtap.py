"""The rows of the RegTAP 1.1 ``rr`` tables, read from the deployment's own VOResource records.

The records are the ones the publishing registry serves (``registry.service.Publisher``: the
same XML OAI-PMH sends, with the ledger's dates), so the TAP ``rr`` schema and ``/registry/oai``
always say the same. Only active records become rows (RegTAP 1.1 §7.1: deleted and inactive
records are not kept). The ingestion rules of RegTAP 1.1 are applied: whitespace trimmed and
runs of it collapsed (§5.1), empty strings as NULL (§5.2), the columns each table's section
names lower-cased (§5.3), 1:n lists joined with ``#`` (waveband, content levels and types,
query types, flags, mirror URLs), deprecated date roles and relationship types translated
(Appendix C), ``authenticated_only`` 1 only when every securityMethod has a standardID (§7.8),
and ``res_detail`` filled with the resource xpaths Appendix A marks as required that our records
carry (TAP data models, languages, output formats, limits, cone search limits, footprints...).
The ``X_index`` columns number the siblings from 1; ``intf_index`` and ``table_index`` count
across the whole record, as ``intf_param`` and ``table_column`` refer to them by ``ivoid`` alone.
Pure lxml and pyarrow: no HTTP, no database. Tests: tests/registry/test_regtap.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa
from lxml import etree

from dali.values import TableMeta
from registry.ledger import Record
from registry.rr_schema import RR_SCHEMA, RR_SCHEMA_DESCRIPTION, RR_UTYPE, rr_tables
from release.engine import StatementTable
from release.served import ServedTables

__all__ = ["regtap_rows", "regtap_tables"]

_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
_DATE_ROLES = {"representative": "collected", "creation": "created", "update": "updated"}
_RELATIONSHIPS = {"mirror-of": "isidenticalto", "service-for": "isservicefor", "served-by": "isservedby",
                  "derived-from": "isderivedfrom"}
# Resource xpaths of RegTAP 1.1 Appendix A for res_detail: relative to the capability, then to the resource.
_CAPABILITY_DETAILS = (
    "dataModel", "dataModel/@ivo-id", "language/name", "language/version/@ivo-id", "outputFormat/mime",
    "outputFormat/@ivo-id", "outputFormat/alias", "uploadMethod/@ivo-id", "retentionPeriod/default",
    "retentionPeriod/hard", "executionDuration/default", "executionDuration/hard", "outputLimit/default",
    "outputLimit/default/@unit", "outputLimit/hard", "outputLimit/hard/@unit", "uploadLimit/default",
    "uploadLimit/default/@unit", "uploadLimit/hard", "uploadLimit/hard/@unit", "maxSR", "maxRecords",
    "verbosity", "testQuery/ra", "testQuery/dec", "testQuery/sr", "testQuery/catalog", "testQuery/extras",
    "testQuery/verb", "interface/securityMethod/@standardID", "interface/testQueryString", "imageServiceType",
    "maxFileSize", "defaultMaxRecords",
)
_RESOURCE_DETAILS = (
    "coverage/footprint", "coverage/footprint/@ivo-id", "managedAuthority", "managingOrg", "full",
    "endorsedVersion", "deprecated", "facility", "instrument", "instrument/@ivo-id", "format",
    "format/@isMIMEType", "rights", "rights/@rightsURI", "accessURL", "schema/@namespace",
)


def regtap_rows(records: Iterable[Record]) -> dict[str, pa.Table]:
    """The contents of the fourteen ``rr`` tables.

    Parameters
    ----------
    records
        The publishing registry's records (``Publisher.records``); deleted ones are skipped.

    Returns
    -------
    dict
        ``rr.<table>`` -> Arrow table with exactly the columns of ``registry.rr_schema.rr_tables``.
    """
    rows = _Rows()
    for record in records:
        if record.xml is not None and not record.deleted:
            _resource(rows, etree.fromstring(record.xml.encode()))
    return {meta.qualified: _arrow(meta, rows.tables.get(meta.name, [])) for meta in rr_tables()}


def regtap_tables(records: Iterable[Record]) -> ServedTables:
    """The ``rr`` tables as the tables every TAP caller's statements read (``release.served``),
    under the physical names ``skygate_rr_<table>``, described and typed in TAP_SCHEMA as §7 asks."""
    rows = regtap_rows(records)
    listed = {meta.qualified: StatementTable(meta=meta, physical=f"skygate_{RR_SCHEMA}_{meta.name}",
                                             data=rows[meta.qualified])
              for meta in rr_tables()}
    return ServedTables(listed=listed, schema_descriptions={RR_SCHEMA: RR_SCHEMA_DESCRIPTION},
                        schema_utypes={RR_SCHEMA: RR_UTYPE})


@dataclass
class _Rows:
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, table: str, **values: Any) -> None:
        self.tables.setdefault(table, []).append(values)


# ----------------------------------------------------------------------------- string rules

def _norm(value: str | None) -> str | None:
    """Whitespace trimmed and collapsed, empty as NULL (RegTAP 1.1 §5.1, §5.2)."""
    if value is None:
        return None
    text = " ".join(value.split())
    return text or None


def _lower(value: str | None) -> str | None:
    text = _norm(value)
    return text.lower() if text is not None else None


def _hashlist(values: Iterable[str | None], *, lower: bool = True) -> str | None:
    parts = [v for v in (_lower(x) if lower else _norm(x) for x in values) if v]
    return "#".join(parts) or None


def _text(element: Any, path: str) -> str | None:
    found = element.find(path)
    return _norm(found.text) if found is not None else None


def _texts(element: Any, path: str) -> list[str | None]:
    return [e.text for e in element.findall(path)]


def _timestamp(value: str | None) -> str | None:
    """A VOResource date (``2026-01-02T03:04:05Z`` or a plain date) as RegTAP's ``YYYY-MM-DDThh:mm:ss``."""
    text = _norm(value)
    if text is None:
        return None
    text = text.removesuffix("Z")
    try:
        return datetime.fromisoformat(text).strftime("%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None


def _xsi_type(element: Any) -> str | None:
    return _lower(element.get(_XSI_TYPE))


def _std(value: str | None) -> int | None:
    text = _lower(value)
    return None if text is None else int(text in ("true", "1"))


def _values(element: Any, path: str) -> list[str]:
    """The values at a resource xpath relative to ``element`` (``a/b`` element texts, ``a/@x`` attributes)."""
    steps, _, attribute = path.partition("@")
    steps = steps.rstrip("/")
    found = element.findall(steps) if steps else [element]
    raw = [e.get(attribute) for e in found] if attribute else [e.text for e in found]
    return [v for v in (_norm(x) for x in raw) if v is not None]


# ----------------------------------------------------------------------------- one record

def _resource(rows: _Rows, root: Any) -> None:
    ivoid = _lower(_text(root, "identifier"))
    if ivoid is None:
        return
    content = root.find("content")
    curation = root.find("curation")
    coverage = root.find("coverage")
    rights = root.find("rights")
    source = content.find("source") if content is not None else None
    creators = [_text(c, "name") for c in curation.findall("creator")] if curation is not None else []
    regard = _text(coverage, "regionOfRegard") if coverage is not None else None
    rows.add(
        "resource", ivoid=ivoid, res_type=_xsi_type(root), created=_timestamp(root.get("created")),
        short_name=_text(root, "shortName"), res_title=_text(root, "title"),
        updated=_timestamp(root.get("updated")),
        content_level=_hashlist(_texts(content, "contentLevel")) if content is not None else None,
        res_description=_text(content, "description") if content is not None else None,
        reference_url=_text(content, "referenceURL") if content is not None else None,
        creator_seq="; ".join(c for c in creators if c) or None,
        content_type=_hashlist(_texts(content, "type")) if content is not None else None,
        source_format=_lower(source.get("format")) if source is not None else None,
        source_value=_norm(source.text) if source is not None else None,
        res_version=_text(curation, "version") if curation is not None else None,
        region_of_regard=float(regard) if regard else None,
        waveband=_hashlist(_texts(coverage, "waveband")) if coverage is not None else None,
        rights=_norm(rights.text) if rights is not None else None,
        rights_uri=_norm(rights.get("rightsURI")) if rights is not None else None,
    )
    if curation is not None:
        _roles(rows, ivoid, curation)
        for date in curation.findall("date"):
            role = _lower(date.get("role"))
            rows.add("res_date", ivoid=ivoid, date_value=_timestamp(date.text),
                     value_role=_DATE_ROLES.get(role or "", role))
        for alt in [*curation.findall("creator/altIdentifier"), *root.findall("altIdentifier")]:
            if _norm(alt.text):
                rows.add("alt_identifier", ivoid=ivoid, alt_identifier=_norm(alt.text))
    if content is not None:
        for subject in _texts(content, "subject"):
            if _norm(subject):
                rows.add("res_subject", ivoid=ivoid, res_subject=_norm(subject))
        for relation in content.findall("relationship"):
            kind = _lower(_text(relation, "relationshipType"))
            for related in relation.findall("relatedResource"):
                rows.add("relationship", ivoid=ivoid, relationship_type=_RELATIONSHIPS.get(kind or "", kind),
                         related_id=_lower(related.get("ivo-id")), related_name=_norm(related.text))
    for validation in root.findall("validationLevel"):
        _validation(rows, ivoid, validation, None)
    intf_index = 0
    for cap_index, capability in enumerate(root.findall("capability"), start=1):
        intf_index = _capability(rows, ivoid, cap_index, capability, intf_index)
    for path in _RESOURCE_DETAILS:
        for value in _values(root, path):
            rows.add("res_detail", ivoid=ivoid, cap_index=None, detail_xpath="/" + path, detail_value=value)
    _tableset(rows, ivoid, root)


def _roles(rows: _Rows, ivoid: str, curation: Any) -> None:
    for publisher in curation.findall("publisher"):
        rows.add("res_role", ivoid=ivoid, role_name=_norm(publisher.text), role_ivoid=_lower(publisher.get("ivo-id")),
                 street_address=None, email=None, telephone=None, logo=None, base_role="publisher")
    for creator in curation.findall("creator"):
        name = creator.find("name")
        rows.add("res_role", ivoid=ivoid, role_name=_norm(name.text) if name is not None else None,
                 role_ivoid=_lower(name.get("ivo-id")) if name is not None else None, street_address=None,
                 email=None, telephone=None, logo=_text(creator, "logo"), base_role="creator")
    for contributor in curation.findall("contributor"):
        rows.add("res_role", ivoid=ivoid, role_name=_norm(contributor.text),
                 role_ivoid=_lower(contributor.get("ivo-id")), street_address=None, email=None, telephone=None,
                 logo=None, base_role="contributor")
    for contact in curation.findall("contact"):
        name = contact.find("name")
        rows.add("res_role", ivoid=ivoid, role_name=_norm(name.text) if name is not None else None,
                 role_ivoid=_lower(name.get("ivo-id")) if name is not None else None,
                 street_address=_text(contact, "address"), email=_text(contact, "email"),
                 telephone=_text(contact, "telephone"), logo=None, base_role="contact")


def _validation(rows: _Rows, ivoid: str, element: Any, cap_index: int | None) -> None:
    level = _norm(element.text)
    rows.add("validation", ivoid=ivoid, validated_by=_lower(element.get("validatedBy")),
             val_level=int(level) if level and level.isdigit() else None, cap_index=cap_index)


def _capability(rows: _Rows, ivoid: str, cap_index: int, capability: Any, intf_index: int) -> int:
    rows.add("capability", ivoid=ivoid, cap_index=cap_index, cap_type=_xsi_type(capability),
             cap_description=_text(capability, "description"), standard_id=_lower(capability.get("standardID")))
    for validation in capability.findall("validationLevel"):
        _validation(rows, ivoid, validation, cap_index)
    for interface in capability.findall("interface"):
        intf_index += 1
        _interface(rows, ivoid, cap_index, intf_index, interface)
    for path in _CAPABILITY_DETAILS:
        for value in _values(capability, path):
            rows.add("res_detail", ivoid=ivoid, cap_index=cap_index, detail_xpath="/capability/" + path,
                     detail_value=value)
    return intf_index


def _interface(rows: _Rows, ivoid: str, cap_index: int, intf_index: int, interface: Any) -> None:
    access = interface.find("accessURL")
    methods = interface.findall("securityMethod")
    authenticated = int(bool(methods) and all(_norm(m.get("standardID")) for m in methods))
    rows.add("interface", ivoid=ivoid, cap_index=cap_index, intf_index=intf_index, intf_type=_xsi_type(interface),
             intf_role=_lower(interface.get("role")), std_version=_lower(interface.get("version")),
             query_type=_hashlist(_texts(interface, "queryType")), result_type=_lower(_text(interface, "resultType")),
             wsdl_url=_text(interface, "wsdlURL"), url_use=_lower(access.get("use")) if access is not None else None,
             access_url=_norm(access.text) if access is not None else None,
             mirror_url=_hashlist(_texts(interface, "mirrorURL"), lower=False),
             authenticated_only=authenticated)
    for param in interface.findall("param"):
        datatype = param.find("dataType")
        rows.add("intf_param", ivoid=ivoid, intf_index=intf_index, name=_lower(_text(param, "name")),
                 ucd=_lower(_text(param, "ucd")), unit=_text(param, "unit"), utype=_lower(_text(param, "utype")),
                 std=_std(param.get("std")), **_datatype(datatype), param_use=_lower(param.get("use")),
                 param_description=_text(param, "description"))


def _datatype(element: Any) -> dict[str, str | None]:
    if element is None:
        return {"datatype": None, "extended_schema": None, "extended_type": None, "arraysize": None, "delim": None}
    return {"datatype": _lower(element.text), "extended_schema": _norm(element.get("extendedSchema")),
            "extended_type": _norm(element.get("extendedType")), "arraysize": _norm(element.get("arraysize")),
            "delim": _norm(element.get("delim"))}


def _tableset(rows: _Rows, ivoid: str, root: Any) -> None:
    table_index = 0
    schemas = root.findall("tableset/schema")
    for schema_index, schema in enumerate(schemas, start=1):
        rows.add("res_schema", ivoid=ivoid, schema_index=schema_index,
                 schema_description=_text(schema, "description"), schema_name=_lower(_text(schema, "name")),
                 schema_title=_text(schema, "title"), schema_utype=_lower(_text(schema, "utype")))
        for table in schema.findall("table"):
            table_index += 1
            _table(rows, ivoid, schema_index, table_index, table)
    for table in root.findall("table"):  # tables outside any schema (VODataService 1.2 DataResource)
        table_index += 1
        _table(rows, ivoid, None, table_index, table)


def _table(rows: _Rows, ivoid: str, schema_index: int | None, table_index: int, table: Any) -> None:
    rows.add("res_table", ivoid=ivoid, schema_index=schema_index, table_description=_text(table, "description"),
             table_name=_lower(_text(table, "name")), table_index=table_index, table_title=_text(table, "title"),
             table_type=_lower(table.get("type")), table_utype=_lower(_text(table, "utype")))
    for column in table.findall("column"):
        datatype = column.find("dataType")
        flags = _texts(column, "flag")
        std = column.get("std")
        rows.add("table_column", ivoid=ivoid, table_index=table_index, name=_lower(_text(column, "name")),
                 ucd=_lower(_text(column, "ucd")), unit=_text(column, "unit"), utype=_lower(_text(column, "utype")),
                 std=_std(std) if std is not None else (1 if "std" in [_lower(f) for f in flags] else None),
                 **_datatype(datatype),
                 type_system=_xsi_type(datatype) if datatype is not None else None,
                 flag=_hashlist(flags), column_description=_text(column, "description"))


# ----------------------------------------------------------------------------- Arrow

_ARROW = {"int": pa.int32(), "float": pa.float32()}


def _arrow(meta: TableMeta, rows: Sequence[dict[str, Any]]) -> pa.Table:
    schema = pa.schema([pa.field(c.name, _ARROW.get(c.datatype, pa.string())) for c in meta.columns])
    return pa.Table.from_pylist([{c.name: row.get(c.name) for c in meta.columns} for row in rows], schema=schema)

