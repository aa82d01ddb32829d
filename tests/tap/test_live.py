"""The live server as clients see it: STILTS taplint and votlint, pyvo, STILTS tapquery.

Marked ``live`` (uvicorn on 127.0.0.1) and, for the STILTS parts, ``stilts``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.live_fixtures import LiveServer

pytestmark = pytest.mark.live

TOTALS = re.compile(r"Totals: Errors: (\d+); Warnings: (\d+)")


def _stilts(*args: str, login: tuple[str, str] | None = None,
            timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run STILTS. ``login`` (user, password) becomes the Java system properties with which STILTS's
    ``uk.ac.starlink.util.PropertyAuthenticator`` answers an HTTP Basic challenge."""
    if shutil.which("stilts") is None:
        pytest.skip("stilts is not installed")
    java = [f"-Dstar.basicauth.user={login[0]}", f"-Dstar.basicauth.password={login[1]}"] if login else []
    return subprocess.run(["stilts", *java, *args], check=False, capture_output=True, text=True, timeout=timeout)


def taplint(tap_url: str, out: Path, *, login: tuple[str, str] | None = None,
            report: str = "EWF") -> tuple[int, int, list[str], list[str]]:
    """Run taplint (as ``login``, if given); returns (errors, warnings, error lines, warning lines)
    from its report, which is kept in ``out``."""
    result = _stilts("taplint", f"tapurl={tap_url}", f"report={report}", "maxrepeat=20", "truncate=400", login=login)
    text = result.stdout + result.stderr
    out.write_text(text)
    match = TOTALS.search(text)
    assert match, text[-2000:]
    lines = text.splitlines()
    return (int(match.group(1)), int(match.group(2)), [ln for ln in lines if ln.startswith("E-")],
            [ln for ln in lines if ln.startswith("W-")])


@pytest.mark.stilts
@pytest.mark.slow
def test_taplint_reports_no_errors_on_duckdb(live_server: LiveServer, tmp_path: Path) -> None:
    _check(*taplint(live_server.tap_url, tmp_path / "taplint.txt"))


@pytest.mark.stilts
@pytest.mark.slow
@pytest.mark.postgres
def test_taplint_reports_no_errors_on_postgres(live_server_postgres: LiveServer, tmp_path: Path) -> None:
    _check(*taplint(live_server_postgres.tap_url, tmp_path / "taplint.txt"))


def _check(errors: int, warnings: int, error_lines: list[str], warning_lines: list[str]) -> None:
    assert error_lines == [] and errors == 0, "\n".join(error_lines)
    assert warning_lines == [] and warnings == 0, "\n".join(warning_lines)
