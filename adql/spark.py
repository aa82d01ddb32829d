"""ADQL for Spark SQL: the DuckDB translation, rewritten by sqlglot's ``spark`` generator.

The translator (translate.py) builds the query once with ADQL semantics and exact spherical
geometry as plain arithmetic; the DuckDB form of that SQL uses nothing Spark lacks except
spellings, which sqlglot's DuckDB reader and Spark writer map (``//`` to ``DIV``, quoting with
backticks, explicit ``NULLS LAST`` where the defaults differ). ``rename_tables`` points the
qualified table names of a statement at the session's temporary views, which is how a Spark
backend reads Parquet files and uploads. Polygon-column functions (DuckDB list lambdas, ObsCore
``s_region``) are not carried over. No I/O. Tests: tests/adql/test_spark.py.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlglot
from sqlglot import exp

from adql.translate import Translation, translate
from dali.values import TableMeta

__all__ = ["DIALECT", "rename_tables", "to_spark", "translate_spark"]

DIALECT = "spark"


def translate_spark(text: str, metadata: Mapping[str, TableMeta], dialect: str = DIALECT, *,
                    maxrec: int | None = None, uploads: Mapping[str, TableMeta] | None = None,
                    sources: Mapping[str, str] | None = None) -> Translation:
    """``adql.translate`` for Spark SQL (same signature; ``dialect`` must be ``spark``).

    Raises
    ------
    adql.ADQLError
        As ``adql.translate``.
    """
    if dialect != DIALECT:
        raise ValueError(f"translate_spark writes Spark SQL, not {dialect!r}")
    duck = translate(text, metadata, "duckdb", maxrec=maxrec, uploads=uploads, sources=sources)
    return Translation(sql=to_spark(duck.sql), columns=duck.columns, tables=duck.tables)


def to_spark(duckdb_sql: str) -> str:
    """One DuckDB statement as Spark SQL."""
    return sqlglot.transpile(duckdb_sql, read="duckdb", write=DIALECT)[0]


def rename_tables(sql: str, names: Mapping[str, str], *, dialect: str = DIALECT) -> str:
    """``sql`` with each table ``schema.table`` in ``names`` replaced by the bare name it maps to.

    Aliases stay as they were, so column references are untouched; a table without an alias gets
    its old name as alias.
    """
    tree = sqlglot.parse_one(sql, read=dialect)
    for table in list(tree.find_all(exp.Table)):
        qualified = f"{table.db}.{table.name}".lower() if table.db else table.name.lower()
        target = names.get(qualified)
        if target is None:
            continue
        alias = table.alias or table.name
        table.replace(exp.Table(this=exp.to_identifier(target, quoted=True),
                                alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True))))
    return tree.sql(dialect=dialect)
