"""The one error the ADQL package raises.

Pure values: no parsing here. Tests: tests/adql/test_parse.py.
"""

from __future__ import annotations

from dali.errors import UsageError

__all__ = ["ADQLError"]


class ADQLError(UsageError):
    """A query that is not valid ADQL, or not valid against the published tables.

    ``line`` and ``column`` (1-based) point at the offending place in the query text when it is
    known; the message already names them so that a person reading only the message can act.
    """

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.line = line
        self.column = column
        if line is not None and column is not None:
            message = f"{message} (line {line}, column {column})"
        super().__init__(message, param="QUERY", hint=hint)
