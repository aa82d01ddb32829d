"""DALI error documents and reading uploaded VOTables."""

from __future__ import annotations

import asyncio
import bz2
import gzip
import io

import pyarrow as pa
import pytest
from astropy.io.votable import parse

from dali.errors import FatalError, UsageError
from dali.votable import error_document, error_message, read_votable
from dali.writers import Info, OutputFormat, write_table
from tests.dali.test_writers import COLUMNS, Source, make_batch
from tests.dali.xmlschema import xsd_errors


def test_error_document_carries_the_message_as_content_and_validates() -> None:
    data = error_document("UsageFault: bad <query> & \x1b more", infos=[Info("standardID", "ivo://ivoa.net/std/TAP")])
    assert xsd_errors(data) == []
    votable = parse(io.BytesIO(data))
    status = [i for i in votable.resources[0].infos if i.name == "QUERY_STATUS"]
    assert [(s.value, s.content) for s in status] == [("ERROR", "UsageFault: bad <query> &  more")]


def test_error_messages_hide_foreign_exceptions() -> None:
    assert error_message(UsageError("no such column x", hint="see /tables")) == \
        "UsageFault: no such column x (see /tables)"
    assert error_message(FatalError("disk full")) == "FatalFault: disk full"
    assert "Traceback" not in error_message(KeyError("secret internals"))
    assert "secret" not in error_message(KeyError("secret internals"))


@pytest.mark.parametrize("kind", [OutputFormat.VOTABLE_TD, OutputFormat.VOTABLE_B2])
def test_written_tables_read_back_as_uploads(kind: OutputFormat) -> None:
    writer = write_table(kind, COLUMNS, aiter(Source([make_batch()])))

    async def run() -> bytes:
        return b"".join([c async for c in writer.chunks()])

    columns, table = read_votable(asyncio.run(run()), max_rows=10)
    assert [c.name for c in columns] == [c.name for c in COLUMNS]
    assert [(c.datatype, c.arraysize, c.xtype) for c in columns] == [
        (c.datatype, c.arraysize, c.xtype) for c in COLUMNS]
    assert table.column("id").to_pylist() == [1, None, 2**62 + 1]
    assert pa.types.is_timestamp(table.column("t").type)
    assert table.column("pos").to_pylist()[2] == [3.0, 4.0]
    assert table.column("poly").to_pylist()[0] == [1.0, 2, 3, 4, 5, 6]


def test_upload_names_are_folded_unless_delimited() -> None:
    doc = b"""<VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE><TABLE>
    <FIELD name="RA" datatype="double"/><FIELD name="my col" datatype="int"/>
    <DATA><TABLEDATA><TR><TD>1</TD><TD>2</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"""
    columns, table = read_votable(doc, max_rows=10)
    assert [c.name for c in columns] == ["ra", "my col"]
    assert table.to_pylist() == [{"ra": 1.0, "my col": 2}]


@pytest.mark.parametrize(("doc", "fragment"), [(b"not xml", "not a readable"), (
    b'<VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE/></VOTABLE>', "no table")])
def test_unreadable_uploads_are_usage_errors(doc: bytes, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        read_votable(doc, max_rows=10)
    assert fragment in str(info.value) and info.value.param == "UPLOAD"


def test_upload_row_limit() -> None:
    writer = write_table(OutputFormat.VOTABLE_TD, COLUMNS, aiter(Source([make_batch()])))

    async def run() -> bytes:
        return b"".join([c async for c in writer.chunks()])

    with pytest.raises(UsageError, match="limit is 2"):
        read_votable(asyncio.run(run()), max_rows=2)


_PLAIN = (b'<VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE><TABLE>'
          b'<FIELD name="a" datatype="int"/><DATA><TABLEDATA><TR><TD>1</TD></TR></TABLEDATA></DATA>'
          b"</TABLE></RESOURCE></VOTABLE>")


@pytest.mark.parametrize(("doc", "fragment"), [
    (gzip.compress(_PLAIN), "compressed"),
    (bz2.compress(_PLAIN), "compressed"),
    (_PLAIN.decode().encode("utf-16"), "not UTF-8"),
    (b'<?xml version="1.0" encoding="UTF-16"?>' + _PLAIN, "encoding"),
    (b'<?xml version="1.0" encoding="EBCDIC-US"?>' + _PLAIN, "encoding"),
    (b"<!DOCTYPE VOTABLE>" + _PLAIN, "DOCTYPE"),
    (_PLAIN.replace(b"<TABLEDATA><TR><TD>1</TD></TR></TABLEDATA>", b'<BINARY><STREAM href="x"/></BINARY>'), "href"),
])
def test_uploads_the_reader_refuses_before_parsing(doc: bytes, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        read_votable(doc, max_rows=10, param="POSITIONS")
    assert fragment in str(info.value) and info.value.param == "POSITIONS"


def test_plain_utf8_and_latin1_declarations_are_read() -> None:
    for prolog in (b"", b'<?xml version="1.0" encoding="utf-8"?>', b"\xef\xbb\xbf",
                   b'<?xml version="1.0" encoding="ISO-8859-1"?>'):
        assert read_votable(prolog + _PLAIN, max_rows=10)[1].to_pylist() == [{"a": 1}]
