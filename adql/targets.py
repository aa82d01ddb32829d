"""What differs between the SQL dialects the translator writes: one table entry per dialect.

The translator builds one tree with ADQL semantics for every backend; the few places where the
backends need different SQL read a ``Target`` from ``TARGETS`` instead of testing dialect names,
so a new backend is a new entry here (Spark reuses the DuckDB entry: adql/spark.py rewrites that
SQL). The entry's name is also the sqlglot dialect that writes the tree and reads the templates.
Tests: tests/adql/test_backends_agree.py, tests/adql/test_cases.py, tests/adql/test_spark.py.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DIALECTS", "TARGETS", "Target"]


@dataclass(frozen=True, slots=True)
class Target:
    """One SQL dialect: its sqlglot name and the spellings and abilities the translation depends on."""

    name: str
    # ADQL integer division truncates; PostgreSQL's / on integers does, DuckDB's gives a double (use //)
    slash_truncates: bool
    # half the length of the array poly_in (the vertex count of a polygon column), as SQL text
    vertex_count: str
    # list functions with lambdas (DuckDB): polygon normals kept as one list of [x, y, z]
    list_lambdas: bool


TARGETS: dict[str, Target] = {
    "postgres": Target("postgres", slash_truncates=True, vertex_count="array_length(poly_in, 1) / 2",
                       list_lambdas=False),
    "duckdb": Target("duckdb", slash_truncates=False, vertex_count="len(poly_in) // 2", list_lambdas=True),
}

DIALECTS = tuple(TARGETS)
