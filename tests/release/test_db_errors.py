"""Database failures become the service's error kinds, in our words (release.db_errors)."""

from __future__ import annotations

import pytest

from dali.errors import FatalError, TransientError, UsageError
from release.db_errors import postgres_error, postgres_stream_error


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
