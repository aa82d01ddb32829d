"""``/registry`` for people: a plain HTML page listing every published resource and its endpoints.

Server-rendered from the same records the OAI-PMH endpoint serves (so the page cannot disagree
with what harvesters see); no script, no styling framework. Tests: tests/registry/test_oai.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from lxml import etree

from registry.ledger import Record

__all__ = ["render_page"]

_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
_KINDS = {
    "vg:Authority": "naming authority", "vg:Registry": "publishing registry", "vs:CatalogService": "data service",
    "vr:Service": "service", "vstd:Standard": "service description",
}


def _endpoints(record: Record) -> list[tuple[str, str]]:
    """(standardID or capability type, accessURL) of each capability interface."""
    if record.xml is None:
        return []
    root = etree.fromstring(record.xml)
    found = []
    for cap in root.findall("capability"):
        label = cap.get("standardID") or cap.get(_XSI_TYPE) or "capability"
        for url in cap.findall("interface/accessURL"):
            found.append((label, (url.text or "").strip()))
    return found


def _description(record: Record) -> str:
    if record.xml is None:
        return ""
    text = etree.fromstring(record.xml).findtext("content/description") or ""
    return " ".join(text.split())


def render_page(records: Sequence[Record], *, title: str, oai_url: str) -> str:
    """The page: one section per record (deleted ones listed last, as such)."""
    sections = []
    for record in sorted(records, key=lambda r: (r.deleted, r.ivoid.lower())):
        if record.deleted:
            sections.append(f"<li><del>{escape(record.ivoid)}</del> — removed {record.updated:%Y-%m-%d}</li>")
            continue
        endpoints = "".join(
            f"<li><code>{escape(label)}</code>: <a href=\"{escape(url)}\">{escape(url)}</a></li>"
            for label, url in _endpoints(record))
        sections.append(
            f"<li><h2>{escape(record.title)}</h2>"
            f"<p><code>{escape(record.ivoid)}</code> · {escape(_KINDS.get(record.xsi_type, record.xsi_type))} · "
            f"updated {record.updated:%Y-%m-%d %H:%M} UTC · "
            f"<a href=\"{escape(oai_url)}?verb=GetRecord&amp;metadataPrefix=ivo_vor&amp;identifier="
            f"{escape(record.ivoid)}\">record</a></p>"
            f"<p>{escape(_description(record))}</p>"
            + (f"<ul>{endpoints}</ul>" if endpoints else "") + "</li>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title></head><body>
<h1>{escape(title)}</h1>
<p>The resources this deployment publishes to the Virtual Observatory. Harvest them with OAI-PMH at
<a href="{escape(oai_url)}?verb=Identify">{escape(oai_url)}</a>.</p>
<ul>
{chr(10).join(sections)}
</ul></body></html>
"""
