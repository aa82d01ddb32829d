"""``release.user_tables``: owners' schemas, names, positions, quotas, and the Parquet store's life cycle.

The HTTP side and PostgreSQL are in tests/tap/test_user_tables.py.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from dali.errors import TooLargeError, UsageError
from dali.values import Column
from release.ingest import HPX_COLUMN
from release.sources import Source
from release.user_tables import (
    ParquetUserTables,
    TableExists,
    caller_tables,
    check_table_name,
    prepare_table,
    schema_for,
)


def _source(table: pa.Table) -> Source:
    return Source(schema=table.schema, batches=iter(table.to_batches(max_chunksize=3)))


def test_every_owner_gets_a_schema_of_their_own() -> None:
    assert schema_for("alice") == "user_alice"
    owners = ["alice", "Alice", "a.b", "a_b", "a-b", "x" * 80, "x" * 81, "ünïcode"]
    schemas = [schema_for(o) for o in owners]
    assert len(set(schemas)) == len(owners)
    assert all(s.isidentifier() and s == s.lower() and len(s) <= 48 for s in schemas)


@pytest.mark.parametrize("name", ["select", "9lives", "skygate_x", "a-b", "a" * 49, ""])
def test_names_that_cannot_name_a_table_are_refused(name: str) -> None:
    with pytest.raises(UsageError):
        check_table_name(name)


def test_a_position_is_found_by_ucd_before_names() -> None:
    table = pa.table({"ra": [1.0], "dec": [2.0], "alpha": [10.0], "delta": [20.0]})
    by_ucd = [Column("alpha", "double", ucd="pos.eq.ra;meta.main"),
              Column("delta", "double", ucd="pos.eq.dec;meta.main")]
    meta, rows = prepare_table(_source(table), by_ucd, schema="user_a", name="t", description=None, max_bytes=1 << 20)
    assert meta.position is not None and (meta.position.ra, meta.position.dec) == ("alpha", "delta")
    meta, _ = prepare_table(_source(table), (), schema="user_a", name="t", description=None, max_bytes=1 << 20)
    assert meta.position is not None and (meta.position.ra, meta.position.dec) == ("ra", "dec")
    no_position = pa.table({"ra": ["text"], "dec": [2.0]})  # ra is not a number
    meta, rows = prepare_table(_source(no_position), (), schema="user_a", name="t", description=None, max_bytes=1 << 20)
    assert meta.position is None and HPX_COLUMN not in rows.column_names


def test_rows_with_a_position_are_stored_in_index_order() -> None:
    rng = np.random.default_rng(1)
    table = pa.table({"ra": rng.uniform(0, 360, 1000), "dec": rng.uniform(-90, 90, 1000)})
    _, rows = prepare_table(_source(table), (), schema="user_a", name="t", description=None, max_bytes=1 << 20)
    index = rows.column(HPX_COLUMN).to_numpy()
    assert np.all(np.diff(index) >= 0) and rows.num_rows == 1000


def test_rows_over_the_quota_left_are_refused_while_reading() -> None:
    table = pa.table({"x": np.zeros(10_000)})
    with pytest.raises(TooLargeError, match="left of your table quota"):
        prepare_table(_source(table), (), schema="user_a", name="t", description=None, max_bytes=1000)


def test_the_parquet_store_keeps_lists_and_drops_tables(tmp_path: Path) -> None:
    store = ParquetUserTables(tmp_path)
    table = pa.table({"ra": [10.0, 20.0], "dec": [0.0, 1.0], "v": [1, 2]})
    meta, rows = prepare_table(_source(table), [Column("v", "long", unit="s", description="a value")],
                               schema=schema_for("alice"), name="t", description=None, max_bytes=1 << 20)

    async def scenario() -> None:
        created = await store.create("alice", meta, rows)
        assert created.nbytes == rows.nbytes
        with pytest.raises(TableExists):
            await store.create("alice", meta, rows)
        again = await ParquetUserTables(tmp_path).list("alice")  # what another process reads
        assert list(again) == ["user_alice.t"] and again["user_alice.t"].meta == meta
        assert await store.list("bob") == {}
        assert not await store.drop("bob", "user_alice.t")  # not bob's
        statement = store.statement_table(again["user_alice.t"])
        assert statement.physical is not None and statement.data.to_table().num_rows == 2
        assert await store.drop("alice", "user_alice.t")
        assert await store.list("alice") == {}

    asyncio.run(scenario())
    assert not list(tmp_path.rglob("*.parquet")) and not list(tmp_path.rglob(".*"))  # no temporary files left


def test_a_listing_is_reused_until_another_process_changes_the_folder(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The list is read again only when the folder's mtime changed (or changed within the last second)."""
    store, other = ParquetUserTables(tmp_path), ParquetUserTables(tmp_path)  # two processes' stores
    table = pa.table({"ra": [10.0], "dec": [0.0]})
    first, rows = prepare_table(_source(table), [], schema=schema_for("alice"), name="first", description=None,
                                max_bytes=1 << 20)
    second, _ = prepare_table(_source(table), [], schema=schema_for("alice"), name="second", description=None,
                              max_bytes=1 << 20)
    folder = tmp_path / schema_for("alice")
    reads = []
    read_folder = ParquetUserTables._read_folder
    monkeypatch.setattr(ParquetUserTables, "_read_folder",
                        staticmethod(lambda *args: reads.append(args) or read_folder(*args)))

    async def scenario() -> None:
        assert await store.list("alice") == {} and not reads  # no folder: nothing to read
        await other.create("alice", first, rows)
        os.utime(folder, ns=(time.time_ns() - 5 * 10**9,) * 2)  # as if written five seconds ago
        assert list(await store.list("alice")) == ["user_alice.first"]
        assert list(await store.list("alice")) == ["user_alice.first"]
        assert len(reads) == 1  # the second list came from memory
        await other.create("alice", second, rows)  # the folder's mtime moves on
        assert list(await store.list("alice")) == ["user_alice.first", "user_alice.second"]
        for path in folder.glob("first.*"):  # dropped by another process
            path.unlink()
        assert list(await store.list("alice")) == ["user_alice.second"]
        # Changed within the last second: mtimes are as coarse as the kernel's tick, so read again.
        assert list(await store.list("alice")) == ["user_alice.second"]
        assert len(reads) == 4

    asyncio.run(scenario())


def test_a_callers_tap_schema_adds_their_tables_to_the_releases(tmp_path: Path,
                                                               ci_metadata: dict[str, object]) -> None:
    store = ParquetUserTables(tmp_path)
    meta, rows = prepare_table(_source(pa.table({"v": [1]})), (), schema="user_alice", name="t", description=None,
                               max_bytes=1 << 20)
    created = asyncio.run(store.create("alice", meta, rows))
    seen = caller_tables(store, {meta.qualified: created}, ci_metadata, {})  # type: ignore[arg-type]
    listed = seen["tap_schema.tables"].data.column("table_name").to_pylist()
    assert "user_alice.t" in listed
    assert set(listed) - {"user_alice.t"} == {k for k in ci_metadata if not k.startswith("skygate")}
    assert caller_tables(store, {}, ci_metadata, {}) == {}  # type: ignore[arg-type]
