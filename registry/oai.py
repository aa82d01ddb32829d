"""OAI-PMH 2.0 answers of the publishing registry: the six verbs over the deployment's records.

Registry Interfaces 1.1 (through OAI-PMH 2.0): metadata prefixes ``ivo_vor`` (the ``ri:Resource``
records) and ``oai_dc`` (Dublin Core drawn from them), one set, ``ivo_managed``, holding every record;
datestamps are the records' ``updated`` in second granularity; removed resources stay as deleted
records (``deletedRecord=persistent``). Every error is an ``<error code=…>`` with HTTP 200 (OAI-PMH
§3.6). Lists are paged by resumption tokens that carry the whole request and the last record sent
(base64 JSON with a checksum), so a harvest survives a server restart and no state is kept.
``noSetHierarchy`` never applies (sets are supported) and ``noMetadataFormats`` neither (every
record is offered in both formats). Pure: records in, bytes out. Tests: tests/registry/test_oai.py.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape

from lxml import etree

from registry.ledger import Record

__all__ = ["FORMATS", "OaiConfig", "OaiError", "respond"]

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
SET_SPEC = "ivo_managed"
FORMATS = {
    "ivo_vor": ("http://www.ivoa.net/xml/RegistryInterface/v1.0",
                "http://www.ivoa.net/xml/RegistryInterface/v1.0"),
    "oai_dc": ("http://www.openarchives.org/OAI/2.0/oai_dc.xsd", "http://www.openarchives.org/OAI/2.0/oai_dc/"),
}
_VERBS = {
    # verb: (required, optional, exclusive)
    "Identify": ((), (), None),
    "ListMetadataFormats": ((), ("identifier",), None),
    "ListSets": ((), (), "resumptionToken"),
    "GetRecord": (("identifier", "metadataPrefix"), (), None),
    "ListIdentifiers": (("metadataPrefix",), ("from", "until", "set"), "resumptionToken"),
    "ListRecords": (("metadataPrefix",), ("from", "until", "set"), "resumptionToken"),
}
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_SECOND = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\Z")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class OaiError(Exception):
    """An OAI-PMH error condition (§3.6): ``code`` is the standard's code."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class OaiConfig:
    """What Identify says, and the page size of the lists."""

    base_url: str
    repository_name: str
    admin_email: str
    registry_ivoid: str
    page_size: int = 100


@dataclass(frozen=True, slots=True)
class _ListRequest:
    prefix: str
    start: datetime | None = None
    end: datetime | None = None
    set_spec: str | None = None
    after: tuple[str, str] | None = None  # (datestamp, identifier) of the last record sent
    cursor: int = 0
    args: dict[str, str] = field(default_factory=dict)


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def respond(pairs: Sequence[tuple[str, str]], records: Sequence[Record], config: OaiConfig, *,
            now: datetime | None = None) -> bytes:
    """The OAI-PMH response document for the request ``pairs`` (query string or form, in order).

    Parameters
    ----------
    pairs
        The request arguments as sent.
    records
        Every record of the registry, deleted ones included (``registry.ledger``).
    config
        Identify's contents and the page size.
    now
        The responseDate (default: the current time).
    """
    now = now or datetime.now(UTC)
    args: dict[str, str] = {}
    try:
        verb = _check(pairs, args)
        body = _VERB_HANDLERS[verb](args, records, config)
        request = _request_element(config.base_url, args)
    except OaiError as exc:
        # §3.6: after badVerb or badArgument the request element carries no attributes.
        request = _request_element(config.base_url, {} if exc.code in ("badVerb", "badArgument") else args)
        body = f'<error code="{exc.code}">{escape(_xml_safe(exc.message), quote=False)}</error>'
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<OAI-PMH xmlns="{OAI_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{OAI_NS} http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd">\n'
        f"<responseDate>{_stamp(now)}</responseDate>\n{request}\n{body}\n</OAI-PMH>\n"
    ).encode()


def _xml_safe(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot hold (requests are echoed as sent)."""
    return _NOT_XML.sub("", text)


def _request_element(base_url: str, args: dict[str, str]) -> str:
    attrs = "".join(f' {name}="{escape(_xml_safe(value), quote=True)}"' for name, value in args.items())
    return f"<request{attrs}>{escape(base_url, quote=False)}</request>"


def _check(pairs: Sequence[tuple[str, str]], args: dict[str, str]) -> str:
    """The verb, with the arguments checked against it (filled into ``args``)."""
    verbs = [value for name, value in pairs if name == "verb"]
    if len(verbs) != 1 or verbs[0] not in _VERBS:
        raise OaiError("badVerb", "the verb argument is missing, repeated or not an OAI-PMH verb"
                       if len(verbs) != 1 else f"{verbs[0][:40]!r} is not an OAI-PMH verb")
    verb = verbs[0]
    required, optional, exclusive = _VERBS[verb]
    seen: dict[str, str] = {}
    for name, value in pairs:
        if name == "verb":
            continue
        if name in seen:
            raise OaiError("badArgument", f"the argument {name[:40]} is repeated")
        if name not in required and name not in optional and name != exclusive:
            raise OaiError("badArgument", f"{verb} takes no argument {name[:40]!r}")
        seen[name] = value
    if exclusive and exclusive in seen:
        if len(seen) > 1:
            raise OaiError("badArgument", f"{exclusive} is an exclusive argument")
    else:
        missing = [name for name in required if not seen.get(name)]
        if missing:
            raise OaiError("badArgument", f"{verb} requires the argument {missing[0]}")
    args["verb"] = verb
    args.update(seen)
    return verb


# ----------------------------------------------------------------------------- verbs

def _identify(args: dict[str, str], records: Sequence[Record], config: OaiConfig) -> str:
    earliest = min((r.updated for r in records), default=datetime(2000, 1, 1, tzinfo=UTC))
    registry = next((r.xml for r in records if r.ivoid.lower() == config.registry_ivoid.lower() and r.xml), None)
    description = f"<description>{_embedded(registry)}</description>" if registry is not None else ""
    return (
        f"<Identify><repositoryName>{escape(config.repository_name, quote=False)}</repositoryName>"
        f"<baseURL>{escape(config.base_url, quote=False)}</baseURL><protocolVersion>2.0</protocolVersion>"
        f"<adminEmail>{escape(config.admin_email, quote=False)}</adminEmail>"
        f"<earliestDatestamp>{_stamp(earliest)}</earliestDatestamp><deletedRecord>persistent</deletedRecord>"
        f"<granularity>YYYY-MM-DDThh:mm:ssZ</granularity>{description}</Identify>"
    )


def _list_metadata_formats(args: dict[str, str], records: Sequence[Record], config: OaiConfig) -> str:
    if "identifier" in args:
        _find(records, args["identifier"])
    formats = "".join(
        f"<metadataFormat><metadataPrefix>{prefix}</metadataPrefix><schema>{schema}</schema>"
        f"<metadataNamespace>{namespace}</metadataNamespace></metadataFormat>"
        for prefix, (schema, namespace) in FORMATS.items())
    return f"<ListMetadataFormats>{formats}</ListMetadataFormats>"


def _list_sets(args: dict[str, str], records: Sequence[Record], config: OaiConfig) -> str:
    if "resumptionToken" in args:
        raise OaiError("badResumptionToken", "ListSets is never split, so no resumption token is valid")
    return (f"<ListSets><set><setSpec>{SET_SPEC}</setSpec>"
            "<setName>Resources published by this registry</setName></set></ListSets>")


def _get_record(args: dict[str, str], records: Sequence[Record], config: OaiConfig) -> str:
    prefix = _prefix(args["metadataPrefix"])
    record = _find(records, args["identifier"])
    return f"<GetRecord>{_record(record, prefix)}</GetRecord>"


def _list_identifiers(args: dict[str, str], records: Sequence[Record], config: OaiConfig) -> str:
    page, token = _page(args, records, config)
    return f"<ListIdentifiers>{''.join(_header(r) for r in page)}{token}</ListIdentifiers>"


def _list_records(args: dict[str, str], records: Sequence[Record], config: OaiConfig) -> str:
    request = _list_request(args)
    page, token = _page(args, records, config, request)
    return f"<ListRecords>{''.join(_record(r, request.prefix) for r in page)}{token}</ListRecords>"


_VERB_HANDLERS = {
    "Identify": _identify,
    "ListMetadataFormats": _list_metadata_formats,
    "ListSets": _list_sets,
    "GetRecord": _get_record,
    "ListIdentifiers": _list_identifiers,
    "ListRecords": _list_records,
}


# ----------------------------------------------------------------------------- records

def _find(records: Sequence[Record], identifier: str) -> Record:
    wanted = identifier.strip().lower()  # IVOIDs compare case-insensitively
    for record in records:
        if record.ivoid.lower() == wanted:
            return record
    raise OaiError("idDoesNotExist", f"there is no record {identifier[:120]!r} in this registry")


def _prefix(prefix: str) -> str:
    if prefix not in FORMATS:
        raise OaiError("cannotDisseminateFormat", f"the metadata format {prefix[:40]!r} is not offered; "
                       "use ivo_vor or oai_dc")
    return prefix


def _header(record: Record) -> str:
    status = ' status="deleted"' if record.deleted else ""
    return (f"<header{status}><identifier>{escape(record.ivoid, quote=False)}</identifier>"
            f"<datestamp>{_stamp(record.updated)}</datestamp><setSpec>{SET_SPEC}</setSpec></header>")


def _record(record: Record, prefix: str) -> str:
    if record.deleted or record.xml is None:
        return f"<record>{_header(record)}</record>"
    metadata = _embedded(record.xml) if prefix == "ivo_vor" else _dublin_core(record)
    return f"<record>{_header(record)}<metadata>{metadata}</metadata></record>"


def _embedded(xml: str) -> str:
    """A record placed inside the OAI-PMH document: VOResource children are unqualified, so the
    OAI default namespace must not reach them."""
    return xml.replace("<ri:Resource ", '<ri:Resource xmlns="" ', 1)


def _dublin_core(record: Record) -> str:
    """The record as unqualified Dublin Core (title, identifier, creator, publisher, subjects,
    description, date, type)."""
    assert record.xml is not None
    root = etree.fromstring(record.xml)

    def texts(path: str) -> list[str]:
        return [" ".join((e.text or "").split()) for e in root.findall(path) if (e.text or "").strip()]

    items = [("title", texts("title")), ("identifier", [record.ivoid]), ("creator", texts("curation/creator/name")),
             ("publisher", texts("curation/publisher")), ("subject", texts("content/subject")),
             ("description", texts("content/description")), ("date", [_stamp(record.updated)]),
             ("type", texts("content/type"))]
    body = "".join(f"<dc:{name}>{escape(value, quote=False)}</dc:{name}>" for name, values in items for value in values)
    return ('<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/">' + body + "</oai_dc:dc>")


# ----------------------------------------------------------------------------- lists and tokens

def _date(value: str, name: str, *, end: bool) -> tuple[datetime, str]:
    try:
        if _SECOND.match(value):
            return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC), "second"
        if _DAY.match(value):
            day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
            return (day + timedelta(days=1, seconds=-1) if end else day), "day"
    except ValueError:  # the shape is right but the date does not exist (2026-02-30)
        pass
    raise OaiError("badArgument", f"{name} must be a date YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ, not {value[:40]!r}")


def _list_request(args: dict[str, str]) -> _ListRequest:
    if "resumptionToken" in args:
        return _decode(args["resumptionToken"])
    prefix = _prefix(args["metadataPrefix"])
    start = end = None
    grains = []
    if "from" in args:
        start, grain = _date(args["from"], "from", end=False)
        grains.append(grain)
    if "until" in args:
        end, grain = _date(args["until"], "until", end=True)
        grains.append(grain)
    if len(set(grains)) > 1:
        raise OaiError("badArgument", "from and until must have the same granularity")
    if start is not None and end is not None and start > end:
        raise OaiError("badArgument", "from is later than until")
    filters = {k: v for k, v in args.items() if k in ("metadataPrefix", "from", "until", "set")}
    return _ListRequest(prefix, start, end, args.get("set"), args=filters)


def _page(args: dict[str, str], records: Sequence[Record], config: OaiConfig,
          request: _ListRequest | None = None) -> tuple[list[Record], str]:
    request = request or _list_request(args)
    matching = sorted(
        (r for r in records
         if (request.set_spec in (None, SET_SPEC))
         and (request.start is None or r.updated >= request.start)
         and (request.end is None or r.updated <= request.end)),
        key=lambda r: (_stamp(r.updated), r.ivoid.lower()))
    remaining = [r for r in matching if request.after is None or (_stamp(r.updated), r.ivoid.lower()) > request.after]
    if not remaining:
        if request.after is not None:
            raise OaiError("badResumptionToken", "the records this token continues have changed; start again")
        raise OaiError("noRecordsMatch", "no record matches these arguments")
    page = remaining[:config.page_size]
    cursor = request.cursor
    if len(remaining) > len(page):
        last = page[-1]
        token = _encode(request, (_stamp(last.updated), last.ivoid.lower()), cursor + len(page))
        element = (f'<resumptionToken completeListSize="{len(matching)}" cursor="{cursor}">{token}'
                   "</resumptionToken>")
    elif request.after is not None:
        element = f'<resumptionToken completeListSize="{len(matching)}" cursor="{cursor}"/>'
    else:
        element = ""
    return page, element


def _checksum(payload: bytes) -> str:
    return hashlib.sha256(b"skygate-oai\n" + payload).hexdigest()[:16]


def _encode(request: _ListRequest, after: tuple[str, str], cursor: int) -> str:
    payload = json.dumps({"a": request.args, "k": list(after), "c": cursor}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=") + "." + _checksum(payload)


def _decode(token: str) -> _ListRequest:
    bad = OaiError("badResumptionToken", "this resumption token was not issued by this registry")
    encoded, _, checksum = token.partition(".")
    try:
        payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        raise bad from None
    if not checksum or checksum != _checksum(payload):
        raise bad
    try:
        data = json.loads(payload)
        args = {str(k): str(v) for k, v in data["a"].items()}
        after = (str(data["k"][0]), str(data["k"][1]))
        cursor = int(data["c"])
        request = _list_request(args)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, OaiError):
        raise bad from None
    return _ListRequest(request.prefix, request.start, request.end, request.set_spec, after, cursor, request.args)
