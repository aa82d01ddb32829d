"""``skygate user ...`` and ``skygate token ...``: the accounts of ``SKYGATE_AUTH=tokens``, and per-user quotas.

Users, token hashes and quota overrides live in the job store's database (``SKYGATE_JOBS_URL``, or
its default). ``user quota NAME`` shows or changes one user's limits (any mode: OIDC users are
named as the service sees them); a running service applies a change within ten seconds.
``token create`` prints the token once; it cannot be shown again. Errors print one line and exit
with status 2. Tests: tests/skygate/test_cli_auth.py.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable

from auth.accounts import AccountError, AccountStore, open_accounts
from auth.quotas import Quota
from skygate.quotas import default_quota
from skygate.settings import Settings, parse_size

__all__ = ["add_auth_commands", "run_token", "run_user"]


def add_auth_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``user`` and ``token`` on the ``skygate`` sub-command parser."""
    user = sub.add_parser("user", help="users of SKYGATE_AUTH=tokens")
    user_what = user.add_subparsers(dest="what", required=True)
    add = user_what.add_parser("add", help="add a user")
    add.add_argument("name", help="1-32 of a-z, 0-9, _, starting with a letter")
    add.add_argument("--admin", action="store_true", help="may read and manage every user's jobs")
    user_what.add_parser("list", help="list users, their active token counts and quota overrides")
    quota = user_what.add_parser("quota", help="show or change a user's limits ('default': the site's; 0: none)")
    quota.add_argument("name")
    quota.add_argument("--active-jobs", type=_limit, metavar="N", help="jobs queued or executing at a time")
    quota.add_argument("--running-jobs", type=_limit, metavar="N", help="jobs executing at a time")
    quota.add_argument("--table-bytes", type=_size, metavar="SIZE", help="bytes of the user's own tables (K, M, G, T)")
    quota.add_argument("--requests-per-minute", type=_limit, metavar="N", help="API requests per minute")
    quota.add_argument("--result-bytes", type=_size, metavar="SIZE", help="bytes the user's jobs' results keep")
    quota.add_argument("--upload-bytes", type=_size, metavar="SIZE", help="bytes of one uploaded table")
    quota.add_argument("--upload-rows", type=_limit, metavar="N", help="rows of one uploaded table")
    quota.add_argument("--default", action="store_true", help="remove every override of the user")
    user.set_defaults(handler="skygate.cli_auth:run_user")

    token = sub.add_parser("token", help="API tokens of SKYGATE_AUTH=tokens")
    token_what = token.add_subparsers(dest="what", required=True)
    create = token_what.add_parser("create", help="make a token for a user (printed once)")
    create.add_argument("name")
    create.add_argument("--expires", type=float, default=None, metavar="DAYS", help="valid for DAYS days")
    revoke = token_what.add_parser("revoke", help="revoke a token (its text or id) or all tokens of a user")
    revoke.add_argument("target", metavar="TOKEN|ID|USER")
    listing = token_what.add_parser("list", help="list tokens (ids and dates, never the tokens)")
    listing.add_argument("name", nargs="?", default=None)
    token.set_defaults(handler="skygate.cli_auth:run_token")


_DEFAULT = "default"
_OPTIONS = {"max_active_jobs": "active_jobs", "max_running_jobs": "running_jobs", "table_bytes": "table_bytes",
            "requests_per_minute": "requests_per_minute", "result_bytes": "result_bytes",
            "upload_bytes": "upload_bytes", "upload_rows": "upload_rows"}


def _limit(text: str) -> int | str:
    if text == _DEFAULT:
        return text
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def _size(text: str) -> int | str:
    return text if text == _DEFAULT else parse_size(text)


def run_user(args: argparse.Namespace) -> int:
    async def act(accounts: AccountStore) -> None:
        if args.what == "add":
            await accounts.add_user(args.name, admin=args.admin)
            print(f"added user {args.name}{' (admin)' if args.admin else ''}")
            return
        if args.what == "quota":
            await _quota(accounts, args)
            return
        overrides = await accounts.quotas()
        for info in await accounts.list_users():
            flag = "admin" if info.admin else "user"
            quota = overrides.get(info.name)
            extra = f"\tquota: {_described(quota)}" if quota is not None else ""
            print(f"{info.name}\t{flag}\t{info.active_tokens} active token(s)\tsince {info.created:%Y-%m-%d}{extra}")

    return _with_accounts(act)


async def _quota(accounts: AccountStore, args: argparse.Namespace) -> None:
    changes: dict[str, int | None] = {}
    for field, option in _OPTIONS.items():
        value = getattr(args, option)
        if args.default or value == _DEFAULT:
            changes[field] = None
        elif value is not None:
            changes[field] = int(value)
    quota = await accounts.set_quota(args.name, **changes) if changes else await accounts.quota(args.name)
    effective = (quota or Quota()).over(default_quota(Settings.from_env()))
    print(f"{args.name}: " + "; ".join(
        f"{option.replace('_', ' ')} {_shown(getattr(effective, field))}"
        f"{'' if getattr(quota, field, None) is not None else ' (site default)'}"
        for field, option in _OPTIONS.items()))


def _described(quota: Quota) -> str:
    return ", ".join(f"{option.replace('_', ' ')} {_shown(getattr(quota, field))}"
                     for field, option in _OPTIONS.items() if getattr(quota, field) is not None)


def _shown(value: int | None) -> str:
    return "no limit" if not value else str(value)


def run_token(args: argparse.Namespace) -> int:
    async def act(accounts: AccountStore) -> None:
        if args.what == "create":
            print(await accounts.create_token(args.name, expires_days=args.expires))
        elif args.what == "revoke":
            count = await accounts.revoke(args.target)
            if count == 0:
                raise AccountError("no active token matches")
            print(f"revoked {count} token(s)")
        else:
            for info in await accounts.list_tokens(args.name):
                state = ("revoked" if info.revoked else
                         f"expires {info.expires:%Y-%m-%d %H:%M}" if info.expires else "no expiry")
                print(f"{info.token_id}\t{info.user}\tcreated {info.created:%Y-%m-%d %H:%M}\t{state}")

    return _with_accounts(act)


def _with_accounts(act: Callable[[AccountStore], Awaitable[None]]) -> int:
    async def run() -> None:
        accounts = open_accounts(Settings.from_env().effective_jobs_url)
        await accounts.open()
        try:
            await act(accounts)
        finally:
            await accounts.close()

    try:
        asyncio.run(run())
    except AccountError as exc:
        print(f"skygate: {exc}", file=sys.stderr)
        return 2
    return 0
