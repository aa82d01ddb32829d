"""Users and tokens on SQLite and PostgreSQL: hashes only, revocation and expiry at once."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from auth import accounts as accounts_module
from auth.accounts import AccountError, AccountStore, open_accounts
from auth.quotas import Quota
from auth.tokens import parse_token

# One database per test process: parallel runs and checkouts never share it.
PG_DATABASE = f"skygate_test_auth_{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AccountStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    else:
        admin_url: str = request.getfixturevalue("postgres_admin_url")
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
            await admin.execute(f"CREATE DATABASE {PG_DATABASE}")
        finally:
            await admin.close()
        url = admin_url.rsplit("/", 1)[0] + f"/{PG_DATABASE}"
    accounts = open_accounts(url)
    await accounts.open()
    try:
        yield accounts
    finally:
        await accounts.close()
        if request.param == "postgres":
            admin = await asyncpg.connect(admin_url)
            try:
                await admin.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
            finally:
                await admin.close()


async def test_a_token_identifies_its_user_until_revoked(store: AccountStore) -> None:
    await store.add_user("alice")
    await store.add_user("root", admin=True)
    token = await store.create_token("alice")
    admin_token = await store.create_token("root")
    identity = await store.identify(token)
    assert identity is not None and (identity.name, identity.admin) == ("alice", False)
    admin = await store.identify(admin_token)
    assert admin is not None and admin.admin
    assert await store.revoke(token) == 1
    assert await store.identify(token) is None  # at once: nothing is cached
    assert (await store.identify(admin_token)) is not None


async def test_revoking_a_user_revokes_every_token(store: AccountStore) -> None:
    await store.add_user("bob")
    first, second = await store.create_token("bob"), await store.create_token("bob")
    assert await store.revoke("bob") == 2
    assert await store.identify(first) is None and await store.identify(second) is None
    assert [u.active_tokens for u in await store.list_users() if u.name == "bob"] == [0]


async def test_expired_tokens_are_refused(store: AccountStore, monkeypatch: pytest.MonkeyPatch) -> None:
    await store.add_user("carol")
    token = await store.create_token("carol", expires_days=1)
    assert await store.identify(token) is not None
    real_now = accounts_module._now
    monkeypatch.setattr(accounts_module, "_now", lambda: real_now() + 86_401)
    assert await store.identify(token) is None


async def test_a_guess_with_a_real_id_and_a_wrong_secret_is_refused(store: AccountStore) -> None:
    await store.add_user("dave")
    token = await store.create_token("dave")
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert await store.identify(forged) is None
    assert await store.identify("not a token") is None


async def test_bad_requests_are_account_errors(store: AccountStore) -> None:
    await store.add_user("erin")
    with pytest.raises(AccountError, match="exists"):
        await store.add_user("erin")
    with pytest.raises(AccountError, match="must be"):
        await store.add_user("Erin; DROP TABLE users")
    with pytest.raises(AccountError, match="no user"):
        await store.create_token("nobody")
    with pytest.raises(AccountError, match="positive"):
        await store.create_token("erin", expires_days=0)


async def test_only_hashes_are_stored(tmp_path: Path) -> None:
    accounts = open_accounts(f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    await accounts.open()
    try:
        await accounts.add_user("frank")
        token = await accounts.create_token("frank")
    finally:
        await accounts.close()
    parsed = parse_token(token)
    assert parsed is not None
    secret = parsed[1]
    raw = (tmp_path / "jobs.sqlite").read_bytes()
    assert secret.encode() not in raw and token.encode() not in raw
    rows = await asyncio.to_thread(
        lambda: sqlite3.connect(tmp_path / "jobs.sqlite").execute("SELECT * FROM auth_tokens").fetchall())
    assert all(secret not in str(row) for row in rows)


async def test_quota_overrides_are_kept_changed_and_reset(store: AccountStore) -> None:
    assert await store.quota("alice") is None
    quota = await store.set_quota("alice", max_active_jobs=3, table_bytes=10_000_000)
    assert quota == Quota(max_active_jobs=3, table_bytes=10_000_000)
    assert await store.set_quota("alice", requests_per_minute=60) == Quota(3, None, 10_000_000, 60)  # merged
    assert await store.set_quota("alice", table_bytes=None) == Quota(3, None, None, 60)  # one back to the default
    await store.set_quota("oidc|user@example.org", max_running_jobs=0)  # any name the service sees: OIDC too
    assert await store.quotas() == {"alice": Quota(3, None, None, 60), "oidc|user@example.org": Quota(None, 0)}
    await store.set_quota("alice", max_active_jobs=None, requests_per_minute=None)
    assert await store.quota("alice") is None  # nothing left to override
    with pytest.raises(AccountError):
        await store.set_quota("alice", max_active_jobs=-1)
    with pytest.raises(AccountError):
        await store.set_quota("alice", speed=3)
