"""ADQL 2.1: parse (a sqlglot dialect), validate against table metadata, translate to a backend
dialect (PostgreSQL, DuckDB). Returns the SQL and the output columns' metadata. No I/O.

- ``dialect.py``: the sqlglot dialect, ``parse`` and the grammar checks.
- ``semantics.py``: aggregate, grouping and ORDER BY rules checked before translation.
- ``limits.py``: the size limits of a query (tables, depth, terms, output columns), in one place.
- ``translate.py``: the entry point, ``translate`` -> ``Translation`` (SQL and output columns).
- ``compiler.py``: the statements (SELECT, set operations, WITH, FROM, ORDER BY) rebuilt as SQL.
- ``names.py``: name resolution (tables, scopes, columns) and the ADQL types of values and results.
- ``expressions.py``: value expressions, dispatched by node type; ``builders.py``: SQL node builders.
- ``functions.py``: the function table (name -> handler); ``geometry.py``: the geometry functions.
- ``sphere_sql.py``: spherical geometry and HEALPix indices as SQL arithmetic, and the HEALPix
  ranges of literal regions (their geometry is ``dali/sphere.py``).
- ``targets.py``: what differs between the SQL dialects written (one table entry each).
- ``polygon_measures.py``: AREA() and CENTROID() of polygons held by the database (columns).
- ``features.py``: the function catalogue, TAPRegExt features, ADQL -> VOTable types.
- ``errors.py``: ``ADQLError``.

Supported: all of ADQL 2.1 core, the geometry functions (exact on the sphere, identical on both
backends), the optional string, offset, type, set, common-table, conditional and unit features,
bitwise operators, hex literals and the UDFs (ivo_healpix_index; RegTAP's ivo_nocasematch, ivo_hasword,
ivo_hashlist_has and ivo_string_agg, adql/regtap.py; skygate_in_footprint, adql/footprint.py).
Refused with an ADQLError that says so: REGION (STC-S), RAND(seed), coordinate systems other than
ICRS, DISTANCE of non-points, and geometry relations between two regions that are both built from
columns (a polygon column against a constant circle or polygon, and points or circles from columns
against any constant region, are supported). Polygons must fit in a hemisphere; polygon columns
are taken as convex.
"""

from __future__ import annotations

from adql.dialect import parse
from adql.errors import ADQLError
from adql.features import ADQL_TO_VOTABLE, UNSUPPORTED, Feature, features
from adql.translate import DIALECTS, Translation, translate

__all__ = ["ADQL_TO_VOTABLE", "DIALECTS", "UNSUPPORTED", "ADQLError", "Feature", "Translation", "features", "parse",
           "translate"]
