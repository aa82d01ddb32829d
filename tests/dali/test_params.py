"""DALI parameter parsing: case-insensitive names, single values, MAXREC, RUNID, UPLOAD."""

from __future__ import annotations

import pytest

from dali.errors import UsageError
from dali.params import FilePart, UploadRef, collect


def test_names_are_case_insensitive_and_values_keep_their_case() -> None:
    params = collect([("query", "SELECT X"), ("LaNg", "ADQL")])
    assert params.get("QUERY") == "SELECT X"
    assert params.get("lang") == "ADQL"
    assert "Query" in params


def test_repeated_values_are_kept_in_order() -> None:
    params = collect([("UPLOAD", "a,param:a"), ("upload", "b,http://x/b.xml")])
    assert params.getall("Upload") == ("a,param:a", "b,http://x/b.xml")
    assert params.uploads() == (UploadRef("a", "param:a"), UploadRef("b", "http://x/b.xml"))


def test_a_single_valued_parameter_sent_twice_is_a_usage_error() -> None:
    params = collect([("MAXREC", "1"), ("maxrec", "1")])
    with pytest.raises(UsageError) as info:
        params.get("MAXREC")
    assert info.value.param == "MAXREC"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, (100, False)), ("", (100, False)), ("0", (0, True)), ("7", (7, True)), (" 12 ", (12, True)),
     ("5000", (1000, True))],
)
def test_maxrec_defaults_and_clamps_to_the_hard_limit(raw: str | None, expected: tuple[int, bool]) -> None:
    pairs = [] if raw is None else [("MAXREC", raw)]
    assert collect(pairs).maxrec(100, 1000) == expected


@pytest.mark.parametrize("raw", ["-1", "ten", "1.5"])
def test_bad_maxrec_is_a_usage_error_naming_maxrec(raw: str) -> None:
    with pytest.raises(UsageError) as info:
        collect([("MAXREC", raw)]).maxrec(100, 1000)
    assert info.value.param == "MAXREC"


def test_responseformat_falls_back_to_format() -> None:
    assert collect([("format", "csv")]).responseformat() == "csv"
    assert collect([("RESPONSEFORMAT", "fits"), ("FORMAT", "csv")]).responseformat() == "fits"
    assert collect([]).responseformat() is None


def test_runid_longer_than_64_characters_is_refused() -> None:
    assert collect([("RUNID", "x" * 64)]).runid() == "x" * 64
    with pytest.raises(UsageError):
        collect([("RUNID", "x" * 65)]).runid()


@pytest.mark.parametrize(
    "raw",
    ["noComma", "1bad,param:x", "t,ftp://host/x", "t,", ",param:t", "t,param:", "my-table,param:x"],
)
def test_bad_upload_values_are_usage_errors(raw: str) -> None:
    with pytest.raises(UsageError) as info:
        collect([("UPLOAD", raw)]).uploads()
    assert info.value.param == "UPLOAD"


def test_upload_names_must_be_distinct() -> None:
    with pytest.raises(UsageError):
        collect([("UPLOAD", "t,param:a"), ("UPLOAD", "T,param:b")]).uploads()


def test_tap10_semicolon_lists_and_inline_fields() -> None:
    refs = collect([("UPLOAD", "a,param:pa;b,https://h/b")]).uploads()
    assert [r.inline_field for r in refs] == ["pa", None]


def test_files_are_kept_by_field_name() -> None:
    params = collect([("UPLOAD", "t,param:t")], [FilePart("t", b"<VOTABLE/>", "t.xml")])
    assert params.files["t"].content == b"<VOTABLE/>"
    assert params.pairs == [("UPLOAD", "t,param:t")]
    assert "t" not in params  # a file part is not a text value


def test_a_file_part_repr_holds_no_bytes() -> None:
    from dali.params import FilePart

    part = FilePart("t", b"secret upload bytes", "t.xml", "text/xml")
    assert "secret" not in repr(part) and "t.xml" in repr(part)
    assert "secret" not in repr(collect([("UPLOAD", "t,param:t")], [part]))
