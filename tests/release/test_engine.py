"""The query engine: translation call, maxrec + 1 cap, declared types, uploads, early errors.

Most tests inject a small fake translator (SQL passes through, columns come from the test), so
the engine is checked independently of the ADQL package; the last ones use ``ci_engine`` with the
real ``adql.translate`` when that exists.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pytest

from dali.errors import UsageError
from dali.values import Column, TableMeta
from release.backends import DuckDBBackend, PostgresBackend
from release.engine import INLINE_TRANSLATION_CHARS, QueryEngine, UploadTable, upload_table_name
from tests.release.pg_activity import running_statements


@dataclass(frozen=True)
class FakeTranslation:
    sql: str
    columns: tuple[Column, ...]


class FakeTranslator:
    """Passes the text through as SQL and records how it was called."""

    def __init__(self, columns: tuple[Column, ...]) -> None:
        self.columns = columns
        self.calls: list[dict[str, Any]] = []

    def __call__(self, text: str, metadata: Mapping[str, TableMeta], dialect: str, *, maxrec: int | None = None,
                 uploads: Mapping[str, TableMeta] | None = None) -> FakeTranslation:
        self.calls.append({"text": text, "dialect": dialect, "maxrec": maxrec, "uploads": uploads,
                           "tables": set(metadata), "thread": threading.current_thread()})
        if text.startswith("BAD"):
            raise UsageError("not ADQL", param="QUERY")
        return FakeTranslation(sql=text, columns=self.columns)


async def rows(result: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async for batch in result.batches:
        out.extend(batch.to_pylist())
    return out


ID = Column("coadd_object_id", "long")


async def test_passes_metadata_dialect_maxrec_and_uploads(duckdb_backend: DuckDBBackend,
                                                          ci_metadata: dict[str, TableMeta]) -> None:
    fake = FakeTranslator((ID,))
    engine = QueryEngine(duckdb_backend, ci_metadata, translate=fake)
    upload_meta = TableMeta("tap_upload", "mine", (Column("x", "int"),))
    upload = UploadTable("mine", upload_meta, pa.table({"x": pa.array([1], pa.int32())}))
    result = await engine.execute("SELECT coadd_object_id FROM des_dr1.main LIMIT 3", maxrec=10,
                                  uploads={"mine": upload}, timeout=10)
    assert len(await rows(result)) == 3
    call = fake.calls[0]
    assert call["dialect"] == "duckdb" and call["maxrec"] == 10
    assert call["uploads"] == {"mine": upload_meta}
    assert "des_dr1.main" in call["tables"]


async def test_long_queries_are_translated_off_the_event_loop(duckdb_backend: DuckDBBackend,
                                                               ci_metadata: dict[str, TableMeta]) -> None:
    """A cone is translated in place (a thread trip costs more than it); a long query in a thread."""
    fake = FakeTranslator((ID,))
    engine = QueryEngine(duckdb_backend, ci_metadata, translate=fake)
    short = "SELECT coadd_object_id FROM des_dr1.main LIMIT 1"
    long = short + " " * INLINE_TRANSLATION_CHARS
    for text in (short, long):
        await rows(await engine.execute(text, maxrec=10, timeout=10))
    assert [call["thread"] is threading.current_thread() for call in fake.calls] == [True, False]


async def test_at_most_maxrec_plus_one_rows(duckdb_backend: DuckDBBackend, ci_metadata: dict[str, TableMeta]) -> None:
    engine = QueryEngine(duckdb_backend, ci_metadata, translate=FakeTranslator((ID,)))
    result = await engine.execute("SELECT coadd_object_id FROM des_dr1.main", maxrec=5, timeout=10)
    assert len(await rows(result)) == 6
    result = await engine.execute("SELECT coadd_object_id FROM des_dr1.main", maxrec=0, timeout=10)
    assert len(await rows(result)) == 1
    result = await engine.execute("SELECT coadd_object_id FROM des_dr1.main", maxrec=None, timeout=10)
    total = await rows(result)
    assert len(total) == ci_metadata["des_dr1.main"].nrows


async def test_batches_take_the_declared_types_and_names(duckdb_backend: DuckDBBackend,
                                                         ci_metadata: dict[str, TableMeta]) -> None:
    columns = (Column("n", "long"), Column("mean_g", "double"), Column("label", "char", arraysize="*"),
               Column("small", "short"))
    engine = QueryEngine(duckdb_backend, ci_metadata, translate=FakeTranslator(columns))
    result = await engine.execute(
        "SELECT CAST(count(*) AS INTEGER) AS a, avg(mag_auto_g) AS b, 'x' AS c, CAST(1 AS INTEGER) AS d "
        "FROM des_dr1.main", maxrec=None, timeout=10)
    batches = [b async for b in result.batches]
    assert batches[0].schema.names == ["n", "mean_g", "label", "small"]
    assert batches[0].schema.types == [pa.int64(), pa.float64(), pa.string(), pa.int16()]


async def test_uploads_become_tap_upload_tables(duckdb_backend: DuckDBBackend,
                                                ci_metadata: dict[str, TableMeta]) -> None:
    meta = TableMeta("tap_upload", "ids", (ID,))
    first = await rows(await QueryEngine(duckdb_backend, ci_metadata, translate=FakeTranslator((ID,))).execute(
        "SELECT min(coadd_object_id) AS coadd_object_id FROM des_dr1.main", maxrec=None, timeout=10))
    ids = pa.table({"coadd_object_id": pa.array([first[0]["coadd_object_id"], 5], pa.int64())})
    engine = QueryEngine(duckdb_backend, ci_metadata, translate=FakeTranslator((ID, Column("tilename", "char", "12"))))
    result = await engine.execute(
        f"SELECT u.coadd_object_id, m.tilename FROM {upload_table_name('IDs')} AS u "
        "JOIN des_dr1.main AS m USING (coadd_object_id)",
        maxrec=None, uploads={"ids": UploadTable("ids", meta, ids)}, timeout=10)
    assert await rows(result) == [{"coadd_object_id": first[0]["coadd_object_id"], "tilename": "DES2134-0041"}]


async def test_errors_come_from_execute_before_any_batch(duckdb_backend: DuckDBBackend,
                                                         ci_metadata: dict[str, TableMeta]) -> None:
    engine = QueryEngine(duckdb_backend, ci_metadata, translate=FakeTranslator((ID,)))
    with pytest.raises(UsageError, match="not ADQL"):
        await engine.execute("BAD query", maxrec=None, timeout=10)
    with pytest.raises(UsageError, match="time limit"):
        await engine.execute("SELECT count(*) AS n FROM range(300000) a, range(300000) b "
                             "WHERE a.range * b.range % 7 = 1", maxrec=None, timeout=0.3)


async def test_closing_early_releases_the_statement(duckdb_backend: DuckDBBackend,
                                                    ci_metadata: dict[str, TableMeta]) -> None:
    engine = QueryEngine(duckdb_backend, ci_metadata, translate=FakeTranslator((Column("i", "long"),)))
    result = await engine.execute("SELECT range AS i FROM range(100000000)", maxrec=None, timeout=30)
    first = await anext(result.batches)
    assert first.num_rows > 0
    await result.batches.aclose()  # type: ignore[attr-defined]
    again = await engine.execute("SELECT 1 AS i", maxrec=None, timeout=5)
    assert await rows(again) == [{"i": 1}]


@pytest.mark.postgres
async def test_closing_before_reading_stops_the_statement(postgres_backend: PostgresBackend,
                                                          ci_metadata: dict[str, TableMeta],
                                                          postgres_admin_url: str) -> None:
    """MAXREC=0 reads no row, yet the statement has started: closing the batches must end it."""
    engine = QueryEngine(postgres_backend, ci_metadata, translate=FakeTranslator((Column("i", "long"),)))
    sql = "SELECT a * b AS i FROM generate_series(1, 10000) AS a, generate_series(1, 10002) AS b"
    result = await engine.execute(sql, maxrec=0, timeout=30)
    assert await running_statements(postgres_admin_url, "generate_series(1, 10002)") == 1
    await result.batches.aclose()  # type: ignore[attr-defined]
    assert await running_statements(postgres_admin_url, "generate_series(1, 10002)", settle=5) == 0


async def test_real_translator_on_the_ci_release(ci_engine: QueryEngine) -> None:
    adql = pytest.importorskip("adql")
    if not hasattr(adql, "translate"):
        pytest.skip("adql.translate is not there yet")
    result = await ci_engine.execute(
        "SELECT TOP 3 coadd_object_id, mag_auto_g FROM des_dr1.main ORDER BY coadd_object_id",
        maxrec=2, timeout=10)
    got = await rows(result)
    assert len(got) == 3  # maxrec + 1: the caller flags OVERFLOW
    assert [c.name for c in result.columns] == ["coadd_object_id", "mag_auto_g"]
    assert got[0]["coadd_object_id"] > 2**31


@pytest.mark.parametrize("database_url", ["", "postgresql://nobody@127.0.0.1:1/none"])
async def test_open_release_tolerates_a_missing_release(tmp_path: Any, database_url: str) -> None:
    from release.runtime import open_release

    opened = await open_release(database_url, tmp_path / "none.duckdb", base_url="http://x", readonly_role="")
    try:
        assert opened.engine is None and opened.metadata == {}
        assert opened.problem is not None and "skygate demo" in opened.problem
    finally:
        await opened.close()


async def test_open_release_serves_the_ci_release(ci_duckdb_path: Any) -> None:
    from release.runtime import open_release

    opened = await open_release("", ci_duckdb_path, base_url="http://x", readonly_role="")
    try:
        assert opened.problem is None and opened.engine is not None
        names = [name for name, _ in opened.table_list()]
        assert "des_dr1.main" in names and "ivoa.obscore" in names
    finally:
        await opened.close()


# SQL a translator should never let through, one per class of issue 13 (aggregate misuse, a bad
# ORDER BY position, an empty IN list): the backend's refusal is a usage error in a sentence.
_REFUSED_SQL = [
    ('SELECT "ra", count(*) AS n FROM "des_dr1"."main"', "GROUP BY"),
    ('SELECT max(count(*)) AS n FROM "des_dr1"."main"', "nested"),
    ('SELECT "ra" FROM "des_dr1"."main" WHERE max("ra") > 1', "aggregate"),
    ('SELECT "ra" FROM "des_dr1"."main" ORDER BY 5', "ORDER"),
    ('SELECT "ra" FROM "des_dr1"."main" WHERE "ra" IN ()', "syntax error"),
]


@pytest.mark.parametrize(("sql", "words"), _REFUSED_SQL)
async def test_duckdb_refusals_are_usage_errors(duckdb_backend: DuckDBBackend, ci_metadata: dict[str, TableMeta],
                                                sql: str, words: str) -> None:
    engine = QueryEngine(duckdb_backend, ci_metadata, translate=FakeTranslator((Column("ra", "double"),)))
    with pytest.raises(UsageError, match="the database refused the query: ") as info:
        await engine.execute(sql, maxrec=None, timeout=10)
    assert words.lower() in str(info.value).lower() and "LINE" not in str(info.value) and "\n" not in str(info.value)


@pytest.mark.postgres
@pytest.mark.parametrize(("sql", "words"), _REFUSED_SQL)
async def test_postgres_refusals_are_usage_errors(postgres_backend: PostgresBackend, ci_metadata: dict[str, TableMeta],
                                                  sql: str, words: str) -> None:
    engine = QueryEngine(postgres_backend, ci_metadata, translate=FakeTranslator((Column("ra", "double"),)))
    with pytest.raises(UsageError, match="the database refused the query") as info:
        result = await engine.execute(sql, maxrec=None, timeout=10)
        await rows(result)
    assert "LINE" not in str(info.value) and "\n" not in str(info.value)
