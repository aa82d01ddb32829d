"""Database failures become the service's error kinds, in our words (release.db_errors)."""

from __future__ import annotations

import duckdb
import pytest

from dali.errors import FatalError, TransientError, UsageError
from release.db_errors import duckdb_error, postgres_error, postgres_stream_error, refused_error


@pytest.mark.parametrize(("state", "kind", "words"), [
    ("57014", UsageError, "time limit of 3 s"),
    ("25006", UsageError, "only read"),
    ("42501", UsageError, "only read"),
    ("22012", UsageError, "divided by zero"),
    ("22003", UsageError, "out of range"),
    ("53200", TransientError, "busy or unavailable"),
    ("08006", TransientError, "busy or unavailable"),
    ("42P01", FatalError, "could not run"),
    (None, FatalError, "could not run"),
])
def test_postgres_states(state: str | None, kind: type[Exception], words: str) -> None:
    error = postgres_error(state, 3.0)
    assert type(error) is kind and words in str(error)


@pytest.mark.parametrize(("message", "kind", "words"), [
    ("[libpq] Execution error [PGRES_FATAL_ERROR]: ERROR:  canceling statement due to statement timeout\n",
     UsageError, "time limit of 3 s"),
    ("[libpq] Execution error [PGRES_FATAL_ERROR]: ERROR:  division by zero\n", UsageError, "divided by zero"),
    ("ERROR:  cannot take logarithm of a negative number", UsageError, "out of range"),
    ("ERROR:  integer out of range", UsageError, "out of range"),
    ("server closed the connection unexpectedly", TransientError, "connection"),
    ("FATAL:  terminating connection due to administrator command", TransientError, "connection"),
    ("ERROR:  something nobody foresaw", FatalError, "could not run"),
])
def test_postgres_mid_stream_messages(message: str, kind: type[Exception], words: str) -> None:
    error = postgres_stream_error(message, 3.0)
    assert type(error) is kind and words in str(error)
    assert "libpq" not in str(error) and "ERROR" not in str(error)


@pytest.mark.parametrize("message", [
    ('Binder Error: column "a" must appear in the GROUP BY clause or must be part of an aggregate function.\n'
    'Either add it to the GROUP BY list.\n\nLINE 1: select a, count(*) from t\n               ^'),
    "Parser Error: syntax error at or near \")\"\n\nLINE 1: select a from t where a in ()\n     ^",
])
def test_duckdb_refusals_are_usage_errors_with_the_first_line(message: str) -> None:
    exc = (duckdb.BinderException if message.startswith("Binder") else duckdb.ParserException)(message)
    error = duckdb_error(exc, False, 3.0)
    assert type(error) is UsageError and str(error).startswith("the database refused the query: ")
    assert "LINE" not in str(error) and "Binder Error" not in str(error) and "Parser Error" not in str(error)
    assert "\n" not in str(error)


@pytest.mark.parametrize(("state", "message", "words"), [
    ("42803", 'column "m.ra" must appear in the GROUP BY clause or be used in an aggregate function',
     'column "m.ra" must appear in the GROUP BY clause'),
    ("42601", "syntax error at or near \")\"", 'syntax error at or near ")"'),
    ("0A000", "\x1b[31mnot supported\x1b[0m\nLINE 1: SELECT", "not supported"),
])
def test_postgres_refusals_are_usage_errors_with_the_cleaned_message(state: str, message: str, words: str) -> None:
    error = postgres_error(state, 3.0, message)
    assert type(error) is UsageError and words in str(error)
    assert "\x1b" not in str(error) and "LINE" not in str(error)


def test_a_refusal_mid_stream_keeps_only_the_sentence() -> None:
    text = ("[libpq] Execution error [PGRES_FATAL_ERROR]: ERROR:  aggregate function calls cannot be nested\n"
            "LINE 1: SELECT max(count(*)) FROM t\n")
    error = postgres_stream_error(text, 3.0)
    assert type(error) is UsageError
    assert str(error).startswith("the database refused the query: aggregate function calls cannot be nested")
    assert "libpq" not in str(error)


def test_a_long_refusal_is_cut() -> None:
    error = refused_error("Binder Error: " + "x" * 1000)
    assert len(error.message) < 260 and error.message.endswith("...")
