"""TAP request parameters: LANG variants, QUERY, formats, MAXREC clamping, spurious parameters."""

from __future__ import annotations

import pytest

from dali.errors import UsageError
from dali.params import collect
from dali.writers import OutputFormat
from tap.params import parse_tap


def _parse(**values: str):  # type: ignore[no-untyped-def]
    return parse_tap(collect(list(values.items())), maxrec_default=100, maxrec_hard=1000)


@pytest.mark.parametrize("lang", ["ADQL", "adql", "ADQL-2.0", "ADQL-2.1"])
def test_adql_language_variants_are_accepted(lang: str) -> None:
    assert _parse(LANG=lang, QUERY="SELECT 1").lang == lang.upper()


def test_defaults_and_spurious_parameters() -> None:
    tq = _parse(QUERY="SELECT 1", REQUEST="doQuery", NONSENSE="x")
    assert (tq.lang, tq.maxrec, tq.maxrec_requested, tq.format.kind, tq.runid, tq.uploads) == (
        "ADQL", 100, False, OutputFormat.VOTABLE_TD, None, ())


@pytest.mark.parametrize(("values", "expected"), [
    ({"MAXREC": "5000"}, (1000, True)), ({"MAXREC": "0"}, (0, True)), ({"maxrec": "7"}, (7, True))])
def test_maxrec_is_clamped_to_the_hard_limit(values: dict[str, str], expected: tuple[int, bool]) -> None:
    tq = _parse(QUERY="SELECT 1", **values)
    assert (tq.maxrec, tq.maxrec_requested) == expected


def test_format_is_a_synonym_of_responseformat() -> None:
    assert _parse(QUERY="SELECT 1", FORMAT="csv").format.kind is OutputFormat.CSV


@pytest.mark.parametrize(("values", "param"), [
    ({"LANG": "OOBLECK", "QUERY": "SELECT 1"}, "LANG"), ({"LANG": "SQL", "QUERY": "SELECT 1"}, "LANG"),
    ({"LANG": "ADQL"}, "QUERY"), ({"LANG": "ADQL", "QUERY": "   "}, "QUERY"),
    ({"QUERY": "SELECT 1", "RESPONSEFORMAT": "image/png"}, "RESPONSEFORMAT"),
    ({"QUERY": "SELECT 1", "UPLOAD": "bad name,param:x"}, "UPLOAD")])
def test_bad_requests_name_the_parameter(values: dict[str, str], param: str) -> None:
    with pytest.raises(UsageError) as info:
        _parse(**values)
    assert info.value.param == param


def test_a_job_may_be_checked_before_its_query_is_set() -> None:
    assert parse_tap(collect([("LANG", "ADQL")]), maxrec_default=1, maxrec_hard=1, require_query=False).query == ""
