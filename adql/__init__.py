"""ADQL 2.1: parse (a sqlglot dialect), validate against table metadata, translate to a backend
dialect (PostgreSQL, DuckDB). Returns the SQL and the output columns' metadata. No I/O.
"""
