"""API token format, hashing and constant-time comparison."""

from __future__ import annotations

import hmac

import pytest

from auth import tokens
from auth.tokens import hash_secret, new_token, parse_token, secret_matches


def test_a_new_token_parses_back_and_only_its_hash_is_returned_for_storage() -> None:
    token_id, text, stored = new_token()
    parsed = parse_token(text)
    assert parsed is not None and parsed[0] == token_id
    assert stored == hash_secret(parsed[1]) and parsed[1] not in stored and text not in stored
    assert secret_matches(parsed[1], stored)
    assert not secret_matches(parsed[1][:-1] + ("A" if parsed[1][-1] != "A" else "B"), stored)


def test_tokens_are_distinct() -> None:
    assert len({new_token()[1] for _ in range(200)}) == 200


@pytest.mark.parametrize("text", ["", "Bearer x", "sgt_zz_abc", "sgt_0123456789abcdef_short",
                                  "xyz_0123456789abcdef_" + "a" * 43, "sgt_0123456789abcdef_" + "a" * 44])
def test_malformed_tokens_do_not_parse(text: str) -> None:
    assert parse_token(text) is None


def test_the_comparison_is_hmac_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Constant time: the secret's hash is compared with hmac.compare_digest, never ==."""
    calls: list[tuple[str, str]] = []
    compare = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(tokens.hmac, "compare_digest", spy)
    _, text, stored = new_token()
    parsed = parse_token(text)
    assert parsed is not None and secret_matches(parsed[1], stored)
    assert calls == [(hash_secret(parsed[1]), stored)]
