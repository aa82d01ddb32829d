"""The data products of a release: table metadata (the source of TAP_SCHEMA), storage backends
(PostgreSQL, DuckDB embedded) that run SQL and stream Arrow record batches, the query
engine (ADQL -> SQL -> stream), ingest of catalogs and images, and the deterministic demo release.

- ``backends.py``: ``open_backend`` -> DuckDB (read-only file, threads) or PostgreSQL (read-only
  role); ``stream(sql, timeout=, uploads=)`` yields Arrow batches. ``pg_copy.py``: PostgreSQL reads
  through ADBC's binary COPY; ``db_errors.py``: database failures -> the service's error kinds.
- ``metadata.py``: ``load_metadata(backend)`` reads TAP_SCHEMA and ``skygate_meta`` into ``TableMeta``s.
- ``tapschema.py``: the TAP_SCHEMA tables (describing themselves) as rows.
- ``ingest.py``: FITS/Parquet/CSV -> a table in the release database, published in TAP_SCHEMA;
  ``ingest_release`` loads the demo layout; ``open_store`` is the writable side (admin).
- ``engine.py``: ``QueryEngine.execute(adql, maxrec=, uploads=, timeout=)`` -> ``QueryResult``.
- ``runtime.py``: ``open_release`` for the application lifespan (tolerates a missing release).
- ``hats.py``: a table as HEALPix-partitioned Parquet in the HATS layout (write, read, prune);
  ``partitioned.py``: ``ingest --partitioned`` (``PartitionedStore``) and the per-statement file
  lists the DuckDB backend reads such tables through. ``spark.py``: ``SparkBackend`` for
  ``SKYGATE_DATABASE_URL=sc://...``, Spark SQL through Spark Connect over those files.
- ``obscore.py``: the ``ivoa.obscore`` image index; ``tiling.py``: DES tiles; ``demo/``: the generator.
"""
