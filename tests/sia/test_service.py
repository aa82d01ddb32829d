"""SIA 2.0 search semantics over a real ivoa.obscore in DuckDB (table-driven)."""

from __future__ import annotations

import io
import warnings

import pytest
from astropy.io.votable import parse, parse_single_table

from dali.errors import UsageError
from dali.params import DaliParams, collect
from dali.writers import resolve_format
from release.obscore import image_did
from sia.params import SiaQuery, parse_query
from sia.service import RowSource, build_sql, result_writer, search
from tests.dali.xmlschema import xsd_errors
from tests.sia.conftest import DuckRows


def _params(values: dict[str, list[str]]) -> DaliParams:
    """A request's parameters from a name -> values table row."""
    return collect((name, value) for name, found in values.items() for value in found)


M2 = ["DES2134-0041_g", "DES2134-0041_i", "DES2134-0041_r"]
CASES = [
    # (name, params, expected obs_ids in obs_publisher_did order)
    ("M2 cone", {"POS": ["CIRCLE 323.36 -0.82 0.05"]}, M2),
    ("RA 0.1 finds the RA-0 tile", {"POS": ["CIRCLE 0.1 -0.7 0.01"]}, ["DES2359-0041_g"]),
    ("RA 359.9 too", {"POS": ["CIRCLE 359.9 -0.7 0.01"]}, ["DES2359-0041_g"]),
    ("touches only the corner", {"POS": ["CIRCLE 323.92333 -1.07244 0.01415"]}, M2),
    ("misses the corner", {"POS": ["CIRCLE 323.92333 -1.07244 0.0141"]}, []),
    ("two cones OR'ed", {"POS": ["CIRCLE 323.36 -0.82 0.05", "CIRCLE 0.1 -0.7 0.01"]},
     [*M2, "DES2359-0041_g"]),
    ("range across RA 0", {"POS": ["RANGE 359.5 0.5 -1 0"]}, ["DES2359-0041_g"]),
    ("polygon", {"POS": ["POLYGON 323.3 -0.9 323.4 -0.9 323.4 -0.8"]}, M2),
    ("BAND value in g", {"BAND": ["5e-7"]}, ["DES2134-0041_g", "DES2359-0041_g"]),
    ("BAND open interval", {"BAND": ["7.2e-7 +Inf"]}, ["DES2134-0041_i"]),
    ("BAND AND POS", {"BAND": ["6e-7 6.5e-7"], "POS": ["CIRCLE 323.36 -0.82 0.05"]}, ["DES2134-0041_r"]),
    ("two BANDs OR'ed", {"BAND": ["5e-7", "8e-7"], "POS": ["CIRCLE 323.36 -0.82 0.05"]},
     ["DES2134-0041_g", "DES2134-0041_i"]),
    ("TIME overlaps DR1", {"TIME": ["57000 57001"], "POS": ["CIRCLE 0.1 -0.7 0.01"]}, ["DES2359-0041_g"]),
    ("TIME before DR1", {"TIME": ["50000 50001"]}, []),
    ("CALIB", {"CALIB": ["3"], "POS": ["CIRCLE 0.1 -0.7 0.01"]}, ["DES2359-0041_g"]),
    ("CALIB 2", {"CALIB": ["2"]}, []),
    ("COLLECTION", {"COLLECTION": ["DES DR1"], "POS": ["CIRCLE 0.1 -0.7 0.01"]}, ["DES2359-0041_g"]),
    ("COLLECTION is case-sensitive", {"COLLECTION": ["des dr1"]}, []),
    ("FACILITY and INSTRUMENT", {"FACILITY": ["CTIO-4m"], "INSTRUMENT": ["DECam"], "TARGET": ["DES2359-0041"]},
     ["DES2359-0041_g"]),
    ("DPTYPE cube", {"DPTYPE": ["cube"]}, []),
    ("ID ignores case", {"ID": [image_did("DES2134-0041", "r").upper().replace("?DES2134-0041_R", "?DES2134-0041_r")]},
     ["DES2134-0041_r"]),
    ("FOV", {"FOV": ["1 1.1"], "TARGET": ["DES2359-0041"]}, ["DES2359-0041_g"]),
    ("SPATRES", {"SPATRES": ["-Inf 0.9"]}, ["DES2134-0041_i"]),
    ("EXPTIME", {"EXPTIME": ["800 1000"], "TARGET": ["DES2359-0041"]}, ["DES2359-0041_g"]),
    ("POL never matches", {"POL": ["I"]}, []),
    ("FORMAT", {"FORMAT": ["application/x-votable+xml;content=datalink"], "TARGET": ["DES2359-0041"]},
     ["DES2359-0041_g"]),
    ("FORMAT names the FITS product", {"FORMAT": ["application/fits"], "TARGET": ["DES2359-0041"]},
     ["DES2359-0041_g"]),
    ("FORMAT image/fits too", {"FORMAT": ["image/FITS"], "POS": ["CIRCLE 323.36 -0.82 0.05"]}, M2),
    ("FORMAT nothing else", {"FORMAT": ["text/plain", "application/x-votable+xml"]}, []),
]


async def _votable(source: RowSource, query: SiaQuery) -> bytes:
    """The SIA answer as the HTTP edge writes it (TABLEDATA VOTable)."""
    writer = result_writer(await search(source, query, timeout=10), query, resolve_format(None),
                           base_url="http://testserver")
    body = b"".join([chunk async for chunk in writer.chunks()])
    assert writer.error is None
    return body


@pytest.mark.parametrize(("params", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_search(obscore_rows: DuckRows, params: dict[str, list[str]], expected: list[str]) -> None:
    query = parse_query(_params(params), maxrec_default=1000, maxrec_hard=10000)
    rows = [row async for batch in await search(obscore_rows, query, timeout=10) for row in batch.to_pylist()]
    assert sorted(r["obs_id"] for r in rows) == sorted(expected)


async def test_maxrec_overflow(obscore_rows: DuckRows) -> None:
    two = parse_query(_params({"MAXREC": ["2"]}), maxrec_default=10, maxrec_hard=10)
    body = await _votable(obscore_rows, two)
    assert body.count(b"<TR>") == 2 and b'<INFO name="QUERY_STATUS" value="OVERFLOW">' in body
    none = parse_query(_params({"MAXREC": ["0"]}), maxrec_default=10, maxrec_hard=10)
    statements = len(obscore_rows.statements)
    body = await _votable(obscore_rows, none)
    assert b"<TR>" not in body and b'value="OVERFLOW"' in body
    assert len(obscore_rows.statements) == statements  # MAXREC=0: no statement runs (DALI 1.1 §4.3)


@pytest.mark.parametrize(("params", "param"), [
    ({"POS": ["CIRCLE 1 2"]}, "POS"), ({"POS": ["BOX 1 2 3 4"]}, "POS"), ({"BAND": ["blue"]}, "BAND"),
    ({"BAND": ["2e-7 1e-7"]}, "BAND"), ({"TIME": ["1 2 3"]}, "TIME"), ({"CALIB": ["x"]}, "CALIB"),
    ({"MAXREC": ["-1"]}, "MAXREC"), ({"MAXREC": ["1", "2"]}, "MAXREC"),
    ({"TARGET": ["\x00"]}, "TARGET"), ({"COLLECTION": ["DES\nDR1"]}, "COLLECTION"), ({"ID": ["a\x00"]}, "ID"),
    ({"POL": ["\x7f"]}, "POL"),
])
def test_bad_parameters(params: dict[str, list[str]], param: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_query(_params(params), maxrec_default=10, maxrec_hard=10)
    assert info.value.param == param


async def test_votable_reads_as_obscore(obscore_rows: DuckRows) -> None:
    query = parse_query(_params({"POS": ["CIRCLE 323.36 -0.82 0.05"]}), maxrec_default=10, maxrec_hard=10)
    body = await _votable(obscore_rows, query)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # astropy notes the unknown "adhoc" utype prefix
        table = parse_single_table(io.BytesIO(body)).to_table()
    assert len(table) == 3
    assert table["access_url"][0].startswith("http://testserver/soda/links?ID=ivo%3A%2F%2F")
    assert str(table["s_region"][0]).startswith("Polygon ICRS ") and table["em_min"].unit == "m"
    assert b'name="s_region" ID="s_region" datatype="char" arraysize="*"' in body and b'xtype="adql:REGION"' in body
    assert b'value="ivo://ivoa.net/std/SIA#query-2.0"' in body and b"adhoc:service" in body
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        votable = parse(io.BytesIO(body))
    (coosys,) = votable.resources[0].coordinate_systems
    assert (coosys.ID, coosys.system) == ("icrs", "ICRS")
    refs = {f.name: f.ref for f in votable.get_first_table().fields}
    assert refs["s_ra"] == refs["s_dec"] == "icrs" and refs["s_fov"] is None
    assert xsd_errors(body) == []


async def test_the_descriptors_follow_the_results_and_refer_to_the_id_field(obscore_rows: DuckRows) -> None:
    query = parse_query(_params({"TARGET": ["DES2359-0041"]}), maxrec_default=10, maxrec_hard=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # astropy notes the unknown "adhoc" utype prefix
        votable = parse(io.BytesIO(await _votable(obscore_rows, query)))
    meta = [r for r in votable.resources if r.type == "meta"]
    standard_ids = [next(p.value for p in r.params if p.name == "standardID") for r in meta]
    assert standard_ids == ["ivo://ivoa.net/std/DataLink#links-1.1", "ivo://ivoa.net/std/SODA#sync-1.0"]
    for resource in meta:
        (group,) = resource.groups
        id_param = next(p for p in group.entries if p.name == "ID")
        assert id_param.ref == "obs_publisher_did"
    assert [f.ID for f in votable.get_first_table().fields if f.name == "obs_publisher_did"] == ["obs_publisher_did"]


HOSTILE = ["x' OR '1'='1", "' OR 1=1 --", "%", "_", "DES%", "DES_DR1", "\\", "\\'", "DES DR1\\",
           "'; DROP TABLE ivoa.obscore; --", "Ünïcödé ☃ 'quoted' \"double\"", "a''b", "/I/", "I/Q"]
TEXT_PARAMS = ["ID", "COLLECTION", "FACILITY", "INSTRUMENT", "DPTYPE", "POL", "TARGET"]


async def _hostile_is_data(backend: RowSource) -> None:
    for name in TEXT_PARAMS:
        for value in HOSTILE:
            query = parse_query(_params({name: [value]}), maxrec_default=100, maxrec_hard=100)
            rows = [r async for b in await search(backend, query, timeout=30) for r in b.to_pylist()]
            assert rows == [], (name, value, build_sql(query, backend.dialect))
    # The real values still match, and LIKE wildcards in them are not wildcards.
    matched = parse_query(_params({"COLLECTION": ["DES DR1"], "FACILITY": ["CTIO-4m"], "ID": [DID_R.upper()]}),
                          maxrec_default=100, maxrec_hard=100)
    assert [r["obs_id"] async for b in await search(backend, matched, timeout=30) for r in b.to_pylist()] == \
        ["DES2134-0041_r"]


DID_R = image_did("DES2134-0041", "r")


async def test_hostile_values_are_data_on_duckdb(duckdb_backend: RowSource) -> None:
    await _hostile_is_data(duckdb_backend)


@pytest.mark.postgres
async def test_hostile_values_are_data_on_postgres(postgres_backend: RowSource) -> None:
    await _hostile_is_data(postgres_backend)
