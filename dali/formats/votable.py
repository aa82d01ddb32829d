"""VOTable 1.4 results: the envelope (INFO, COOSYS, FIELD, service descriptors) and the TABLEDATA
and BINARY2 encoders.

The document's text around the rows, TABLEDATA rows as escaped XML cells (Arrow compute), and
BINARY2 rows as ``binary`` packed bytes in one base64 STREAM. An error after the head is written
as a trailing ``QUERY_STATUS=ERROR`` INFO (DALI §4.4). Service descriptors
(``dali.descriptors``) follow the results RESOURCE (DataLink 1.1 §4). Reading VOTables and DALI error documents
is ``dali.votable``'s job. Tests: tests/dali/test_writers.py, tests/dali/test_votable.py.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from html import escape

import pyarrow as pa
import pyarrow.compute as pc
import pybase64

from dali.descriptors import InputParam, ServiceDescriptor
from dali.formats.binary import binary2_rows
from dali.formats.columns import fixed_size, max_size, shape
from dali.formats.encoder import Envelope, Info
from dali.formats.text import text_cells, text_rows
from dali.values import Column

__all__ = [
    "COOSYS_ID",
    "Binary2Encoder",
    "TableDataEncoder",
    "coosys_element",
    "descriptor_resource",
    "is_position",
    "votable_field",
    "votable_head",
]

_VOTABLE_NS = "http://www.ivoa.net/xml/VOTable/v1.3"
_XML_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"


def _attr(value: str) -> str:
    return escape(value, quote=True)


# Every position the services publish or compute is ICRS (release.Position; ADQL geometry), so
# one COOSYS serves every positional column. ICRS takes no equinox (VOTable 1.4, COOSYS: the
# equinox is for FK4/FK5); the epoch of the positions is the survey's and is not stated here.
COOSYS_ID = "icrs"
_COOSYS = f'<COOSYS ID="{COOSYS_ID}" system="ICRS"/>\n'
_POSITION_UCDS = frozenset({"pos.eq.ra", "pos.eq.dec"})


def coosys_element() -> str:
    """The ``<COOSYS>`` that positional FIELDs refer to (``ref=COOSYS_ID``), for a RESOURCE after its INFOs."""
    return _COOSYS


def is_position(col: Column) -> bool:
    """Whether ``col`` holds an equatorial coordinate: its UCD's primary word is pos.eq.ra or pos.eq.dec."""
    return col.ucd is not None and col.ucd.split(";")[0].strip().lower() in _POSITION_UCDS


def votable_field(col: Column, *, with_id: bool = False) -> str:
    """The ``<FIELD>`` element describing ``col``, with ``ID`` = its name when ``with_id`` (what a
    service descriptor's ``ref`` names); a position refers to the ICRS ``COOSYS``; a declared null
    value is its ``<VALUES null>`` (VOTable 1.4, the VALUES element: readers take it for a missing value)."""
    datatype, arraysize = shape(col)
    attrs = [f'name="{_attr(col.name)}"']
    if with_id:
        attrs.append(f'ID="{_attr(col.name)}"')
    attrs.append(f'datatype="{datatype}"')
    if is_position(col):
        attrs.append(f'ref="{COOSYS_ID}"')
    if arraysize:
        attrs.append(f'arraysize="{_attr(arraysize)}"')
    for key in ("unit", "ucd", "utype", "xtype"):
        value = getattr(col, key)
        if value:
            attrs.append(f'{key}="{_attr(value)}"')
    head = "<FIELD " + " ".join(attrs)
    inner = f"<DESCRIPTION>{escape(col.description, quote=False)}</DESCRIPTION>" if col.description else ""
    if col.null is not None:
        inner += f'<VALUES null="{_attr(col.null)}"/>'
    return f"{head}>{inner}</FIELD>\n" if inner else head + "/>\n"


def _info(info: Info) -> str:
    attrs = f'name="{_attr(info.name)}" value="{_attr(info.value)}"'
    if info.ucd:
        attrs += f' ucd="{_attr(info.ucd)}"'
    if info.content:
        return f"<INFO {attrs}>{escape(info.content, quote=False)}</INFO>\n"
    return f"<INFO {attrs}/>\n"


def votable_head(infos: Sequence[Info] = (), *, coosys: bool = False) -> str:
    """The document up to the TABLE: QUERY_STATUS, ``infos``, and the ICRS ``COOSYS`` when ``coosys``
    (it follows the INFOs, as VOTable 1.4's RESOURCE content model orders them)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<VOTABLE version="1.4" xmlns="{_VOTABLE_NS}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        '<RESOURCE type="results">\n'
        '<INFO name="QUERY_STATUS" value="OK">Query successful</INFO>\n'
        + "".join(_info(i) for i in infos)
        + (_COOSYS if coosys else "")
    )


def _param(param: InputParam) -> str:
    attrs = [f'name="{_attr(param.name)}"', f'datatype="{_attr(param.datatype)}"']
    for key in ("arraysize", "xtype", "unit", "ucd", "ref"):
        value = getattr(param, key)
        if value:
            attrs.append(f'{key}="{_attr(value)}"')
    attrs.append(f'value="{_attr(param.value)}"')
    head = "<PARAM " + " ".join(attrs)
    if param.description:
        return f"{head}><DESCRIPTION>{escape(param.description, quote=False)}</DESCRIPTION></PARAM>\n"
    return head + "/>\n"


def _fixed_param(name: str, value: str) -> str:
    return f'<PARAM name="{name}" datatype="char" arraysize="*" value="{_attr(value)}"/>\n'


def descriptor_resource(descriptor: ServiceDescriptor) -> str:
    """The ``RESOURCE type="meta" utype="adhoc:service"`` of a service descriptor (DataLink 1.1 §4)."""
    attrs = 'type="meta" utype="adhoc:service"'
    if descriptor.resource_id:
        attrs += f' ID="{_attr(descriptor.resource_id)}"'
    if descriptor.name:
        attrs += f' name="{_attr(descriptor.name)}"'
    fixed = _fixed_param("standardID", descriptor.standard_id) + _fixed_param("accessURL", descriptor.access_url)
    if descriptor.content_type:
        fixed += _fixed_param("contentType", descriptor.content_type)
    inputs = "".join(_param(p) for p in descriptor.input_params)
    return f'<RESOURCE {attrs}>\n{fixed}<GROUP name="inputParams">\n{inputs}</GROUP>\n</RESOURCE>\n'


class TableDataEncoder:
    """VOTable with TABLEDATA rows: one ``<TR>`` of escaped ``<TD>`` cells per row."""

    in_band_errors = True
    data_open = "<DATA><TABLEDATA>\n"
    data_close = "</TABLEDATA></DATA>\n"

    def __init__(self, columns: Sequence[Column], envelope: Envelope) -> None:
        self.columns = tuple(columns)
        self.envelope = envelope

    def head(self) -> bytes:
        ids = self.envelope.field_ids
        fields = "".join(votable_field(c, with_id=c.name in ids) for c in self.columns)
        coosys = any(is_position(c) for c in self.columns)
        return (votable_head(self.envelope.infos, coosys=coosys) + "<TABLE>\n" + fields + self.data_open).encode()

    def encode(self, arrays: list[pa.Array]) -> bytes:
        cells = [_xml_cells(a, c) for a, c in zip(arrays, self.columns, strict=True)]
        return text_rows(cells, "</TD><TD>", "<TR><TD>", "</TD></TR>\n")

    def tail(self, status: str | None, message: str | None) -> Generator[bytes, None, None]:
        yield self._footer(status, message)

    def _footer(self, status: str | None, message: str | None) -> bytes:
        """From the end of the DATA to the end of the document, with the final QUERY_STATUS if any."""
        text = self.data_close + "</TABLE>\n"
        if status:
            text += _info(Info("QUERY_STATUS", status, message))
        descriptors = "".join(descriptor_resource(d) for d in self.envelope.descriptors)
        return (text + "</RESOURCE>\n" + descriptors + "</VOTABLE>\n").encode()


class Binary2Encoder(TableDataEncoder):
    """VOTable with BINARY2 rows: null flags and big-endian values, base64 in one STREAM."""

    data_open = '<DATA><BINARY2><STREAM encoding="base64">\n'
    data_close = "</STREAM></BINARY2></DATA>\n"

    def __init__(self, columns: Sequence[Column], envelope: Envelope) -> None:
        super().__init__(columns, envelope)
        self._carry = b""
        self._line_open = False  # base64 was written since the last newline

    def encode(self, arrays: list[pa.Array]) -> bytes:
        # The bytes left over from the last batch (base64 takes three at a time) go in front of
        # this one's, so the rows are copied only into their place and then into base64. One long
        # line: a newline per batch would cost a copy of the whole chunk.
        raw = binary2_rows(arrays, self.columns, lead=self._carry)
        cut = len(raw) - len(raw) % 3
        self._carry = raw[cut:].tobytes()
        if not cut:
            return b""
        self._line_open = True
        return pybase64.b64encode(raw[:cut].data)

    def tail(self, status: str | None, message: str | None) -> Generator[bytes, None, None]:
        rest = pybase64.b64encode(self._carry) + b"\n" if self._carry or self._line_open else b""
        self._carry, self._line_open = b"", False
        yield rest + self._footer(status, message)


def _xml_cells(array: pa.Array, col: Column) -> pa.Array:
    """The column as TD contents: XML-escaped text without control characters, nulls empty."""
    text = text_cells(array, col)
    datatype, arraysize = shape(col)
    fixed = fixed_size(arraysize)
    if fixed is not None and datatype in ("float", "double") and array.null_count:
        # An empty cell is not a valid fixed-size array (votlint); NaNs are the null array.
        text = pc.fill_null(text, " ".join(["NaN"] * fixed))
    if shape(col)[0] in ("char", "unicodeChar"):
        text = pc.replace_substring_regex(text, _XML_CONTROL, "")
        text = pc.replace_substring(text, "&", "&amp;")
        text = pc.replace_substring(text, "<", "&lt;")
        text = pc.replace_substring(text, ">", "&gt;")
        limit = fixed_size(shape(col)[1]) or max_size(shape(col)[1])
        if limit is not None:
            text = pc.utf8_slice_codeunits(text, 0, limit)
    return pc.fill_null(text, "")
