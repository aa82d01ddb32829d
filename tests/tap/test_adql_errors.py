"""Each class of ADQL misuse from issue 13 answers /tap/sync with 400 and a position, never 500.

The classes: aggregate misuse, ORDER BY positions, empty IN, non-ADQL extensions, invalid
grammar, size limits. A last test lets a broken translation through to DuckDB to show the
backend's refusal is still a DALI error document with a 400.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from dali.values import TableMeta
from tests.tap.conftest import BASE, TestClient, release_settings
from tests.tap.test_routes import votable

_CLASSES = {
    "aggregate beside a column": "SELECT ra, COUNT(*) FROM des_dr1.main",
    "nested aggregates": "SELECT MAX(COUNT(*)) FROM des_dr1.main",
    "aggregate in WHERE": "SELECT ra FROM des_dr1.main WHERE MAX(ra) > 1",
    "aggregate in ORDER BY": "SELECT ra FROM des_dr1.main ORDER BY MAX(ra)",
    "HAVING without grouping": "SELECT ra FROM des_dr1.main HAVING ra > 1",
    "ORDER BY out of range": "SELECT ra FROM des_dr1.main ORDER BY 7",
    "ORDER BY negative": "SELECT ra FROM des_dr1.main ORDER BY -1",
    "ORDER BY zero": "SELECT ra FROM des_dr1.main ORDER BY 0",
    "empty IN": "SELECT ra FROM des_dr1.main WHERE ra IN ()",
    "EXCLUDE": "SELECT * EXCLUDE (ra) FROM des_dr1.main",
    "FROM without SELECT": "FROM des_dr1.main",
    "LIMIT": "SELECT ra FROM des_dr1.main LIMIT 3",
    "trailing comma": "SELECT ra, FROM des_dr1.main",
    "IN without a list": "SELECT ra FROM des_dr1.main WHERE ra IN",
    "IS a value": "SELECT ra FROM des_dr1.main WHERE ra IS 1",
    "geometry || text": "SELECT POINT(ra, dec) || 'x' FROM des_dr1.main",
    "too many stars": "SELECT TOP 3 " + ",".join(["*"] * 200) + " FROM des_dr1.main",
    "too many tables": "SELECT TOP 1 a0.ra FROM " + ", ".join(f"des_dr1.main AS a{i}" for i in range(17)),
}


@pytest.mark.parametrize("query", list(_CLASSES.values()), ids=list(_CLASSES))
def test_each_class_is_a_usage_fault_with_a_position(client: TestClient, query: str) -> None:
    response = client.post("/tap/sync", data={"LANG": "ADQL", "QUERY": query})
    assert response.status_code == 400
    table, statuses, _ = votable(response.content)
    assert table is None and statuses[0][0] == "ERROR"
    assert "(line 1, column " in statuses[0][1] and "Traceback" not in statuses[0][1]


def test_a_refusal_by_the_database_is_a_400(tmp_path: Path, ci_duckdb_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A translation the translator should have refused reaches DuckDB: still a DALI error, 400."""
    import release.engine
    from skygate.app import create_app

    real = release.engine._adql_translate

    def escaped(text: str, metadata: Mapping[str, TableMeta], dialect: str, **kwargs: Any) -> Any:
        good = real("SELECT ra FROM des_dr1.main", metadata, dialect, **kwargs)
        return dataclasses.replace(good, sql='SELECT "ra", count(*) AS "ra" FROM "des_dr1"."main"')

    monkeypatch.setattr(release.engine, "_adql_translate", escaped)
    with TestClient(create_app(release_settings(tmp_path, ci_duckdb_path)), base_url=BASE) as client:
        response = client.post("/tap/sync", data={"LANG": "ADQL", "QUERY": "SELECT ra FROM des_dr1.main"})
    assert response.status_code == 400
    _, statuses, _ = votable(response.content)
    message = statuses[0][1]
    assert message.startswith("UsageFault: the database refused the query: ") and "GROUP BY" in message
    assert "LINE" not in message and "Binder Error" not in message
