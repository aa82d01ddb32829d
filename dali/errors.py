"""The three kinds of error every Skygate layer raises.

``UsageError``: the caller can fix it (bad parameter, bad query); logged at info. Its
``TooLargeError`` says the request is over a size limit (HTTP 413 instead of 400).
``TransientError``: try again later (database busy, broker down).
``FatalError``: our fault; logged with a traceback.

Each protocol edge (TAP, SODA, UWS) turns these into its own error document. Messages are our
own sentences, safe to show to users: no library exception text, no tracebacks.
Tests: tests/dali/test_errors.py.
"""

from __future__ import annotations

import re

__all__ = ["FatalError", "SkygateError", "TooLargeError", "TransientError", "UsageError", "clean_message", "escaped"]

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


class TransientError(SkygateError):
    """A temporary failure; the same request may succeed later."""

    kind = "transient"


class FatalError(SkygateError):
    """An internal failure; not the caller's fault."""

    kind = "fatal"
