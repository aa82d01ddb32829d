"""A small synthetic catalogue for the ADQL tests: its metadata and its rows.

Two tables shaped like the demo release (``des_dr1.main`` with its HEALPix index column, the 1 %
``des_dr1.main_sample``, ``des_dr1.tile_info``) and a ``test.points`` table with positions at the
poles and on the RA 0/360 seam. The same rows are loaded into DuckDB and PostgreSQL, so the
translated SQL can be run on both and the results compared. Used by tests/adql/conftest.py.
"""

from __future__ import annotations

import numpy as np

from dali.values import Column, Position, TableMeta

INDEX_ORDER = 14
SEED = 20180109


def _main_columns() -> tuple[Column, ...]:
    cols = [
        Column("coadd_object_id", "long", ucd="meta.id;meta.main", indexed=True, principal=True),
        Column("tilename", "char", arraysize="12", ucd="meta.id;obs.field"),
        Column("ra", "double", unit="deg", ucd="pos.eq.ra;meta.main", indexed=True),
        Column("dec", "double", unit="deg", ucd="pos.eq.dec;meta.main", indexed=True),
        Column("alphawin_j2000", "double", unit="deg", ucd="pos.eq.ra"),
        Column("deltawin_j2000", "double", unit="deg", ucd="pos.eq.dec"),
        Column("hpix_1024", "long", ucd="pos.healpix"),
    ]
    for band in "gri":
        cols += [
            Column(f"mag_auto_{band}", "float", unit="mag", ucd="phot.mag"),
            Column(f"wavg_mag_psf_{band}", "float", unit="mag", ucd="phot.mag;stat.mean"),
            Column(f"flags_{band}", "short", ucd="meta.code"),
            Column(f"imaflags_iso_{band}", "int", ucd="meta.code.qual"),
        ]
    cols += [
        Column("wavg_spread_model_i", "float", ucd="src.class.starGalaxy"),
        Column("wavg_spreaderr_model_i", "float", ucd="stat.error"),
        Column("extended_class_coadd", "short", ucd="src.class.starGalaxy"),
        Column("skygate_hpx", "long"),
    ]
    return tuple(cols)


def metadata() -> dict[str, TableMeta]:
    position = Position(ra="ra", dec="dec", index_column="skygate_hpx", index_order=INDEX_ORDER, tolerance=1e-6)
    main = TableMeta("des_dr1", "main", _main_columns(), position=position, description="objects")
    sample = TableMeta("des_dr1", "main_sample", _main_columns(), position=position, description="1% sample")
    tiles = TableMeta("des_dr1", "tile_info", (
        Column("tilename", "char", arraysize="12"),
        Column("ra_cent", "double", unit="deg"), Column("dec_cent", "double", unit="deg"),
        Column("uramin", "double", unit="deg"), Column("uramax", "double", unit="deg"),
        Column("udecmin", "double", unit="deg"), Column("udecmax", "double", unit="deg"),
        Column("crossra0", "char", arraysize="1"),
    ))
    points = TableMeta("test", "points", (
        Column("id", "long"), Column("ra", "double", unit="deg"), Column("dec", "double", unit="deg"),
        Column("name", "char", arraysize="*"), Column("size", "double"),
        Column("pos", "double", arraysize="2", xtype="point", unit="deg"),
        Column("skygate_hpx", "long"),
    ), position=Position("ra", "dec", "skygate_hpx", INDEX_ORDER))
    regions = TableMeta("test", "regions", (
        Column("id", "long"), Column("footprint", "double", arraysize="*", xtype="polygon", unit="deg"),
    ))
    return {t.qualified: t for t in (main, sample, tiles, points, regions)}


REGIONS = [
    [359.0, -1.0, 1.0, -1.0, 1.0, 1.0, 359.0, 1.0],  # across the RA seam, counter-clockwise
    [0.0, 85.0, 90.0, 85.0, 180.0, 85.0, 270.0, 85.0],  # around the north pole
    [323.0, -1.0, 323.0, 0.0, 324.0, 0.0, 324.0, -1.0],  # a DES-like tile, clockwise
    [100.0, -30.0, 110.0, -30.0, 105.0, -20.0],  # a triangle
]


def rows() -> dict[str, dict[str, np.ndarray | list[object]]]:
    """Column arrays per table (deterministic)."""
    import cdshealpix.nested as hpx
    from astropy import units as u
    from astropy.coordinates import Latitude, Longitude

    rng = np.random.default_rng(SEED)
    n = 3000
    # around M2 (323.36, -0.82) and across the RA seam at dec -0.4
    ra = np.concatenate([rng.uniform(322.8, 324.0, n // 2), rng.uniform(-0.6, 0.6, n // 2) % 360.0])
    dec = np.concatenate([rng.uniform(-1.4, -0.2, n // 2), rng.uniform(-1.0, 0.2, n // 2)])
    ra, dec = np.round(ra, 6), np.round(dec, 6)

    def index(lon: np.ndarray, lat: np.ndarray, order: int) -> np.ndarray:
        return np.asarray(hpx.lonlat_to_healpix(Longitude(lon, u.deg), Latitude(lat, u.deg), order)).astype(np.int64)

    main: dict[str, np.ndarray | list[object]] = {
        "coadd_object_id": np.arange(n, dtype=np.int64) + 3_078_300_001,
        "tilename": ["DES2134-0041" if r > 180 else "DES2359-0041" for r in ra],
        "ra": ra, "dec": dec,
        "alphawin_j2000": ra + rng.normal(0, 1e-7, n), "deltawin_j2000": dec + rng.normal(0, 1e-7, n),
        "hpix_1024": index(ra, dec, 10),
    }
    for band in "gri":
        mags = rng.uniform(16, 25, n).astype(np.float32)
        mags[rng.uniform(size=n) < 0.02] = 99.0
        main[f"mag_auto_{band}"] = mags
        main[f"wavg_mag_psf_{band}"] = (mags + rng.normal(0, 0.02, n)).astype(np.float32)
        main[f"flags_{band}"] = rng.choice(np.array([0, 1, 2, 3, 4], dtype=np.int16), n)
        main[f"imaflags_iso_{band}"] = (rng.uniform(size=n) < 0.05).astype(np.int32)
    main["wavg_spread_model_i"] = rng.normal(0.003, 0.004, n).astype(np.float32)
    main["wavg_spreaderr_model_i"] = rng.uniform(0.0005, 0.003, n).astype(np.float32)
    main["extended_class_coadd"] = rng.integers(0, 4, n).astype(np.int16)
    main["skygate_hpx"] = index(ra, dec, INDEX_ORDER)
    keep = (main["coadd_object_id"] % 100) < 3  # type: ignore[operator]
    sample = {k: (np.asarray(v)[keep] if isinstance(v, np.ndarray)
                  else [x for x, k2 in zip(v, keep, strict=True) if k2])
              for k, v in main.items()}
    tiles = {
        "tilename": ["DES2134-0041", "DES2359-0041"],
        "ra_cent": np.array([323.5, 0.0]), "dec_cent": np.array([-0.6875, -0.6875]),
        "uramin": np.array([323.125, 359.6]), "uramax": np.array([323.875, 0.4]),
        "udecmin": np.array([-1.0, -1.0]), "udecmax": np.array([-0.375, -0.375]),
        "crossra0": ["N", "Y"],
    }
    m = 400
    pra = np.concatenate([rng.uniform(0, 360, m // 4), rng.uniform(-0.5, 0.5, m // 4) % 360,
                          rng.uniform(0, 360, m // 4), rng.uniform(0, 360, m // 4)])
    pdec = np.concatenate([rng.uniform(85, 90, m // 4), rng.uniform(-1, 1, m // 4),
                           rng.uniform(-90, -85, m // 4), np.degrees(np.arcsin(rng.uniform(-1, 1, m // 4)))])
    points = {
        "id": np.arange(m, dtype=np.int64), "ra": pra, "dec": pdec,
        "name": [f"P{i}" for i in range(m)], "size": rng.uniform(0, 1, m),
        "pos": [[float(a), float(d)] for a, d in zip(pra, pdec, strict=True)],
        "skygate_hpx": index(pra, pdec, INDEX_ORDER),
    }
    regions = {"id": np.arange(len(REGIONS), dtype=np.int64), "footprint": REGIONS}
    return {"des_dr1.main": main, "des_dr1.main_sample": sample, "des_dr1.tile_info": tiles, "test.points": points,
            "test.regions": regions}
