"""DALI-examples for TAP: an XHTML+RDFa document of queries that run against the demo release.

The DES DR1 example queries (DES's own, written for its Oracle database) rewritten in ADQL, plus
cone, polygon, ObsCore, upload crossmatch and TAP_SCHEMA examples. Every example is executed by the test suite
(tests/tap/test_documents.py). Pure string building.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html import escape

from dali.values import TableMeta

__all__ = ["EXAMPLES", "Example", "examples_document"]


@dataclass(frozen=True, slots=True)
class Example:
    """One example query; ``upload`` names a TAP_UPLOAD table the query expects (name, description)."""

    id: str
    name: str
    description: str
    query: str
    tables: tuple[str, ...]
    upload: tuple[str, str] | None = None


EXAMPLES: tuple[Example, ...] = (
    Example("peek", "Random peek at the catalogue",
            "Five rows of the 1% sample table: the quickest way to see what DR1_MAIN holds.",
            "SELECT TOP 5 ra, dec, mag_auto_g, tilename FROM des_dr1.main_sample",
            ("des_dr1.main_sample",)),
    Example("box", "Objects in a 1x1 degree box",
            "The first 1000 objects with 323 < RA < 324 and -1 < Dec < 0, with their full-precision positions.",
            "SELECT TOP 1000 alphawin_j2000 AS rap, deltawin_j2000 AS decp, mag_auto_g, tilename\n"
            "FROM des_dr1.main\nWHERE ra BETWEEN 323.0 AND 324.0 AND dec BETWEEN -1.0 AND 0.0",
            ("des_dr1.main",)),
    Example("m2stars", "Stars around the globular cluster M2",
            "Point sources (spread-model star/galaxy separation) with clean flags within 0.12 degrees of M2.",
            "SELECT coadd_object_id, ra, dec, mag_auto_g AS g, mag_auto_r AS r,\n"
            "       wavg_mag_psf_g AS g_psf, wavg_mag_psf_r AS r_psf\n"
            "FROM des_dr1.main\nWHERE ra BETWEEN 323.24 AND 323.48 AND dec BETWEEN -0.94 AND -0.70\n"
            "  AND wavg_spread_model_i + 3.0*wavg_spreaderr_model_i < 0.005 AND wavg_spread_model_i > -1\n"
            "  AND imaflags_iso_g = 0 AND imaflags_iso_r = 0 AND flags_g < 4 AND flags_r < 4",
            ("des_dr1.main",)),
    Example("starmap", "HEALPix star-count map",
            "Bright stars counted per NSIDE=1024 (nested) HEALPix pixel.",
            "SELECT hpix_1024, COUNT(mag_auto_i) AS n\nFROM des_dr1.main\n"
            "WHERE wavg_spread_model_i + 3.0*wavg_spreaderr_model_i < 0.005\n"
            "  AND wavg_spread_model_i > -1 AND imaflags_iso_i = 0 AND mag_auto_i < 21\n"
            "GROUP BY hpix_1024",
            ("des_dr1.main",)),
    Example("galaxymap", "HEALPix galaxy-count map",
            "Galaxies (extended_class_coadd = 3) brighter than i = 23 per NSIDE=1024 pixel, with their mean i.",
            "SELECT hpix_1024, COUNT(mag_auto_i) AS n, AVG(mag_auto_i) AS mean_i\nFROM des_dr1.main\n"
            "WHERE extended_class_coadd = 3 AND mag_auto_i < 23\nGROUP BY hpix_1024",
            ("des_dr1.main",)),
    Example("tilelookup", "Which tile holds a position",
            "The tile whose unique area contains (RA, Dec) = (323.36, -0.82), handling tiles that cross RA 0.",
            "SELECT tilename FROM des_dr1.tile_info\n"
            "WHERE -0.82 >= udecmin AND -0.82 < udecmax\n"
            "  AND ((crossra0 = 'N' AND 323.36 >= uramin AND 323.36 < uramax)\n"
            "    OR (crossra0 = 'Y' AND (323.36 >= uramax OR 323.36 < uramin)))",
            ("des_dr1.tile_info",)),
    Example("cone", "Cone search with distances",
            "Objects within 3 arcminutes of M2, nearest first (exact spherical distance, HEALPix-indexed).",
            "SELECT coadd_object_id, ra, dec, mag_auto_g,\n"
            "       DISTANCE(POINT('ICRS', ra, dec), POINT('ICRS', 323.36, -0.82)) AS dist\n"
            "FROM des_dr1.main\n"
            "WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 323.36, -0.82, 0.05))\n"
            "ORDER BY dist",
            ("des_dr1.main",)),
    Example("polygon", "Counting objects inside a polygon",
            "A quadrilateral around M2 (vertices counter-clockwise as seen from the sphere's centre).",
            "SELECT COUNT(*) AS n FROM des_dr1.main\n"
            "WHERE 1 = CONTAINS(POINT('ICRS', ra, dec),\n"
            "  POLYGON('ICRS', 323.2, -1.0, 323.6, -1.0, 323.6, -0.6, 323.2, -0.6))",
            ("des_dr1.main",)),
    Example("images", "Coadd images near a position (ObsCore)",
            "The coadd images whose centre lies within half a degree of M2, with their download URLs.",
            "SELECT obs_id, obs_collection, dataproduct_type, em_min, access_url, access_format\n"
            "FROM ivoa.obscore\nWHERE 1 = CONTAINS(POINT('ICRS', s_ra, s_dec), CIRCLE('ICRS', 323.36, -0.82, 0.5))",
            ("ivoa.obscore",)),
    Example("xmatch", "Crossmatch an uploaded list of positions",
            "Send your own table (columns id, ra, dec in degrees) as UPLOAD=mine,param:mine (or an http URL); "
            "every catalogue object within 1 arcsecond of each position is returned.",
            "SELECT u.id, m.coadd_object_id, m.ra, m.dec, m.mag_auto_r,\n"
            "       DISTANCE(POINT('ICRS', u.ra, u.dec), POINT('ICRS', m.ra, m.dec)) * 3600 AS sep_arcsec\n"
            "FROM TAP_UPLOAD.mine AS u\nJOIN des_dr1.main AS m\n"
            "  ON 1 = CONTAINS(POINT('ICRS', m.ra, m.dec), CIRCLE('ICRS', u.ra, u.dec, 1.0/3600))",
            ("des_dr1.main",), upload=("mine", "a VOTable with columns id, ra, dec")),
    Example("tables", "The published tables (TAP_SCHEMA)",
            "Every table of the release with its description, from TAP_SCHEMA.",
            "SELECT schema_name, table_name, description FROM TAP_SCHEMA.tables ORDER BY table_name",
            ("tap_schema.tables",)),
    Example("columns", "The columns of a table (TAP_SCHEMA)",
            "Names, types, units and UCDs of des_dr1.tile_info's columns.",
            "SELECT column_name, datatype, arraysize, unit, ucd, description FROM TAP_SCHEMA.columns\n"
            "WHERE table_name = 'des_dr1.tile_info' ORDER BY column_index",
            ("tap_schema.columns",)),
)


def _example(example: Example) -> str:
    tables = ", ".join(f'<span property="table">{escape(t)}</span>' for t in example.tables)
    upload = ""
    if example.upload is not None:
        name, what = example.upload
        upload = (f'<p>Upload: <span property="generic-parameter" typeof="keyval">'
                  f'<span property="key">UPLOAD</span>=<span property="value">{escape(name)},param:{escape(name)}'
                  f"</span></span> ({escape(what)})</p>\n")
    return (
        f'<div typeof="example" id="{example.id}" resource="#{example.id}">\n'
        f'<h2 property="name">{escape(example.name)}</h2>\n'
        f"<p>{escape(example.description)}</p>\n"
        f'<pre property="query">{escape(example.query, quote=False)}</pre>\n'
        f"{upload}<p>Tables: {tables}</p>\n</div>\n"
    )


def examples_document(metadata: Mapping[str, TableMeta] | None = None) -> bytes:
    """The /examples XHTML document; examples naming tables the release lacks are left out."""
    chosen = [e for e in EXAMPLES if metadata is None or all(t in metadata for t in e.tables)]
    body = "".join(_example(e) for e in chosen)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<html xmlns="http://www.w3.org/1999/xhtml" lang="en"><head>'
        '<meta http-equiv="Content-Type" content="application/xhtml+xml; charset=UTF-8"/>'
        "<title>Skygate TAP examples</title></head>\n"
        '<body vocab="http://www.ivoa.net/rdf/examples#">\n<h1>Example queries</h1>\n'
        f"{body}</body></html>\n"
    ).encode()
