"""``skygate shell`` driven through a pseudo-terminal, as a user types, against the live ``ci`` server
and against a second TAP service with another schema (tests/skygate/shell/tapdouble.py)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from astropy.table import Table

from tests.live_fixtures import LiveServer
from tests.skygate.shell.tapdouble import ROWS, tap_double
from tests.skygate.shell.terminal import Terminal

pytestmark = pytest.mark.live

# A self-join of the ci catalogue: ~4e8 pairs, some twenty seconds of DuckDB, so still running when
# the shell has turned it into a job and the test presses Ctrl-C.
SLOW = ("SELECT COUNT(*) AS n FROM des_dr1.main AS a, des_dr1.main AS b "
        "WHERE a.mag_auto_g + b.mag_auto_r < 40.5;")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def shell(live_server: LiveServer, home: Path) -> Iterator[Terminal]:
    terminal = Terminal(live_server.tap_url, home, "--sync-wait", "1")
    terminal.wait_for(r"\d+ tables read from the service")
    terminal.prompt()
    yield terminal
    terminal.close()


def _sync_csv(live_server: LiveServer, query: str) -> Table:
    response = requests.post(f"{live_server.tap_url}/sync", timeout=60,
                             data={"LANG": "ADQL", "QUERY": query, "RESPONSEFORMAT": "csv", "MAXREC": "100000"})
    response.raise_for_status()
    return Table.read(response.text.splitlines(), format="ascii.csv")


def test_tab_offers_the_services_tables_and_then_their_columns(shell: Terminal) -> None:
    shell.type("SELECT TOP 2 ra FROM des_dr1.ma\t\t")
    shell.wait_for(r"des_dr1\.main\s+des_dr1\.main_sample")
    shell.child.sendcontrol("c")
    shell.prompt()
    # a column through an alias declared after the cursor: Tab completes t.tilen to t.tilename,
    # which the service then accepts (the screen redraws mid-line, so the result is what is checked)
    shell.type("SELECT TOP 2 ra_cent, t.tilen FROM des_dr1.tile_info AS t")
    shell.child.send("\x1b[D" * len(" FROM des_dr1.tile_info AS t"))  # cursor back after t.tilen
    shell.child.send("\t")
    time.sleep(0.5)
    shell.child.sendcontrol("e")
    out = shell.enter(";", r"\(2 rows")
    assert re.search(r"ra_cent\s+tilename", out), out


def test_a_multi_line_query_prints_its_rows_with_units(shell: Terminal, live_server: LiveServer) -> None:
    expected = _sync_csv(live_server, "SELECT TOP 3 tilename FROM des_dr1.main ORDER BY tilename")
    out = shell.enter("SELECT TOP 3 tilename, ra\nFROM des_dr1.main\nORDER BY tilename;", r"\(3 rows")
    assert re.search(r"tilename\s+ra\s*\n\s+deg", out), out
    for name in expected["tilename"]:
        assert name in out


def test_the_history_outlives_the_session(live_server: LiveServer, home: Path) -> None:
    first = Terminal(live_server.tap_url, home)
    first.prompt()
    first.enter("SELECT TOP 1 tilename FROM des_dr1.tile_info;", r"\(1 row")
    first.close()
    second = Terminal(live_server.tap_url, home)
    try:
        second.wait_for(r"\d+ tables cached")  # and the metadata came from the cache
        second.prompt()
        out = second.enter("history", r"SELECT TOP 1 tilename FROM des_dr1\.tile_info;")
        assert "history" in out
        second.enter("find_tables obs", r"\(1 tables")
        # Ctrl-R searches backwards; Enter takes the match, a second Enter runs it
        second.child.sendcontrol("r")
        second.type("TOP 1 tile")
        second.wait_for(r"I-search backward")
        second.type("\n")
        time.sleep(0.3)
        second.type("\n")
        second.wait_for(r"DES2134-0041\n\(1 row")
    finally:
        second.close()


def test_a_result_saved_as_fits_reads_back_with_every_row(shell: Terminal, live_server: LiveServer,
                                                          tmp_path: Path) -> None:
    count = int(_sync_csv(live_server, "SELECT COUNT(*) AS n FROM des_dr1.main WHERE dec < -1")["n"][0])
    target = tmp_path / "out.fits"
    out = shell.enter(f"SELECT coadd_object_id, ra, dec FROM des_dr1.main WHERE dec < -1; > {target}",
                      r"wrote \d+ rows")
    assert f"wrote {count} rows to {target}" in out
    table = Table.read(target)
    assert len(table) == count > 1000  # more than the service's default MAXREC: the whole result
    assert table["ra"].unit == "deg"


def test_check_marks_the_broken_column(shell: Terminal) -> None:
    out = shell.enter("SELECT ra,\n  decc FROM des_dr1.main; < check", r"\^")
    assert "unknown column decc" in out
    assert re.search(r"2 \|   decc FROM des_dr1\.main\s*\n\s+\|   \^", out), out
    out = shell.enter("SELECT ra, dec FROM des_dr1.main; < check", r"dec\s+float64\s+\[deg\]")
    assert "the query is valid" in out


def test_ctrl_c_aborts_the_async_job_on_the_service(shell: Terminal, live_server: LiveServer) -> None:
    shell.type(SLOW + "\n")
    shell.wait_for(r"running it as an async job")
    job_id = shell.wait_for(r"job (\w+): EXECUTING").group(1)
    shell.child.sendcontrol("c")
    shell.wait_for(rf"query aborted: job {job_id} is ABORTED on the service")
    shell.prompt()
    phase = requests.get(f"{live_server.tap_url}/async/{job_id}/phase", timeout=30).text.strip()
    assert phase == "ABORTED"
    out = shell.enter("jobs", r"\(\d+ jobs")
    assert re.search(rf"{job_id}\s+ABORTED", out)


def test_examples_and_commands_answer(shell: Terminal) -> None:
    shell.type("examples\n")
    shell.wait_for(r"\[1\] Random peek at the catalogue")
    shell.wait_for(r"-- more: Enter for the next page, q to stop --")  # longer than the 50-line screen
    shell.type("\n")
    shell.wait_for(r"\(\d+ examples; `examples N` runs one\)")
    shell.prompt()
    assert "pager          off" in shell.enter("config pager off", r"pager {5,}off")
    assert "(5 rows" in shell.enter("examples 1", r"\(5 rows")
    assert "des_dr1.tile_info" in shell.enter("find_tables tile", r"\(1 tables\)")
    assert "pos.eq.ra" in shell.enter("describe_table des_dr1.main", r"extended_class_coadd")
    assert "mode: none" in shell.enter("whoami", r"you are anonymous to this service.*\)")
    assert "quota of anonymous (authentication: none)" in shell.enter("myquota", r"requests: ")
    assert "usage: describe_table TABLE" in shell.enter("help describe_table", r"usage:")
    out = shell.enter("SELECT * FROM des_dr1.main; < explain", r"the query is valid")
    assert "offers no query plan" in out


def test_network_trouble_is_one_line(home: Path) -> None:
    terminal = Terminal("http://127.0.0.1:9/tap", home, "--cache-dir", str(home / "empty"))
    try:
        terminal.wait_for(r"error: cannot reach 127\.0\.0\.1:9")
        terminal.prompt()
        out = terminal.enter("SELECT 1;", r"error: [^\n]*\n")
        assert "Traceback" not in terminal.text and out.count("error:") == 1
    finally:
        terminal.close()


def test_a_second_service_with_another_schema_and_a_token(home: Path, tmp_path: Path) -> None:
    with tap_double() as double:
        terminal = Terminal(double.url, home, env={"TAP_TOKEN": "s3cret"})
        try:
            terminal.wait_for(r"1 tables read from the service")
            terminal.prompt()
            terminal.type("SELECT TOP 3 source_id, phot_g FROM gaia.so\t")
            terminal.wait_for(r"gaia\.source")
            terminal.type(";\n")
            terminal.wait_for(r"error: [^\n]*\n")  # phot_g is not a column: the double's own words
            terminal.prompt()
            out = terminal.enter("SELECT TOP 3 source_id, ra FROM gaia.source;", r"\(3 rows")
            assert str(ROWS[2][0]) in out and "deg" in out
            target = tmp_path / "g.fits"
            terminal.enter(f"SELECT source_id FROM gaia.source; > {target}", r"wrote 25 rows")
            assert len(Table.read(target)) == len(ROWS)
            assert "no async job list" in terminal.enter("jobs", r"no async job list")
            time.sleep(0.1)
        finally:
            terminal.close()
        assert double.authorizations and set(double.authorizations) == {"Bearer s3cret"}
