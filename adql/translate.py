"""Translate ADQL into PostgreSQL or DuckDB SQL with its output columns: the entry point.

``translate`` parses, checks the limits and the aggregate rules, and hands the tree to the
compiler (adql/compiler.py), which resolves every table and column (names.py), checks types and
rebuilds the query as a new sqlglot tree in which every name is quoted and physical, every ADQL
function is written in the target's terms with ADQL semantics (expressions.py, functions.py),
and geometry becomes plain arithmetic on the sphere (geometry.py, sphere_sql.py), so that no
database extension is needed. What differs between dialects is in targets.py.
No I/O. Tests: tests/adql/test_translate.py, tests/adql/test_cases.py, tests/adql/test_geometry.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from adql.compiler import Compiler
from adql.dialect import parse
from adql.errors import ADQLError
from adql.limits import check_limits
from adql.semantics import check_semantics
from adql.targets import DIALECTS
from dali import sphere
from dali.values import Column, TableMeta

__all__ = ["DIALECTS", "Translation", "translate"]


@dataclass(frozen=True, slots=True)
class Translation:
    """The SQL for one backend and the metadata of its output columns, in order.

    The SQL's result columns carry exactly the names in ``columns``.
    """

    sql: str
    columns: tuple[Column, ...]
    tables: tuple[str, ...] = ()


def translate(
    text: str,
    metadata: Mapping[str, TableMeta],
    dialect: str,
    maxrec: int | None = None,
    uploads: Mapping[str, TableMeta] | None = None,
    sources: Mapping[str, str] | None = None,
) -> Translation:
    """Translate ADQL into SQL for ``dialect`` ("postgres" or "duckdb").

    Parameters
    ----------
    text
        The ADQL query.
    metadata
        Published tables keyed by lower-case "schema.table".
    dialect
        "postgres" or "duckdb".
    maxrec
        When given, the SQL returns at most ``maxrec + 1`` rows (a smaller TOP wins), so the
        caller can detect overflow.
    uploads
        TAP_UPLOAD tables keyed by their upload name; ``TAP_UPLOAD.x`` becomes ``tap_upload_x``.
    sources
        Tables of ``metadata`` whose rows the statement reads from a relation registered for it
        alone (a user's tables on DuckDB, a caller's view of TAP_SCHEMA): "schema.table" -> the
        unqualified SQL name of that relation.

    Returns
    -------
    Translation

    Raises
    ------
    ADQLError
        Syntax errors, unknown or ambiguous names (with a suggestion), type errors, and anything
        ADQL or this service does not allow.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"unknown SQL dialect {dialect!r}")
    tree = parse(text)
    try:
        check_limits(tree)
        check_semantics(tree)
        compiler = Compiler(metadata, uploads or {}, dialect, sources or {})
        sql_tree, columns = compiler.statement(tree, maxrec)
        sql = sql_tree.sql(dialect=compiler.target.name, comments=False, copy=False)  # the tree is ours, used once
    except RecursionError:
        raise ADQLError("the query is nested too deeply") from None
    except sphere.GeometryValueError as err:
        raise ADQLError(f"invalid region: {err}") from None
    return Translation(sql=sql, columns=tuple(columns), tables=tuple(sorted(compiler.names.tables)))
