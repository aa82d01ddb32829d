"""Parsing anomaly job parameters: defaults, case-insensitive names, refusals that name the parameter."""

from __future__ import annotations

import pytest

from anomaly.params import parse_score
from dali.errors import UsageError
from dali.writers import OutputFormat

QUERY = "SELECT coadd_object_id, mag_auto_g FROM des_dr1.main"


def test_defaults() -> None:
    p = parse_score({"QUERY": QUERY})
    assert (p.ntrees, p.sample_size, p.extension_level, p.seed, p.standardize, p.top) == (200, 256, None, 1, True, 100)
    assert p.id_column is None and p.model is None
    assert p.responseformat.kind is OutputFormat.VOTABLE_TD


def test_names_are_case_insensitive_and_values_typed() -> None:
    p = parse_score({"query": QUERY, "NTrees": "50", "sample_size": "128", "Extension_Level": "0", "seed": "9",
                     "standardize": "no", "top": "0", "responseformat": "csv", "model": "abc123",
                     "id_column": "coadd_object_id"})
    assert (p.ntrees, p.sample_size, p.extension_level, p.seed, p.standardize, p.top) == (50, 128, 0, 9, False, 0)
    assert p.responseformat.kind is OutputFormat.CSV and p.model == "abc123" and p.id_column == "coadd_object_id"
    assert p.echo()["STANDARDIZE"] == "no"


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({}, "QUERY"),
        ({"QUERY": "  "}, "QUERY"),
        ({"QUERY": QUERY, "NTREES": "0"}, "NTREES"),
        ({"QUERY": QUERY, "NTREES": "many"}, "NTREES"),
        ({"QUERY": QUERY, "SAMPLE_SIZE": "1"}, "SAMPLE_SIZE"),
        ({"QUERY": QUERY, "EXTENSION_LEVEL": "-1"}, "EXTENSION_LEVEL"),
        ({"QUERY": QUERY, "SEED": "1.5"}, "SEED"),
        ({"QUERY": QUERY, "STANDARDIZE": "maybe"}, "STANDARDIZE"),
        ({"QUERY": QUERY, "TOP": "-3"}, "TOP"),
        ({"QUERY": QUERY, "RESPONSEFORMAT": "image/gif"}, "RESPONSEFORMAT"),
        ({"QUERY": QUERY, "MODEL": "../etc/passwd"}, "MODEL"),
    ],
)
def test_bad_values_name_their_parameter(params: dict[str, str], param: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_score(params)
    assert caught.value.param == param


@pytest.mark.parametrize(("text", "values", "declared"), [
    (None, (99.0, -99.0, 999.0, -999.0), True), ("Survey", (99.0, -99.0, 999.0, -999.0), True), ("none", (), False),
    ("99, -99", (99.0, -99.0), False), ("-9999.5,nan", (-9999.5,), False),
])
def test_null_values(text: str | None, values: tuple[float, ...], declared: bool) -> None:
    params = {"QUERY": QUERY} if text is None else {"QUERY": QUERY, "null_values": text}
    p = parse_score(params)
    assert p.null_values == values
    assert p.declared_nulls is declared  # the columns' declared nulls go with survey only
    assert p.echo()["NULL_VALUES"] == (",".join(f"{v:g}" for v in values) or "none")


def test_bad_null_values_name_the_parameter() -> None:
    with pytest.raises(UsageError, match="NULL_VALUES must be survey, none or numbers") as info:
        parse_score({"QUERY": QUERY, "NULL_VALUES": "99,lots"})
    assert info.value.param == "NULL_VALUES"


def test_unknown_parameters_are_listed_not_refused() -> None:
    p = parse_score({"QUERY": QUERY, "ntree": "5", "RUNID": "x", "Colour": "red"})
    assert p.unknown == ("COLOUR", "NTREE")
