"""The request reader every service uses: fields in order, file parts, and the limits."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from dali.errors import TooLargeError, UsageError, escaped
from dali.form import FormLimits, read_form
from dali.params import FilePart

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
    assert form.files == [FilePart("t1", b"<VOTABLE/>", "t.xml", "text/xml")]
    params = form.params()
    assert params.get("LANG") == "ADQL" and params.files["t1"].content == b"<VOTABLE/>"


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
    assert form.files[0].content == b"<VOTABLE/>"
    with pytest.raises(TooLargeError):
        await read_form(b"", "multipart/form-data; boundary=b", _chunks(MULTIPART), FormLimits(max_files=0))


def test_escaped_text_is_one_line() -> None:
    assert escaped("SELECT 1\nINFO forged\r\x00\u2028") == "SELECT 1\\nINFO forged\\r\\x00\\u2028"
    assert len(escaped("x" * 5000)) == 2003
