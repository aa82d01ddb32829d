"""VOSI 1.1 availability and capabilities documents.

A service describes its endpoints as ``Capability`` values; ``capabilities_document`` renders them
(``xsi`` bound to the XML Schema instance namespace: pyvo finds ``xsi:type`` by that literal prefix).
``support_capabilities`` lists the VOSI entries every DALI service repeats. TAP's TAPRegExt content
is passed in pre-rendered as ``Capability.body``. ``availability`` asks a service's health checks (the
database, the job store and broker) and says what is wrong; every service answers its
``/availability`` with it. No HTTP here.
Tests: tests/dali/test_vosi.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

__all__ = [
    "NAMESPACES",
    "XML_MEDIA_TYPE",
    "Capability",
    "Check",
    "Interface",
    "availability",
    "availability_document",
    "capabilities_document",
    "support_capabilities",
]

XML_MEDIA_TYPE = "text/xml"
NAMESPACES = {
    "vosi": "http://www.ivoa.net/xml/VOSICapabilities/v1.0",
    "vr": "http://www.ivoa.net/xml/VOResource/v1.0",
    "vs": "http://www.ivoa.net/xml/VODataService/v1.1",
    "tr": "http://www.ivoa.net/xml/TAPRegExt/v1.0",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}
_AVAILABILITY_NS = "http://www.ivoa.net/xml/VOSIAvailability/v1.0"
# A health check that takes longer than this counts as failed: the answer must come while the
# client (a registry, a monitor) still waits.
_CHECK_SECONDS = 10.0
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Interface:
    """A ``<interface>``: where a capability is reached."""

    access_url: str
    use: str = "full"
    xsi_type: str = "vs:ParamHTTP"
    role: str | None = None
    version: str | None = None


@dataclass(frozen=True, slots=True)
class Capability:
    """A ``<capability>``; ``body`` is extra XML after the interfaces (e.g. TAPRegExt elements)."""

    standard_id: str
    interfaces: tuple[Interface, ...]
    xsi_type: str | None = None
    body: str = ""
    description: str | None = None


def _interface(interface: Interface) -> str:
    attrs = f'xsi:type="{interface.xsi_type}"'
    if interface.role:
        attrs += f' role="{escape(interface.role)}"'
    if interface.version:
        attrs += f' version="{escape(interface.version)}"'
    return (f"  <interface {attrs}><accessURL use=\"{interface.use}\">{escape(interface.access_url)}"
            "</accessURL></interface>\n")


def _capability(cap: Capability) -> str:
    attrs = f'standardID="{escape(cap.standard_id)}"'
    if cap.xsi_type:
        attrs += f' xsi:type="{escape(cap.xsi_type)}"'
    inner = "".join(_interface(i) for i in cap.interfaces)
    if cap.description:
        inner = f"  <description>{escape(cap.description, quote=False)}</description>\n{inner}"
    return f" <capability {attrs}>\n{inner}{cap.body}</capability>\n"


def capabilities_document(capabilities: Sequence[Capability]) -> bytes:
    """The ``vosi:capabilities`` document listing ``capabilities`` in order."""
    ns = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in NAMESPACES.items())
    body = "".join(_capability(c) for c in capabilities)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<vosi:capabilities {ns}>\n{body}</vosi:capabilities>\n'.encode()


def support_capabilities(base_url: str, *, tables: bool = False, examples: bool = False) -> tuple[Capability, ...]:
    """The VOSI (and DALI examples) capabilities of a service rooted at ``base_url``.

    accessURLs are ``base_url`` + ``/capabilities``, ``/availability``, ``/tables``, ``/examples``
    exactly (taplint W-CAP-CPUL compares them with the base).
    """
    caps = [
        Capability("ivo://ivoa.net/std/VOSI#capabilities", (Interface(f"{base_url}/capabilities"),)),
        Capability("ivo://ivoa.net/std/VOSI#availability", (Interface(f"{base_url}/availability"),)),
    ]
    if tables:
        caps.append(Capability("ivo://ivoa.net/std/VOSI#tables-1.1",
                               (Interface(f"{base_url}/tables", use="base", version="1.1"),)))
    if examples:
        caps.append(Capability("ivo://ivoa.net/std/DALI#examples",
                               (Interface(f"{base_url}/examples", xsi_type="vr:WebBrowser"),)))
    return tuple(caps)


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def availability_document(
    available: bool,
    *,
    up_since: datetime | None = None,
    notes: Sequence[str] = (),
) -> bytes:
    """The ``vosi:availability`` document."""
    parts = [f"  <vosi:available>{'true' if available else 'false'}</vosi:available>\n"]
    if up_since is not None:
        parts.append(f"  <vosi:upSince>{_timestamp(up_since)}</vosi:upSince>\n")
    parts.extend(f"  <vosi:note>{escape(note, quote=False)}</vosi:note>\n" for note in notes)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<vosi:availability xmlns:vosi="{_AVAILABILITY_NS}">\n{"".join(parts)}</vosi:availability>\n'
    ).encode()


Check = Callable[[], Awaitable[str | None]]
"""A health check: what is wrong (a sentence for users), or None when all is well."""


async def availability(checks: Sequence[Check], *, up_since: datetime | None, ready: str) -> bytes:
    """The ``vosi:availability`` document of a service whose health ``checks`` are run now
    (together): available when none reports a problem, with each problem as a note, else with the
    note ``ready``. A check that raises or takes over ten seconds reports that it failed.

    Parameters
    ----------
    checks
        The service's checks (the release's database, the job store and broker, ...).
    up_since
        When the service started (``upSince``).
    ready
        The note when every check passes.
    """
    problems = [p for p in await asyncio.gather(*(_run(c) for c in checks)) if p]
    return availability_document(not problems, up_since=up_since, notes=problems or [ready])


async def _run(check: Check) -> str | None:
    try:
        return await asyncio.wait_for(check(), _CHECK_SECONDS)
    except Exception:  # noqa: BLE001 (any failure means "not available"; logged)
        _log.warning("an availability check failed", exc_info=True)
        return "a health check of the service failed"
