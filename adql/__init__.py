"""ADQL 2.1: parse (a sqlglot dialect), validate against table metadata, translate to a backend
dialect (PostgreSQL, DuckDB). Returns the SQL and the output columns' metadata. No I/O.

- ``dialect.py``: the sqlglot dialect, ``parse`` and the grammar checks.
- ``translate.py``: name resolution, types, the SQL for each backend, geometry as arithmetic.
- ``sphere.py``: spherical geometry of literal regions and their HEALPix ranges.
- ``features.py``: the function catalogue, TAPRegExt features, ADQL -> VOTable types.
- ``errors.py``: ``ADQLError``.
"""

from __future__ import annotations

from adql.dialect import parse
from adql.errors import ADQLError
from adql.features import ADQL_TO_VOTABLE, UNSUPPORTED, Feature, features
from adql.translate import DIALECTS, Translation, translate

__all__ = ["ADQL_TO_VOTABLE", "DIALECTS", "UNSUPPORTED", "ADQLError", "Feature", "Translation", "features", "parse",
           "translate"]
