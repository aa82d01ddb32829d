"""VOTable documents other than streamed results: DALI error documents and reading uploaded tables.

``error_document`` writes the DALI §4.4 error VOTable (``QUERY_STATUS=ERROR`` with the message as
element content, which pyvo reads). ``read_votable`` parses an uploaded VOTable with astropy into
column metadata and an Arrow table; it is blocking, so callers run it in a thread. It is the one reader
of every table a client sends (TAP uploads inline or by URL, SODA bulk positions), because it first
refuses every reference out of the document (see ``_refuse_references``).
Tests: tests/dali/test_votable.py, tests/skygate/test_upload_references.py.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from html import escape
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from lxml import etree

from dali.errors import SkygateError, UsageError, fault_name
from dali.values import Column
from dali.writers import Info

__all__ = ["ERROR_MEDIA_TYPE", "error_document", "error_message", "read_votable"]

ERROR_MEDIA_TYPE = "application/x-votable+xml"
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


def error_message(exc: BaseException) -> str:
    """The user-facing text for an error, ``Fault: message`` (``dali.errors.fault_name``): ours
    verbatim, anything else a generic sentence."""
    if isinstance(exc, SkygateError):
        return f"{fault_name(exc)}: {exc}"
    return f"{fault_name(exc)}: internal error; the failure was logged"


def error_document(message: str, *, infos: Sequence[Info] = ()) -> bytes:
    """A DALI error VOTable holding ``message`` as the QUERY_STATUS=ERROR content.

    Parameters
    ----------
    message
        The text users see (our own words; see ``error_message``).
    infos
        Further INFO elements (standardID, echoed parameters) written after the status.
    """
    extra = "".join(
        f'<INFO name="{escape(i.name)}" value="{escape(i.value)}"/>\n' for i in infos
    )
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        '<RESOURCE type="results">\n'
        f'<INFO name="QUERY_STATUS" value="ERROR">{escape(_printable(message), quote=False)}</INFO>\n'
        f"{extra}"
        "</RESOURCE>\n</VOTABLE>\n"
    )
    return text.encode()


def _printable(text: str) -> str:
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "", text)


def read_votable(data: bytes, *, max_rows: int, param: str = "UPLOAD") -> tuple[tuple[Column, ...], pa.Table]:
    """Parse an uploaded VOTable into column metadata and an Arrow table.

    Parameters
    ----------
    data
        The document (TABLEDATA, BINARY or BINARY2; the first table is used).
    max_rows
        More rows than this is a usage error.
    param
        The parameter named in errors.

    Returns
    -------
    tuple
        Columns (names lower-cased when they are regular identifiers, as ADQL folds them; delimited
        names kept as sent) and the table with one Arrow column per FIELD. Timestamps become Arrow
        timestamps; arrays become lists.

    Raises
    ------
    UsageError
        When the document is not a readable VOTable, has no table, or is too long.
    """
    from astropy.io.votable import parse

    _refuse_references(data, param)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            votable = parse(io.BytesIO(data), verify="ignore")
    except Exception as exc:
        raise UsageError("the uploaded table is not a readable VOTable", param=param,
                         hint="send a VOTable 1.x document") from exc
    tables = list(votable.iter_tables())
    if not tables:
        raise UsageError("the uploaded VOTable holds no table", param=param)
    table = tables[0]
    _check_fields(table.fields, param)
    astropy_table = table.to_table(use_names_over_ids=True)
    if len(astropy_table) > max_rows:
        raise UsageError(f"the uploaded table has {len(astropy_table)} rows; the limit is {max_rows}",
                         param=param, hint="upload fewer rows")
    columns: list[Column] = []
    arrays: list[pa.Array] = []
    seen: set[str] = set()
    for index, vfield in enumerate(table.fields):
        name = vfield.name or vfield.ID or f"col{index + 1}"
        if _IDENTIFIER.match(name):
            name = name.lower()
        if name.lower() in seen:
            raise UsageError(f"the uploaded table has two columns called {name!r}", param=param)
        seen.add(name.lower())
        col, values = _column(vfield, name, np.ma.asanyarray(astropy_table.columns[index]))
        columns.append(col)
        arrays.append(values)
    return tuple(columns), pa.table(arrays, names=[c.name for c in columns])


# astropy's VOTable reader follows <STREAM href="..."> inside BINARY, BINARY2, FITS and PARQUET with
# urllib (astropy.io.votable.tree: Table._parse_binary, _parse_fits, _parse_parquet), which reads local
# files (file:) and reaches any host, loopback included. An uploaded document must therefore carry its
# rows inline: TABLEDATA, or BINARY/BINARY2 with an inline base64 STREAM. FITS and PARQUET
# serializations always point elsewhere, so they are refused as a whole.
_INLINE_SERIALIZATIONS = "TABLEDATA, or BINARY/BINARY2 with the stream inline (base64)"
_REFUSED_ELEMENTS = {"FITS", "PARQUET"}
_XINCLUDE = "http://www.w3.org/2001/XInclude"
# Encodings on which libxml2 (this check) and expat (astropy's parser) must see the same elements.
_ENCODINGS = {"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1"}
_DECLARED_ENCODING = re.compile(rb"\A\s*<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']*)[\"']")
_COMPRESSED = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")
_WIDE_TEXT = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00", b"\x00<", b"<\x00")


class _ReferenceCheck:
    """An lxml parser target: it builds no tree and stops at the first reference out of the document."""

    def __init__(self, param: str) -> None:
        self.param = param

    def doctype(self, name: str, public_id: str | None, system_url: str | None) -> None:
        # A DTD can declare external entities (file:, http:) or an entity expansion bomb.
        raise UsageError("the uploaded VOTable has a DOCTYPE; DTDs and entities are not accepted",
                         param=self.param, hint="remove the <!DOCTYPE ...> declaration")

    def start(self, tag: str, attrib: Mapping[str, str]) -> None:
        namespace, _, local = tag.rpartition("}")
        if namespace.lstrip("{") == _XINCLUDE:
            raise UsageError("the uploaded VOTable uses XInclude, which is not accepted", param=self.param)
        if local in _REFUSED_ELEMENTS:
            raise UsageError(f"the uploaded VOTable uses the {local} serialization, which refers to data "
                             "outside the document", param=self.param,
                             hint=f"send the rows as {_INLINE_SERIALIZATIONS}")
        if local == "STREAM" and any(name.rpartition("}")[2] == "href" for name in attrib):
            raise UsageError("the uploaded VOTable has a STREAM with an href; only inline streams are "
                             "accepted", param=self.param, hint=f"send the rows as {_INLINE_SERIALIZATIONS}")

    def end(self, tag: str) -> None:
        pass

    def data(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def _refuse_references(data: bytes, param: str) -> None:
    """Refuse a document that points outside itself, before any other parser sees it.

    Refused: a DOCTYPE (external entities, entity bombs), XInclude, ``STREAM href`` (file:, http:,
    ftp:, relative paths alike), the FITS and PARQUET serializations, compressed documents (astropy
    would decompress them unbounded) and text encodings where two XML parsers could disagree.
    """
    head = data[:4]
    if head.startswith(_COMPRESSED):
        raise UsageError("the uploaded table is compressed; send the VOTable uncompressed", param=param)
    if head.startswith(_WIDE_TEXT):
        raise UsageError("the uploaded VOTable is not UTF-8", param=param, hint="send it encoded as UTF-8")
    declared = _DECLARED_ENCODING.match(data[:512])
    if declared and declared.group(1).decode("ascii", "replace").lower() not in _ENCODINGS:
        raise UsageError(f"the uploaded VOTable declares the encoding {declared.group(1)[:40]!r}; "
                         "send it as UTF-8", param=param)
    parser = etree.XMLParser(target=_ReferenceCheck(param), resolve_entities=False, load_dtd=False,
                             no_network=True, huge_tree=False, remove_pis=True)
    try:
        etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise UsageError("the uploaded table is not a readable VOTable", param=param,
                         hint="send a well-formed VOTable 1.x document") from exc


# PostgreSQL cuts identifiers at NAMEDATALEN - 1 bytes (PostgreSQL docs, Identifiers and Key Words);
# the same limit on every backend keeps one upload valid everywhere.
_MAX_NAME_BYTES = 63
_COMPLEX = {"floatComplex", "doubleComplex"}


def _check_fields(fields: Sequence[Any], param: str) -> None:
    """Refuse, naming the FIELD, what no backend column can hold."""
    if not fields:
        raise UsageError("the uploaded table has no columns (no FIELD elements)", param=param)
    for number, vfield in enumerate(fields, start=1):
        name = (vfield.name or vfield.ID or "").strip()
        label = f"FIELD {number} ({name[:40]!r})" if name else f"FIELD {number}"
        if not name:
            raise UsageError(f"{label} of the uploaded table has no name", param=param,
                             hint="give every FIELD a name attribute")
        if len(name.encode()) > _MAX_NAME_BYTES:
            raise UsageError(f"{label} has a name longer than {_MAX_NAME_BYTES} bytes", param=param)
        if vfield.datatype in _COMPLEX:
            raise UsageError(f"{label} has the complex datatype {vfield.datatype}, which no backend column holds",
                             param=param, hint="send the real and imaginary parts as two columns")
        arraysize = vfield.arraysize or ""
        if "x" in arraysize:
            raise UsageError(f"{label} is a multi-dimensional array (arraysize {arraysize}); only scalars, "
                             "one-dimensional arrays and strings are accepted", param=param,
                             hint="flatten the array into a one-dimensional one")


def _column(vfield: object, name: str, values: np.ma.MaskedArray) -> tuple[Column, pa.Array]:
    datatype = getattr(vfield, "datatype", "char")
    arraysize = getattr(vfield, "arraysize", None)
    xtype = getattr(vfield, "xtype", None)
    col = Column(
        name=name,
        datatype=datatype,
        arraysize=arraysize if arraysize not in ("1",) else None,
        xtype=xtype,
        unit=str(getattr(vfield, "unit", None)) if getattr(vfield, "unit", None) is not None else None,
        ucd=getattr(vfield, "ucd", None),
        utype=getattr(vfield, "utype", None),
        description=getattr(vfield, "description", None),
    )
    if datatype in ("char", "unicodeChar") and col.arraysize is None:
        col = replace(col, arraysize="*")
    return col, _arrow_values(values, col)


def _arrow_values(values: np.ma.MaskedArray, col: Column) -> pa.Array:
    data = np.ma.getdata(values)
    mask = np.ma.getmaskarray(values)
    if data.dtype == object or col.datatype in ("char", "unicodeChar"):
        items: list[Any] = []
        row_mask = mask if mask.ndim == 1 else mask.all(axis=tuple(range(1, mask.ndim)))
        for value, masked in zip(data, np.atleast_1d(row_mask), strict=True):
            if masked or value is None:
                items.append(None)
            elif isinstance(value, bytes):
                items.append(value.decode("utf-8", errors="replace"))
            elif isinstance(value, np.ma.MaskedArray):
                items.append([None if m else float(v) for v, m in
                              zip(np.ma.getdata(value), np.ma.getmaskarray(value), strict=True)])
            elif isinstance(value, np.ndarray):
                items.append(value.tolist())
            else:
                items.append(value if isinstance(value, str) else str(value) if col.datatype in (
                    "char", "unicodeChar") else value)
        array = pa.array(items)
    elif data.ndim > 1:
        flat_mask = mask.reshape(len(data), -1)
        rows = [None if m.all() else list(np.where(mr, np.nan, d).astype(float) if d.dtype.kind == "f"
                                          else d) for d, m, mr in zip(data, flat_mask, flat_mask, strict=True)]
        array = pa.array(rows)
    else:
        array = pa.array(data, mask=mask if mask.ndim == 1 else None)
        if col.datatype == "boolean":
            array = array.cast(pa.bool_())
    if col.xtype == "timestamp" and (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = _timestamps(array)
    return array


def _timestamps(array: pa.Array) -> pa.Array:
    """DALI timestamp strings as Arrow timestamps (UTC, no zone); unreadable ones stay text."""
    trimmed = pc.replace_substring_regex(pc.utf8_trim_whitespace(array), r"Z$", "")
    trimmed = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
    try:
        return trimmed.cast(pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return array
