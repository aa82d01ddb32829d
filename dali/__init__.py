"""What every DAL service shares (IVOA DALI 1.1).

- ``errors``: the three error kinds (usage / transient / fatal), ``TooLargeError`` (413),
  ``NotFoundError`` (404), the one mapping of a kind to its DALI fault word and HTTP status, and
  ``escaped`` for user text in log records.
- ``form``: reading a request's parameters (query string, urlencoded and multipart bodies)
  within the request limits, for every service; ``deadline``: the time a request body may take
  (408 after it), plain ASGI middleware around every service.
- ``values``: Column, TableMeta, Position, ForeignKey: table metadata shared by every layer.
- ``params``: ``DaliParams``, the one structure every service reads request parameters from (in
  arrival order, names case-insensitive, repeats, file parts), and the DALI parameters all share.
- ``writers``: result tables as VOTable (TABLEDATA, BINARY2), CSV, TSV, FITS and Parquet, with MAXREC/OVERFLOW;
  one encoder per format in ``formats/`` behind one ``Encoder`` interface.
- ``descriptors``: DataLink service descriptors (SODA, DataLink) as values, written by ``writers``.
- ``votable``: DALI error documents and reading uploaded VOTables.
- ``vosi``: VOSI availability and capabilities documents, from capability values and health checks.
- ``xtypes``: DALI xtypes (point, circle, polygon, interval, timestamp): shapes and text forms.
- ``sphere``: spherical geometry (vectors, separations, polygons, arcs, region relations) for
  ADQL, SIA, SODA and ObsCore; ``regions``: the DALI region parser (POS: CIRCLE, RANGE, POLYGON)
  and exact region tests on the sphere.

No HTTP framework, no database, no queue lives here.
"""
