"""Service descriptors written by the one VOTable writer: after the results, valid, read by pyvo's rules."""

from __future__ import annotations

import io
import warnings
from collections.abc import AsyncIterator

import pyarrow as pa
from astropy.io.votable import parse

from dali.descriptors import DATALINK_STANDARD_ID, SODA_SYNC_ID, datalink_descriptor, soda_descriptor
from dali.values import Column
from dali.writers import OutputFormat, write_table
from tests.dali.xmlschema import xsd_errors

COLUMNS = (Column("did", "char"), Column("size", "long"))


async def _document(kind: OutputFormat) -> bytes:
    async def rows() -> AsyncIterator[pa.RecordBatch]:
        yield pa.record_batch([pa.array(["ivo://x/y?a'b<c"]), pa.array([3], pa.int64())], names=["did", "size"])

    writer = write_table(kind, COLUMNS, rows(), field_ids=["did"],
                         descriptors=[soda_descriptor("http://h/soda/sync", id_ref="did"),
                                      datalink_descriptor("http://h/soda/links?x=1&y=2", id_ref="did")])
    return b"".join([chunk async for chunk in writer.chunks()])


async def test_descriptors_follow_the_results_and_validate() -> None:
    for kind in (OutputFormat.VOTABLE_TD, OutputFormat.VOTABLE_B2):
        body = await _document(kind)
        assert xsd_errors(body) == []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # astropy notes the unknown "adhoc" utype prefix
            votable = parse(io.BytesIO(body))
        results, *meta = votable.resources
        assert results.type == "results" and [r.utype for r in meta] == ["adhoc:service", "adhoc:service"]
        assert [next(p.value for p in r.params if p.name == "standardID") for r in meta] == [SODA_SYNC_ID,
                                                                                            DATALINK_STANDARD_ID]
        assert next(p.value for p in meta[1].params if p.name == "accessURL") == "http://h/soda/links?x=1&y=2"
        assert b'<FIELD name="did" ID="did" datatype="char"' in body and b'<FIELD name="size" datatype' in body
        assert all(next(p for p in r.groups[0].entries if p.name == "ID").ref == "did" for r in meta)


async def test_other_formats_leave_them_out() -> None:
    body = await _document(OutputFormat.CSV)
    assert body.splitlines()[0] == b"did,size"
