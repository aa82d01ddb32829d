"""Who publishes the records, and under which authority: the curation block and the IVOA identifiers.

The curation metadata (publisher, creator, contact, reference URL, subjects, content level, rights)
comes from one TOML file (``SKYGATE_REGISTRY_METADATA``); every key has a documented default so a
fresh install publishes valid records. The authority comes from ``SKYGATE_AUTHORITY``; the default
``skygate.example`` is a placeholder under the ``.example`` name reserved by RFC 2606, so it can
never collide with a registered authority; records under it say so in their description, the CLI
warns, and ``skygate serve`` refuses it for a public service (``check_public_authority``: a
``SKYGATE_BASE_URL`` that is not a loopback address, the one way a site is published).
Identifiers follow IVOA Identifiers 2.0 §2: ``ivo://{authority}/{resource key}``.
Tests: tests/registry/test_records.py.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dali.errors import UsageError

__all__ = ["PLACEHOLDER_AUTHORITY", "Curation", "check_authority", "check_public_authority", "ivoid", "load_curation"]

PLACEHOLDER_AUTHORITY = "skygate.example"
# IVOA Identifiers 2.0 §2.2: an authority ID starts with an alphanumeric and holds at least three
# characters from the unreserved set.
_AUTHORITY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]{2,}\Z")
_CONTENT_LEVELS = frozenset({"General", "Elementary Education", "Middle School Education",
                             "Secondary Education", "Community College", "University", "Research",
                             "Amateur", "Informal Education"})


@dataclass(frozen=True, slots=True)
class Curation:
    """The curation and content metadata common to every record (VOResource 1.1 §3.1, §3.2).

    ``created`` is when the resources were first published (the records' ``created``);
    ``subjects`` are Unified Astronomy Thesaurus concepts.
    """

    title: str = "Skygate data release"
    short_name: str = "Skygate"
    description: str = ("A survey data release served through IVOA standards: TAP, SIA 2, SODA, DataLink, "
                        "Simple Cone Search and UWS job services.")
    publisher: str = "Skygate operator (unconfigured)"
    creator: str = "Skygate operator (unconfigured)"
    contact_name: str = "Skygate operator"
    contact_email: str = "skygate@skygate.example"
    reference_url: str = ""
    subjects: tuple[str, ...] = ("surveys", "catalogs", "astronomical-databases")
    content_level: tuple[str, ...] = ("Research",)
    rights: str = "Public data; please acknowledge the survey release in publications."
    rights_uri: str = ""
    waveband: tuple[str, ...] = ("Optical",)
    created: datetime = datetime(2026, 1, 1, tzinfo=UTC)


def load_curation(path: str | Path | None) -> Curation:
    """The curation metadata from the TOML file at ``path`` (the defaults when ``path`` is empty).

    Raises
    ------
    UsageError
        Unreadable file, TOML syntax error, unknown key, or a value of the wrong type.
    """
    if not path:
        return Curation()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read the registry metadata file {str(path)[:200]}",
                         param="SKYGATE_REGISTRY_METADATA") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"the registry metadata file is not valid TOML: {exc}",
                         param="SKYGATE_REGISTRY_METADATA") from exc
    return curation_from(data)


def curation_from(data: Mapping[str, Any]) -> Curation:
    """A ``Curation`` from parsed TOML (keys as the field names)."""
    known = {f.name: f for f in fields(Curation)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise UsageError(f"unknown registry metadata key {key!r}", param="SKYGATE_REGISTRY_METADATA",
                             hint="known keys: " + ", ".join(known))
        values[key] = _value(key, value, getattr(Curation(), key))
    unknown_levels = set(values.get("content_level", ())) - _CONTENT_LEVELS
    if unknown_levels:
        raise UsageError(f"content_level {min(unknown_levels)!r} is not a VOResource content level",
                         param="SKYGATE_REGISTRY_METADATA", hint="e.g. Research, University, General")
    return Curation(**values)


def _value(key: str, value: Any, default: Any) -> Any:
    wrong = UsageError(f"registry metadata {key} must be {type(default).__name__.replace('tuple', 'a list')}",
                       param="SKYGATE_REGISTRY_METADATA")
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value) or not value:
            raise wrong
        return tuple(v.strip() for v in value)
    if isinstance(default, datetime):
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if hasattr(value, "year"):  # a TOML local date
            return datetime(value.year, value.month, value.day, tzinfo=UTC)
        raise wrong
    if not isinstance(value, str):
        raise wrong
    return value.strip()


def check_authority(authority: str) -> str:
    """``authority`` when it is a valid IVOA authority ID.

    Raises
    ------
    UsageError
        For an empty or malformed authority.
    """
    if not _AUTHORITY.match(authority):
        raise UsageError(f"{authority[:80]!r} is not an IVOA authority ID", param="SKYGATE_AUTHORITY",
                         hint="at least three characters: letters, digits and ._~- (e.g. data.example.org)")
    return authority


def check_public_authority(authority: str, base_url: str) -> None:
    """Refuse the placeholder authority for a service published at a public address.

    Raises
    ------
    UsageError
        When ``authority`` is ``skygate.example`` and ``base_url``'s host is not a loopback address
        (localhost, 127.0.0.0/8, ::1): records with identifiers nobody owns would go out.
    """
    host = (urlsplit(base_url).hostname or "").lower()
    loopback = host == "localhost" or host.endswith(".localhost")
    with contextlib.suppress(ValueError):
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    if authority == PLACEHOLDER_AUTHORITY and not loopback:
        raise UsageError(f"SKYGATE_AUTHORITY is the placeholder {PLACEHOLDER_AUTHORITY}, which a service published at "
                         f"{base_url[:120]} may not use", param="SKYGATE_AUTHORITY",
                         hint="set SKYGATE_AUTHORITY to your own IVOA naming authority (README: Registry records)")


def ivoid(authority: str, key: str = "") -> str:
    """``ivo://{authority}/{key}`` (the authority's own record when ``key`` is empty)."""
    return f"ivo://{authority}/{key}" if key else f"ivo://{authority}"
