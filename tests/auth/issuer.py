"""A local OpenID Connect issuer for tests: discovery document, JWKS, and signed JWTs.

Serves on 127.0.0.1 from a thread; ``rotate()`` replaces the signing key (new kid), ``token()``
signs claims with the current key. Used by tests/auth/test_oidc.py and tests/skygate/test_identity.py.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


class LocalIssuer:
    def __init__(self, audience: str = "skygate") -> None:
        self.audience = audience
        self.jwks_requests = 0
        self._keys: list[tuple[str, rsa.RSAPrivateKey]] = []
        self.rotate()
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks"}
                elif self.path == "/jwks":
                    issuer.jwks_requests += 1
                    body = issuer.jwks()
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def rotate(self) -> str:
        kid = f"key-{len(self._keys) + 1}"
        self._keys.append((kid, rsa.generate_private_key(public_exponent=65537, key_size=2048)))
        return kid

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self._keys[-2:]:  # the current key and the one before (rotation overlap)
            public = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**public, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def token(self, subject: str = "alice", *, lifetime: float = 300, key: rsa.RSAPrivateKey | None = None,
              **claims: Any) -> str:
        kid, current = self._keys[-1]
        now = int(time.time())
        payload = {"iss": self.url, "aud": self.audience, "sub": subject, "preferred_username": subject,
                   "iat": now, "exp": now + int(lifetime), **claims}
        return jwt.encode(payload, key or current, algorithm="RS256", headers={"kid": kid})

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
