"""Users and API tokens for tests of ``SKYGATE_AUTH=tokens``, made in the settings' account store."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

from auth.accounts import open_accounts
from auth.quotas import Quota
from skygate.settings import Settings


def make_tokens(settings: Settings, users: Iterable[str], *, admins: Iterable[str] = (),
                quotas: Mapping[str, Quota] | None = None) -> dict[str, str]:
    """Add ``users`` and ``admins`` (administrators) and one token each, set ``quotas`` overrides;
    the tokens by user name. Runs on a thread of its own, so callers with an event loop running in
    theirs (Playwright's sync API, async tests) can use it too."""

    async def make() -> dict[str, str]:
        accounts = open_accounts(settings.effective_jobs_url)
        await accounts.open()
        try:
            tokens = {}
            for name, admin in [*((u, False) for u in users), *((a, True) for a in admins)]:
                await accounts.add_user(name, admin=admin)
                tokens[name] = await accounts.create_token(name)
            for name, quota in (quotas or {}).items():
                await accounts.set_quota(name, **{k: getattr(quota, k) for k in Quota.__slots__})
            return tokens
        finally:
            await accounts.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, make()).result()


def bearer(token: str) -> dict[str, str]:
    """The ``Authorization`` header carrying ``token``."""
    return {"Authorization": f"Bearer {token}"}
