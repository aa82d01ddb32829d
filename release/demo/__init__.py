"""The deterministic demo data release: a synthetic DES DR1 (Abbott et al. 2018, ApJS 239, 18) with its schema.

``generate(profile, out_dir, *, pixscale=None) -> Path`` writes profile ``ci``, ``demo`` or ``large``
and returns the path of ``manifest.json`` (written last: when it exists, the release is complete).

Modules: ``schema`` (column definitions and Arrow schemas), ``catalog`` (truth model, planted
features, measurements of one tile), ``images`` (rendering and fpacked MEFs), ``sample``
(``main_sample`` selection), ``generate`` (profiles, orchestration, Parquet, manifest). Tiling geometry
is ``release.tiling``. This package writes files only: ingest into a backend is ``release.ingest``.

Layout of a release directory::

    manifest.json                      profile, seed, generator_version, numpy_version, pixscale, bands,
                                       density, tiles, rows, files {relpath: {sha256, bytes}}
    catalog/dr1_main.parquet           DR1_MAIN Tier A; one row group per HPIX_32 value (split above
                                       2**20 rows), rows ordered by (hpix_32, coadd_object_id)
    catalog/dr1_tile_info.parquet      DR1_TILE_INFO, 46 columns, one row per tile
    catalog/demo_truth.parquet         [demo] planted features: coadd_object_id, feature_id, feature,
                                       tilename, ra, dec, note
    tiles/{TILENAME}/{TILENAME}_r9999p01_{g,r,i,z,Y,det}.fits.fz   PRIMARY + SCI/MSK/WGT (not in large)
    tiles/{TILENAME}/{TILENAME}_dr1_main.fits                     the tile's rows (not in large)

Parquet files are zstd-compressed with BYTE_STREAM_SPLIT floats and a dictionary-encoded TILENAME
(pyarrow and DuckDB read both). Metadata keys and values are UTF-8 (pyarrow exposes them as bytes):

* field metadata: ``unit``, ``ucd``, ``description`` (always), ``arraysize`` (strings: "12" for
  TILENAME, "1" for CROSSRA0, "*" for free text), ``indexed`` = "true" (columns DR1 indexes: RA, DEC,
  COADD_OBJECT_ID, TILENAME, MAG_AUTO_*), ``principal`` = "true" (TAP_SCHEMA principal columns);
* table (schema) metadata: ``description`` and ``skygate.table`` (``dr1_main``, ``dr1_tile_info`` or
  ``demo_truth``); pyarrow adds its own ``ARROW:schema``.

Column names are the lower-case DR1 names (physical = ADQL names). Types: int64 ids and HEALPix indices,
float64 positions, float32 measurements, int16 FLAGS_* / EXTENDED_CLASS_COADD, int32 IMAFLAGS_ISO_*.
Pixel quantities (XWIN/YWIN, A/B_IMAGE, FLUX_RADIUS_I) refer to the native 0.263″ grid whatever the
image pixel scale. DR1_TILE_INFO corners/sizes are the native geometry; PIXELSCALE, NAXIS*, CRPIX*
and CD* describe the image files of the release; CROSSRA0 = 'Y' when the *unique area* crosses RA 0
(membership: ``ra >= uramax or ra < uramin``). File-name columns are paths relative to the release
directory, empty when the file is not generated (magnitude/flux catalogues, TIFF).

``des_dr1.main_sample`` = rows with ``release.demo.sample.main_sample_mask(coadd_object_id)``, i.e.
``splitmix64(coadd_object_id as uint64) % 100 == 0`` (computed at ingest; not a stored column).

Seeds: ``numpy.random.SeedSequence(20180109, spawn_key=(stream, crc32(TILENAME), band, bx, by))`` with
stream 1 truth, 2 measurements, 3 pixel noise (band 1..5 = g..Y; the fpack dither seed uses
``by = 1``), 4 planted features (keyed by the feature's home tile, ``band`` = feature number).
Tests: tests/release/test_demo_*.py.
"""

from release.demo.generate import DEFAULT_PIXSCALE, GENERATOR_VERSION, PROFILES, generate
from release.demo.sample import main_sample_mask

__all__ = ["DEFAULT_PIXSCALE", "GENERATOR_VERSION", "PROFILES", "generate", "main_sample_mask"]
