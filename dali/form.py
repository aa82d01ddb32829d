"""Read a request's parameters — query string, urlencoded or multipart body — within fixed limits.

The one parameter collector of every service's HTTP edge (TAP, UWS job lists, SIA, SODA,
DataLink): ``read_request`` takes the raw query string, the Content-Type and Content-Length
headers and the body as an async iterable of chunks (Starlette's ``request.stream()``), and gives
back one ``dali.params.DaliParams``: the fields in arrival order (query string first), text values
and multipart file parts, names case-insensitive. The limits are applied here, once, while the
body arrives, so no service holds more than ``FormLimits.body_max_bytes`` of one request in memory:

- the whole body (``body_max_bytes``, the ``SKYGATE_BODY_MAX_BYTES`` setting) → 413;
- more than ``max_fields`` fields (query string and body together) → 413;
- a field that is not a file part over ``field_max_bytes`` → 413 (a QUERY, a POS, a position
  list: files go in file parts);
- more than ``max_files`` file parts, or one over ``file_max_bytes`` (when set) → 413;
- a multipart body without a boundary, or one that does not parse → 400;
- a name or value that is not UTF-8 or holds a control character (NUL included; tab, CR and LF
  are allowed in values, for multi-line ADQL) → 400 naming the parameter.

The time the body takes is bounded before it gets here, for every reader alike:
``dali.deadline.BodyDeadline`` (``SKYGATE_BODY_TIMEOUT``) → ``BodyTimeoutError``, answered 408.

Each service turns the error into its own error document (a DALI VOTable, SODA text, a UWS
error). No HTTP framework here (python-multipart parses the parts). Tests: tests/dali/test_form.py.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from dali.errors import TooLargeError, UsageError
from dali.params import DaliParams, FilePart

__all__ = ["FIELD_MAX_BYTES", "MAX_FIELDS", "MAX_FILES", "FormLimits", "HttpRequest", "check_announced",
           "read_body", "read_form", "read_request"]

MAX_FIELDS = 1000
MAX_FILES = 100
FIELD_MAX_BYTES = 1024 * 1024
_BODY_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# C0 controls and DEL; tab, LF and CR are allowed in values (ADQL spans lines).
_CONTROL_IN_VALUE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_IN_NAME = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class FormLimits:
    """How much of one request is read (see the module docstring)."""

    body_max_bytes: int = 64_000_000
    max_fields: int = MAX_FIELDS
    field_max_bytes: int = FIELD_MAX_BYTES
    max_files: int = MAX_FILES
    # None: a file part is held to the body limit only (a UWS job stores it; TAP sync sets its upload limit).
    file_max_bytes: int | None = None


class HttpRequest(Protocol):
    """What ``read_request`` uses of a request (Starlette's ``Request`` is one)."""

    @property
    def method(self) -> str: ...

    @property
    def scope(self) -> MutableMapping[str, Any]: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    def stream(self) -> AsyncIterator[bytes]: ...


_SCOPE_KEY = "dali.form"


async def read_request(request: HttpRequest, limits: FormLimits) -> DaliParams:
    """Every parameter of ``request``, read once (kept in the ASGI scope for a second caller).

    The body is read for POST and PUT only; see ``read_form`` for the limits and errors.

    Parameters
    ----------
    request
        The request (Starlette's ``Request``).
    limits
        What is refused, and when (the limits of the first caller, which reads the body).

    Returns
    -------
    DaliParams
        Query-string fields, then body fields and file parts, in arrival order.

    Raises
    ------
    TooLargeError
        Over a limit (HTTP 413).
    UsageError
        A malformed body, or a name or value that is not clean UTF-8 text (HTTP 400).
    """
    cached = request.scope.get(_SCOPE_KEY)
    if isinstance(cached, DaliParams):
        return cached
    has_body = request.method in ("POST", "PUT")
    form = await read_form(request.scope.get("query_string", b""), request.headers.get("content-type"),
                           request.stream() if has_body else None, limits,
                           content_length=request.headers.get("content-length"))
    request.scope[_SCOPE_KEY] = form
    return form


async def read_form(
    query_string: bytes | str,
    content_type: str | None,
    body: AsyncIterable[bytes] | None,
    limits: FormLimits,
    *,
    content_length: str | None = None,
) -> DaliParams:
    """Every parameter of a request, from its parts (``read_request`` of a Starlette request).

    Parameters
    ----------
    query_string
        The raw (still percent-encoded) query string.
    content_type
        The Content-Type header; bodies of other types than urlencoded and multipart are not read.
    body
        The body's chunks, or None for a GET.
    limits
        What is refused, and when.
    content_length
        The Content-Length header: a body announced larger than the limit is refused unread.

    Raises
    ------
    TooLargeError
        Over a limit (HTTP 413).
    UsageError
        A malformed body, or a name or value that is not clean UTF-8 text (HTTP 400).
    """
    collector = _Collector(limits)
    raw_query = query_string if isinstance(query_string, str) else query_string.decode("latin-1")
    collector.add_urlencoded(raw_query, where="the query string")
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if body is None or kind not in _BODY_TYPES:
        return DaliParams(tuple(collector.items))
    check_announced(content_length, limits.body_max_bytes, lambda: _body_too_large(limits))
    if kind == "multipart/form-data":
        await _read_multipart(content_type or "", body, collector, limits)
    else:
        data = await read_body(body, limits.body_max_bytes, lambda: _body_too_large(limits))
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            raise UsageError("the urlencoded body holds bytes that are not percent-encoded",
                             hint="encode the form with application/x-www-form-urlencoded rules") from None
        collector.add_urlencoded(text, where="the body")
    return DaliParams(tuple(collector.items))


class _Collector:
    """Fields as they are found, counted and checked against the limits."""

    def __init__(self, limits: FormLimits) -> None:
        self.limits = limits
        self.items: list[tuple[str, str | FilePart]] = []
        self.files = 0

    def add_urlencoded(self, text: str, *, where: str) -> None:
        for chunk in text.split("&"):
            if not chunk:
                continue
            name, _, value = chunk.partition("=")
            self.count()
            self.add(_decode(name, where, None), _decode(value, where, name))

    def add(self, name: str, value: str) -> None:
        name = name.strip()
        _check_name(name)
        if len(value.encode()) > self.limits.field_max_bytes:
            raise _field_too_large(name, self.limits)
        if _CONTROL_IN_VALUE.search(value):
            raise UsageError(f"{_shown(name)} holds a control character", param=name.upper(),
                             hint="parameter values are text: no NUL or other control characters")
        self.items.append((name, value))

    def add_file(self, part: FilePart) -> None:
        _check_name(part.field)
        self.files += 1
        if self.files > self.limits.max_files:
            raise TooLargeError(f"the request has more than {self.limits.max_files} file parts",
                                hint="send fewer files")
        self.items.append((part.field, part))

    def count(self) -> None:
        """One more field; refused past ``max_fields``."""
        if len(self.items) >= self.limits.max_fields:
            raise TooLargeError(f"the request has more than {self.limits.max_fields} parameters",
                                hint="send fewer parameters; put long lists in an uploaded table")


def _decode(text: str, where: str, name: str | None) -> str:
    """Percent-decode one urlencoded name or value as UTF-8 ('+' is a space)."""
    try:
        return urllib.parse.unquote_plus(text, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        what = f"the value of {_shown(name)}" if name is not None else "a parameter name"
        raise UsageError(f"{what} in {where} is not UTF-8 text", param=name.strip().upper() if name else None,
                         hint="percent-encode UTF-8 bytes") from None


def _check_name(name: str) -> None:
    if not name:
        raise UsageError("a parameter has an empty name", hint="send name=value pairs")
    if _CONTROL_IN_NAME.search(name):
        raise UsageError(f"the parameter name {_shown(name)} holds a control character")


def _shown(name: str | None) -> str:
    """A parameter name for a message: upper case, control characters escaped, short."""
    text = (name or "").strip().upper()[:40]
    return repr(text)[1:-1] if _CONTROL_IN_NAME.search(text) else text


def _field_too_large(name: str, limits: FormLimits) -> TooLargeError:
    return TooLargeError(f"the parameter {_shown(name)} is longer than {limits.field_max_bytes} bytes",
                         param=name.strip().upper() or None,
                         hint="send long content (tables, position lists) as a file part")


def check_announced(content_length: str | None, max_bytes: int, too_large: Callable[[], TooLargeError]) -> None:
    """Refuse, unread, a body whose Content-Length says it is over ``max_bytes`` (``too_large()``)."""
    if content_length is None:
        return
    try:
        announced = int(content_length)
    except ValueError:
        raise UsageError("the Content-Length header is not a number") from None
    if announced > max_bytes:
        raise too_large()


def _body_too_large(limits: FormLimits) -> TooLargeError:
    return TooLargeError(f"the request body is larger than {limits.body_max_bytes} bytes",
                         hint="upload large tables by URL (UPLOAD=name,https://...) or split the request")


async def read_body(body: AsyncIterable[bytes], max_bytes: int, too_large: Callable[[], TooLargeError]) -> bytes:
    """All of ``body``, refused with ``too_large()`` as soon as it passes ``max_bytes``."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in body:
        size += len(chunk)
        if size > max_bytes:
            raise too_large()
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(slots=True)
class _Part:
    """The multipart part being read."""

    headers: dict[bytes, bytes] = field(default_factory=dict)
    header_name: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    data: bytearray = field(default_factory=bytearray)
    name: str = ""
    filename: str | None = None
    is_file: bool = False


async def _read_multipart(content_type: str, body: AsyncIterable[bytes], collector: _Collector,
                          limits: FormLimits) -> None:
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise UsageError("the multipart body has no boundary",
                         hint="send Content-Type: multipart/form-data; boundary=...")
    parts: list[_Part] = []
    state = {"ended": False}

    def begin() -> None:
        parts.append(_Part())

    def header_field(data: bytes, start: int, end: int) -> None:
        parts[-1].header_name += data[start:end]

    def header_value(data: bytes, start: int, end: int) -> None:
        parts[-1].header_value += data[start:end]

    def header_end() -> None:
        part = parts[-1]
        part.headers[bytes(part.header_name).lower()] = bytes(part.header_value)
        part.header_name.clear()
        part.header_value.clear()

    def headers_finished() -> None:
        part = parts[-1]
        disposition, params = parse_options_header(part.headers.get(b"content-disposition"))
        if disposition != b"form-data" or b"name" not in params:
            raise UsageError("a multipart part has no Content-Disposition: form-data; name=...")
        part.name = _part_text(params[b"name"])
        part.is_file = b"filename" in params
        part.filename = _part_text(params[b"filename"]) if part.is_file else None
        if not part.is_file:
            collector.count()

    def data(chunk: bytes, start: int, end: int) -> None:
        part = parts[-1]
        part.data += chunk[start:end]
        if not part.is_file and len(part.data) > limits.field_max_bytes:
            raise _field_too_large(part.name, limits)
        if part.is_file and limits.file_max_bytes is not None and len(part.data) > limits.file_max_bytes:
            raise TooLargeError(f"the uploaded part {_shown(part.name)} is larger than {limits.file_max_bytes} bytes",
                                param="UPLOAD", hint="upload fewer rows or columns, or give the table by URL")

    def part_end() -> None:
        part = parts.pop()
        if part.is_file:
            content_type = part.headers.get(b"content-type")
            collector.add_file(FilePart(part.name, bytes(part.data), part.filename,
                                        content_type.decode("latin-1") if content_type else None))
        else:
            try:
                text = bytes(part.data).decode("utf-8")
            except UnicodeDecodeError:
                raise UsageError(f"the value of {_shown(part.name)} is not UTF-8 text", param=part.name.upper(),
                                 hint="send binary content as a file part (with a filename)") from None
            collector.add(part.name, text)

    def ended() -> None:
        state["ended"] = True

    parser = MultipartParser(boundary, {
        "on_part_begin": begin, "on_header_field": header_field, "on_header_value": header_value,
        "on_header_end": header_end, "on_headers_finished": headers_finished, "on_part_data": data,
        "on_part_end": part_end, "on_end": ended,
    })
    size = 0
    try:
        async for chunk in body:
            size += len(chunk)
            if size > limits.body_max_bytes:
                raise _body_too_large(limits)
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError:
        raise UsageError("the multipart body is malformed", hint="check the boundary and the part headers") from None
    if not state["ended"]:
        raise UsageError("the multipart body ends before its closing boundary",
                         hint="check the boundary and that the whole body was sent")


def _part_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
