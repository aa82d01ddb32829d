"""What the ADQL package supports, for TAPRegExt capabilities and TAP_SCHEMA.

The function catalogue (names and argument counts) that the parser checks against, the optional
language features we declare, the user-defined functions, and the mapping from ADQL types to
VOTable datatypes. Pure data: no parsing, no I/O. Tests: tests/adql/test_translate.py.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ADQL_TO_VOTABLE",
    "FUNCTIONS",
    "GEOMETRY_FUNCTIONS",
    "RESERVED_WORDS",
    "UDFS",
    "UDF_PREFIXES",
    "UNSUPPORTED",
    "Feature",
    "features",
]

TAPREGEXT = "ivo://ivoa.net/std/TAPRegExt#"


@dataclass(frozen=True, slots=True)
class Feature:
    """One TAPRegExt languageFeature: its type (an ivo-id), its form and a description."""

    type: str
    form: str
    description: str = ""


# name -> (min args, max args); None = unbounded. Geometry functions with several call shapes
# (POLYGON, BOX, DISTANCE) are checked in more detail by the parser.
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    # ADQL 2.1 §2.3 mathematical and trigonometric functions
    "ABS": (1, 1), "CEILING": (1, 1), "DEGREES": (1, 1), "EXP": (1, 1), "FLOOR": (1, 1),
    "LOG": (1, 1), "LOG10": (1, 1), "MOD": (2, 2), "PI": (0, 0), "POWER": (2, 2),
    "RADIANS": (1, 1), "SQRT": (1, 1), "RAND": (0, 1), "ROUND": (1, 2), "TRUNCATE": (1, 2),
    "SIN": (1, 1), "COS": (1, 1), "TAN": (1, 1), "COT": (1, 1), "ASIN": (1, 1), "ACOS": (1, 1),
    "ATAN": (1, 1), "ATAN2": (2, 2),
    # set functions
    "COUNT": (1, 1), "MIN": (1, 1), "MAX": (1, 1), "SUM": (1, 1), "AVG": (1, 1),
    # optional features
    "LOWER": (1, 1), "UPPER": (1, 1), "COALESCE": (1, None), "NULLIF": (2, 2), "IN_UNIT": (2, 2),
}

GEOMETRY_FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "POINT": (1, 3), "CIRCLE": (2, 4), "BOX": (3, 5), "POLYGON": (3, None), "REGION": (1, 1),
    "CONTAINS": (2, 2), "INTERSECTS": (2, 2), "DISTANCE": (2, 4), "AREA": (1, 1),
    "CENTROID": (1, 1), "COORD1": (1, 1), "COORD2": (1, 1), "COORDSYS": (1, 1),
}

UDFS: dict[str, tuple[int, int | None]] = {
    "IVO_HEALPIX_INDEX": (3, 3),
    # RegTAP 1.1 §8 (adql/regtap.py)
    "IVO_NOCASEMATCH": (2, 2), "IVO_HASWORD": (2, 2), "IVO_HASHLIST_HAS": (2, 2), "IVO_STRING_AGG": (2, 2),
    # the footprint MOCs (adql/footprint.py)
    "SKYGATE_IN_FOOTPRINT": (3, 3),
}

# ADQL 2.1 §2.4: user-defined function names carry a prefix. ``ivo_`` is the IVOA's; ``skygate_`` is
# this service's own. The parser accepts any such name; the translator knows which exist (UDFS).
UDF_PREFIXES = ("IVO_", "SKYGATE_")

UDF_FORMS = {
    "IVO_HEALPIX_INDEX": (
        "ivo_healpix_index(hpxOrder INTEGER, ra DOUBLE, dec DOUBLE) -> BIGINT",
        "HEALPix NESTED index of the cell containing (ra, dec) in degrees at order hpxOrder (0-29)",
    ),
    "IVO_NOCASEMATCH": (
        "ivo_nocasematch(value VARCHAR(*), pat VARCHAR(*)) -> INTEGER",
        "1 if pat matches value as in LIKE but ignoring case, else 0 (RegTAP 1.1)",
    ),
    "IVO_HASWORD": (
        "ivo_hasword(haystack VARCHAR(*), needle VARCHAR(*)) -> INTEGER",
        "1 if needle occurs in haystack as a word (between non-letters or the ends), ignoring case, "
        "else 0; no stemming (RegTAP 1.1)",
    ),
    "IVO_HASHLIST_HAS": (
        "ivo_hashlist_has(hashlist VARCHAR(*), item VARCHAR(*)) -> INTEGER",
        "1 if item is, ignoring case, one of the #-separated words of hashlist, else 0 (RegTAP 1.1)",
    ),
    "IVO_STRING_AGG": (
        "ivo_string_agg(expr VARCHAR(*), delim VARCHAR(*)) -> VARCHAR(*)",
        "aggregate: the group's non-NULL values of expr joined by delim; an empty string for none (RegTAP 1.1)",
    ),
    "SKYGATE_IN_FOOTPRINT": (
        "skygate_in_footprint(ra DOUBLE, dec DOUBLE, footprint VARCHAR(*)) -> INTEGER",
        "1 if (ra, dec) in degrees (ICRS) lies in a cell of the named footprint MOC (a table's name such as "
        "'des_dr1.main', or 'ivoa.obscore' for the images; listed at /moc), else 0 (also for NULL positions)",
    ),
}

# Optional features the parser accepts but the translator refuses, with the reason: they are left
# out of the capabilities.
UNSUPPORTED: dict[str, str] = {
    "REGION": "REGION (STC-S strings) is not supported; use POINT, CIRCLE, BOX or POLYGON",
}

# ADQL 2.1 §2.1.4 data types -> VOTable datatype (and arraysize, xtype).
ADQL_TO_VOTABLE: dict[str, tuple[str, str | None, str | None]] = {
    "SMALLINT": ("short", None, None),
    "INTEGER": ("int", None, None),
    "BIGINT": ("long", None, None),
    "REAL": ("float", None, None),
    "DOUBLE": ("double", None, None),
    "CHAR": ("char", "*", None),
    "VARCHAR": ("char", "*", None),
    "TIMESTAMP": ("char", "*", "timestamp"),
    "POINT": ("double", "2", "point"),
    "CIRCLE": ("double", "3", "circle"),
    "POLYGON": ("double", "*", "polygon"),
    "BOOLEAN": ("boolean", None, None),
}

# ADQL 2.1 reserved words (SQL-92 reserved words plus the ADQL function names). Regular
# identifiers may not use them; delimited ones ("distance") may. DEC is deliberately absent:
# every astronomical table has a column called dec and the IVOA test queries use it unquoted.
RESERVED_WORDS = frozenset(
    """ABS ACOS AREA ASIN ATAN ATAN2 BIT_AND BIT_NOT BIT_OR BIT_XOR BOX CEILING CENTROID CIRCLE
    CONTAINS COORD1 COORD2 COORDSYS COS COT DEGREES DISTANCE EXP FLOOR ILIKE INTERSECTS IN_UNIT LOG
    LOG10 MOD PI POINT POLYGON POWER RADIANS REGION RAND ROUND SIN SQRT TOP TAN TRUNCATE
    ABSOLUTE ACTION ADD ALL ALLOCATE ALTER AND ANY ARE AS ASC ASSERTION AT AUTHORIZATION AVG BEGIN
    BETWEEN BIT BIT_LENGTH BOTH BY CASCADE CASCADED CASE CAST CATALOG CHAR CHARACTER CHAR_LENGTH
    CHARACTER_LENGTH CHECK CLOSE COALESCE COLLATE COLLATION COLUMN COMMIT CONNECT CONNECTION
    CONSTRAINT CONSTRAINTS CONTINUE CONVERT CORRESPONDING COUNT CREATE CROSS CURRENT CURRENT_DATE
    CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER CURSOR DATE DAY DEALLOCATE DECIMAL DECLARE DEFAULT
    DEFERRABLE DEFERRED DELETE DESC DESCRIBE DESCRIPTOR DIAGNOSTICS DISCONNECT DISTINCT DOMAIN DOUBLE
    DROP ELSE END ESCAPE EXCEPT EXCEPTION EXEC EXECUTE EXISTS EXTERNAL EXTRACT FALSE FETCH FIRST
    FLOAT FOR FOREIGN FOUND FROM FULL GET GLOBAL GO GOTO GRANT GROUP HAVING HOUR IDENTITY IMMEDIATE
    IN INDICATOR INITIALLY INNER INPUT INSENSITIVE INSERT INT INTEGER INTERSECT INTERVAL INTO IS
    ISOLATION JOIN KEY LANGUAGE LAST LEADING LEFT LEVEL LIKE LOCAL LOWER MATCH MAX MIN MINUTE MODULE
    MONTH NAMES NATIONAL NATURAL NCHAR NEXT NO NOT NULL NULLIF NUMERIC OCTET_LENGTH OF ON ONLY OPEN
    OPTION OR ORDER OUTER OUTPUT OVERLAPS PAD PARTIAL POSITION PRECISION PREPARE PRESERVE PRIMARY
    PRIOR PRIVILEGES PROCEDURE PUBLIC READ REAL REFERENCES RELATIVE RESTRICT REVOKE RIGHT ROLLBACK
    ROWS SCHEMA SCROLL SECOND SECTION SELECT SESSION SESSION_USER SET SIZE SMALLINT SOME SPACE SQL
    SQLCODE SQLERROR SQLSTATE SUBSTRING SUM SYSTEM_USER TABLE TEMPORARY THEN TIME TIMESTAMP
    TIMEZONE_HOUR TIMEZONE_MINUTE TO TRAILING TRANSACTION TRANSLATE TRANSLATION TRIM TRUE UNION
    UNIQUE UNKNOWN UPDATE UPPER USAGE USER USING VALUE VALUES VARCHAR VARYING VIEW WHEN WHENEVER
    WHERE WITH WORK WRITE YEAR ZONE""".split()  # noqa: SIM905
)


def features() -> tuple[Feature, ...]:
    """The optional ADQL features and UDFs to declare in TAPRegExt ``languageFeatures``.

    Returns
    -------
    tuple of Feature
        One entry per form; group them by ``type`` when writing capabilities. REGION is not
        supported and therefore absent. Only the feature
        keys ADQL 2.1 defines are used (taplint rejects unknown keys), so NULLIF, CASE, bitwise
        operators and hex literals, which we also accept, are not listed.
    """
    geo = [
        Feature(TAPREGEXT + "features-adqlgeo", name)
        for name in ("POINT", "CIRCLE", "BOX", "POLYGON", "CONTAINS", "INTERSECTS", "DISTANCE", "AREA",
                     "CENTROID", "COORD1", "COORD2", "COORDSYS")
    ]
    udf = [Feature(TAPREGEXT + "features-udf", form, text) for form, text in UDF_FORMS.values()]
    optional = [
        Feature(TAPREGEXT + "features-adql-string", "LOWER"),
        Feature(TAPREGEXT + "features-adql-string", "UPPER"),
        Feature(TAPREGEXT + "features-adql-string", "ILIKE"),
        Feature(TAPREGEXT + "features-adql-offset", "OFFSET"),
        Feature(TAPREGEXT + "features-adql-type", "CAST"),
        Feature(TAPREGEXT + "features-adql-sets", "UNION"),
        Feature(TAPREGEXT + "features-adql-sets", "EXCEPT"),
        Feature(TAPREGEXT + "features-adql-sets", "INTERSECT"),
        Feature(TAPREGEXT + "features-adql-common-table", "WITH"),
        Feature(TAPREGEXT + "features-adql-conditional", "COALESCE"),
        Feature(TAPREGEXT + "features-adql-unit", "IN_UNIT",
                "converts values whose unit is known (columns, aggregates, geometry) to a VOUnit"),
    ]
    return tuple(geo + udf + optional)
