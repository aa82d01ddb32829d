"""The output formats behind ``dali.writers``, one encoder per format.

- ``response``: the formats we write (``OutputFormat``, ``FORMATS``) and RESPONSEFORMAT resolution.
- ``encoder``: the ``Encoder`` protocol every format implements (head, batch, tail) and ``Info``.
- ``columns``: result columns cast to the Arrow types their VOTable datatypes need.
- ``text``: cells as text and text rows as bytes (TABLEDATA, CSV, TSV).
- ``binary``: rows as packed big-endian bytes (BINARY2, FITS).
- ``votable``: the VOTable envelope and the TABLEDATA and BINARY2 encoders.
- ``delimited``, ``parquet``, ``fits``: the CSV/TSV, Parquet and FITS encoders.

Other packages import from ``dali.writers``, which re-exports the public names; MAXREC, the batch
source and threads are its business, not an encoder's. Tests: tests/dali/test_writers.py.
"""
