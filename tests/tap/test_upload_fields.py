"""Uploaded tables whose FIELDs no backend column can hold are refused with a 400 naming the FIELD.

Before, each of these reached astropy, Arrow or DuckDB and came back as a 500.
"""

from __future__ import annotations

import pytest

from tests.tap.conftest import TestClient

ENVELOPE = ('<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE><TABLE>{fields}'
            "<DATA><TABLEDATA>{rows}</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>")

REFUSED = [
    ("", "<TR></TR>", "no columns"),
    ('<FIELD name="" datatype="int"/>', "<TR><TD>1</TD></TR>", "FIELD 1 of the uploaded table has no name"),
    ('<FIELD name="a" datatype="int"/><FIELD name="  " datatype="int"/>', "<TR><TD>1</TD><TD>2</TD></TR>",
     "FIELD 2 of the uploaded table has no name"),
    ('<FIELD name="m" datatype="double" arraysize="2x2"/>', "<TR><TD>1 2 3 4</TD></TR>",
     "FIELD 1 ('m') is a multi-dimensional array"),
    ('<FIELD name="m" datatype="int" arraysize="2x*"/>', "<TR><TD>1 2 3 4</TD></TR>", "arraysize 2x*"),
    ('<FIELD name="c" datatype="doubleComplex"/>', "<TR><TD>1 2</TD></TR>", "complex datatype doubleComplex"),
    ('<FIELD name="c" datatype="floatComplex"/>', "<TR><TD>1 2</TD></TR>", "complex datatype floatComplex"),
    (f'<FIELD name="{"n" * 64}" datatype="int"/>', "<TR><TD>1</TD></TR>", "longer than 63 bytes"),
]


@pytest.mark.parametrize(("fields", "rows", "message"), REFUSED)
def test_unholdable_fields_are_refused_by_name(client: TestClient, fields: str, rows: str, message: str) -> None:
    document = ENVELOPE.format(fields=fields, rows=rows).encode()
    response = client.post("/tap/sync", data={"LANG": "ADQL", "QUERY": "SELECT * FROM TAP_UPLOAD.t",
                                              "UPLOAD": "t,param:t"}, files={"t": ("t.xml", document)})
    assert response.status_code == 400
    assert "UsageFault" in response.text and message in response.text


@pytest.mark.parametrize(("fields", "rows", "expected"), [
    ('<FIELD name="b" datatype="bit" arraysize="4"/>', "<TR><TD>1010</TD></TR>", "true false true false"),
    ('<FIELD name="b" datatype="unsignedByte"/>', "<TR><TD>200</TD></TR>", "200"),
    ('<FIELD name="b" datatype="boolean" arraysize="3"/>', "<TR><TD>T F T</TD></TR>", "true false true"),
    (f'<FIELD name="{"n" * 63}" datatype="int"/>', "<TR><TD>7</TD></TR>", "7"),
])
def test_fields_a_column_can_hold_are_read(client: TestClient, fields: str, rows: str, expected: str) -> None:
    document = ENVELOPE.format(fields=fields, rows=rows).encode()
    response = client.post("/tap/sync", data={"LANG": "ADQL", "QUERY": "SELECT * FROM TAP_UPLOAD.t",
                                              "UPLOAD": "t,param:t", "RESPONSEFORMAT": "csv"},
                           files={"t": ("t.xml", document)})
    assert response.status_code == 200, response.text
    assert response.text.splitlines()[1] == expected
