"""How a database's failures become the service's three error kinds (``dali.errors``).

Users see our own sentences, never the SQL text or a library's exception text. The one exception:
when a database refuses a translated query as invalid (a binder, parser or catalog error, SQLSTATE
class 42), the translator let through something it should have refused; the user gets a 400 with
the database's own first line, cleaned (no driver prefix, no SQL context lines, no control
characters, at most 200 characters), rather than a 500 (issue 13). Pure mapping: no I/O.
Used by ``release.backends`` and ``release.pg_copy``.
Tests: tests/release/test_db_errors.py, tests/release/test_backends.py.
"""

from __future__ import annotations

import re

import duckdb

from dali.errors import FatalError, TransientError, UsageError, clean_message

__all__ = ["connection_error", "duckdb_error", "memory_error", "postgres_error", "postgres_stream_error",
           "refused_error",
           "timeout_error"]

# Messages PostgreSQL sends for data errors (SQLSTATE class 22) that can arrive in the middle of a
# result stream, where the ADBC driver passes on the message text without its SQLSTATE.
_PG_DATA_PHRASES = ("out of range", "cannot take", "invalid input syntax", "negative number",
                    "zero raised to a negative power", "cannot cast")
# Prefixes the drivers put before the database's sentence.
_PREFIX = re.compile(r"^(?:Binder|Parser|Catalog|Not implemented|Syntax|Type mismatch|Conversion) Error:\s*",
                     re.IGNORECASE)
_REFUSED_CLASSES = (duckdb.BinderException, duckdb.ParserException,
                    duckdb.SyntaxException, duckdb.NotImplementedException, duckdb.TypeMismatchException,
                    duckdb.InvalidTypeException)
_PG_REFUSED_STATES = ("42", "0A")  # syntax error or access rule violation; feature not supported
_PG_REFUSED_PHRASES = ("syntax error", "does not exist", "must appear in the GROUP BY", "aggregate function",
                       "is ambiguous", "not supported", "out of range - should be", "position")
_PG_LOST_PHRASES = ("server closed the connection", "terminating connection", "could not receive data",
                    "connection to server", "no connection to the server", "SSL SYSCALL error")


def timeout_error(timeout: float) -> UsageError:
    return UsageError(
        f"the query ran longer than its time limit of {timeout:g} s",
        hint="add constraints, ask for fewer rows, or use an asynchronous job with a longer limit",
    )


def connection_error() -> TransientError:
    return TransientError("the connection to the catalog database failed", hint="try again")


def memory_error(limit: int | None) -> UsageError:
    """A statement needed more memory (and spill space) than the service gives its queries."""
    amount = f" of {limit / 2**30:.3g} GiB" if limit else ""
    return UsageError(
        f"the query needs more memory than this service's limit{amount}",
        hint="narrow it: constrain joins (no cross joins), select fewer columns or rows, use TOP and WHERE",
    )


def duckdb_error(exc: Exception, timed_out: bool, timeout: float, memory_limit: int | None = None) -> Exception:
    if timed_out:
        return timeout_error(timeout)
    if isinstance(exc, duckdb.InterruptException) or "INTERRUPT" in str(exc):
        return TransientError("the query was interrupted", hint="try again")
    if isinstance(exc, duckdb.PermissionException) or (
            isinstance(exc, duckdb.InvalidInputException) and "read-only" in str(exc)):
        return UsageError("queries may only read; this service does not change the release")
    if isinstance(exc, duckdb.OutOfMemoryException) or "Out of Memory Error" in str(exc):
        # Its message says how much was asked and what the limit is; users see our sentence only.
        return memory_error(memory_limit)
    if isinstance(exc, (duckdb.ConversionException, duckdb.OutOfRangeException, duckdb.InvalidInputException)):
        return _data_error()
    if isinstance(exc, _REFUSED_CLASSES):
        return refused_error(str(exc))
    return _query_failed()


def postgres_error(state: str | None, timeout: float, message: str = "") -> Exception:
    """The error for a PostgreSQL SQLSTATE (PostgreSQL docs, Appendix A), with its message if known."""
    state = state or ""
    if state == "57014":  # query_canceled: statement_timeout fired
        return timeout_error(timeout)
    if state in {"25006", "42501"}:  # read-only transaction, insufficient privilege
        return UsageError("queries may only read; this service does not change the release")
    if state == "42P01":  # undefined_table: the published metadata and the database disagree (our fault)
        return _query_failed()
    if state.startswith(_PG_REFUSED_STATES):
        return refused_error(message)
    if state == "22012":
        return _division_error()
    if state.startswith("22"):
        return _data_error()
    if state == "53400":  # configuration_limit_exceeded: the statement outgrew temp_file_limit
        return memory_error(None)
    if state.startswith(("53", "08", "57")):
        return TransientError("the database is busy or unavailable", hint="try again later")
    return _query_failed()


def postgres_stream_error(message: str, timeout: float) -> Exception:
    """The error for a failure PostgreSQL reported mid-stream, known only by its message text."""
    if "statement timeout" in message:
        return timeout_error(timeout)
    if "division by zero" in message:
        return _division_error()
    if any(phrase in message for phrase in _PG_DATA_PHRASES):
        return _data_error()
    if any(phrase in message for phrase in _PG_LOST_PHRASES):
        return connection_error()
    if any(phrase in message for phrase in _PG_REFUSED_PHRASES):
        return refused_error(message)
    return _query_failed()


def refused_error(message: str) -> UsageError:
    """A query the database refused as invalid: its first sentence, cleaned, as a usage error."""
    first = message.strip().split("\n", 1)[0]
    if "ERROR:" in first:  # libpq through the drivers: "[libpq] Execution error [...]: ERROR:  ..."
        first = first.rsplit("ERROR:", 1)[1]
    first = clean_message(_PREFIX.sub("", first.strip(), count=1))
    if len(first) > 200:
        first = first[:197] + "..."
    text = "the database refused the query" + (f": {first}" if first else "")
    return UsageError(text, param="QUERY", hint="this should have been caught earlier; please report the query")


def _division_error() -> UsageError:
    return UsageError("the query divided by zero", hint="guard divisions with CASE or NULLIF")


def _query_failed() -> FatalError:
    return FatalError("the database could not run the translated query")


def _data_error() -> UsageError:
    return UsageError(
        "the query failed on the data: a value could not be converted or was out of range",
        hint="check casts and arithmetic",
    )
