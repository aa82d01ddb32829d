"""Users, their API tokens and per-user quota overrides, in the job store's database.

SQLite (the embedded default, the file of the job store) or PostgreSQL (schema ``auth`` of the
job store's database). Only token hashes are stored (``auth.tokens``); the token text exists once,
in the answer to ``create_token``. Revocation and expiry are read on every request, so they take
effect at once. Quota overrides (``auth.quotas``) are kept by user name, whatever the mode, so they
apply to OIDC users too. Tests: tests/auth/test_accounts.py.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import asyncpg

from auth.identity import Identity
from auth.quotas import QUOTA_FIELDS, Quota
from auth.tokens import new_token, parse_token, secret_matches

__all__ = ["AccountError", "AccountStore", "TokenInfo", "UserInfo", "open_accounts"]

# User names become parts of schema names (user tables) and UWS owners: keep them plain.
_USER_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")

_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS auth_users (
    name TEXT PRIMARY KEY, admin INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS auth_tokens (
    token_id TEXT PRIMARY KEY, user_name TEXT NOT NULL REFERENCES auth_users(name) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL, created REAL NOT NULL, expires REAL, revoked REAL);
CREATE TABLE IF NOT EXISTS auth_quotas (
    user_name TEXT PRIMARY KEY, max_active_jobs INTEGER, max_running_jobs INTEGER, table_bytes INTEGER,
    requests_per_minute INTEGER, result_bytes INTEGER, upload_bytes INTEGER, upload_rows INTEGER);
"""
_POSTGRES_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS auth;
CREATE TABLE IF NOT EXISTS auth.users (
    name text PRIMARY KEY, admin boolean NOT NULL DEFAULT false, created double precision NOT NULL);
CREATE TABLE IF NOT EXISTS auth.tokens (
    token_id text PRIMARY KEY, user_name text NOT NULL REFERENCES auth.users(name) ON DELETE CASCADE,
    secret_hash text NOT NULL, created double precision NOT NULL, expires double precision,
    revoked double precision);
CREATE TABLE IF NOT EXISTS auth.quotas (
    user_name text PRIMARY KEY, max_active_jobs bigint, max_running_jobs bigint, table_bytes bigint,
    requests_per_minute bigint, result_bytes bigint, upload_bytes bigint, upload_rows bigint);
"""


class AccountError(ValueError):
    """A user or token request that cannot be done (unknown user, name taken, bad name)."""


@dataclass(frozen=True, slots=True)
class UserInfo:
    name: str
    admin: bool
    created: datetime
    active_tokens: int


@dataclass(frozen=True, slots=True)
class TokenInfo:
    token_id: str
    user: str
    created: datetime
    expires: datetime | None
    revoked: datetime | None


class AccountStore:
    """Users and tokens; the SQL is written once with ``?`` placeholders and table names
    ``users``/``tokens``, which each database's ``_Runner`` maps to its own."""

    def __init__(self, runner: _Runner) -> None:
        self._db = runner

    async def open(self) -> None:
        await self._db.open()

    async def close(self) -> None:
        await self._db.close()

    async def add_user(self, name: str, *, admin: bool = False) -> None:
        if not _USER_NAME.match(name):
            raise AccountError(f"user name {name[:40]!r} must be 1-32 of a-z, 0-9, _ and start with a letter")
        if await self._db.query("SELECT 1 FROM users WHERE name = ?", (name,)):
            raise AccountError(f"user {name} exists")
        await self._db.execute("INSERT INTO users (name, admin, created) VALUES (?, ?, ?)",
                               (name, admin, _now()))

    async def list_users(self) -> list[UserInfo]:
        rows = await self._db.query(
            "SELECT u.name, u.admin, u.created, (SELECT COUNT(*) FROM tokens t WHERE t.user_name = u.name "
            "AND t.revoked IS NULL AND (t.expires IS NULL OR t.expires > ?)) FROM users u ORDER BY u.name",
            (_now(),))
        return [UserInfo(r[0], bool(r[1]), _time(r[2]), int(r[3])) for r in rows]

    async def list_tokens(self, name: str | None = None) -> list[TokenInfo]:
        where, args = ("WHERE user_name = ?", (name,)) if name else ("", ())
        rows = await self._db.query(
            f"SELECT token_id, user_name, created, expires, revoked FROM tokens {where} ORDER BY created", args)
        return [TokenInfo(r[0], r[1], _time(r[2]), _maybe_time(r[3]), _maybe_time(r[4])) for r in rows]

    async def create_token(self, name: str, *, expires_days: float | None = None) -> str:
        """A new token for user ``name``; the returned text is not kept anywhere."""
        if not await self._db.query("SELECT 1 FROM users WHERE name = ?", (name,)):
            raise AccountError(f"no user {name}; add it with: skygate user add {name}")
        if expires_days is not None and expires_days <= 0:
            raise AccountError("--expires must be a positive number of days")
        token_id, text, secret_hash = new_token()
        now = _now()
        expires = now + expires_days * 86_400 if expires_days is not None else None
        await self._db.execute(
            "INSERT INTO tokens (token_id, user_name, secret_hash, created, expires) VALUES (?, ?, ?, ?, ?)",
            (token_id, name, secret_hash, now, expires))
        return text

    async def revoke(self, token_or_user: str) -> int:
        """Revoke one token (by its text or id) or every token of a user; returns how many."""
        parsed = parse_token(token_or_user)
        token_id = parsed[0] if parsed else token_or_user
        return await self._db.execute(
            "UPDATE tokens SET revoked = ? WHERE revoked IS NULL AND (token_id = ? OR user_name = ?)",
            (_now(), token_id, token_or_user))

    async def identify(self, token: str) -> Identity | None:
        """The user a token belongs to, or None when it is malformed, unknown, revoked or expired."""
        parsed = parse_token(token)
        if parsed is None:
            return None
        token_id, secret = parsed
        rows = await self._db.query(
            "SELECT t.secret_hash, t.expires, t.revoked, u.name, u.admin FROM tokens t "
            "JOIN users u ON u.name = t.user_name WHERE t.token_id = ?", (token_id,))
        if not rows:
            return None
        secret_hash, expires, revoked, name, admin = rows[0]
        if not secret_matches(secret, secret_hash) or revoked is not None:
            return None
        if expires is not None and expires <= _now():
            return None
        return Identity(name=name, admin=bool(admin), via="token")

    async def set_quota(self, name: str, **limits: int | None) -> Quota:
        """Change ``name``'s overrides (``Quota`` field names; None: back to the site default); returns them all."""
        unknown = set(limits) - set(QUOTA_FIELDS)
        if unknown:
            raise AccountError(f"no quota called {', '.join(sorted(unknown))}")
        if any(v is not None and v < 0 for v in limits.values()):
            raise AccountError("a quota is a number of at least 0 (0: no limit)")
        if not name.strip() or len(name) > 256:
            raise AccountError("a quota needs a user name (at most 256 characters)")
        current = await self.quota(name) or Quota()
        merged = {field: limits.get(field, getattr(current, field)) for field in QUOTA_FIELDS}
        await self._db.execute("DELETE FROM quotas WHERE user_name = ?", (name,))
        if any(v is not None for v in merged.values()):
            await self._db.execute(
                f"INSERT INTO quotas (user_name, {', '.join(QUOTA_FIELDS)}) VALUES (?{', ?' * len(QUOTA_FIELDS)})",
                (name, *merged.values()))
        return Quota(**merged)

    async def quota(self, name: str) -> Quota | None:
        """``name``'s overrides, or None when it has none."""
        rows = await self._db.query(f"SELECT {', '.join(QUOTA_FIELDS)} FROM quotas WHERE user_name = ?", (name,))
        return Quota(*(None if v is None else int(v) for v in rows[0])) if rows else None

    async def quotas(self) -> dict[str, Quota]:
        """Every user's overrides."""
        rows = await self._db.query(f"SELECT user_name, {', '.join(QUOTA_FIELDS)} FROM quotas ORDER BY user_name")
        return {r[0]: Quota(*(None if v is None else int(v) for v in r[1:])) for r in rows}


def open_accounts(jobs_url: str) -> AccountStore:
    """The account store in the job store's database (``sqlite:///path`` or ``postgresql://``)."""
    if jobs_url.startswith("sqlite:///"):
        return AccountStore(_SqliteRunner(Path(jobs_url.removeprefix("sqlite:///"))))
    if jobs_url.startswith(("postgresql://", "postgres://")):
        return AccountStore(_PostgresRunner(jobs_url))
    raise AccountError(f"accounts need a sqlite:/// or postgresql:// job store, not {jobs_url.split(':')[0]}:")


class _Runner(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int: ...
    async def query(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]: ...


class _SqliteRunner:
    """One connection used from worker threads under a lock (sqlite3 objects are not thread-safe)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    async def open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None, timeout=30)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.executescript(_SQLITE_SCHEMA)
        self._conn = conn

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        return await asyncio.to_thread(self._run, sql, args, False)

    async def query(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return await asyncio.to_thread(self._run, sql, args, True)

    def _run(self, sql: str, args: Sequence[Any], fetch: bool) -> Any:
        if self._conn is None:
            raise RuntimeError("the account store is not open")
        sql = re.sub(r"\b(users|tokens|quotas)\b", r"auth_\1", sql)
        with self._lock:
            cursor = self._conn.execute(sql, tuple(args))
            return cursor.fetchall() if fetch else cursor.rowcount


class _PostgresRunner:
    def __init__(self, url: str) -> None:
        self._url = url
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(self._url, min_size=1, max_size=4)
        # Two processes opening at once would race on CREATE ... IF NOT EXISTS.
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('skygate-auth-schema'))")
            await conn.execute(_POSTGRES_SCHEMA)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        status = await self._pool_or_fail().execute(_postgres(sql), *args)
        return int(status.rsplit(" ", 1)[-1]) if status[-1:].isdigit() else 0

    async def query(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return list(await self._pool_or_fail().fetch(_postgres(sql), *args))

    def _pool_or_fail(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the account store is not open")
        return self._pool


def _postgres(sql: str) -> str:
    """``?`` placeholders as ``$n`` and the tables in schema ``auth``."""
    sql = re.sub(r"\b(users|tokens|quotas)\b", r"auth.\1", sql)
    parts = sql.split("?")
    return "".join(part + (f"${n}" if n < len(parts) else "") for n, part in enumerate(parts, start=1))


def _now() -> float:
    return datetime.now(UTC).timestamp()


def _time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _maybe_time(epoch: float | None) -> datetime | None:
    return None if epoch is None else _time(epoch)

