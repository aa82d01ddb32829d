"""``skygate_in_footprint`` answers as the MOC itself does (mocpy ``contains_lonlat``) on both backends.

The footprint is a MOC at order 12 (the service's default) of half the rows of the ``ci`` release's
``des_dr1.main``: sparse at that order, so it has edges everywhere. Checked: every row of the table
(the position columns: the HEALPix index column shifted), and uploaded points (the cell computed in
SQL) at the centres of cells inside and outside and just inside and outside the edges of boundary
cells (1e-6 degrees from a vertex, towards or away from the cell's centre).
"""

from __future__ import annotations

from typing import Any

import astropy.units as u
import numpy as np
import pyarrow as pa
import pytest
from astropy.coordinates import Latitude, Longitude
from cdshealpix.nested import healpix_to_lonlat, neighbours, vertices
from mocpy import MOC

import adql
from dali.values import Column, TableMeta
from release.engine import QueryEngine, UploadTable
from release.served import footprint_tables, statement_tables

ORDER = 12
NAME = "des_dr1.main"
_POINTS = TableMeta("tap_upload", "pts", (Column("id", "long"), Column("ra", "double"), Column("dec", "double")))


async def _rows(engine: QueryEngine, text: str, tables: dict[str, Any],
                uploads: dict[str, UploadTable] | None = None) -> list[dict[str, Any]]:
    result = await engine.execute(text, maxrec=None, timeout=120, tables=tables, uploads=uploads or {})
    out: list[dict[str, Any]] = []
    async for batch in result.batches:
        out += batch.to_pylist()
    return out


async def _footprint(engine: QueryEngine) -> tuple[MOC, dict[str, Any]]:
    rows = await _rows(engine, f"SELECT ra, dec FROM {NAME} WHERE ra < 0.5 * (SELECT MIN(ra) + MAX(ra) FROM {NAME})",
                       {})
    ra = np.array([r["ra"] for r in rows])
    dec = np.array([r["dec"] for r in rows])
    moc = MOC.from_lonlat(Longitude(ra, u.deg), Latitude(dec, u.deg), max_norder=ORDER)
    cells = {int(d): [int(i) for i in ipix] for d, ipix in moc.serialize("json").items()}
    served = footprint_tables([(NAME, ORDER, cells)])
    return moc, statement_tables(engine.metadata, {}, served)


def _edge_points(moc: MOC) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres inside and outside, and points 1e-6 deg either side of boundary cells' vertices."""
    inside = np.unique(np.concatenate([np.asarray(ipix, dtype=np.uint64) << np.uint64(2 * (ORDER - int(d)))
                                       for d, ipix in moc.serialize("json").items() if int(d) == ORDER]))[:400]
    around = neighbours(inside, ORDER).ravel()
    around = np.unique(around[around >= 0].astype(np.uint64))
    cells = np.unique(np.concatenate([inside, around]))
    lon, lat = healpix_to_lonlat(cells, ORDER)
    ra, dec = [lon.to_value(u.deg)], [lat.to_value(u.deg)]
    vlon, vlat = vertices(inside, ORDER)
    at = np.searchsorted(cells, inside)
    clon, clat = lon.to_value(u.deg)[at], lat.to_value(u.deg)[at]
    for k in range(4):
        vx, vy = vlon[:, k].to_value(u.deg), vlat[:, k].to_value(u.deg)
        dx, dy = clon - vx, clat - vy
        norm = np.hypot(dx, dy)
        for step in (1e-6, -1e-6):
            ra.append((vx + step * dx / norm) % 360.0)
            dec.append(vy + step * dy / norm)
    return np.concatenate(ra), np.concatenate(dec)


async def _check(engine: QueryEngine) -> None:
    moc, tables = await _footprint(engine)
    # the table's own positions: the stored index shifted
    text = f"SELECT ra, dec, skygate_in_footprint(ra, dec, '{NAME}') AS inside FROM {NAME}"
    assert "skygate_hpx" in adql.translate(text, {**engine.metadata, **{k: t.meta for k, t in tables.items()}},
                                           engine.backend.dialect, sources={k: t.physical for k, t in tables.items()
                                                                            if t.physical}).sql
    rows = await _rows(engine, text, tables)
    expected = moc.contains_lonlat(Longitude([r["ra"] for r in rows], u.deg), Latitude([r["dec"] for r in rows], u.deg))
    got = np.array([r["inside"] for r in rows])
    assert 0 < got.sum() < len(got)
    assert (got == expected.astype(int)).all()
    # any other point: the cell computed in SQL
    ra, dec = _edge_points(moc)
    points = pa.table({"id": np.arange(len(ra), dtype=np.int64), "ra": ra, "dec": dec})
    uploads = {"pts": UploadTable("pts", _POINTS, points)}
    rows = await _rows(engine, f"SELECT id, skygate_in_footprint(ra, dec, '{NAME}') AS inside FROM TAP_UPLOAD.pts "
                               "ORDER BY id", tables, uploads)
    expected = moc.contains_lonlat(Longitude(ra, u.deg), Latitude(dec, u.deg)).astype(int)
    got = np.array([r["inside"] for r in rows])
    assert 0 < got.sum() < len(got)
    assert (got == expected).all(), np.flatnonzero(got != expected)[:10]


async def test_matches_mocpy_on_duckdb(duckdb_backend: Any, ci_metadata: dict[str, TableMeta]) -> None:
    await _check(QueryEngine(duckdb_backend, ci_metadata))


@pytest.mark.postgres
async def test_matches_mocpy_on_postgres(postgres_backend: Any, ci_metadata: dict[str, TableMeta]) -> None:
    await _check(QueryEngine(postgres_backend, ci_metadata))


def test_refusals(adql_metadata: dict[str, TableMeta]) -> None:
    served = footprint_tables([("des_dr1.main", ORDER, {ORDER: [1, 2]})])
    metadata = {**adql_metadata, **{k: t.meta for k, t in served.unlisted.items()}}
    sql = adql.translate("SELECT skygate_in_footprint(ra, dec, 'DES_DR1.MAIN') AS f FROM des_dr1.main_sample",
                         metadata, "duckdb").sql
    assert "skygate_hpx" in sql  # the sample's position columns: its index column, shifted
    with pytest.raises(adql.ADQLError, match=r"no footprint called 'des_dr1\.nope'") as err:
        adql.translate("SELECT skygate_in_footprint(ra, dec, 'des_dr1.nope') AS f FROM des_dr1.main_sample",
                       metadata, "duckdb")
    assert "des_dr1.main" in str(err.value.hint)
    with pytest.raises(adql.ADQLError, match="string literal"):
        adql.translate("SELECT skygate_in_footprint(ra, dec, tilename) AS f FROM des_dr1.main_sample", metadata,
                       "duckdb")
    with pytest.raises(adql.ADQLError, match="number"):
        adql.translate("SELECT skygate_in_footprint(tilename, dec, 'des_dr1.main') AS f FROM des_dr1.main_sample",
                       metadata, "duckdb")
