"""API tokens: ``sgt_<id>_<secret>``, stored as the SHA-256 of the secret.

The id finds the row; the secret is compared by its hash in constant time (``hmac.compare_digest``),
so neither the lookup nor the comparison tells an attacker how much of a guess was right. A fast
hash is enough because the secret is 256 random bits, not a password (no dictionary to try).
Tests: tests/auth/test_tokens.py.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

__all__ = ["TOKEN_PREFIX", "hash_secret", "new_token", "parse_token", "secret_matches"]

TOKEN_PREFIX = "sgt"
_TOKEN = re.compile(rf"\A{TOKEN_PREFIX}_([0-9a-f]{{16}})_([A-Za-z0-9_-]{{43}})\Z")


def new_token() -> tuple[str, str, str]:
    """A fresh token: (token id, the token text to hand out once, the hash to store)."""
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return token_id, f"{TOKEN_PREFIX}_{token_id}_{secret}", hash_secret(secret)


def parse_token(text: str) -> tuple[str, str] | None:
    """(token id, secret) of a well-formed token, else None."""
    match = _TOKEN.match(text.strip())
    return (match.group(1), match.group(2)) if match else None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    """Whether ``secret`` hashes to ``stored_hash``, compared in constant time."""
    return hmac.compare_digest(hash_secret(secret), stored_hash)
