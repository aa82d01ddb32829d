"""Authentication in front of every service: who is calling, 401 challenges, ``/whoami``, login.

``build_authenticator(settings)`` makes the ``auth.Authenticator`` for ``SKYGATE_AUTH``;
``Authentication`` is the ASGI middleware that identifies each request once, puts the identity in
``request.state.identity`` (read by the job system's ``owner_of``), answers 401 with the
``WWW-Authenticate`` challenges for bad credentials (and for anonymous callers when
``SKYGATE_ANONYMOUS=none``, except on VOSI availability and capabilities, which VOSI 1.1 §2 keeps
anonymous, and on what a browser needs to log in: the portal's ``BEFORE_LOGIN`` pages and static
files; the portal's other pages send such a caller to its login page), and throttles repeated
failures per source address (429 with ``Retry-After``; a credential refused again is
counted once, ``auth.limits.FailureLimiter``).

Credentials are the ``Authorization`` header, or, on GET and HEAD only, the portal's login cookie
(``portal.routes.TOKEN_COOKIE``, the same token): a page load cannot carry a header. A cookie never
authorizes a change (POST, PUT, DELETE), so another site cannot make a browser act through it, and
it is ``SameSite=Strict``, so another site's page does not send it at all.
Responses to an authenticated caller carry ``X-VO-Authenticated`` (IVOA AuthVO note); the
capabilities documents carry the challenges when authentication is optional, and declare the
``securityMethod`` of each standard interface (``add_security_methods``).
Tests: tests/skygate/test_identity.py.
"""

from __future__ import annotations

import base64
import binascii
import copy
import math
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

from lxml import etree
from starlette.datastructures import Headers
from starlette.requests import Request, cookie_parser
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from auth.accounts import AccountStore, open_accounts
from auth.authenticate import AuthConfig, AuthenticationFailed, Authenticator
from auth.identity import AnonymousAccess, AuthMode, Identity
from auth.limits import FailureLimiter
from auth.oidc import OidcConfig, OidcVerifier
from dali.errors import TooLargeError, UsageError
from dali.form import FormLimits, read_request
from dali.votable import ERROR_MEDIA_TYPE, error_document
from portal.routes import BEFORE_LOGIN, LOGIN_PAGE, PAGES, STATIC_PREFIX, TOKEN_COOKIE
from skygate.settings import Settings, SettingsError

__all__ = [
    "LOGIN_PATH",
    "Authentication",
    "add_security_methods",
    "build_authenticator",
    "identity_of",
    "identity_routes",
]

LOGIN_PATH = "/auth/login"
_OPEN_SUFFIXES = ("/availability", "/capabilities")
_READS = ("GET", "HEAD")


def build_authenticator(settings: Settings) -> tuple[Authenticator, AccountStore | None]:
    """The authenticator for the settings, and the account store it needs opened (mode tokens)."""
    try:
        mode = AuthMode(settings.auth)
        anonymous = AnonymousAccess(settings.anonymous)
    except ValueError as exc:
        raise SettingsError(f"SKYGATE_AUTH must be one of none, tokens, oidc and SKYGATE_ANONYMOUS one of "
                            f"read, none ({exc})") from None
    config = AuthConfig(mode=mode, anonymous=anonymous, login_url=settings.base_url + LOGIN_PATH)
    if mode is AuthMode.TOKENS:
        accounts = open_accounts(settings.effective_jobs_url)
        return Authenticator(config, accounts=accounts), accounts
    if mode is AuthMode.OIDC:
        if not settings.oidc_issuer or not settings.oidc_audience:
            raise SettingsError("SKYGATE_AUTH=oidc needs SKYGATE_OIDC_ISSUER and SKYGATE_OIDC_AUDIENCE")
        verifier = OidcVerifier(OidcConfig(
            issuer=settings.oidc_issuer, audience=settings.oidc_audience, user_claim=settings.oidc_user_claim,
            admin_claim=settings.oidc_admin_claim, jwks_url=settings.oidc_jwks_url))
        return Authenticator(config, oidc=verifier), None
    return Authenticator(config), None


def identity_of(request: Request) -> Identity | None:
    """The caller identified by the middleware (None: anonymous)."""
    identity = getattr(request.state, "identity", None)
    return identity if isinstance(identity, Identity) else None


class Authentication:
    """ASGI middleware: identify, refuse, throttle; see the module docstring."""

    def __init__(self, app: Any, authenticator: Authenticator, *, limiter: FailureLimiter | None = None) -> None:
        self.app = app
        self.authenticator = authenticator
        self.limiter = limiter or FailureLimiter()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.authenticator.enabled:
            await self.app(scope, receive, send)
            return
        source = (scope.get("client") or ("unknown", 0))[0]
        wait = self.limiter.blocked(source)
        if wait > 0:
            await _refusal(429, "too many failed authentication attempts; try again later",
                           {"Retry-After": str(math.ceil(wait))})(scope, receive, send)
            return
        path = scope.get("path", "")
        headers = Headers(scope=scope)
        authorization = headers.get("authorization")
        try:
            identity = await self.authenticator.identify(authorization)
        except AuthenticationFailed as exc:
            self.limiter.failed(source, authorization)
            await self._unauthorized(str(exc), headers)(scope, receive, send)
            return
        if authorization is None and scope.get("method") in _READS and not path.startswith(STATIC_PREFIX):
            identity = await self._from_cookie(headers, source)
        if identity is None and self.authenticator.config.anonymous is AnonymousAccess.NONE and not _open(path):
            if path in PAGES and scope.get("method") in _READS:
                await self._to_login(scope)(scope, receive, send)
            else:
                await self._unauthorized("this service needs authentication", headers)(scope, receive, send)
            return
        scope.setdefault("state", {})["identity"] = identity
        capabilities = path.endswith("/capabilities")
        send = self._decorate(send, identity, capabilities)
        if capabilities:
            send = _rewriting_body(send, self._security_methods)
        await self.app(scope, receive, send)

    def _to_login(self, scope: dict[str, Any]) -> Response:
        """A portal page asked for before logging in: the login page, which comes back here afterwards."""
        query = scope.get("query_string", b"").decode("latin-1")
        here = scope.get("path", "") + (f"?{query}" if query else "")
        # Every link the site writes starts with SKYGATE_BASE_URL, which the login URL carries.
        base = self.authenticator.config.login_url.removesuffix(LOGIN_PATH)
        return RedirectResponse(f"{base}{LOGIN_PAGE}?{urlencode({'next': here})}", status_code=303,
                                headers={"Cache-Control": "no-store"})

    async def _from_cookie(self, headers: Headers, source: str) -> Identity | None:
        """The caller of the portal's login cookie; a refused one (revoked, expired) counts as a failure
        and leaves the caller anonymous, so the login page still opens (portal.js then forgets it)."""
        token = cookie_parser(headers.get("cookie", "")).get(TOKEN_COOKIE, "").strip()
        if not token:
            return None
        try:
            return await self.authenticator.identify(f"Bearer {token}")
        except AuthenticationFailed:
            self.limiter.failed(source, f"Bearer {token}")
            return None

    def _security_methods(self, body: bytes) -> bytes:
        return add_security_methods(body, self.authenticator.security_methods(),
                                    anonymous=self.authenticator.config.anonymous is AnonymousAccess.READ)

    def _unauthorized(self, message: str, headers: Headers) -> Response:
        challenges = self.authenticator.challenges()
        if "x-requested-with" in headers:
            # A script's request (the portal's pages send this header): a Basic challenge would make
            # the browser open its own password dialog over the page (as Spring Security, for one,
            # avoids the same way), so the page says "refused" itself.
            challenges = [c for c in challenges if not c.startswith("Basic ")]
        return _refusal(401, message, {}, challenges=challenges)

    def _decorate(self, send: Any, identity: Identity | None, capabilities: bool) -> Any:
        challenges = self.authenticator.challenges() if capabilities and identity is None else []

        async def send_with_identity(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if identity is not None:
                    headers.append((b"x-vo-authenticated", identity.name.encode()))
                headers.extend((b"www-authenticate", c.encode()) for c in challenges)
                message = {**message, "headers": headers}
            await send(message)

        return send_with_identity


def _open(path: str) -> bool:
    """Whether an anonymous caller reaches ``path`` on a site without anonymous access."""
    return (path.endswith(_OPEN_SUFFIXES) or path == LOGIN_PATH or path in BEFORE_LOGIN
            or path.startswith(STATIC_PREFIX))


def add_security_methods(document: bytes, standard_ids: Sequence[str], *, anonymous: bool) -> bytes:
    """A VOSI capabilities document declaring how each standard interface may be called.

    VOResource 1.1 allows one ``securityMethod`` per interface and says to repeat the interface for
    each further method (as TAP 1.1's sample capabilities do): every ``role="std"`` interface is
    followed by one copy per ``standard_ids`` entry carrying that method; the original, without a
    securityMethod (anonymous), stays only when ``anonymous`` access is allowed.
    """
    if not standard_ids:
        return document
    try:
        root = etree.fromstring(document, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return document
    for interface in [i for i in root.iter("interface") if i.get("role") == "std"]:
        parent = interface.getparent()
        assert parent is not None
        place = parent.index(interface)
        for offset, standard_id in enumerate(standard_ids, start=1):
            secured = copy.deepcopy(interface)
            urls = [child for child in secured if child.tag in ("accessURL", "mirrorURL")]
            method = etree.Element("securityMethod", standardID=standard_id)
            secured.insert(secured.index(urls[-1]) + 1 if urls else 0, method)
            parent.insert(place + offset, secured)
        if not anonymous:
            parent.remove(interface)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _rewriting_body(send: Any, rewrite: Callable[[bytes], bytes]) -> Any:
    """A ``send`` that holds a (small, non-streamed) response body and sends ``rewrite(body)``."""
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def send_rewritten(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
            return
        if message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(chunks)
        if start.get("status") == 200:
            body = rewrite(body)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return send_rewritten


def _refusal(status: int, message: str, headers: dict[str, str], *, challenges: Sequence[str] = ()) -> Response:
    kind = "AuthenticationFault" if status == 401 else "UsageFault"
    response = Response(error_document(f"{kind}: {message}"), status_code=status, media_type=ERROR_MEDIA_TYPE,
                        headers=headers)
    for challenge in challenges:
        response.headers.append("WWW-Authenticate", challenge)
    return response


def identity_routes(authenticator: Authenticator) -> list[Route]:
    """``/whoami`` and the ivoa_bearer login URL."""

    async def whoami(request: Request) -> Response:
        identity = identity_of(request)
        return JSONResponse({
            "user": identity.name if identity else None, "authenticated": identity is not None,
            "admin": bool(identity and identity.admin), "via": identity.via if identity else None,
            "mode": authenticator.config.mode.value, "anonymous": authenticator.config.anonymous.value})

    async def login(request: Request) -> Response:
        try:
            user, token = await _login_credentials(request)
        except UsageError as exc:
            return _refusal(413 if isinstance(exc, TooLargeError) else 400, str(exc), {})
        try:
            bearer = await authenticator.login(user, token)
        except AuthenticationFailed as exc:
            return _refusal(401, str(exc), {}, challenges=authenticator.challenges())
        return PlainTextResponse("OK\n", headers={"X-VO-Bearer": bearer, "X-VO-Authenticated": user,
                                                  "Cache-Control": "no-store"})

    return [Route("/whoami", whoami, methods=["GET"]), Route(LOGIN_PATH, login, methods=["GET", "POST"])]


# A login form is two short fields: read through dali.form's limits like every other body.
_LOGIN_BODY_MAX = 64 * 1024


async def _login_credentials(request: Request) -> tuple[str, str]:
    """user and token from a ``username``/``password`` form (tls-with-password) or Basic (BasicAA)."""
    if request.method == "POST":
        form = await read_request(request, FormLimits(body_max_bytes=_LOGIN_BODY_MAX))
        user, password = form.get("username"), form.get("password")
        if user is not None and password is not None:
            return user, password
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            user, _, token = base64.b64decode(credential.strip(), validate=True).decode().partition(":")
            return user, token
        except (binascii.Error, UnicodeDecodeError):
            pass
    return "", ""

