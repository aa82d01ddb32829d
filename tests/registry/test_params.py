"""SCS 1.03 parameters: each refusal names its parameter; the accepted ones become a ConeQuery."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dali.errors import UsageError
from dali.params import collect
from dali.writers import OutputFormat
from registry.params import parse_cone


def _parse(**values: str):  # type: ignore[no-untyped-def]
    return parse_cone(collect(list(values.items())), max_sr=10.0, maxrec_default=100, maxrec_hard=1000)


def test_a_plain_cone_takes_the_defaults() -> None:
    query = _parse(ra="10.5", dec="-20", sr="0.1")
    assert (query.ra, query.dec, query.sr, query.verb, query.maxrec) == (10.5, -20.0, 0.1, 2, 100)
    assert query.format.kind is OutputFormat.VOTABLE_TD


def test_a_tiny_negative_ra_wraps_to_zero() -> None:
    assert _parse(ra="-1e-20", dec="0", sr="1").ra == 0.0


def test_ra_wraps_and_extras_are_ignored() -> None:
    query = _parse(RA="-0.5", DEC="89.99", SR="0", VERB="3", MAXREC="5000", RESPONSEFORMAT="csv", FOO="bar")
    assert (query.ra, query.dec, query.sr, query.verb, query.maxrec) == (359.5, 89.99, 0.0, 3, 1000)
    assert query.format.kind is OutputFormat.CSV


BAD = [
    ({"DEC": "0", "SR": "1"}, "RA"),
    ({"RA": "0", "SR": "1"}, "DEC"),
    ({"RA": "0", "DEC": "0"}, "SR"),
    ({"RA": "abc", "DEC": "0", "SR": "1"}, "RA"),
    ({"RA": "0", "DEC": "north", "SR": "1"}, "DEC"),
    ({"RA": "0", "DEC": "0", "SR": "wide"}, "SR"),
    ({"RA": "nan", "DEC": "0", "SR": "1"}, "RA"),
    ({"RA": "0", "DEC": "inf", "SR": "1"}, "DEC"),
    ({"RA": "0", "DEC": "90.5", "SR": "1"}, "DEC"),
    ({"RA": "0", "DEC": "-91", "SR": "1"}, "DEC"),
    ({"RA": "0", "DEC": "0", "SR": "-0.1"}, "SR"),
    ({"RA": "0", "DEC": "0", "SR": "10.5"}, "SR"),
    ({"RA": "0", "DEC": "0", "SR": "1", "VERB": "4"}, "VERB"),
    ({"RA": "0", "DEC": "0", "SR": "1", "VERB": "high"}, "VERB"),
    ({"RA": "0", "DEC": "0", "SR": "1", "MAXREC": "-1"}, "MAXREC"),
    ({"RA": "0", "DEC": "0", "SR": "1", "RESPONSEFORMAT": "image/png"}, "RESPONSEFORMAT"),
]


@pytest.mark.parametrize(("values", "param"), BAD, ids=[f"{p}-{i}" for i, (_, p) in enumerate(BAD)])
def test_bad_values_name_their_parameter(values: dict[str, str], param: str) -> None:
    with pytest.raises(UsageError) as info:
        _parse(**values)
    assert info.value.param == param


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["RA", "DEC", "SR", "VERB", "MAXREC", "RESPONSEFORMAT"]),
                       st.one_of(st.text(max_size=12), st.floats().map(str), st.integers(-5, 5).map(str))))
def test_any_values_give_a_query_or_a_usage_error(values: dict[str, str]) -> None:
    try:
        query = _parse(**values)
    except UsageError as exc:
        assert exc.param in values or exc.param in ("RA", "DEC", "SR")
        return
    assert 0 <= query.ra < 360 and -90 <= query.dec <= 90 and 0 <= query.sr <= 10
