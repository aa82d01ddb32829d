"""Result writers: every format read back by an independent reader, MAXREC/OVERFLOW, errors mid-stream."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import itertools
import math
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from astropy.io.votable import parse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dali.errors import UsageError
from dali.values import Column
from dali.writers import Info, OutputFormat, resolve_format, write_table
from tests.dali.xmlschema import xsd_errors

COLUMNS = (
    Column("id", "long", ucd="meta.id;meta.main", description="object id"),
    Column("ra", "double", unit="deg", ucd="pos.eq.ra"),
    Column("mag", "float", unit="mag"),
    Column("name", "char", arraysize="*"),
    Column("tile", "char", arraysize="12"),
    Column("flag", "boolean"),
    Column("pos", "double", arraysize="2", xtype="point"),
    Column("poly", "double", arraysize="*", xtype="polygon"),
    Column("t", "char", arraysize="*", xtype="timestamp"),
    Column("s", "short"),
    Column("u", "unicodeChar", arraysize="*"),
)
ROWS = [
    (1, 1.5, 0.25, "a<b&c", "DES2134-0041", True, [1.0, 2.0], [1.0, 2, 3, 4, 5, 6],
     datetime(2020, 1, 2, 3, 4, 5, 120000), 1, "héllo"),
    (None, math.nan, None, None, "short", None, None, [0.0, 0, 1, 0, 1, 1], None, None, None),
    (2**62 + 1, math.inf, -math.inf, 'x,"y"\tz', None, False, [3.0, 4.0], [0.0, 0, 1, 0, 1, 1, 0, 1],
     datetime(2021, 1, 1), -3, "日本"),
]
TYPES = [pa.int64(), pa.float64(), pa.float32(), pa.string(), pa.string(), pa.bool_(), pa.list_(pa.float64()),
         pa.list_(pa.float64()), pa.timestamp("us"), pa.int16(), pa.string()]


def make_batch(rows: list[tuple] = ROWS) -> pa.RecordBatch:  # type: ignore[type-arg]
    arrays = [pa.array([r[i] for r in rows], t) for i, t in enumerate(TYPES)]
    return pa.record_batch(arrays, names=[c.name for c in COLUMNS])


class Source:
    """An async batch stream that records how far it was read and whether it was closed."""

    def __init__(self, batches: list[pa.RecordBatch], fail_after: int | None = None) -> None:
        self.batches = batches
        self.fail_after = fail_after
        self.read = 0
        self.closed = False

    def __aiter__(self) -> AsyncIterator[pa.RecordBatch]:
        return self._gen()

    async def _gen(self) -> AsyncIterator[pa.RecordBatch]:
        try:
            for batch in self.batches:
                if self.fail_after is not None and self.read >= self.fail_after:
                    raise UsageError("division by zero in the query")
                self.read += 1
                yield batch
        finally:
            self.closed = True


def render(kind: OutputFormat, source: Source | None, maxrec: int | None = None, columns=COLUMNS,
           infos=()):  # type: ignore[no-untyped-def]
    writer = write_table(kind, columns, None if source is None else aiter(source), maxrec=maxrec, infos=infos)

    async def run() -> bytes:
        return b"".join([chunk async for chunk in writer.chunks()])

    return writer, asyncio.run(run())


def votable_rows(data: bytes):  # type: ignore[no-untyped-def]
    votable = parse(io.BytesIO(data))
    statuses = [(i.value, i.content) for i in votable.resources[0].infos if i.name == "QUERY_STATUS"]
    return votable.get_first_table().to_table(), statuses


@pytest.mark.parametrize("kind", [OutputFormat.VOTABLE_TD, OutputFormat.VOTABLE_B2])
def test_votable_values_and_nulls_round_trip_through_astropy(kind: OutputFormat) -> None:
    _, data = render(kind, Source([make_batch()]))
    table, statuses = votable_rows(data)
    assert statuses == [("OK", "Query successful")]
    assert table["id"][0] == 1 and table["id"][2] == 2**62 + 1 and table["id"].mask[1]
    ra = np.ma.getdata(table["ra"])
    assert ra[0] == 1.5 and math.isnan(ra[1]) and ra[2] == math.inf
    assert table["mag"][2] == -math.inf and table["mag"].mask[1]
    assert list(table["name"][[0, 2]]) == ["a<b&c", 'x,"y"\tz']
    assert table["tile"][0] == "DES2134-0041"
    assert list(table["flag"][[0, 2]]) == [True, False] and table["flag"].mask[1]
    assert list(table["pos"][2]) == [3.0, 4.0]
    assert list(table["poly"][1]) == [0.0, 0, 1, 0, 1, 1]
    assert table["t"][0] == "2020-01-02T03:04:05.12" and table["t"][2] == "2021-01-01T00:00:00"
    assert table["s"][2] == -3 and table["s"].mask[1]
    assert table["u"][2] == "日本"
    field = parse(io.BytesIO(data)).get_first_table().fields[0]
    assert (field.ucd, field.description) == ("meta.id;meta.main", "object id")


def test_tabledata_validates_against_the_votable_schema() -> None:
    infos = (Info("standardID", "ivo://ivoa.net/std/TAP"), Info("QUERY", "SELECT * FROM t WHERE a < 1"))
    _, data = render(OutputFormat.VOTABLE_TD, Source([make_batch()] * 3), maxrec=4, infos=infos)
    assert xsd_errors(data) == []
    assert b'<INFO name="QUERY" value="SELECT * FROM t WHERE a &lt; 1"/>' in data


@pytest.mark.parametrize("kind", [OutputFormat.VOTABLE_TD, OutputFormat.VOTABLE_B2])
def test_positions_refer_to_an_icrs_coosys(kind: OutputFormat) -> None:
    columns = (Column("ra", "double", unit="deg", ucd="pos.eq.ra;meta.main"),
               Column("dec", "double", unit="deg", ucd="POS.EQ.DEC;meta.main"),
               Column("ra_err", "double", unit="arcsec", ucd="stat.error;pos.eq.ra"))
    batch = pa.record_batch([pa.array([1.0]), pa.array([2.0]), pa.array([0.1])], names=["ra", "dec", "ra_err"])
    _, data = render(kind, Source([batch]), columns=columns)
    assert xsd_errors(data) == []
    votable = parse(io.BytesIO(data))
    (coosys,) = votable.resources[0].coordinate_systems
    assert (coosys.ID, coosys.system, coosys.equinox) == ("icrs", "ICRS", None)
    assert [f.ref for f in votable.get_first_table().fields] == ["icrs", "icrs", None]
    rest = pa.record_batch(make_batch().columns[2:], names=[c.name for c in COLUMNS[2:]])
    _, plain = render(kind, Source([rest]), columns=COLUMNS[2:])
    assert b"COOSYS" not in plain


@pytest.mark.parametrize("kind", [OutputFormat.VOTABLE_TD, OutputFormat.VOTABLE_B2])
def test_a_declared_null_is_the_fields_values_null(kind: OutputFormat) -> None:
    columns = (Column("flux", "double", null="-9999", description="flux"), Column("flag", "short", null="-1"),
               Column("x", "double"))
    batch = pa.record_batch([pa.array([1.5, -9999.0, None]), pa.array([0, -1, None], pa.int16()),
                             pa.array([-9999.0, 2.0, 3.0])], names=["flux", "flag", "x"])
    _, data = render(kind, Source([batch]), columns=columns)
    assert xsd_errors(data) == []
    table = parse(io.BytesIO(data)).get_first_table()
    assert [f.values.null for f in table.fields] == [-9999.0, -1, None]
    rows = table.to_table()
    assert list(rows["flux"].mask) == list(rows["flag"].mask) == [False, True, True]  # readers take it as missing
    assert rows["x"][0] == -9999.0 and not np.ma.getmaskarray(rows["x"])[0]  # a value where none is declared


@pytest.mark.parametrize("kind", [OutputFormat.VOTABLE_TD, OutputFormat.VOTABLE_B2])
@pytest.mark.parametrize(("maxrec", "rows", "overflow"), [(4, 4, True), (6, 6, False), (9, 6, False), (3, 3, True)])
def test_maxrec_keeps_exactly_maxrec_rows_and_flags_overflow_after_the_table(
    kind: OutputFormat, maxrec: int, rows: int, overflow: bool
) -> None:
    source = Source([make_batch(), make_batch(), make_batch()[:0]])
    writer, data = render(kind, source, maxrec=maxrec)
    table, statuses = votable_rows(data)
    assert len(table) == rows == writer.rows
    assert writer.overflow is overflow
    assert statuses[-1][0] == ("OVERFLOW" if overflow else "OK")
    if overflow:
        assert data.index(b'value="OVERFLOW"') > data.index(b"</TABLE>")
        assert source.closed


def test_maxrec_zero_writes_metadata_and_overflow_without_reading() -> None:
    source = Source([make_batch()])
    _, data = render(OutputFormat.VOTABLE_TD, source, maxrec=0)
    table, statuses = votable_rows(data)
    assert len(table) == 0 and len(table.columns) == len(COLUMNS)
    assert [s for s, _ in statuses] == ["OK", "OVERFLOW"]
    assert source.read == 0


def test_empty_result_still_has_fields() -> None:
    _, data = render(OutputFormat.VOTABLE_B2, Source([]))
    table, statuses = votable_rows(data)
    assert len(table) == 0 and table.colnames[0] == "id" and statuses == [("OK", "Query successful")]


@pytest.mark.parametrize("kind", [OutputFormat.VOTABLE_TD, OutputFormat.VOTABLE_B2])
def test_an_error_while_streaming_is_written_after_the_table(kind: OutputFormat) -> None:
    source = Source([make_batch(), make_batch()], fail_after=1)
    writer, data = render(kind, source)
    table, statuses = votable_rows(data)
    assert len(table) == 3
    assert statuses[-1] == ("ERROR", "division by zero in the query")
    assert isinstance(writer.error, UsageError)


def test_an_error_while_streaming_csv_propagates() -> None:
    with pytest.raises(UsageError):
        render(OutputFormat.CSV, Source([make_batch(), make_batch()], fail_after=1))


def test_csv_is_read_back_by_the_csv_module() -> None:
    _, data = render(OutputFormat.CSV, Source([make_batch()]))
    rows = list(csv.reader(io.StringIO(data.decode())))
    assert rows[0] == [c.name for c in COLUMNS]
    assert rows[1][:5] == ["1", "1.5", "0.25", "a<b&c", "DES2134-0041"]
    assert rows[2][:4] == ["", "NaN", "", ""]
    assert rows[3][3] == 'x,"y"\tz' and rows[3][1] == "+Inf" and rows[3][7] == "0 0 1 0 1 1 0 1"


def test_tsv_has_one_line_per_row_and_no_tabs_in_values() -> None:
    _, data = render(OutputFormat.TSV, Source([make_batch()]))
    lines = data.decode().splitlines()
    assert len(lines) == 4 and all(line.count("\t") == len(COLUMNS) - 1 for line in lines)
    assert lines[3].split("\t")[3] == 'x,"y" z'


def test_fits_is_read_back_by_astropy(tmp_path: Path) -> None:
    _, data = render(OutputFormat.FITS, Source([make_batch(), make_batch()]), maxrec=5)
    assert len(data) % 2880 == 0
    path = tmp_path / "r.fits"
    path.write_bytes(data)
    with fits.open(path) as hdus:
        table = hdus[1].data
        header = hdus[1].header
        assert len(table) == 5 and header["QUERYST"] == "OVERFLOW"
        assert table["id"][2] == 2**62 + 1 and table["tile"][0] == "DES2134-0041"
        assert header["TUNIT2"] == "deg" and header["TNULL1"] == -(2**63)
        assert list(table["poly"][2]) == [0.0, 0, 1, 0, 1, 1, 0, 1]
        assert table["t"][0] == "2020-01-02T03:04:05.12"


def test_fits_headers_take_multi_line_queries_and_non_ascii_metadata(tmp_path: Path) -> None:
    """A query with line breaks (echoed as an INFO) and a unit outside ASCII once failed the FITS
    header halfway through the stream."""
    columns = [replace(COLUMNS[0], name="id"), replace(COLUMNS[1], unit="\u00b5Jy", ucd="phot.flux\n")]
    query = Info("QUERY", "SELECT id,\n  ra\tFROM t -- \u00e9t\u00e9")
    _, data = render(OutputFormat.FITS, Source([make_batch().select([0, 1])]), columns=columns, infos=[query])
    path = tmp_path / "q.fits"
    path.write_bytes(data)
    with fits.open(path) as hdus:
        header = hdus[1].header
        assert header["TUNIT2"] == "?Jy" and header["TUCD2"] == "phot.flux"
        assert "QUERY=SELECT id,   ra FROM t -- ?t?" in [str(c) for c in header["COMMENT"]]
        assert len(hdus[1].data) == 3


def test_parquet_is_read_back_by_pyarrow_with_metadata() -> None:
    _, data = render(OutputFormat.PARQUET, Source([make_batch(), make_batch()]), maxrec=4)
    table = pq.read_table(io.BytesIO(data))
    assert table.num_rows == 4
    assert table.column("id").to_pylist()[:3] == [1, None, 2**62 + 1]
    assert table.schema.field("ra").metadata[b"unit"] == b"deg"
    assert pq.read_metadata(io.BytesIO(data)).metadata[b"QUERY_STATUS"] == b"OVERFLOW"


def test_large_batches_are_encoded_like_small_ones() -> None:
    rng = np.random.default_rng(1)
    n = 20_000
    cols = (Column("a", "long"), Column("b", "double"), Column("c", "char", arraysize="*"))
    ids = rng.integers(-(2**62), 2**62, n)
    values = rng.normal(size=n)
    mask = rng.random(n) < 0.1
    batch = pa.record_batch([pa.array(ids, mask=mask), pa.array(values),
                             pa.array([f"s{i}" for i in range(n)])], names=["a", "b", "c"])
    _, data = render(OutputFormat.VOTABLE_B2, Source([batch]), columns=cols)
    table, _ = votable_rows(data)
    assert np.array_equal(np.asarray(table["a"].mask), mask)
    assert np.array_equal(np.asarray(table["a"])[~mask], ids[~mask])
    assert np.array_equal(np.asarray(table["b"]), values) and table["c"][n - 1] == f"s{n - 1}"


@pytest.mark.parametrize("text", [Column("tile", "char", arraysize="12"), Column("tile", "char", arraysize="*")])
def test_binary2_rows_split_across_batches_read_back_as_one_stream(text: Column) -> None:
    # 28 bytes a row with a fixed-width text column: batches end between base64's 3-byte groups,
    # so each batch's leftover bytes must lead the next one's.
    rng = np.random.default_rng(2)
    cols = (Column("id", "long"), Column("mag", "float"), text, Column("s", "short"),
            Column("b", "unsignedByte"))
    sizes = [1, 2, 5, 1000, 1, 7]
    n = sum(sizes)
    ids, mags = rng.integers(-(2**62), 2**62, n), rng.normal(size=n).astype(np.float32)
    tiles = [f"DES{i:04d}+0042"[:12] if i % 9 else None for i in range(n)]
    shorts, bytes_ = rng.integers(-30000, 30000, n).astype(np.int16), rng.integers(0, 255, n).astype(np.uint8)
    null_mag = rng.random(n) < 0.2
    batches, start = [], 0
    for size in sizes:
        part = slice(start, start + size)
        batches.append(pa.record_batch(
            [pa.array(ids[part]), pa.array(mags[part], mask=null_mag[part]), pa.array(tiles[part], pa.string()),
             pa.array(shorts[part]), pa.array(bytes_[part])], names=[c.name for c in cols]))
        start += size
    _, data = render(OutputFormat.VOTABLE_B2, Source(batches), columns=cols)
    table, statuses = votable_rows(data)
    assert statuses == [("OK", "Query successful")] and len(table) == n
    assert np.array_equal(np.asarray(table["id"]), ids)
    assert np.array_equal(np.asarray(table["mag"].mask), null_mag)
    assert np.array_equal(np.asarray(table["mag"])[~null_mag], mags[~null_mag])
    assert [str(t) if not np.ma.is_masked(t) and t else None for t in table["tile"]] == tiles
    assert np.array_equal(np.asarray(table["s"]), shorts) and np.array_equal(np.asarray(table["b"]), bytes_)


@pytest.mark.parametrize(
    ("requested", "kind", "media_type"),
    [
        (None, OutputFormat.VOTABLE_TD, "application/x-votable+xml"),
        ("votable", OutputFormat.VOTABLE_TD, "application/x-votable+xml;serialization=tabledata"),
        ("application/x-votable+xml", OutputFormat.VOTABLE_TD, "application/x-votable+xml"),
        ("text/xml", OutputFormat.VOTABLE_TD, "text/xml"),
        ("application/x-votable+xml;serialization=BINARY2", OutputFormat.VOTABLE_B2,
         "application/x-votable+xml;serialization=BINARY2"),
        ("votable/b2", OutputFormat.VOTABLE_B2, "application/x-votable+xml;serialization=binary2"),
        ("csv", OutputFormat.CSV, "text/csv;header=present"),
        ("text/csv", OutputFormat.CSV, "text/csv"),
        ("tsv", OutputFormat.TSV, "text/tab-separated-values"),
        ("fits", OutputFormat.FITS, "application/fits"),
        ("parquet", OutputFormat.PARQUET, "application/vnd.apache.parquet"),
    ],
)
def test_resolve_format(requested: str | None, kind: OutputFormat, media_type: str) -> None:
    resolved = resolve_format(requested)
    assert (resolved.kind, resolved.media_type) == (kind, media_type)


@pytest.mark.parametrize("requested", ["html", "application/json", "application/x-votable+xml;serialization=binary"])
def test_unsupported_formats_are_usage_errors(requested: str) -> None:
    with pytest.raises(UsageError) as info:
        resolve_format(requested)
    assert info.value.param == "RESPONSEFORMAT"


@pytest.mark.stilts
@pytest.mark.parametrize("kind", [OutputFormat.VOTABLE_TD, OutputFormat.VOTABLE_B2])
def test_votlint_reports_no_errors(kind: OutputFormat, tmp_path: Path) -> None:
    if shutil.which("stilts") is None:
        pytest.skip("stilts is not installed")
    # STILTS 3.4.7 votlint misreads BINARY2 polygon (double[*] xtype=polygon) streams, even ones
    # written by STILTS itself (tcopy ofmt=votable-binary2-inline), so the polygon column is left
    # out of the BINARY2 case; the TD case keeps it.
    keep = [i for i, c in enumerate(COLUMNS) if kind is OutputFormat.VOTABLE_TD or c.name != "poly"]
    rows = [tuple(r[i] for i in keep) for r in ROWS if r[7] is not None]
    cols = tuple(COLUMNS[i] for i in keep)
    batch = pa.record_batch([pa.array([r[j] for r in rows], TYPES[i]) for j, i in enumerate(keep)],
                            names=[c.name for c in cols])
    _, data = render(kind, Source([batch, batch]), maxrec=3, columns=cols)
    path = tmp_path / "r.vot"
    path.write_bytes(data)
    result = subprocess.run(["stilts", "votlint", str(path)], check=False, capture_output=True, text=True, timeout=120)
    assert [line for line in result.stdout.splitlines() if line.startswith("ERROR")] == []


def test_binary2_null_flags_cover_text_columns_too() -> None:
    # astropy reads a null char cell as "" whatever the flag says, so the flags are checked here.
    cols = (Column("c4", "char", arraysize="4"), Column("cv", "char", arraysize="*"), Column("l", "long"))
    batch = pa.record_batch([pa.array([None, "ab"]), pa.array([None, "x"]), pa.array([None, 3], pa.int64())],
                            names=["c4", "cv", "l"])
    _, data = render(OutputFormat.VOTABLE_B2, Source([batch]), columns=cols)
    stream = data.split(b'<STREAM encoding="base64">')[1].split(b"</STREAM>")[0]
    raw = base64.b64decode(b"".join(stream.split()))
    first_row = 1 + 4 + 4 + 0 + 8
    assert raw[0] == 0b1110_0000 and raw[first_row] == 0
    assert raw[first_row + 1:] == b"ab\0\0" + b"\0\0\0\1x" + (3).to_bytes(8, "big")


# Columns of every BINARY2 layout: fixed numbers, booleans, fixed and variable text, UCS-2, arrays.
_PROPERTY_COLUMNS = (
    (Column("l", "long"), pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    (Column("d", "double"), pa.float64(), st.floats(allow_nan=False, width=64)),
    (Column("f", "float"), pa.float32(), st.floats(allow_nan=False, width=32)),
    (Column("s", "short"), pa.int16(), st.integers(-(2**15), 2**15 - 1)),
    (Column("u", "unsignedByte"), pa.uint8(), st.integers(0, 255)),
    (Column("b", "boolean"), pa.bool_(), st.booleans()),
    (Column("c4", "char", arraysize="4"), pa.string(), st.text("abcXYZ09", min_size=1, max_size=4)),
    (Column("cv", "char", arraysize="*"), pa.string(), st.text("abcXYZ09", min_size=1, max_size=6)),
    (Column("uv", "unicodeChar", arraysize="*"), pa.string(), st.text("aé日本Ω", min_size=1, max_size=3)),
    (Column("p", "double", arraysize="2"), pa.list_(pa.float64()),
     st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=2)),
    (Column("v", "double", arraysize="*"), pa.list_(pa.float64()),
     st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=4)),
)


@st.composite
def _tables(draw):  # type: ignore[no-untyped-def]
    picked = draw(st.lists(st.sampled_from(range(len(_PROPERTY_COLUMNS))), min_size=1, max_size=6, unique=True))
    n = draw(st.integers(0, 40))
    values = [draw(st.lists(st.one_of(st.none(), _PROPERTY_COLUMNS[i][2]), min_size=n, max_size=n)) for i in picked]
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=4)))
    return picked, values, [0, *cuts, n]


@given(_tables())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_binary2_reads_back_any_columns_nulls_and_batch_splits(table) -> None:  # type: ignore[no-untyped-def]
    picked, values, bounds = table
    cols = tuple(_PROPERTY_COLUMNS[i][0] for i in picked)
    types = [_PROPERTY_COLUMNS[i][1] for i in picked]
    batches = [pa.record_batch([pa.array(v[a:b], t) for v, t in zip(values, types, strict=True)],
                               names=[c.name for c in cols])
               for a, b in itertools.pairwise(bounds)]
    _, data = render(OutputFormat.VOTABLE_B2, Source(batches), columns=cols)
    read, statuses = votable_rows(data)
    assert statuses == [("OK", "Query successful")] and len(read) == len(values[0])
    for col, column_values in zip(cols, values, strict=True):
        for row, expected in enumerate(column_values):
            cell = read[col.name][row]
            if expected is None and col.datatype in ("char", "unicodeChar"):
                assert np.ma.is_masked(cell) or cell == "", (col, row)  # astropy reads null text as ""
            elif expected is None:
                assert np.ma.is_masked(cell) or (col.arraysize and np.ma.getmaskarray(cell).all()), (col, row)
            elif col.arraysize and col.datatype == "double":
                assert list(np.ma.getdata(cell)) == expected, (col, row)
            else:
                assert cell == expected, (col, row, cell, expected)
