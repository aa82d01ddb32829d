"""DALI request parameters: the one structure every service reads them from, and the common typed ones.

``DaliParams`` holds a request's fields in arrival order, text values and multipart file parts,
with case-insensitive names and repeated values (DALI 1.1 §4.1, §4.2). ``dali.form.read_request``
builds it from an HTTP request within the size limits; ``collect`` builds it from pairs (a stored
UWS job's parameters, a test). The DALI parameters every service shares are read here:
RESPONSEFORMAT (with its TAP synonym FORMAT), MAXREC, RUNID and UPLOAD.
No HTTP framework here. Tests: tests/dali/test_params.py, tests/dali/test_form.py.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dali.errors import UsageError

__all__ = [
    "RUNID_MAX",
    "DaliParams",
    "FilePart",
    "UploadRef",
    "collect",
    "parse_maxrec",
    "parse_upload",
]

RUNID_MAX = 64
_UPLOAD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


@dataclass(frozen=True, slots=True)
class FilePart:
    """One file part of a multipart body, kept by its form-field name (its bytes stay out of its repr,
    so that logging parameters never dumps an upload)."""

    field: str
    content: bytes = dataclasses.field(repr=False)
    filename: str | None = None
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class UploadRef:
    """One ``UPLOAD=name,URI`` value; ``uri`` is ``param:x`` for an inline part or an http(s) URL."""

    name: str
    uri: str

    @property
    def inline_field(self) -> str | None:
        """The multipart field holding the table for ``param:`` URIs, else None."""
        return self.uri[len("param:"):] if self.uri.startswith("param:") else None


@dataclass(frozen=True, slots=True)
class DaliParams:
    """The parameters of one request: every field in arrival order (query string first, then the
    body), each a text value or a multipart file part, names as sent.

    Names are compared case-insensitively and values kept as sent (DALI 1.1 §4.1, "Case
    Sensitivity"). A name may come more than once; whether it may is the service's rule (DALI 1.1
    §4.2, "Multiple Values"): ``getall`` returns every value, ``get`` refuses a second one.
    File parts are looked up by field name as sent (``UPLOAD=t,param:t`` refers to field ``t``).
    """

    items: tuple[tuple[str, str | FilePart], ...] = ()
    _values: Mapping[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        values: dict[str, list[str]] = {}
        for name, value in self.items:
            if isinstance(value, str):
                values.setdefault(name.strip().upper(), []).append(value)
        object.__setattr__(self, "_values", {name: tuple(found) for name, found in values.items()})

    @property
    def values(self) -> Mapping[str, tuple[str, ...]]:
        """Upper-case name -> its text values in arrival order."""
        return self._values

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """The text fields as ``(name as sent, value)``, in arrival order."""
        return [(name, value) for name, value in self.items if isinstance(value, str)]

    @property
    def files(self) -> Mapping[str, FilePart]:
        """The file parts by field name as sent (a name sent twice keeps the last part)."""
        return {value.field: value for _, value in self.items if isinstance(value, FilePart)}

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.strip().upper() in self._values

    def getall(self, name: str) -> tuple[str, ...]:
        """Every value of ``name`` (case-insensitive), possibly none."""
        return self._values.get(name.upper(), ())

    def get(self, name: str, default: str | None = None) -> str | None:
        """The single value of ``name``; sending it twice is a usage error (DALI 1.1 §4.2: single-valued)."""
        found = self.getall(name)
        if not found:
            return default
        if len(found) > 1:
            raise UsageError(
                f"{name.upper()} was given {len(found)} times; it takes one value",
                param=name.upper(),
                hint="send the parameter once",
            )
        return found[0]

    def require(self, name: str) -> str:
        """The single value of ``name``, which must be present and not blank."""
        value = self.get(name)
        if value is None or not value.strip():
            raise UsageError(f"the {name.upper()} parameter is required", param=name.upper())
        return value

    def responseformat(self) -> str | None:
        """RESPONSEFORMAT, or its TAP synonym FORMAT; None when neither was sent or it is blank."""
        value = self.get("RESPONSEFORMAT")
        if value is None or not value.strip():
            value = self.get("FORMAT")
        if value is None or not value.strip():
            return None
        return value.strip()

    def maxrec(self, default: int, hard: int) -> tuple[int, bool]:
        """MAXREC clamped to ``hard``; returns (limit, whether the caller asked for it explicitly)."""
        raw = self.get("MAXREC")
        if raw is None or not raw.strip():
            return min(default, hard), False
        return min(parse_maxrec(raw), hard), True

    def runid(self) -> str | None:
        """RUNID (at most 64 characters), echoed in results and job documents."""
        value = self.get("RUNID")
        if value is not None and len(value) > RUNID_MAX:
            raise UsageError(f"RUNID is longer than {RUNID_MAX} characters", param="RUNID")
        return value

    def uploads(self) -> tuple[UploadRef, ...]:
        """Every UPLOAD value parsed; names must be distinct (case-insensitive)."""
        refs: list[UploadRef] = []
        for raw in self.getall("UPLOAD"):
            for part in _split_uploads(raw):
                refs.append(parse_upload(part))
        seen: set[str] = set()
        for ref in refs:
            if ref.name.lower() in seen:
                raise UsageError(f"two uploads are called {ref.name}", param="UPLOAD", hint="use distinct names")
            seen.add(ref.name.lower())
        return tuple(refs)


def collect(
    pairs: Iterable[tuple[str, str]],
    files: Iterable[FilePart] = (),
) -> DaliParams:
    """A ``DaliParams`` of parameters that did not come from an HTTP request (a stored job's, a test's).

    Parameters
    ----------
    pairs
        ``(name, value)`` in arrival order.
    files
        File parts, after the pairs.

    Returns
    -------
    DaliParams
        The same structure ``dali.form.read_request`` returns for a request.
    """
    return DaliParams((*pairs, *((part.field, part) for part in files)))


def parse_maxrec(raw: str) -> int:
    """A MAXREC value: a non-negative integer."""
    try:
        value = int(raw.strip())
    except ValueError:
        raise UsageError(f"MAXREC must be a non-negative integer, not {raw[:40]!r}", param="MAXREC") from None
    if value < 0:
        raise UsageError("MAXREC must not be negative", param="MAXREC", hint="0 asks for metadata only")
    return value


def parse_upload(raw: str) -> UploadRef:
    """One ``name,URI`` pair; the name is an ADQL regular identifier, the URI param:, http: or https:."""
    name, sep, uri = raw.partition(",")
    name, uri = name.strip(), uri.strip()
    if not sep or not name or not uri:
        raise UsageError(f"UPLOAD must be 'name,URI', not {raw[:80]!r}", param="UPLOAD",
                         hint="e.g. UPLOAD=t1,param:t1 with a file part t1")
    if not _UPLOAD_NAME.match(name):
        raise UsageError(f"upload name {name[:40]!r} is not a valid table name", param="UPLOAD",
                         hint="start with a letter; use letters, digits and _")
    scheme = uri.split(":", 1)[0].lower()
    if scheme not in {"param", "http", "https"}:
        raise UsageError(f"upload URI scheme {scheme[:20]!r} is not supported", param="UPLOAD",
                         hint="use param:, http: or https:")
    if scheme == "param" and not uri[len("param:"):]:
        raise UsageError("UPLOAD param: URI names no multipart field", param="UPLOAD")
    return UploadRef(name=name, uri=uri)


def _split_uploads(raw: str) -> list[str]:
    """TAP 1.0 allowed several ``name,URI`` pairs in one value separated by ';'."""
    return [part for part in raw.split(";") if part.strip()]
