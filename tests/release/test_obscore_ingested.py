"""ivoa.obscore as ingested with the ``ci`` release: published in TAP_SCHEMA, queryable in ADQL and
by SIA on DuckDB and PostgreSQL, with access_url following the backend's base URL."""

from __future__ import annotations

import asyncio

import pyarrow as pa
import pytest

from dali.params import DaliParams, collect
from dali.values import TableMeta
from release.backends import DuckDBBackend, PostgresBackend
from release.engine import QueryEngine
from release.obscore import obscore_meta
from sia.params import SiaQuery, parse_query
from sia.service import search


def _params(values: dict[str, list[str]]) -> DaliParams:
    """A request's parameters from a name -> values table row."""
    return collect((name, value) for name, found in values.items() for value in found)


async def _rows(engine: QueryEngine, adql: str) -> list[dict[str, object]]:
    result = await engine.execute(adql, maxrec=100, timeout=30)
    batches = [b async for b in result.batches]
    return pa.Table.from_batches(batches).to_pylist() if batches else []


def test_published_with_every_column(ci_metadata: dict[str, TableMeta]) -> None:
    meta = ci_metadata["ivoa.obscore"]
    assert [c.name for c in meta.columns] == [c.name for c in obscore_meta().columns]
    assert "ivoa.skygate_obscore" not in ci_metadata
    region = meta.column("s_region")
    assert region is not None and region.xtype == "adql:REGION" and region.ucd == "pos.outline;obs.field"


def test_adql_over_obscore(ci_engine: QueryEngine) -> None:
    rows = asyncio.run(_rows(ci_engine, "SELECT obs_id, access_url, em_min, calib_level FROM ivoa.obscore "
                                        "WHERE target_name = 'DES2134-0041' ORDER BY em_min"))
    assert [r["obs_id"] for r in rows] == ["DES2134-0041_g", "DES2134-0041_r", "DES2134-0041_i"]
    assert str(rows[0]["access_url"]).startswith("http://127.0.0.1:8000/soda/links?ID=ivo%3A%2F%2Fskygate")


async def test_s_region_is_stcs_text_and_still_geometry(ci_engine: QueryEngine) -> None:
    adql = ("SELECT obs_id, s_region FROM ivoa.obscore WHERE obs_id LIKE '%_g' "
            "AND 1 = INTERSECTS(s_region, CIRCLE('ICRS', 0.1, -0.7, 0.01))")
    result = await ci_engine.execute(adql, maxrec=10, timeout=30)
    column = result.columns[1]
    assert (column.datatype, column.arraysize, column.xtype, column.unit) == ("char", "*", "adql:REGION", None)
    rows = pa.Table.from_batches([b async for b in result.batches]).to_pylist()
    assert [r["obs_id"] for r in rows] == ["DES2359-0041_g"]
    words = str(rows[0]["s_region"]).split()
    assert words[:2] == ["Polygon", "ICRS"] and len(words) == 2 + 8
    longitudes = [float(w) for w in words[2::2]]
    assert any(lon > 359 for lon in longitudes) and any(lon < 1 for lon in longitudes)  # the tile crosses RA 0


def test_sia_on_duckdb(duckdb_backend: DuckDBBackend) -> None:
    query = parse_query(_params({"POS": ["CIRCLE 0.1 -0.7 0.01"]}), maxrec_default=100, maxrec_hard=100)
    rows = asyncio.run(_found(duckdb_backend, query))
    assert sorted(str(r["obs_id"]) for r in rows) == ["DES2359-0041_g", "DES2359-0041_i", "DES2359-0041_r"]


@pytest.mark.postgres
async def test_sia_on_postgres(postgres_backend: PostgresBackend) -> None:
    query = parse_query(_params({"POS": ["CIRCLE 323.36 -0.82 0.05"], "BAND": ["7.5e-7"]}), maxrec_default=100,
                        maxrec_hard=100)
    rows = await _found(postgres_backend, query)
    assert [str(r["obs_id"]) for r in rows] == ["DES2134-0041_i"]
    assert str(rows[0]["access_url"]).startswith("http://127.0.0.1:8000/soda/links?ID=")
    assert str(rows[0]["s_region"]).startswith("Polygon ICRS 32")


async def _found(backend: DuckDBBackend | PostgresBackend, query: SiaQuery) -> list[dict[str, object]]:
    """The rows an SIA search over the ingested ``ivoa.obscore`` yields."""
    return [row async for batch in await search(backend, query, timeout=30) for row in batch.to_pylist()]
