"""The data products of a release: table metadata (the source of TAP_SCHEMA), storage backends
(PostgreSQL, DuckDB embedded) that run SQL and stream Arrow record batches, the query
engine (ADQL -> SQL -> stream), ingest of catalogs and images, and the deterministic demo release.

- ``backends.py``: ``open_backend`` -> DuckDB (read-only file, threads) or PostgreSQL (read-only
  role); ``stream(sql, timeout=, uploads=)`` yields Arrow batches. ``pg_copy.py``: PostgreSQL reads
  through ADBC's binary COPY; ``db_errors.py``: database failures -> the service's error kinds.
- ``metadata.py``: ``load_metadata(backend)`` reads TAP_SCHEMA and ``skygate_meta`` into ``TableMeta``s.
- ``tapschema.py``: the TAP_SCHEMA tables (describing themselves) as rows.
- ``sources.py``: FITS/Parquet/CSV read as Arrow batches (``open_source``) with each field's
  published ``Column`` (``arrow_column``); ``stores.py``: ``open_store``, the writable side (DuckDB
  file, or PostgreSQL as admin with indexes and grants to the read-only role).
- ``ingest.py``: one source -> a table in the release database (``plan_table``,
  ``ingest_table``), published in TAP_SCHEMA (``publish_table``); ``layout.py``: ``ingest_release``
  loads the demo layout and its ObsCore index, with the stamp ``--if-missing`` checks.
- ``engine.py``: ``QueryEngine.execute(adql, maxrec=, uploads=, timeout=)`` -> ``QueryResult``.
- ``runtime.py``: ``open_release`` for the application lifespan (tolerates a missing release).
- ``served.py``: ``ServedTables``, what the service serves beside the release for every caller
  (RegTAP's ``rr``, the footprint MOCs), and ``statement_tables``, the one path that adds a caller's
  own tables and TAP_SCHEMA as that caller sees it.
- ``hats.py``: a table as HEALPix-partitioned Parquet in the HATS layout (write, read, prune);
  ``partitioned.py``: ``ingest --partitioned`` (``PartitionedStore``) and the per-statement file
  lists the DuckDB backend reads such tables through. ``spark.py``: ``SparkBackend`` for
  ``SKYGATE_DATABASE_URL=sc://...``, Spark SQL through Spark Connect over those files.
- ``obscore.py``: the ``ivoa.obscore`` image index (columns, rows, view, dataset identifiers);
  ``tiling.py``: DES tiles; ``demo/``: the generator.
"""
