"""The ways in: ``skygate shell`` and ``python -m skygate.shell`` with ``-c`` entries (no terminal),
against the second TAP service (tests/skygate/shell/tapdouble.py): every file format, loadsql, config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from astropy.table import Table

from skygate.cli import build_parser
from tests.skygate.shell.tapdouble import ROWS, tap_double


def _run(url: str, home: Path, *entries: str) -> str:
    args = [sys.executable, "-m", "skygate.shell", url, "--cache-dir", str(home / "cache"),
            "--history", str(home / "history")]
    for entry in entries:
        args += ["-c", entry]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return done.stdout


def test_skygate_shell_is_a_subcommand() -> None:
    args = build_parser().parse_args(["shell", "http://example.org/tap", "--token", "t", "--sync-wait", "2"])
    assert (args.handler, args.tap_url, args.token, args.sync_wait) == (
        "skygate.shell.repl:run", "http://example.org/tap", "t", 2.0)
    assert build_parser().parse_args(["shell"]).tap_url == "http://127.0.0.1:8000/tap"


@pytest.mark.parametrize("suffix", ["csv", "tsv", "fits", "parquet", "h5", "vot"])
def test_every_file_format_holds_the_whole_result(tmp_path: Path, suffix: str) -> None:
    target = tmp_path / f"out.{suffix}"
    with tap_double() as double:
        out = _run(double.url, tmp_path, f"SELECT source_id, ra FROM gaia.source; > {target}")
    assert f"wrote {len(ROWS)} rows to {target}" in out
    if suffix == "parquet":
        assert pq.ParquetFile(target).metadata.num_rows == len(ROWS)
        return
    fmt = {"csv": "ascii.csv", "tsv": "ascii.tab", "fits": "fits", "h5": "hdf5", "vot": "votable"}[suffix]
    table = Table.read(target, format=fmt, **({"path": "data"} if suffix == "h5" else {}))
    assert list(table["source_id"]) == [r[0] for r in ROWS]


def test_loadsql_runs_each_statement(tmp_path: Path) -> None:
    script = tmp_path / "q.sql"
    script.write_text("-- two queries\nSELECT TOP 2 source_id FROM gaia.source;\n"
                      "SELECT ra FROM gaia.source; > " + str(tmp_path / "ra.csv") + "\n")
    with tap_double() as double:
        out = _run(double.url, tmp_path, f"loadsql {script}")
    assert "(2 rows" in out and f"wrote {len(ROWS)} rows" in out


def test_config_and_prefetch_change_the_session(tmp_path: Path) -> None:
    with tap_double() as double:
        out = _run(double.url, tmp_path, "prefetch 4", "SELECT source_id FROM gaia.source;", "config sync_wait 0",
                   "config prefetch many", "config colour on")
    assert "queries show the first 4 rows" in out
    assert f"({len(ROWS)} rows, the first 4 shown" in out  # the double ignores MAXREC
    assert str(ROWS[3][0]) in out and str(ROWS[4][0]) not in out
    assert "error: config: sync_wait needs a positive float, not '0'" in out
    assert "error: config: prefetch needs a positive int, not 'many'" in out
    assert "error: config: unknown key 'colour'" in out


def test_an_unfinished_entry_and_an_unknown_table_are_said_plainly(tmp_path: Path) -> None:
    with tap_double() as double:
        out = _run(double.url, tmp_path, "SELECT 1", "describe_table nowhere", "help nothing", "drop_table x")
    assert "error: end the statement with ';'" in out
    assert "error: no table 'nowhere'" in out
    assert "error: help: no command 'nothing'" in out
    assert "error: drop_table: no session table 'x'" in out
