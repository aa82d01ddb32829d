"""Table metadata values."""

from __future__ import annotations

from dali.values import Column, TableMeta


def test_lookup_is_case_insensitive_and_internal_columns_are_unpublished() -> None:
    meta = TableMeta("des_dr1", "main", (Column("ra", "double"), Column("skygate_hpx", "long")))
    assert meta.qualified == "des_dr1.main"
    assert meta.column("RA") is meta.columns[0] and meta.column("nope") is None
    assert [c.name for c in meta.published_columns] == ["ra"]
