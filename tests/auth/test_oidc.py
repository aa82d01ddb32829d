"""Bearer JWTs against a local issuer: signature, issuer, audience, expiry, key rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from auth.oidc import OidcConfig, OidcVerifier
from tests.auth.issuer import LocalIssuer


@pytest.fixture()
def issuer() -> Iterator[LocalIssuer]:
    local = LocalIssuer()
    yield local
    local.close()


@pytest.fixture()
def verifier(issuer: LocalIssuer) -> OidcVerifier:
    # No jwks_url: found through the issuer's discovery document.
    return OidcVerifier(OidcConfig(issuer=issuer.url, audience="skygate", admin_claim="roles", refetch_cooldown=0))


def test_a_valid_token_names_the_user(issuer: LocalIssuer, verifier: OidcVerifier) -> None:
    identity = verifier.verify(issuer.token("alice"))
    assert identity is not None and (identity.name, identity.admin, identity.via) == ("alice", False, "oidc")
    admin = verifier.verify(issuer.token("root", roles=["admin", "staff"]))
    assert admin is not None and admin.admin


@pytest.mark.parametrize("change", ["expired", "audience", "issuer", "signature", "no-user", "not-yet",
                                    "control-characters"])
def test_bad_tokens_are_refused(issuer: LocalIssuer, verifier: OidcVerifier, change: str) -> None:
    token = {
        "expired": lambda: issuer.token(lifetime=-120),
        "audience": lambda: issuer.token(aud="someone-else"),
        "issuer": lambda: issuer.token(iss="http://127.0.0.1:1/other"),
        "signature": lambda: issuer.token(key=rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "no-user": lambda: issuer.token(preferred_username=None),
        "not-yet": lambda: issuer.token(nbf=int(time.time()) + 600),
        "control-characters": lambda: issuer.token(preferred_username="eve\r\nX-VO-Authenticated: root"),
    }[change]()
    assert verifier.verify(token) is None


def test_unsigned_and_symmetric_tokens_are_refused(issuer: LocalIssuer, verifier: OidcVerifier) -> None:
    good = issuer.token()
    _, payload, _ = good.split(".")
    none_header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": "key-1"}).encode()).rstrip(b"=")
    assert verifier.verify(f"{none_header.decode()}.{payload}.") is None
    # HS256 keyed with the public key's JWK text: the classic algorithm-confusion attack (built by
    # hand, as PyJWT itself refuses to sign so).
    public = json.dumps(issuer.jwks()["keys"][0]).encode()
    hs_header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": "key-1"}).encode()).rstrip(b"=")
    signing_input = hs_header + b"." + payload.encode()
    signature = base64.urlsafe_b64encode(hmac.new(public, signing_input, hashlib.sha256).digest()).rstrip(b"=")
    assert verifier.verify((signing_input + b"." + signature).decode()) is None
    assert verifier.verify("garbage") is None


def test_the_key_set_is_cached_and_refetched_after_rotation(issuer: LocalIssuer, verifier: OidcVerifier) -> None:
    assert verifier.verify(issuer.token()) is not None
    assert verifier.verify(issuer.token()) is not None
    fetched = issuer.jwks_requests
    assert fetched == 1
    issuer.rotate()
    assert verifier.verify(issuer.token("bob")) is not None  # an unknown kid makes it fetch again
    assert issuer.jwks_requests == fetched + 1


def test_unknown_key_ids_refetch_at_most_once_per_cooldown(issuer: LocalIssuer) -> None:
    verifier = OidcVerifier(OidcConfig(issuer=issuer.url, audience="skygate", refetch_cooldown=60))
    assert verifier.verify(issuer.token()) is not None
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for n in range(5):
        forged = jwt.encode({"sub": "x"}, stranger, algorithm="RS256", headers={"kid": f"made-up-{n}"})
        assert verifier.verify(forged) is None
    assert issuer.jwks_requests <= 2


def test_an_unreachable_issuer_refuses_rather_than_fails(issuer: LocalIssuer) -> None:
    verifier = OidcVerifier(OidcConfig(issuer="http://127.0.0.1:9", audience="skygate"))
    assert verifier.verify(issuer.token()) is None
