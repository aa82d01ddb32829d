"""Readable XML: an ``<?xml-stylesheet?>`` processing instruction on the documents people open in a browser.

UWS job and job-list documents, VOSI capabilities, tables and availability, and VOTable error
documents (status 400 and above) get a PI pointing at ``static/xsl/skygate.xsl``, which a browser
applies to show a page; every other byte stays as the service wrote it, so machine clients
(pyvo, TOPCAT, taplint, the XSDs) read the same document: XML 1.0 §2.6 allows a PI after the
XML declaration, and schema validation ignores it. Result VOTables, which may be streamed and
large, are left alone. Pure ASGI: no framework.
Tests: tests/portal/test_readable.py.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["STYLESHEET_PATH", "ReadableXml", "add_stylesheet"]

STYLESHEET_PATH = "/static/xsl/skygate.xsl"
Message = MutableMapping[str, Any]
App = Callable[[MutableMapping[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
               Awaitable[None]]

_XML_TYPES = ("text/xml", "application/xml", "application/x-votable+xml")
# The XML declaration, then the root element's qualified name.
_HEAD = re.compile(rb"\A(<\?xml[^>]*\?>\s*)<([A-Za-z_][\w.:-]*)")
_DOCUMENTS = {b"uws:job", b"uws:jobs", b"vosi:capabilities", b"vosi:availability", b"vosi:tableset", b"vosi:table"}


def add_stylesheet(body: bytes, href: str, *, status: int) -> bytes | None:
    """``body`` with the stylesheet PI after its XML declaration, or None when it is not such a document."""
    head = _HEAD.match(body)
    if head is None:
        return None
    root = head.group(2)
    if root not in _DOCUMENTS and not (root == b"VOTABLE" and status >= 400):
        return None
    pi = f'<?xml-stylesheet type="text/xsl" href="{href}"?>\n'.encode()
    return body[:head.end(1)] + pi + body[head.end(1):]


class ReadableXml:
    """ASGI middleware adding the stylesheet PI (``add_stylesheet``) to the first body chunk of XML answers."""

    def __init__(self, app: App, stylesheet_url: str) -> None:
        self.app = app
        self.href = stylesheet_url.replace("&", "&amp;").replace('"', "&quot;")

    async def __call__(self, scope: MutableMapping[str, Any], receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: Message | None = None  # the response start, kept until the first body chunk is seen

        async def send_readable(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                if _is_xml(message):
                    held = message
                    return
                await send(message)
                return
            if message["type"] == "http.response.body" and held is not None:
                start, held = held, None
                body = message.get("body", b"")
                changed = add_stylesheet(body, self.href, status=int(start["status"])) if body else None
                if changed is not None:
                    start = {**start, "headers": _with_length(start.get("headers", []), len(changed) - len(body))}
                    message = {**message, "body": changed}
                await send(start)
            await send(message)

        await self.app(scope, receive, send_readable)


def _is_xml(start: Message) -> bool:
    for name, value in start.get("headers", []):
        if name.lower() == b"content-type":
            media = value.decode("latin-1").split(";")[0].strip().lower()
            return media in _XML_TYPES
    return False


def _with_length(headers: list[tuple[bytes, bytes]], grown: int) -> list[tuple[bytes, bytes]]:
    """The headers with Content-Length (when present) grown by ``grown`` bytes."""
    return [(k, str(int(v) + grown).encode()) if k.lower() == b"content-length" else (k, v) for k, v in headers]
