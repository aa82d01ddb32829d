"""The front page: a plain HTML list of the services and the release's tables.

Tests: tests/skygate/test_app.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["ServiceLink", "render_portal"]


@dataclass(frozen=True, slots=True)
class ServiceLink:
    path: str
    title: str
    description: str


def render_portal(base_url: str, services: Sequence[ServiceLink], tables: Sequence[tuple[str, str]]) -> str:
    """The portal page; ``tables`` holds (qualified name, description) pairs."""
    service_items = "\n".join(
        f'<li><a href="{escape(base_url + s.path)}">{escape(s.title)}</a> '
        f"<code>{escape(base_url + s.path)}</code> — {escape(s.description)}</li>"
        for s in services
    )
    table_rows = "\n".join(
        f"<tr><td><code>{escape(name)}</code></td><td>{escape(desc)}</td></tr>" for name, desc in tables
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Skygate</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}}
td{{padding:.2em 1em .2em 0;vertical-align:top}}code{{background:#f4f4f4}}</style></head>
<body><h1>Skygate</h1>
<p>IVOA Virtual Observatory services for this data release. Point TOPCAT, Aladin, pyvo or curl at
the URLs below.</p>
<h2>Services</h2><ul>
{service_items}
</ul>
<h2>Tables</h2>
<table><tr><th>table</th><th>description</th></tr>
{table_rows}
</table>
</body></html>
"""
