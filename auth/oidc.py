"""OpenID Connect bearer tokens: JWTs checked against the issuer's published keys.

PyJWT checks the signature (RS256/ES256 family only: never ``none`` or an HMAC with a public key),
the issuer, the audience, the expiry and not-before times (60 s leeway for clock skew). The
issuer's JWKS is fetched from ``jwks_url`` (default: from the issuer's discovery document),
cached, and fetched again when a token names a key id the cache does not hold (key rotation).
Network calls are blocking; the authenticator runs ``verify`` in a thread.
Tests: tests/auth/test_oidc.py (a local issuer the tests start).
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass

import jwt

from auth.identity import Identity

__all__ = ["OidcConfig", "OidcVerifier"]

_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]
_LEEWAY_SECONDS = 60
_FETCH_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class OidcConfig:
    issuer: str
    audience: str
    user_claim: str = "preferred_username"
    admin_claim: str = ""  # a claim whose value (or list of values) holding "admin" makes the user an admin
    jwks_url: str = ""
    # A token naming an unknown key id refetches the key set at most this often, so a flood of
    # made-up key ids cannot turn into a flood of requests to the issuer.
    refetch_cooldown: float = 30.0


class OidcVerifier:
    """Verify bearer JWTs of one issuer. ``verify`` returns the identity or None (any failure)."""

    def __init__(self, config: OidcConfig) -> None:
        self.config = config
        self._jwks: jwt.PyJWKClient | None = None

    def _client(self) -> jwt.PyJWKClient:
        if self._jwks is None:
            url = self.config.jwks_url or _discover_jwks(self.config.issuer)
            # PyJWKClient caches the key set (lifespan 300 s) and refetches on an unknown kid.
            self._jwks = jwt.PyJWKClient(url, cache_jwk_set=True, lifespan=300, timeout=_FETCH_TIMEOUT,
                                         cooldown_duration=self.config.refetch_cooldown)
        return self._jwks

    def verify(self, token: str) -> Identity | None:
        try:
            key = self._client().get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token, key.key, algorithms=_ALGORITHMS, audience=self.config.audience,
                issuer=self.config.issuer, leeway=_LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud"]})
        except (jwt.PyJWTError, OSError, ValueError):
            return None
        name = claims.get(self.config.user_claim)
        # The name becomes a job owner and an X-VO-Authenticated header: no control characters.
        if not isinstance(name, str) or not name or len(name) > 256 or any(c < " " or c == "\x7f" for c in name):
            return None
        return Identity(name=name, admin=self._is_admin(claims), via="oidc")

    def _is_admin(self, claims: dict[str, object]) -> bool:
        if not self.config.admin_claim:
            return False
        value = claims.get(self.config.admin_claim)
        return value == "admin" or (isinstance(value, list) and "admin" in value)


def _discover_jwks(issuer: str) -> str:
    """``jwks_uri`` from the issuer's OpenID discovery document."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    with urllib.request.urlopen(url, timeout=_FETCH_TIMEOUT) as response:
        document = json.load(response)
    jwks = document.get("jwks_uri")
    if not isinstance(jwks, str) or not jwks.startswith(("https://", "http://")):
        raise ValueError(f"the issuer's discovery document at {url} has no jwks_uri")
    return jwks
