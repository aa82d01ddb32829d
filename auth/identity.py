"""The caller's identity and the authentication modes.

Tests: tests/skygate/test_identity.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["AnonymousAccess", "AuthMode", "Identity"]


class AuthMode(StrEnum):
    """``SKYGATE_AUTH``: how callers prove who they are."""

    NONE = "none"  # everyone is one anonymous user (the laptop default)
    TOKENS = "tokens"  # API tokens made with ``skygate token create``
    OIDC = "oidc"  # bearer JWTs from an OpenID Connect issuer


class AnonymousAccess(StrEnum):
    """``SKYGATE_ANONYMOUS``: what a caller without credentials may do in the authenticated modes."""

    READ = "read"  # query the public tables, run jobs as the anonymous user
    NONE = "none"  # nothing but the availability and capabilities documents


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated caller: ``name`` owns jobs and tables; ``via`` says how it was proven."""

    name: str
    admin: bool = False
    via: str = "token"
