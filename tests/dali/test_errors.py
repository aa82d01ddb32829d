"""The three error kinds and the cleaning of user-facing messages."""

from __future__ import annotations

import pytest

from dali.errors import (
    FatalError,
    NotFoundError,
    TooLargeError,
    TransientError,
    UsageError,
    clean_message,
    error_headers,
    fault_name,
    http_status,
)


def test_messages_lose_colour_codes_and_control_characters() -> None:
    assert clean_message("\x1b[31mbad\x1b[0m query\x07 ") == "bad query"


@pytest.mark.parametrize(("cls", "kind"), [(UsageError, "usage"), (TransientError, "transient"), (FatalError, "fatal")])
def test_kinds_carry_param_and_hint(cls: type[UsageError], kind: str) -> None:
    error = cls("radius must be positive", param="CIRCLE", hint="degrees\x1b[0m")
    assert (error.kind, error.param, error.hint, str(error)) == (
        kind, "CIRCLE", "degrees", "radius must be positive (degrees)")


@pytest.mark.parametrize(("error", "fault", "status", "headers"), [
    (UsageError("bad"), "UsageFault", 400, {}),
    (TooLargeError("big"), "UsageFault", 413, {}),
    (NotFoundError("gone"), "NotFoundFault", 404, {}),
    (TransientError("busy"), "TransientFault", 503, {}),
    (TransientError("busy", retry_after=12), "TransientFault", 503, {"Retry-After": "12"}),
    (FatalError("ours"), "FatalFault", 500, {}),
    (KeyError("foreign"), "FatalFault", 500, {}),
])
def test_one_fault_word_and_status_per_kind(error: BaseException, fault: str, status: int,
                                            headers: dict[str, str]) -> None:
    assert (fault_name(error), http_status(error), error_headers(error)) == (fault, status, headers)
