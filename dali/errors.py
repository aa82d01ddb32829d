"""The three kinds of error every Skygate layer raises.

``UsageError``: the caller can fix it (bad parameter, bad query); logged at info. Its
``TooLargeError`` says the request is over a size limit (HTTP 413 instead of 400), its
``NotFoundError`` that the thing named does not exist (404).
``TransientError``: try again later (database busy, broker down); may say when (Retry-After).
``FatalError``: our fault; logged with a traceback.

``fault_name`` and ``http_status`` are the one mapping of a kind to the DALI fault word and the HTTP
status that every protocol edge (TAP, SIA, DataLink, SODA, UWS) answers with. Messages are our
own sentences, safe to show to users: no library exception text, no tracebacks.
Tests: tests/dali/test_errors.py.
"""

from __future__ import annotations

import re

__all__ = [
    "FatalError",
    "NotFoundError",
    "SkygateError",
    "TooLargeError",
    "TransientError",
    "UsageError",
    "clean_message",
    "error_headers",
    "escaped",
    "fault_name",
    "http_status",
]

_CONTROL = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")
# Line breaks and other controls a log reader would take for a new record (log forging).
_LOG_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_LOG_MAX = 2000


def clean_message(text: str) -> str:
    """Strip terminal colour codes and control characters from a message meant for users."""
    return _CONTROL.sub("", text).strip()


def escaped(text: object) -> str:
    """Text that came from a user, safe to log: one line, control characters written as Python
    escapes (a newline becomes ``\\n``), at most 2,000 characters."""
    value = str(text)
    if len(value) > _LOG_MAX:
        value = value[:_LOG_MAX] + "..."
    return _LOG_UNSAFE.sub(lambda m: repr(m.group())[1:-1], value)


class SkygateError(Exception):
    """Base of the three kinds; carries the parameter at fault and a hint."""

    kind = "fatal"

    def __init__(self, message: str, *, param: str | None = None, hint: str | None = None) -> None:
        self.message = clean_message(message)
        self.param = param
        self.hint = clean_message(hint) if hint else None
        super().__init__(self.message)

    def __str__(self) -> str:
        text = self.message
        if self.hint:
            text = f"{text} ({self.hint})"
        return text


class UsageError(SkygateError):
    """The caller's request is wrong and the caller can fix it."""

    kind = "usage"


class TooLargeError(UsageError):
    """A usage error of size: the request is over a documented limit (HTTP 413)."""


class NotFoundError(UsageError):
    """A usage error of naming: the dataset, table or job named does not exist (HTTP 404)."""


class TransientError(SkygateError):
    """A temporary failure; the same request may succeed later, after ``retry_after`` seconds
    when that is known."""

    kind = "transient"

    def __init__(self, message: str, *, param: str | None = None, hint: str | None = None,
                 retry_after: int | None = None) -> None:
        super().__init__(message, param=param, hint=hint)
        self.retry_after = retry_after


class FatalError(SkygateError):
    """An internal failure; not the caller's fault."""

    kind = "fatal"


def fault_name(exc: BaseException) -> str:
    """The fault word that starts a DALI error message: ``UsageFault``, ``NotFoundFault``,
    ``TransientFault`` or ``FatalFault`` (SIA 2.0 §2.4 and DataLink 1.1 §3.4 name these; TAP uses
    the same words). Anything that is not one of our errors is a ``FatalFault``."""
    if isinstance(exc, NotFoundError):
        return "NotFoundFault"
    if isinstance(exc, UsageError):
        return "UsageFault"
    if isinstance(exc, TransientError):
        return "TransientFault"
    return "FatalFault"


def http_status(exc: BaseException) -> int:
    """The HTTP status of a failed request (DALI 1.1 §4.2 leaves it to the service, asking for a
    suitable 4xx/5xx): usage 400 (413 over a size limit, 404 for what does not exist), transient
    503, anything else 500."""
    if isinstance(exc, TooLargeError):
        return 413
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, UsageError):
        return 400
    if isinstance(exc, TransientError):
        return 503
    return 500


def error_headers(exc: BaseException) -> dict[str, str]:
    """HTTP headers the error answer carries: ``Retry-After`` when a transient error knows when
    to come back (RFC 9110 §10.2.3)."""
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(exc, TransientError) and retry_after is not None:
        return {"Retry-After": str(max(0, int(retry_after)))}
    return {}
