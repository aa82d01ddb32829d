"""The request reader every service uses: fields in order, file parts, and the limits."""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import pytest

from dali.errors import TooLargeError, UsageError, escaped
from dali.form import FormLimits, read_form, read_request
from dali.params import DaliParams, FilePart

MULTIPART = (b"--b\r\nContent-Disposition: form-data; name=\"QUERY\"\r\n\r\nSELECT 1\r\n"
             b"--b\r\nContent-Disposition: form-data; name=\"t1\"; filename=\"t.xml\"\r\n"
             b"Content-Type: text/xml\r\n\r\n<VOTABLE/>\r\n--b--\r\n")


async def _chunks(data: bytes, size: int = 7) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


async def test_query_string_then_multipart_fields_and_files_in_order() -> None:
    form = await read_form(b"lang=ADQL&x=a+b%20c", "multipart/form-data; boundary=b", _chunks(MULTIPART),
                           FormLimits())
    assert form.pairs == [("lang", "ADQL"), ("x", "a b c"), ("QUERY", "SELECT 1")]
    assert form.files == {"t1": FilePart("t1", b"<VOTABLE/>", "t.xml", "text/xml")}
    assert [name for name, _ in form.items] == ["lang", "x", "QUERY", "t1"]
    assert form.get("LANG") == "ADQL" and form.files["t1"].content == b"<VOTABLE/>"


async def test_other_bodies_are_not_read() -> None:
    form = await read_form(b"", "application/json", _chunks(b'{"a": 1}'), FormLimits())
    assert form.items == ()


@pytest.mark.parametrize(
    ("limits", "body", "error"),
    [(FormLimits(body_max_bytes=10), b"a=" + b"1" * 20, TooLargeError),
     (FormLimits(max_fields=2), b"a=1&b=2&c=3", TooLargeError),
     (FormLimits(field_max_bytes=3), b"a=1234", TooLargeError),
     (FormLimits(), b"a=%00", UsageError),
     (FormLimits(), b"a%0Ab=1", UsageError),
     (FormLimits(), b"a=\xff", UsageError)],
)
async def test_limits_and_bad_text(limits: FormLimits, body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        await read_form(b"", "application/x-www-form-urlencoded", _chunks(body), limits)


async def test_an_announced_body_over_the_limit_is_refused_unread() -> None:
    async def never() -> AsyncIterator[bytes]:
        raise AssertionError("the body was read")
        yield b""

    with pytest.raises(TooLargeError):
        await read_form(b"", "multipart/form-data; boundary=b", never(), FormLimits(body_max_bytes=100),
                        content_length="101")


async def test_file_parts_are_not_held_to_the_field_limit_but_counted() -> None:
    form = await read_form(b"", "multipart/form-data; boundary=b", _chunks(MULTIPART), FormLimits(field_max_bytes=8))
    assert form.files["t1"].content == b"<VOTABLE/>"
    with pytest.raises(TooLargeError):
        await read_form(b"", "multipart/form-data; boundary=b", _chunks(MULTIPART), FormLimits(max_files=0))


def test_escaped_text_is_one_line() -> None:
    assert escaped("SELECT 1\nINFO forged\r\x00\u2028") == "SELECT 1\\nINFO forged\\r\\x00\\u2028"
    assert len(escaped("x" * 5000)) == 2003


# -- the one collector: each body kind, case folding, repeats, limits ---------------------------


class _Request:
    """What ``read_request`` uses of a Starlette request."""

    def __init__(self, method: str, query: bytes, body: bytes = b"", content_type: str | None = None) -> None:
        self.method = method
        self.scope: MutableMapping[str, Any] = {"query_string": query}
        self.headers = {"content-type": content_type} if content_type else {}
        self.body = body
        self.reads = 0

    def stream(self) -> AsyncIterator[bytes]:
        self.reads += 1
        return _chunks(self.body)


URLENCODED = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("method", "query", "body", "content_type"),
    [("GET", b"Pos=CIRCLE+1+2+3&pos=CIRCLE%204%205%206&ID=ivo%3A%2F%2Fx%3FA", b"", None),
     ("POST", b"", b"Pos=CIRCLE+1+2+3&pos=CIRCLE%204%205%206&ID=ivo%3A%2F%2Fx%3FA", URLENCODED),
     ("POST", b"Pos=CIRCLE+1+2+3", b"--b\r\nContent-Disposition: form-data; name=\"pos\"\r\n\r\nCIRCLE 4 5 6\r\n"
      b"--b\r\nContent-Disposition: form-data; name=\"ID\"\r\n\r\nivo://x?A\r\n--b--\r\n",
      "multipart/form-data; boundary=b")],
    ids=["GET query", "urlencoded POST", "query + multipart POST"],
)
async def test_every_body_kind_gives_the_same_parameters(method: str, query: bytes, body: bytes,
                                                        content_type: str | None) -> None:
    params = await read_request(_Request(method, query, body, content_type), FormLimits())
    assert params.getall("POS") == params.getall("pos") == ("CIRCLE 1 2 3", "CIRCLE 4 5 6")
    assert params.get("id") == "ivo://x?A"  # DALI 1.1 §4.1: names fold, values keep their case
    assert "Id" in params and "RUNID" not in params
    assert params.values == {"POS": ("CIRCLE 1 2 3", "CIRCLE 4 5 6"), "ID": ("ivo://x?A",)}


async def test_a_request_is_read_once_and_a_get_body_never() -> None:
    request = _Request("POST", b"a=1", b"b=2", URLENCODED)
    first = await read_request(request, FormLimits())
    assert await read_request(request, FormLimits()) is first and request.reads == 1
    get = _Request("GET", b"a=1", b"b=2", URLENCODED)
    assert (await read_request(get, FormLimits())).pairs == [("a", "1")] and get.reads == 0


async def test_repeats_stay_in_order_and_single_valued_names_refuse_them() -> None:
    params = await read_form(b"maxrec=1&UPLOAD=a,param:a", URLENCODED, _chunks(b"MaxRec=2&upload=b,param:b"),
                             FormLimits())
    assert params.getall("upload") == ("a,param:a", "b,param:b")
    with pytest.raises(UsageError) as info:
        params.get("MAXREC")
    assert info.value.param == "MAXREC"


@pytest.mark.parametrize(
    ("query", "body", "limits", "error"),
    [(b"a=1&b=2", b"c=3", FormLimits(max_fields=2), TooLargeError),  # the query string counts too
     (b"q=" + b"x" * 9, b"", FormLimits(field_max_bytes=8), TooLargeError),
     (b"a=%ff", b"", FormLimits(), UsageError),
     (b"=1", b"", FormLimits(), UsageError),
     (b"", b"a=\xc3\xa9", FormLimits(), UsageError)],  # urlencoded bodies are ASCII
)
async def test_query_string_and_body_share_the_limits(query: bytes, body: bytes, limits: FormLimits,
                                                      error: type[Exception]) -> None:
    with pytest.raises(error):
        await read_form(query, URLENCODED, _chunks(body), limits)


async def test_a_file_part_over_its_limit_is_refused_while_it_arrives() -> None:
    limits = FormLimits(file_max_bytes=9)  # the part holds 10 bytes
    with pytest.raises(TooLargeError) as info:
        await read_form(b"", "multipart/form-data; boundary=b", _chunks(MULTIPART), limits)
    assert info.value.param == "UPLOAD"
    ok = await read_form(b"", "multipart/form-data; boundary=b", _chunks(MULTIPART), FormLimits(file_max_bytes=10))
    assert isinstance(ok, DaliParams) and ok.files["t1"].filename == "t.xml"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("multipart/form-data", MULTIPART), ("multipart/form-data; boundary=b", MULTIPART[:-6]),
     ("multipart/form-data; boundary=b", b"--b\r\nContent-Disposition: attachment\r\n\r\nx\r\n--b--\r\n")],
    ids=["no boundary", "no closing boundary", "not form-data"],
)
async def test_malformed_multipart_is_a_usage_error(content_type: str, body: bytes) -> None:
    with pytest.raises(UsageError):
        await read_form(b"", content_type, _chunks(body), FormLimits())
