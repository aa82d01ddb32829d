"""The shell's pieces without a terminal or a service: entry parsing, error markers, completion,
loadsql splitting, auth headers, file formats, table patterns."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from skygate.shell.client import QueryError, ServiceError, auth_header, error_position
from skygate.shell.commands import COMMANDS, _quota_lines, _statements
from skygate.shell.completion import AdqlCompleter
from skygate.shell.display import describe_error
from skygate.shell.files import file_format
from skygate.shell.metadata import ColumnInfo, ServiceMetadata, TableInfo
from skygate.shell.session import is_complete, parse_input

METADATA = ServiceMetadata({
    "des_dr1.main": TableInfo("des_dr1.main", "objects", [ColumnInfo("ra", "double", "deg"),
                                                          ColumnInfo("dec", "double", "deg"),
                                                          ColumnInfo("mag_auto_g", "float", "mag")]),
    "des_dr1.main_sample": TableInfo("des_dr1.main_sample", "1 %", [ColumnInfo("ra")]),
    "des_dr1.tile_info": TableInfo("des_dr1.tile_info", "tiles", [ColumnInfo("tilename"), ColumnInfo("ra_cent")]),
    "ivoa.obscore": TableInfo("ivoa.obscore", "images", [ColumnInfo("s_ra"), ColumnInfo("access_url")]),
})


@pytest.mark.parametrize(("text", "sql", "file", "action"), [
    ("SELECT 1;", "SELECT 1", None, "run"),
    ("SELECT ra\nFROM t ;  ", "SELECT ra\nFROM t", None, "run"),
    ("SELECT ra FROM t; > out.fits", "SELECT ra FROM t", Path("out.fits"), "run"),
    ("SELECT ra FROM t;>out.csv", "SELECT ra FROM t", Path("out.csv"), "run"),
    ("SELECT ra FROM t; < check", "SELECT ra FROM t", None, "check"),
    ("SELECT ra FROM t; < EXPLAIN", "SELECT ra FROM t", None, "explain"),
])
def test_an_entry_ends_at_its_semicolon(text: str, sql: str, file: Path | None, action: str) -> None:
    entry = parse_input(text, COMMANDS)
    assert entry is not None and (entry.sql, entry.file, entry.action) == (sql, file, action)
    assert is_complete(text, COMMANDS)


@pytest.mark.parametrize("text", ["SELECT ra", "SELECT ra FROM t WHERE x = ';' AND", "SELECT 1; < nonsense"])
def test_an_unfinished_entry_waits_for_more_lines(text: str) -> None:
    assert parse_input(text, COMMANDS) is None and not is_complete(text, COMMANDS)


def test_a_command_needs_no_semicolon() -> None:
    entry = parse_input("describe_table des_dr1.main", COMMANDS)
    assert entry is not None and (entry.command, entry.args) == ("describe_table", "des_dr1.main")


@pytest.mark.parametrize(("message", "query", "position"), [
    ("UsageFault: unknown column decc (line 2, column 5)", "SELECT\nra, decc FROM t", (2, 5)),
    ("Could not parse your query (line:1, col:8)", "SELECT x FROM t", (1, 8)),
    ("syntax error at char 14", "SELECT a\nFROM, t", (2, 6)),
    ("no position here", "SELECT 1", None),
])
def test_error_positions_in_the_ways_services_say_them(message: str, query: str,
                                                       position: tuple[int, int] | None) -> None:
    assert error_position(message, query) == position


def test_the_error_marks_the_column_under_the_echoed_query() -> None:
    lines = describe_error(QueryError("unknown column decc (line 2, column 5)", None), "SELECT ra,\n    decc FROM t")
    assert lines == ["error: unknown column decc (line 2, column 5)", "  1 | SELECT ra,",
                     "  2 |     decc FROM t", "    |     ^"]


def test_error_text_loses_terminal_control_codes() -> None:
    assert describe_error(ServiceError("bad \x1b[31mred\x1b[0m"), None) == ["error: bad red"]


def _complete(text: str, uploads: dict[str, list[ColumnInfo]] | None = None, cursor: int | None = None) -> list[str]:
    completer = AdqlCompleter(lambda: METADATA, lambda: uploads or {}, {c: "" for c in COMMANDS})
    document = Document(text, len(text) if cursor is None else cursor)
    return [c.text for c in completer.get_completions(document, CompleteEvent(completion_requested=True))]


def test_tables_are_offered_after_from() -> None:
    assert _complete("SELECT * FROM des_dr1.ma") == ["des_dr1.main", "des_dr1.main_sample"]
    assert "ivoa" in _complete("SELECT * FROM ")


def test_columns_are_offered_after_a_table_or_alias() -> None:
    # the alias is defined after the cursor: the whole statement is read, not only what precedes it
    assert _complete("SELECT m.mag FROM des_dr1.main AS m", cursor=12) == ["mag_auto_g"]
    assert _complete("SELECT * FROM des_dr1.main AS m WHERE m.mag") == ["mag_auto_g"]
    assert _complete("SELECT * FROM des_dr1.tile_info t WHERE t.") == ["tilename", "ra_cent"]


def test_columns_of_the_named_tables_come_before_keywords() -> None:
    found = _complete("SELECT ra, d FROM des_dr1.main WHERE d")
    assert found[0] == "dec" and "DISTANCE" not in found and "distance" in found


def test_session_uploads_complete_like_tables() -> None:
    uploads = {"mine": [ColumnInfo("id"), ColumnInfo("ra")]}
    assert _complete("SELECT * FROM TAP_UPLOAD.m", uploads) == ["TAP_UPLOAD.mine"]
    assert _complete("SELECT * FROM TAP_UPLOAD.mine AS u WHERE u.i", uploads) == ["id"]


def test_command_arguments_complete() -> None:
    assert _complete("describe_table des_dr1.t") == ["des_dr1.tile_info"]
    assert "find_tables_with_column" in _complete("find_t")


def test_loadsql_splits_at_semicolons_outside_quotes() -> None:
    text = "-- a comment\nSELECT 'a;b' FROM t;\nSELECT 2 FROM u; > x.csv\nSELECT 3; < check\n"
    assert _statements(text) == ["SELECT 'a;b' FROM t;", "SELECT 2 FROM u; > x.csv", "SELECT 3; < check"]


def test_the_token_goes_as_bearer_unless_the_service_declares_only_basic() -> None:
    assert auth_header("abc") == {"Authorization": "Bearer abc"}
    assert auth_header("u:p", ("ivo://ivoa.net/sso#token",)) == {"Authorization": "Bearer u:p"}
    basic = auth_header("u:p", ("ivo://ivoa.net/sso#BasicAA",))
    assert basic == {"Authorization": "Basic " + base64.b64encode(b"u:p").decode()}
    assert auth_header(None) == {}


_ALICE = ('{"user": "alice", "mode": "tokens", "jobs": {"active": 2, "max_active": 10, "max_running": 4}, '
          '"results": {"bytes": 2048, "max_bytes": 52428800}, '
          '"tables": {"schema": "user_alice", "count": 3, "bytes": 1572864, "max_bytes": 1073741824}, '
          '"uploads": {"max_bytes": 100000000, "max_rows": 1000000}, "requests": {"per_minute": 60}}')
_NOBODY = ('{"user": null, "mode": "oidc", "jobs": {"active": 0, "max_active": null, "max_running": null}, '
           '"tables": {"schema": null, "count": 0, "bytes": 0, "max_bytes": null}, '
           '"uploads": {"max_bytes": 2048, "max_rows": 10}, "requests": {"per_minute": null}}')


@pytest.mark.parametrize(("answer", "lines"), [
    (_ALICE, ["quota of alice (authentication: tokens)",
              "  jobs:     2 active of at most 10; at most 4 running",
              "  results:  2 KiB kept by your jobs of at most 50 MiB",
              "  tables:   3 in user_alice, 1.5 MiB used of at most 1 GiB",
              "  uploads:  at most 95.4 MiB and 1,000,000 rows per table",
              "  requests: at most 60 per minute"]),
    (_NOBODY, ["quota of anonymous (authentication: oidc)",
               "  jobs:     0 active (no limit); no limit on running ones",
               "  tables:   0 in (no schema of yours), 0 B used (no limit)",
               "  uploads:  at most 2 KiB and 10 rows per table",
               "  requests: no limit"]),
    ('{"user": "bob"}', ['{"user": "bob"}']),  # another service's document: shown as sent
    ("not json", ["not json"]),
])
def test_the_quota_document_in_words(answer: str, lines: list[str]) -> None:
    assert _quota_lines(answer) == lines


def test_file_suffixes_choose_the_format() -> None:
    assert file_format(Path("x.FITS")).responseformat == "fits"
    assert file_format(Path("x.h5")).responseformat is None  # converted locally
    with pytest.raises(ServiceError, match="unknown file type"):
        file_format(Path("x.txt"))


@pytest.mark.parametrize(("pattern", "found"), [
    ("main", ["des_dr1.main", "des_dr1.main_sample"]),
    ("%tile%", ["des_dr1.tile_info"]),
    ("ivoa.*", ["ivoa.obscore"]),
])
def test_table_patterns(pattern: str, found: list[str]) -> None:
    assert [t.name for t in METADATA.match_tables(pattern)] == found


def test_column_patterns() -> None:
    assert [(t.name, c.name) for t, c in METADATA.match_columns("ra%")] == [
        ("des_dr1.main", "ra"), ("des_dr1.main_sample", "ra"), ("des_dr1.tile_info", "ra_cent")]


def test_a_stream_broken_midway_leaves_no_file(tmp_path: Path) -> None:
    import requests

    from skygate.shell.files import stream_to

    def chunks() -> Iterator[bytes]:
        yield b"SIMPLE  =                    T"
        raise requests.exceptions.ChunkedEncodingError("Response ended prematurely")

    with pytest.raises(ServiceError, match="stopped sending the result midway"):
        stream_to(chunks(), tmp_path / "out.fits")
    assert list(tmp_path.iterdir()) == []
