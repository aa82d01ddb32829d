"""From request headers to an ``Identity``, and the challenges a 401 carries.

``Authenticator.identify(authorization)`` reads one ``Authorization`` header:
- no header: the anonymous caller (``None``);
- ``Bearer <token>``: an API token (mode ``tokens``) or a JWT of the configured issuer (``oidc``);
- ``Basic base64(user:token)``: an API token presented as a password, for clients that only
  speak Basic (STILTS, TOPCAT); the user must be the token's owner.
Anything else, or a credential that does not check out, raises ``AuthenticationFailed`` (a 401):
a wrong credential is never silently treated as anonymous. In mode ``none`` every caller is
anonymous and the header is not read.

Challenges follow the IVOA authentication note (ivoa-std/AuthVO, "VO schemes"): ``ivoa_bearer``
with ``standard_id`` ivo://ivoa.net/sso#tls-with-password and BasicAA pointing at the login URL
(which answers with the token in ``X-VO-Bearer``), plus RFC 6750 ``Bearer`` and RFC 7617 ``Basic``.
Tests: tests/skygate/test_identity.py.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import dataclass

from auth.accounts import AccountStore
from auth.identity import AnonymousAccess, AuthMode, Identity
from auth.oidc import OidcVerifier

__all__ = ["AuthConfig", "AuthenticationFailed", "Authenticator"]

SSO_PASSWORD = "ivo://ivoa.net/sso#tls-with-password"
SSO_BASIC = "ivo://ivoa.net/sso#BasicAA"
SSO_OIDC = "ivo://ivoa.net/sso#OpenID"


class AuthenticationFailed(Exception):
    """The caller sent credentials that do not check out (HTTP 401). The message is safe to show:
    it never repeats the credential."""


@dataclass(frozen=True, slots=True)
class AuthConfig:
    mode: AuthMode = AuthMode.NONE
    anonymous: AnonymousAccess = AnonymousAccess.READ
    realm: str = "Skygate"
    login_url: str = ""  # where ivoa_bearer clients exchange user + token for a bearer token


class Authenticator:
    """Identify callers for one mode; ``accounts`` for tokens, ``oidc`` for JWTs."""

    def __init__(self, config: AuthConfig, *, accounts: AccountStore | None = None,
                 oidc: OidcVerifier | None = None) -> None:
        if config.mode is AuthMode.TOKENS and accounts is None:
            raise ValueError("mode tokens needs an account store")
        if config.mode is AuthMode.OIDC and oidc is None:
            raise ValueError("mode oidc needs an OIDC verifier")
        self.config = config
        self.accounts = accounts
        self.oidc = oidc

    @property
    def enabled(self) -> bool:
        return self.config.mode is not AuthMode.NONE

    async def identify(self, authorization: str | None) -> Identity | None:
        """The caller behind an ``Authorization`` header value (None: anonymous)."""
        if not self.enabled or authorization is None or not authorization.strip():
            return None
        scheme, _, credential = authorization.strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() == "bearer" and credential:
            identity = await self._bearer(credential)
        elif scheme.lower() == "basic" and credential:
            identity = await self._basic(credential)
        else:
            raise AuthenticationFailed(f"unsupported Authorization scheme {scheme[:20]!r}; "
                                       "send Bearer <token> or Basic user:token")
        if identity is None:
            raise AuthenticationFailed("the credentials are not valid (unknown, revoked or expired)")
        return identity

    async def login(self, user: str, token: str) -> str:
        """The bearer token for a user + token pair presented at the login URL (ivoa_bearer)."""
        if self.config.mode is not AuthMode.TOKENS or self.accounts is None:
            raise AuthenticationFailed("log in at the identity provider; this service takes its tokens")
        identity = await self.accounts.identify(token)
        if identity is None or identity.name != user:
            raise AuthenticationFailed("the user name and token do not match")
        return token

    def challenges(self) -> list[str]:
        """``WWW-Authenticate`` values for this mode (none in mode ``none``)."""
        realm = f'realm="{self.config.realm}"'
        if self.config.mode is AuthMode.TOKENS:
            found = [f'Bearer {realm}', f'Basic {realm}']
            if self.config.login_url:
                found[:0] = [f'ivoa_bearer standard_id="{SSO_PASSWORD}", access_url="{self.config.login_url}"',
                             f'ivoa_bearer standard_id="{SSO_BASIC}", access_url="{self.config.login_url}"']
            return found
        if self.config.mode is AuthMode.OIDC:
            return [f'Bearer {realm}']
        return []

    def security_methods(self) -> list[str]:
        """The SSO 2.0 ``securityMethod`` standardIDs of an interface (empty: anonymous only).

        SSO 2.0 defines no identifier for bearer tokens, so mode ``tokens`` declares BasicAA (user
        name + token, what pyvo's CredentialStore and TOPCAT can send), and ``oidc`` OpenID.
        """
        if self.config.mode is AuthMode.TOKENS:
            return [SSO_BASIC]
        if self.config.mode is AuthMode.OIDC:
            return [SSO_OIDC]
        return []

    async def _bearer(self, token: str) -> Identity | None:
        if self.config.mode is AuthMode.TOKENS and self.accounts is not None:
            return await self.accounts.identify(token)
        if self.oidc is not None:
            return await asyncio.to_thread(self.oidc.verify, token)
        return None

    async def _basic(self, credential: str) -> Identity | None:
        if self.config.mode is not AuthMode.TOKENS or self.accounts is None:
            raise AuthenticationFailed("Basic credentials are not accepted here; send Bearer <token>")
        try:
            user, _, token = base64.b64decode(credential, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise AuthenticationFailed("the Basic credentials are not base64 of user:token") from None
        identity = await self.accounts.identify(token)
        if identity is None or identity.name != user:
            return None
        return identity
