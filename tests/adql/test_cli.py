"""``skygate adql translate`` prints SQL or one error line (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from skygate.cli import main


def test_syntax_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["adql", "translate", "--syntax-only", "SELECT TOP 3 x FROM t"]) == 0
    assert "valid" in capsys.readouterr().out
    assert main(["adql", "translate", "--syntax-only", "SELECT x FROM t WHERE ROWNUM < 3"]) == 2
    err = capsys.readouterr().err
    assert "SELECT TOP" in err and "Traceback" not in err


def test_translate_over_the_release(ci_duckdb_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SKYGATE_DATA_DIR", str(ci_duckdb_path.parent))
    monkeypatch.delenv("SKYGATE_DATABASE_URL", raising=False)
    assert main(["adql", "translate", "--dialect", "postgres", "SELECT TOP 5 ra FROM des_dr1.main"]) == 0
    assert capsys.readouterr().out.strip() == 'SELECT "main"."ra" AS "ra" FROM "des_dr1"."main" AS "main" LIMIT 5'
    assert main(["adql", "translate", "--dialect", "duckdb", "SELECT ra FROM dr1_main"]) == 2
    assert "did you mean des_dr1.main" in capsys.readouterr().err


def test_translate_without_a_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SKYGATE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SKYGATE_DATABASE_URL", raising=False)
    assert main(["adql", "translate", "SELECT ra FROM des_dr1.main"]) == 2
    err = capsys.readouterr().err
    assert "skygate demo" in err and "catalog.duckdb does not exist" in err
    assert err.count("no release loaded") == 1, err  # said once, not once per layer
