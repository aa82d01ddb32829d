"""VOSI capabilities and availability documents validate against the IVOA schemas."""

from __future__ import annotations

from datetime import UTC, datetime

from lxml import etree

from dali.vosi import (
    Capability,
    Interface,
    availability_document,
    capabilities_document,
    support_capabilities,
)
from tests.dali.xmlschema import xsd_errors


def test_capabilities_document_validates_and_binds_xsi() -> None:
    base = "http://127.0.0.1:8000/tap"
    caps = (Capability("ivo://ivoa.net/std/TAP", (Interface(base, use="base", role="std", version="1.1"),)),
            *support_capabilities(base, tables=True, examples=True))
    data = capabilities_document(caps)
    assert xsd_errors(data) == []
    root = etree.fromstring(data)
    assert root.nsmap["xsi"] == "http://www.w3.org/2001/XMLSchema-instance"
    urls = root.xpath("//accessURL/text()")
    assert urls == [base, f"{base}/capabilities", f"{base}/availability", f"{base}/tables", f"{base}/examples"]


def test_availability_document_validates() -> None:
    data = availability_document(True, up_since=datetime(2026, 1, 1, tzinfo=UTC), notes=["all good <3"])
    assert xsd_errors(data) == []
    assert b"<vosi:available>true</vosi:available>" in data
    assert b"2026-01-01T00:00:00Z" in data
    assert xsd_errors(availability_document(False)) == []
