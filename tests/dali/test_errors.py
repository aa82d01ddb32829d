"""The three error kinds and the cleaning of user-facing messages."""

from __future__ import annotations

import pytest

from dali.errors import FatalError, TransientError, UsageError, clean_message


def test_messages_lose_colour_codes_and_control_characters() -> None:
    assert clean_message("\x1b[31mbad\x1b[0m query\x07 ") == "bad query"


@pytest.mark.parametrize(("cls", "kind"), [(UsageError, "usage"), (TransientError, "transient"), (FatalError, "fatal")])
def test_kinds_carry_param_and_hint(cls: type[UsageError], kind: str) -> None:
    error = cls("radius must be positive", param="CIRCLE", hint="degrees\x1b[0m")
    assert (error.kind, error.param, error.hint, str(error)) == (
        kind, "CIRCLE", "degrees", "radius must be positive (degrees)")
