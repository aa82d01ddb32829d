"""load_table, mytables, drop_table and myquota in a pseudo-terminal: tables stored on the live ``ci``
server (user_anonymous, as it runs with SKYGATE_AUTH=none) outlive the session and join with the
release; a service that stores none for the caller (the second TAP service, a tokens-mode server to
an anonymous caller) gets session uploads instead."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from astropy.table import Table

from skygate.settings import Settings
from tests.live_fixtures import LiveServer, serve
from tests.skygate.shell.tapdouble import ROWS, tap_double
from tests.skygate.shell.terminal import Terminal

pytestmark = pytest.mark.live

SCHEMA = "user_anonymous"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def name(live_server: LiveServer) -> Iterator[str]:
    """A table name of this test's own in user_anonymous (the live server is shared), dropped afterwards."""
    chosen = f"mine_{uuid.uuid4().hex[:8]}"
    yield chosen
    requests.delete(f"{live_server.tap_url}/tables/{SCHEMA}.{chosen}", timeout=30)


@pytest.fixture
def catalogue(live_server: LiveServer) -> Table:
    """Four objects of the ci catalogue, read with the service's own CSV."""
    response = requests.post(f"{live_server.tap_url}/sync", timeout=60, data={
        "LANG": "ADQL", "RESPONSEFORMAT": "csv",
        "QUERY": "SELECT TOP 4 coadd_object_id, ra FROM des_dr1.main ORDER BY coadd_object_id"})
    response.raise_for_status()
    return Table.read(response.text.splitlines(), format="ascii.csv")


@pytest.fixture
def mine(catalogue: Table, tmp_path: Path) -> Path:
    path = tmp_path / "mine.csv"
    Table({"oid": catalogue["coadd_object_id"], "label": ["a", "b", "c", "d"]}).write(path, format="ascii.csv")
    return path


def _start(url: str, home: Path) -> Terminal:
    terminal = Terminal(url, home)
    terminal.wait_for(r"\d+ tables (read from the service|cached)")
    terminal.prompt()
    return terminal


JOIN = ("SELECT u.label, m.coadd_object_id, m.ra FROM {table} AS u\n"
        "JOIN des_dr1.main AS m ON m.coadd_object_id = u.oid ORDER BY u.label;")


def test_a_stored_table_joins_outlives_the_session_and_drops(live_server: LiveServer, home: Path, mine: Path,
                                                             catalogue: Table, name: str) -> None:
    table = f"{SCHEMA}.{name}"
    first = _start(live_server.tap_url, home)
    try:
        out = first.enter(f"load_table {mine} {name}", r"stored on the service[^\n]*\n")
        assert f"{table}: 4 rows, 2 columns from mine.csv, stored on the service" in out
        assert f"query it as {table}" in out
        assert requests.get(f"{live_server.tap_url}/tables/{table}", timeout=30).status_code == 200
        out = first.enter(JOIN.format(table=table), r"\(4 rows")
        for label, oid in zip("abcd", catalogue["coadd_object_id"], strict=True):
            assert re.search(rf"\b{label}\s+{oid}\b", out), out
        assert re.search(r"label\s+char", first.enter(f"describe_table {name}", r"2 columns:.*label[^\n]*\n"))
        out = first.enter("mytables", r"no session tables")
        assert re.search(rf"{re.escape(table)}\s+4 rows", out), out
    finally:
        first.close()
    second = _start(live_server.tap_url, home)
    try:
        out = second.enter("mytables", r"no session tables")
        assert re.search(rf"{re.escape(table)}\s+4 rows", out), out
        assert "label" in second.enter(f"describe_table {table}", r"2 columns:.*label[^\n]*\n")
        assert re.search(r"\b4\s*\n\(1 row", second.enter(f"SELECT COUNT(*) AS n FROM {table};", r"\(1 row"))
        out = second.enter(f"drop_table {name}", r"dropped[^\n]*\n")
        assert f"dropped {name} from the service" in out
        assert requests.get(f"{live_server.tap_url}/tables/{table}", timeout=30).status_code == 404
        out = second.enter(f"SELECT COUNT(*) AS n FROM {table};", r"error: [^\n]*\n")
        assert f"unknown table {table}" in out.lower() and "Traceback" not in out
        assert table not in second.enter("mytables", r"no session tables")
        out = second.enter(f"drop_table {name}", r"error: [^\n]*\n")
        assert f"no table '{name}', neither on the service nor in this session" in out
    finally:
        second.close()


def test_a_name_taken_shows_the_services_message(live_server: LiveServer, home: Path, mine: Path,
                                                 name: str) -> None:
    terminal = _start(live_server.tap_url, home)
    try:
        terminal.enter(f"load_table {mine} {name}", r"stored on the service")
        out = terminal.enter(f"load_table {mine} {name}", r"error: [^\n]*\n")
        assert f"you already have a table called {SCHEMA}.{name}" in out and "Traceback" not in out
        assert "TAP_UPLOAD" not in out  # a refusal of the name is no reason to fall back
        out = terminal.enter("mytables", r"no session tables")
        assert out.count(f"{SCHEMA}.{name}") == 1
    finally:
        terminal.close()


def test_a_bad_column_name_shows_the_services_message(live_server: LiveServer, home: Path, tmp_path: Path,
                                                      name: str) -> None:
    path = tmp_path / "bad.csv"
    Table({"oid": [1, 2], "dec lination": [3, 4]}).write(path, format="ascii.csv")
    terminal = _start(live_server.tap_url, home)
    try:
        out = terminal.enter(f"load_table {path} {name}", r"error: [^\n]*\n")
        assert "column 'dec lination' cannot be published under that name" in out and "Traceback" not in out
        assert requests.get(f"{live_server.tap_url}/tables/{SCHEMA}.{name}", timeout=30).status_code == 404
    finally:
        terminal.close()


@pytest.fixture
def tokens_server(tmp_path: Path, ci_duckdb_path: Path) -> Iterator[LiveServer]:
    """A server requiring logins for tables (SKYGATE_AUTH=tokens): it stores none for an anonymous caller."""
    data_dir = tmp_path / "tokens"
    data_dir.mkdir()
    (data_dir / "catalog.duckdb").symlink_to(ci_duckdb_path)
    yield from serve(Settings(data_dir=data_dir, auth="tokens"))


def test_an_anonymous_caller_gets_a_session_upload(tokens_server: LiveServer, home: Path, mine: Path,
                                                   catalogue: Table) -> None:
    terminal = _start(tokens_server.tap_url, home)
    try:
        out = terminal.enter(f"load_table {mine} mine", r"kept for this session[^\n]*\n")
        assert "not stored on the service: the service refused it: UsageFault: only a logged-in user may create" in out
        assert "mine: 4 rows, 2 columns from mine.csv, kept for this session; use it as TAP_UPLOAD.mine" in out
        out = terminal.enter(JOIN.format(table="TAP_UPLOAD.mine"), r"\(4 rows")
        for label, oid in zip("abcd", catalogue["coadd_object_id"], strict=True):
            assert re.search(rf"\b{label}\s+{oid}\b", out), out
        out = terminal.enter("mytables", r"TAP_UPLOAD\.mine[^\n]*\n")
        assert "no tables of yours on the service: the service refused it: UsageFault: only a logged-in" in out
        assert re.search(r"TAP_UPLOAD\.mine\s+4 rows\s+2 columns", out), out
        assert "no session table 'other'" in terminal.enter("SELECT * FROM TAP_UPLOAD.other;", r"error: [^\n]*\n")
    finally:
        terminal.close()


def test_a_service_without_user_tables_gets_session_uploads(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "ids.vot"
    Table({"source_id": [ROWS[0][0], ROWS[1][0]]}).write(path, format="votable")
    with tap_double() as double:
        terminal = _start(double.url, home)
        try:
            out = terminal.enter(f"load_table {path}", r"kept for this session[^\n]*\n")
            assert "not stored on the service: the service keeps no user tables (PUT /tables answered HTTP 501)" in out
            assert "ids: 2 rows, 1 columns from ids.vot, kept for this session; use it as TAP_UPLOAD.ids" in out
            out = terminal.enter("mytables", r"TAP_UPLOAD\.ids[^\n]*\n")
            assert "no tables of yours on the service: the service keeps no user tables" in out
            assert "dropped TAP_UPLOAD.ids from this session" in terminal.enter("drop_table ids", r"dropped")
            out = terminal.enter("drop_table ids", r"error: [^\n]*\n")
            assert "no session table 'ids', and the service keeps no user tables (DELETE" in out
            assert "no session tables" in terminal.enter("mytables", r"no session tables")
            out = terminal.enter("myquota", r"none stated[^\n]*\n")  # the double answers no /quota
            assert "this service states no quota of yours (it answers no /quota)" in out
        finally:
            terminal.close()


def test_myquota_shows_the_callers_tables_and_limits(live_server: LiveServer, home: Path, mine: Path,
                                                     name: str) -> None:
    before = requests.get(f"{live_server.url}/quota", timeout=30).json()
    terminal = _start(live_server.tap_url, home)
    try:
        terminal.enter(f"load_table {mine} {name}", r"stored on the service")
        after = requests.get(f"{live_server.url}/quota", timeout=30).json()
        assert after["tables"]["count"] == before["tables"]["count"] + 1
        out = terminal.enter("myquota", r"requests: [^\n]*\n")
    finally:
        terminal.close()
    assert live_server.settings.user_table_max_bytes == 1 << 30
    assert "quota of anonymous (authentication: none)" in out
    assert re.search(r"jobs: +\d+ active \(no limit\); no limit on running ones", out), out
    assert re.search(rf"tables: +{after['tables']['count']} in {SCHEMA}, \d[\d.]* (B|KiB|MiB) used of at most 1 GiB",
                     out), out
    assert f"and {after['uploads']['max_rows']:,} rows per table" in out
    assert re.search(r"requests: +no limit\n", out), out
