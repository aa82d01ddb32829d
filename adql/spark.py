"""ADQL for Spark SQL: the DuckDB translation, rewritten by sqlglot's ``spark`` generator.

The translator (translate.py) builds the query once with ADQL semantics and exact spherical
geometry as plain arithmetic; the DuckDB form of that SQL uses nothing Spark lacks except
spellings, which sqlglot's DuckDB reader and Spark writer map (``//`` to ``DIV``, quoting with
backticks, explicit ``NULLS LAST`` where the defaults differ), and ORDER BY after DISTINCT, which
Spark resolves against the select list only. ``rename_tables`` points the qualified table names of a
statement at the session's temporary views, which is how a Spark backend reads Parquet files and
uploads. Geometry on polygon columns (its DuckDB form calls list functions Spark lacks) is refused
with an ``ADQLError`` that says so. No I/O. Tests: tests/adql/test_spark.py, tests/adql/test_cases.py
(every case file query on Spark).
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlglot
from sqlglot import exp

from adql.errors import ADQLError
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
    sql = to_spark(duck.sql)
    # What sqlglot cannot map it writes as it is, and Spark reads back as a function it does not have:
    # only the DuckDB list functions of geometry on polygon columns get here.
    lacking = sorted({node.name.upper() for node in sqlglot.parse_one(sql, read=DIALECT).find_all(exp.Anonymous)})
    if lacking:
        raise ADQLError("geometry on polygon columns (CONTAINS or INTERSECTS with a polygon column, AREA or "
                        "CENTROID of one) is not available on the Spark backend (its SQL would call "
                        f"{', '.join(lacking)}, which Spark SQL lacks)",
                        hint="select the rows with positions or constant regions, or query a DuckDB or PostgreSQL "
                             "service")
    return Translation(sql=sql, columns=duck.columns, tables=duck.tables)


def to_spark(duckdb_sql: str) -> str:
    """One DuckDB statement as Spark SQL."""
    tree = sqlglot.parse_one(duckdb_sql, read="duckdb")
    for select in tree.find_all(exp.Select):
        if select.args.get("distinct") and select.args.get("order"):
            _order_by_output_names(select)
    return tree.sql(dialect=DIALECT)


def _order_by_output_names(select: exp.Select) -> None:
    """After DISTINCT, Spark resolves ORDER BY against the select list only: a sort key that is a
    selected expression (``t.c`` selected as ``c``) becomes that output's name."""
    outputs = {item.this: item.alias for item in select.expressions if isinstance(item, exp.Alias) and item.alias}
    for ordered in select.args["order"].expressions:
        name = outputs.get(ordered.this)
        if name is not None:
            ordered.set("this", exp.column(exp.to_identifier(name, quoted=True)))


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
        # set in place: a parenthesised join keeps its joins as arguments of its first table
        table.set("this", exp.to_identifier(target, quoted=True))
        table.set("db", None)
        table.set("catalog", None)
        table.set("alias", exp.TableAlias(this=exp.to_identifier(alias, quoted=True)))
    return tree.sql(dialect=dialect)
