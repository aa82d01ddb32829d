"""Identity: who is calling, from an API token, an OIDC bearer JWT, or nobody.

- ``identity``: ``Identity`` (a name and whether it is an administrator) and the modes.
- ``tokens``: the API token format and its hashing (only hashes are stored).
- ``accounts``: users and tokens in the job store's database (SQLite or PostgreSQL).
- ``oidc``: bearer JWTs checked against an issuer's JWKS.
- ``authenticate``: the ``Authenticator`` that turns request headers into an ``Identity``, and the
  IVOA SSO 2.0 challenges sent with a 401.

No HTTP framework here: ``skygate`` puts the authenticator in front of every service.
"""
