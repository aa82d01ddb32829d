"""Validate XML against the IVOA schemas in tests/conformance/xsd.

A document mixing namespaces (capabilities with tr:TableAccess; an OAI-PMH response holding
``ri:Resource`` records with ``vs:``, ``tr:``, ``cs:`` and ``vg:`` types) needs every schema at once,
so a small wrapper schema imports each namespace.
"""

from __future__ import annotations

from functools import cache

from lxml import etree

from tests.conformance import XSD_DIR as XSD

_FILES = {
    "http://www.ivoa.net/xml/VOTable/v1.3": "VOTable.xsd",
    "http://www.ivoa.net/xml/VOSICapabilities/v1.0": "VOSICapabilities.xsd",
    "http://www.ivoa.net/xml/VOSIAvailability/v1.0": "VOSIAvailability.xsd",
    "http://www.ivoa.net/xml/VOSITables/v1.0": "VOSITables.xsd",
    "http://www.ivoa.net/xml/VOResource/v1.0": "VOResource.xsd",
    "http://www.ivoa.net/xml/VODataService/v1.1": "VODataService.xsd",
    "http://www.ivoa.net/xml/TAPRegExt/v1.0": "TAPRegExt.xsd",
    "http://www.ivoa.net/xml/ConeSearch/v1.0": "ConeSearch.xsd",
    "http://www.ivoa.net/xml/SIA/v1.1": "SIA.xsd",
    "http://www.ivoa.net/xml/VORegistry/v1.0": "VORegistry.xsd",
    "http://www.ivoa.net/xml/RegistryInterface/v1.0": "RegistryInterface.xsd",
    "http://www.ivoa.net/xml/StandardsRegExt/v1.0": "StandardsRegExt.xsd",
    "http://www.openarchives.org/OAI/2.0/": "OAI-PMH.xsd",
    "http://www.openarchives.org/OAI/2.0/oai_dc/": "oai_dc.xsd",
}


@cache
def _schema() -> etree.XMLSchema:
    imports = "".join(
        f'<xs:import namespace="{ns}" schemaLocation="{(XSD / name).as_uri()}"/>' for ns, name in _FILES.items()
    )
    wrapper = f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">{imports}</xs:schema>'
    return etree.XMLSchema(etree.fromstring(wrapper.encode(), base_url=XSD.as_uri() + "/"))


def xsd_errors(document: bytes) -> list[str]:
    """Schema violations of ``document`` (empty when valid)."""
    schema = _schema()
    ok = schema.validate(etree.fromstring(document))
    return [] if ok else [str(e) for e in schema.error_log]


@cache
def uws_schema() -> etree.XMLSchema:
    """UWS.xsd (UWS 1.1), with its xlink import resolved from the same folder."""
    return etree.XMLSchema(etree.parse(str(XSD / "UWS.xsd")))
