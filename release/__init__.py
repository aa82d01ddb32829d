"""The data products of a release: table metadata (the source of TAP_SCHEMA), storage backends
(PostgreSQL via asyncpg, DuckDB embedded) that run SQL and stream Arrow record batches, the query
engine (ADQL -> SQL -> stream), ingest of catalogs and images, and the deterministic demo release.
"""
