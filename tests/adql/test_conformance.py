"""The IVOA ADQL 2.1 grammar test set (ivoa/lyonetia ``src/adql/ivoa/``), read from ``$ADQL_IVOA_CORPUS``.

The set is GPL-3 test data, so it is read in place and never copied into the repository
(tests/conformance/README.md); without the variable these tests skip and say how to get it. Every
``valid="true"`` query must parse and every ``valid="false"`` one must raise ADQLError.
UDFs declared in a file or a query (``<functions>``) are passed to the parser.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

import adql

ENV = "ADQL_IVOA_CORPUS"
MISSING = (f"the IVOA ADQL query set (GPL-3, not in this repository): set {ENV} to a copy of "
           "https://github.com/ivoa/lyonetia src/adql/ivoa to run it")


def _corpus() -> Path | None:
    value = os.environ.get(ENV, "")
    return Path(value) if value else None


def _queries() -> list[Any]:
    corpus = _corpus()
    if corpus is None:
        return [pytest.param(None, None, (), id="corpus-missing", marks=pytest.mark.skip(reason=MISSING))]
    if not corpus.is_dir():
        raise FileNotFoundError(f"{ENV}={corpus} is not a folder")
    out = []
    for path in sorted(corpus.glob("*.xml")):
        root = ET.parse(path).getroot()
        file_udfs = [f.findtext("form", "") for f in root.findall("./functions/function")]
        for number, query in enumerate(root.iter("query")):
            node = query.find("adql")
            assert node is not None and node.text is not None
            forms = file_udfs + [f.findtext("form", "") for f in query.iter("function")]
            udfs = tuple(form.split("(")[0].strip() for form in forms)
            valid = node.get("valid") == "true"
            out.append(pytest.param(node.text, valid, udfs,
                                    id=f"{path.stem}-{number}-{'valid' if valid else 'invalid'}"))
    return out


@pytest.mark.parametrize(("text", "valid", "udfs"), _queries())
def test_ivoa_query(text: str, valid: bool, udfs: tuple[str, ...]) -> None:
    if valid:
        tree = adql.parse(text, udfs=udfs)
        assert tree is not None
    else:
        with pytest.raises(adql.ADQLError) as info:
            adql.parse(text, udfs=udfs)
        assert info.value.message


def test_corpus_counts() -> None:
    params = [p for p in _queries() if p.values[0] is not None]
    if not params:
        pytest.skip(MISSING)
    valid = sum(1 for p in params if p.values[1])
    assert (valid, len(params) - valid) == (172, 24)
