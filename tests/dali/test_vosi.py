"""VOSI capabilities and availability documents validate against the IVOA schemas."""

from __future__ import annotations

from datetime import UTC, datetime

from lxml import etree

from dali.vosi import (
    Capability,
    Interface,
    availability,
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


async def test_availability_runs_every_check_and_reports_each_problem() -> None:
    async def fine() -> str | None:
        return None

    async def down() -> str | None:
        return "the job broker is not answering"

    async def broken() -> str | None:
        raise OSError("connection refused to 10.0.0.1")

    up = await availability([fine, fine], up_since=None, ready="accepting queries")
    assert xsd_errors(up) == [] and b"<vosi:available>true" in up and b"accepting queries" in up
    data = await availability([fine, down, broken], up_since=None, ready="accepting queries")
    assert xsd_errors(data) == [] and b"<vosi:available>false" in data
    assert b"the job broker is not answering" in data and b"a health check of the service failed" in data
    assert b"10.0.0.1" not in data and b"accepting queries" not in data
