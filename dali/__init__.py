"""What every DAL service shares (IVOA DALI 1.1).

- ``errors``: the three error kinds (usage / transient / fatal), ``TooLargeError`` (413), and
  ``escaped`` for user text in log records.
- ``form``: reading a request's parameters (query string, urlencoded and multipart bodies)
  within the request limits, for every service.
- ``values``: Column, TableMeta, Position, ForeignKey: table metadata shared by every layer.
- ``params``: case-insensitive DALI parameter parsing (GET/POST, urlencoded and multipart).
- ``writers``: result tables as VOTable (TABLEDATA, BINARY2), CSV, TSV, FITS and Parquet, with MAXREC/OVERFLOW;
  one encoder per format in ``formats/`` behind one ``Encoder`` interface.
- ``votable``: DALI error documents and reading uploaded VOTables.
- ``vosi``: VOSI availability and capabilities documents.
- ``xtypes``: DALI xtypes (point, circle, polygon, interval, timestamp).

No HTTP framework, no database, no queue lives here.
"""
