"""VOResource 1.1 records of the running deployment, built from what the services already serve.

Nothing here is written by hand per service: each record's capabilities are copied from the VOSI
capabilities document that service answers with (handed over by the assembly, ``skygate/app.py``,
as a ``ServiceSource``), the TAP tableset from the release metadata, the cone search records from
the positional tables, and the curation block from ``registry.curation``. What no VOSI document
says, the job services' parameters, comes as ``JobCapability`` values, each published both as a
capability (standardID under our authority, every parameter listed as a ``vs:ParamHTTP`` param and
named in the description) and as the ``vstd:Standard`` record that standardID points at.

``resources`` returns ``Resource`` values: identifier, type, title and the XML body; their dates
come from ``registry.ledger`` and ``record_xml`` writes the ``ri:Resource`` element.
Pure string and lxml building; no HTTP, no database.
Tests: tests/registry/test_records.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from lxml import etree

from dali.values import Column, TableMeta
from registry.cone import ConeTable, cone_capabilities, cone_tables
from registry.coverage import NO_SAMPLE, ReleaseCoverage, moc_ascii
from registry.curation import PLACEHOLDER_AUTHORITY, Curation, ivoid

__all__ = [
    "NAMESPACES",
    "JobCapability",
    "JobParameter",
    "Resource",
    "ServiceSource",
    "record_xml",
    "resources",
]

XSI = "http://www.w3.org/2001/XMLSchema-instance"
NAMESPACES = {
    "ri": "http://www.ivoa.net/xml/RegistryInterface/v1.0",
    "vr": "http://www.ivoa.net/xml/VOResource/v1.0",
    "vs": "http://www.ivoa.net/xml/VODataService/v1.1",
    "tr": "http://www.ivoa.net/xml/TAPRegExt/v1.0",
    "cs": "http://www.ivoa.net/xml/ConeSearch/v1.0",
    "vg": "http://www.ivoa.net/xml/VORegistry/v1.0",
    "vstd": "http://www.ivoa.net/xml/StandardsRegExt/v1.0",
    "xsi": XSI,  # pyvo finds xsi:type by this literal prefix
}
_PREFIX = {uri: prefix for prefix, uri in NAMESPACES.items()}
_TYPE = f"{{{XSI}}}type"
REGISTRY_KEY = "registry"
OAI_PATH = "/registry/oai"
MAX_RECORDS = 100  # records per OAI-PMH page (published as vg:Harvest maxRecords)


@dataclass(frozen=True, slots=True)
class JobParameter:
    """One parameter of a job service: its name, what it means, its VOTable datatype."""

    name: str
    description: str
    datatype: str = "char"
    required: bool = False


@dataclass(frozen=True, slots=True)
class JobCapability:
    """A UWS job list no IVOA standard describes, documented under our own standard ``standard``."""

    standard: str
    title: str
    description: str
    path: str
    parameters: tuple[JobParameter, ...]


@dataclass(frozen=True, slots=True)
class ServiceSource:
    """One service as the assembly sees it: its key (``ivo://{authority}/{key}``), title, description,
    the VOSI capabilities document it serves, whether it serves tables of the release (a
    ``vs:CatalogService`` with their tableset and coverage: ``tables`` names them, None meaning all)
    and its job capabilities."""

    key: str
    title: str
    description: str
    capabilities: bytes
    catalog: bool = False
    jobs: tuple[JobCapability, ...] = ()
    tables: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Resource:
    """A record without its dates: ``body`` is the XML inside ``ri:Resource`` (title onwards)."""

    ivoid: str
    xsi_type: str
    title: str
    body: str


def _text(value: str) -> str:
    return escape(" ".join(value.split()), quote=False)


def _attr(value: str) -> str:
    return escape(value, quote=True)


def _timestamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


# ----------------------------------------------------------------------------- shared blocks

def _curation(curation: Curation) -> str:
    return (
        "<curation>"
        f"<publisher>{_text(curation.publisher)}</publisher>"
        f"<creator><name>{_text(curation.creator)}</name></creator>"
        f'<date role="Created">{_timestamp(curation.created)}</date>'
        f"<contact><name>{_text(curation.contact_name)}</name>"
        f"<email>{_text(curation.contact_email)}</email></contact>"
        "</curation>"
    )


def _content(curation: Curation, description: str, reference_url: str, kind: str, authority: str) -> str:
    if authority == PLACEHOLDER_AUTHORITY:
        description += (" (Published under the placeholder authority skygate.example: this record is not "
                        "registered; set SKYGATE_AUTHORITY.)")
    subjects = "".join(f"<subject>{_text(s)}</subject>" for s in curation.subjects)
    levels = "".join(f"<contentLevel>{_text(level)}</contentLevel>" for level in curation.content_level)
    return (f"<content>{subjects}<description>{_text(description)}</description>"
            f"<referenceURL>{_text(reference_url)}</referenceURL><type>{kind}</type>{levels}</content>")


def _rights(curation: Curation) -> str:
    uri = f' rightsURI="{_attr(curation.rights_uri)}"' if curation.rights_uri else ""
    return f"<rights{uri}>{_text(curation.rights)}</rights>"


def _opening(title: str, short_name: str | None, key: str, curation: Curation, authority: str,
             description: str, base_url: str, kind: str, page: str) -> str:
    """Title, shortName, identifier, curation and content: the start of every record."""
    short = f"<shortName>{_text(short_name[:16])}</shortName>" if short_name else ""
    return (f"<title>{_text(title)}</title>{short}<identifier>{_text(ivoid(authority, key))}</identifier>"
            + _curation(curation)
            + _content(curation, description, curation.reference_url or f"{base_url}{page}", kind, authority))


# ----------------------------------------------------------------------------- capabilities

def copied_capabilities(document: bytes) -> list[str]:
    """The ``capability`` elements of a VOSI capabilities document, as XML text whose ``xsi:type``
    values use our prefixes (the serving document may bind other prefixes to the same namespaces)."""
    root = etree.fromstring(document)
    out = []
    for cap in root.iterchildren("capability"):
        # Serialising a child carries the namespaces in scope, so each element's nsmap resolves its xsi:type.
        copy = etree.fromstring(etree.tostring(cap))
        for element in copy.iter():
            qname = element.get(_TYPE)
            if qname and ":" in qname:
                prefix, local = qname.split(":", 1)
                uri = element.nsmap.get(prefix)
                if uri in _PREFIX:
                    element.set(_TYPE, f"{_PREFIX[uri]}:{local}")
        etree.cleanup_namespaces(copy, top_nsmap=NAMESPACES)
        out.append(_without_our_declarations(etree.tostring(copy, encoding="unicode")))
    return out


def _without_our_declarations(xml: str) -> str:
    """Drop the root element's declarations of our own prefixes (the record's root declares them all);
    any other namespace the service used stays declared where it is."""
    end = xml.index(">")
    head = xml[:end]
    for prefix, uri in NAMESPACES.items():
        head = head.replace(f' xmlns:{prefix}="{uri}"', "")
    return head + xml[end:]


def job_capability(job: JobCapability, authority: str, base_url: str) -> str:
    """A documented job capability: standardID under our authority, every parameter described."""
    names = ", ".join(p.name for p in job.parameters)
    params = "".join(
        f'<param std="false" use="{"required" if p.required else "optional"}"><name>{_text(p.name)}</name>'
        f"<description>{_text(p.description)}</description>"
        f'<dataType xsi:type="vs:VOTableType"{_arraysize(p.datatype)}>{_text(p.datatype)}</dataType></param>'
        for p in job.parameters)
    return (
        f'<capability standardID="{_attr(ivoid(authority, "std/" + job.standard))}">'
        f"<description>{_text(job.description)} A UWS 1.1 job list: POST the parameters to create a job "
        f"({names}), then PHASE=RUN.</description>"
        f'<interface xsi:type="vs:ParamHTTP" role="std" version="1.1">'
        f'<accessURL use="base">{_text(base_url + job.path)}</accessURL>'
        f"<queryType>POST</queryType><resultType>text/xml</resultType>{params}</interface></capability>"
    )


def _arraysize(datatype: str) -> str:
    return ' arraysize="*"' if datatype in ("char", "unicodeChar") else ""


# ----------------------------------------------------------------------------- tablesets

def _column(col: Column) -> str:
    parts = [f"<name>{_text(col.name)}</name>"]
    if col.description:
        parts.append(f"<description>{_text(col.description)}</description>")
    for key in ("unit", "ucd", "utype"):
        value = getattr(col, key)
        if value:
            parts.append(f"<{key}>{_text(value)}</{key}>")
    arraysize = f' arraysize="{_attr(col.arraysize)}"' if col.arraysize else ""
    if col.datatype in ("char", "unicodeChar") and not col.arraysize:
        arraysize = ' arraysize="*"'
    extended = f' extendedType="{_attr(col.xtype)}"' if col.xtype else ""
    parts.append(f'<dataType xsi:type="vs:VOTableType"{arraysize}{extended}>{_text(col.datatype)}</dataType>')
    for flag, on in (("indexed", col.indexed), ("primary", False), ("std", col.std)):
        if on:
            parts.append(f"<flag>{flag}</flag>")
    return f"<column>{''.join(parts)}</column>"


def _table(meta: TableMeta) -> str:
    description = f"<description>{_text(meta.description)}</description>" if meta.description else ""
    utype = f"<utype>{_text(meta.utype)}</utype>" if meta.utype else ""
    nrows = f"<nrows>{meta.nrows}</nrows>" if meta.nrows is not None else ""
    columns = "".join(_column(c) for c in meta.published_columns)
    keys = "".join(
        f"<foreignKey><targetTable>{_text(fk.target_table)}</targetTable>"
        + "".join(f"<fkColumn><fromColumn>{_text(f)}</fromColumn><targetColumn>{_text(t)}</targetColumn></fkColumn>"
                  for f, t in zip(fk.from_columns, fk.target_columns, strict=True))
        + "</foreignKey>"
        for fk in meta.foreign_keys)
    kind = "view" if meta.table_type == "view" else "output" if meta.table_type == "output" else "base_table"
    return (f'<table type="{kind}"><name>{_text(meta.qualified)}</name>{description}{utype}{nrows}'
            f"{columns}{keys}</table>")


def tableset(tables: Sequence[TableMeta]) -> str:
    """A ``vs:TableSet``: the tables grouped by schema, in name order (nothing when there are no tables:
    a tableset needs a schema)."""
    if not tables:
        return ""
    schemas: dict[str, list[TableMeta]] = {}
    for meta in sorted(tables, key=lambda m: m.qualified):
        schemas.setdefault(meta.schema, []).append(meta)
    body = "".join(f"<schema><name>{_text(name)}</name>{''.join(_table(t) for t in metas)}</schema>"
                   for name, metas in schemas.items())
    return f"<tableset>{body}</tableset>"


# ----------------------------------------------------------------------------- the records

def resources(
    *,
    authority: str,
    base_url: str,
    curation: Curation,
    services: Sequence[ServiceSource],
    metadata: Mapping[str, TableMeta],
    max_sr: float,
    max_records: int,
    coverage: ReleaseCoverage | None = None,
    footprints: Mapping[str, str] | None = None,
) -> list[Resource]:
    """Every record this deployment publishes, the registry and the authority first.

    Parameters
    ----------
    authority
        The IVOA authority ID (checked by ``registry.curation.check_authority``).
    base_url
        ``SKYGATE_BASE_URL``: every accessURL starts with it.
    curation
        The curation block shared by the records.
    services
        The services and the VOSI capabilities they serve.
    metadata
        The release's published tables (TAP tableset, one cone search per positional table).
    max_sr, max_records
        The cone search limits (``SKYGATE_SCS_MAX_SR``, ``SKYGATE_MAXREC_HARD``).
    coverage
        The release's measured coverage (``registry.coverage``); without it only the curation's
        wavebands are published.
    footprints
        The URL of the footprint MOC served for a table (``/moc/{name}``), by qualified name: a
        record about that one table references it as its ``vs:coverage`` footprint.
    """
    coverage = coverage or ReleaseCoverage()
    footprints = footprints or {}
    records = [_authority(authority, base_url, curation), _registry(authority, base_url, curation)]
    published = list(metadata.values())  # what /tap/tables lists, TAP_SCHEMA included
    for source in services:
        records.append(_service(source, authority, base_url, curation, published, coverage, footprints))
    for table in cone_tables(metadata).values():
        records.append(_cone(table, authority, base_url, curation, max_sr, max_records, coverage,
                             footprints.get(table.name)))
    for source in services:
        for job in source.jobs:
            records.append(_standard(job, authority, base_url, curation))
    return records


def _authority(authority: str, base_url: str, curation: Curation) -> Resource:
    body = (_opening(f"{curation.short_name} naming authority", None, "", curation, authority,
                     f"The naming authority {authority} of {curation.title}.", base_url, "Other", "/registry")
            + f"<managingOrg>{_text(curation.publisher)}</managingOrg>")
    return Resource(ivoid(authority), "vg:Authority", f"{curation.short_name} naming authority", body)


def _registry(authority: str, base_url: str, curation: Curation) -> Resource:
    title = f"{curation.title} publishing registry"
    harvest = (
        '<capability xsi:type="vg:Harvest" standardID="ivo://ivoa.net/std/Registry">'
        f'<interface xsi:type="vg:OAIHTTP" role="std" version="1.0"><accessURL use="base">'
        f"{_text(base_url + OAI_PATH)}</accessURL></interface><maxRecords>{MAX_RECORDS}</maxRecords></capability>"
    )
    body = (_opening(title, f"{curation.short_name} reg", REGISTRY_KEY, curation, authority,
                     f"The OAI-PMH publishing registry of {curation.title}: every resource it serves.",
                     base_url, "Registry", "/registry")
            + _rights(curation) + harvest
            + f"<full>false</full><managedAuthority>{_text(authority)}</managedAuthority>")
    return Resource(ivoid(authority, REGISTRY_KEY), "vg:Registry", title, body)


def _service(source: ServiceSource, authority: str, base_url: str, curation: Curation,
             tables: Sequence[TableMeta], coverage: ReleaseCoverage, footprints: Mapping[str, str]) -> Resource:
    caps = "".join(copied_capabilities(source.capabilities))
    caps += "".join(job_capability(job, authority, base_url) for job in source.jobs)
    kind = "vs:CatalogService" if source.catalog else "vr:Service"
    body = (_opening(source.title, None, source.key, curation, authority, source.description, base_url,
                     "Catalog" if source.catalog else "Other", f"/{source.key}")
            + _rights(curation) + caps)
    if source.catalog:
        if source.tables is not None:
            tables = [t for t in tables if t.qualified in source.tables]
        names = {t.qualified for t in tables}
        cells = frozenset().union(*(c for name, c in coverage.cells.items() if name in names))
        footprint = footprints.get(tables[0].qualified) if len(tables) == 1 else None
        body += _coverage(curation, coverage, cells, footprint) + tableset(tables)
    return Resource(ivoid(authority, source.key), kind, source.title, body)


def _coverage(curation: Curation, coverage: ReleaseCoverage, cells: frozenset[int] | None,
              footprint: str | None = None) -> str:
    """``vs:coverage``: the footprint MOC, the images' time and energy ranges, a reference to the
    finer footprint MOC served at ``/moc`` (VODataService ``footprint``, a URL), the wavebands
    (measured when the release has images, else the curation's)."""
    parts = [f"<spatial>{moc_ascii(cells)}</spatial>"] if cells else []
    if coverage.temporal:
        parts.append(f"<temporal>{coverage.temporal[0]!r} {coverage.temporal[1]!r}</temporal>")
    if coverage.spectral:
        parts.append(f"<spectral>{coverage.spectral[0]!r} {coverage.spectral[1]!r}</spectral>")
    if footprint:
        parts.append(f"<footprint>{_text(footprint)}</footprint>")
    parts += [f"<waveband>{_text(w)}</waveband>" for w in coverage.bands or curation.waveband]
    return "<coverage>" + "".join(parts) + "</coverage>"


def _cone(table: ConeTable, authority: str, base_url: str, curation: Curation, max_sr: float,
          max_records: int, coverage: ReleaseCoverage, footprint: str | None = None) -> Resource:
    title = f"{curation.title}: {table.name} cone search"
    description = (f"Simple Cone Search over {table.name}"
                   + (f": {table.meta.description}" if table.meta.description else "."))
    document = cone_capabilities(base_url, table, max_sr=max_sr, max_records=max_records,
                                 test=coverage.samples.get(table.name, NO_SAMPLE))
    body = (_opening(title, None, f"scs/{table.name}", curation, authority, description, base_url, "Catalog",
                     f"/scs/{table.name}/capabilities")
            + _rights(curation) + "".join(copied_capabilities(document))
            + _coverage(curation, coverage, coverage.cells.get(table.name), footprint)
            + tableset([table.meta]))
    return Resource(ivoid(authority, f"scs/{table.name}"), "vs:CatalogService", title, body)


def _standard(job: JobCapability, authority: str, base_url: str, curation: Curation) -> Resource:
    params = "; ".join(f"{p.name}{' (required)' if p.required else ''}: {p.description}" for p in job.parameters)
    description = f"{job.description} Parameters — {params}"
    body = (_opening(job.title, None, f"std/{job.standard}", curation, authority, description, base_url,
                     "Other", job.path)
            + '<endorsedVersion status="n/a">1.0</endorsedVersion>')
    return Resource(ivoid(authority, f"std/{job.standard}"), "vstd:Standard", job.title, body)


def record_xml(resource: Resource, *, created: datetime, updated: datetime, status: str = "active") -> str:
    """The ``ri:Resource`` element (every prefix declared on it, ``xsi`` included)."""
    ns = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in NAMESPACES.items())
    return (f'<ri:Resource {ns} xsi:type="{resource.xsi_type}" created="{_timestamp(created)}" '
            f'updated="{_timestamp(updated)}" status="{status}">{resource.body}</ri:Resource>')
