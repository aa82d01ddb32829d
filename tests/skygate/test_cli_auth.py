"""``skygate user`` and ``skygate token``: what an operator types, and what it prints."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from auth.accounts import open_accounts
from skygate.cli import main
from skygate.settings import Settings


@pytest.fixture()
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SKYGATE_DATA_DIR", str(tmp_path))
    return tmp_path


def _identify(data_dir: Path, token: str) -> str | None:
    async def run() -> str | None:
        accounts = open_accounts(Settings(data_dir=data_dir).effective_jobs_url)
        await accounts.open()
        try:
            identity = await accounts.identify(token)
        finally:
            await accounts.close()
        return identity.name if identity else None

    return asyncio.run(run())


def test_user_and_token_lifecycle(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["user", "add", "alice"]) == 0
    assert main(["user", "add", "root", "--admin"]) == 0
    capsys.readouterr()
    assert main(["token", "create", "alice", "--expires", "30"]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("sgt_") and _identify(data_dir, token) == "alice"
    assert main(["user", "list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].startswith("alice\tuser\t1 active") and listing[1].startswith("root\tadmin\t0 active")
    assert main(["token", "list"]) == 0
    tokens = capsys.readouterr().out
    assert "alice" in tokens and "expires" in tokens and token not in tokens  # never the token itself
    assert main(["token", "revoke", token]) == 0
    assert _identify(data_dir, token) is None
    assert main(["token", "list", "alice"]) == 0
    assert "revoked" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["user", "add", "Bad Name"], "must be 1-32"),
    (["token", "create", "nobody"], "no user nobody"),
    (["token", "revoke", "nobody"], "no active token"),
    (["token", "create", "alice", "--expires", "-1"], "positive"),
])
def test_mistakes_print_one_line_and_exit_2(data_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                             message: str) -> None:
    main(["user", "add", "alice"])
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_user_quota_shows_changes_and_resets_limits(data_dir: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYGATE_USER_MAX_ACTIVE_JOBS", "10")
    assert main(["user", "add", "alice"]) == 0
    assert main(["user", "quota", "alice", "--active-jobs", "3", "--table-bytes", "10M"]) == 0
    shown = capsys.readouterr().out
    assert "active jobs 3;" in shown and "table bytes 10485760;" in shown
    assert "running jobs no limit (site default)" in shown
    assert main(["user", "list"]) == 0
    assert "quota: active jobs 3, table bytes 10485760" in capsys.readouterr().out
    assert main(["user", "quota", "alice", "--active-jobs", "default"]) == 0
    assert "active jobs 10 (site default)" in capsys.readouterr().out
    assert main(["user", "quota", "alice", "--default"]) == 0
    assert main(["user", "quota", "alice"]) == 0
    assert "table bytes 1073741824 (site default)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["user", "quota", "alice", "--running-jobs", "-1"])
