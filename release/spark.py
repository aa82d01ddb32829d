"""A ``Backend`` that runs Spark SQL through Spark Connect over a partitioned release.

``SKYGATE_DATABASE_URL=sc://host:port`` selects it. The release is the one ``ingest catalog
--partitioned`` wrote: the DuckDB catalog file holds TAP_SCHEMA, the small tables and the list of
HATS catalogues (``release.partitioned``); the rows of positional tables are the HATS Parquet
files, which the Spark executors read themselves (so the files must be where they can see them:
a shared volume or an object store). At open the small tables are copied into the Spark session
as temporary views. Each statement (already Spark SQL, ``adql.spark``) gets, for each partitioned
table it names, a temporary view over only the files its HEALPix ranges overlap
(``adql.coverage``), and its table names are pointed at those views.

Rows stream back as Arrow batches as Spark Connect sends them (the client's batch iterator). The
statement runs under a Spark job tag, so a timeout or a consumer that stops early cancels the
Spark job (``interruptTag``). Needs the ``[spark]`` extra (pyspark's Spark Connect client).

A caller that builds its own Spark plan on a statement (the anomaly job, anomaly/spark.py: scoring
inside the executors) takes the statement's DataFrame from ``frame`` and runs its actions with
``run``: the same job tags, timeouts and cancellation, plus a ``stop`` callback (a UWS job's
checkpoint) looked at while Spark works.
Tests: tests/release/test_spark.py and tests/anomaly/test_spark.py (``spark`` marker).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from dali.errors import FatalError, TransientError, UsageError
from release.db_errors import timeout_error
from release.partitioned import Partitioned, read_partitioned

__all__ = ["SESSION_CONF", "SMALL_TABLE_ROWS", "SparkBackend", "is_spark_url"]

_NO_UPLOADS: Mapping[str, pa.Table] = MappingProxyType({})
_T = TypeVar("_T")
# Tables of the catalog file that are not partitioned are copied into the Spark session; a table
# larger than this must be ingested --partitioned to be served by Spark.
SMALL_TABLE_ROWS = 200_000
_SYSTEM_SCHEMAS = ("information_schema", "pg_catalog")
# Set on the session when it is made. Arrow batches of 64 k rows rather than 10 k between the JVM and
# the Python workers (anomaly/spark.py's mapInArrow) and in the results Spark Connect sends back.
SESSION_CONF = {"spark.sql.execution.arrow.maxRecordsPerBatch": "65536"}
# How often a waiting statement looks at its caller's ``stop`` callback (seconds).
_STOP_POLL = 0.25


def is_spark_url(url: str) -> bool:
    return url.startswith("sc://")


class SparkBackend:
    """Spark SQL through a Spark Connect server, over the files of a partitioned release."""

    dialect = "spark"

    def __init__(self, url: str, duckdb_path: Path, *, base_url: str, max_statements: int = 4) -> None:
        if not duckdb_path.is_file():
            raise UsageError(f"no release loaded: {duckdb_path} does not exist", param="SKYGATE_DATA_DIR",
                             hint="run `skygate ingest catalog ... --partitioned` first")
        self.url = url
        self.base_url = base_url
        self._path = duckdb_path
        self._threads = ThreadPoolExecutor(max_workers=max_statements, thread_name_prefix="spark")
        self._session: Any = None
        self._lock = threading.Lock()
        self._names: dict[str, str] = {}
        self.partitioned = Partitioned()
        self._counter = itertools.count()

    # -- opening -------------------------------------------------------------------------------

    def _spark(self) -> Any:
        """The Spark Connect session, made (and the small tables copied in) on first use."""
        with self._lock:
            if self._session is None:
                try:
                    from pyspark.sql import SparkSession
                except ImportError as exc:
                    raise FatalError("SKYGATE_DATABASE_URL names Spark, but pyspark is not installed",
                                     hint="pip install 'skygate[spark]'") from exc
                try:
                    session = SparkSession.builder.remote(self.url).getOrCreate()
                    for key, value in SESSION_CONF.items():
                        session.conf.set(key, value)
                    self._names = self._copy_small_tables(session)
                except Exception as exc:  # pyspark's gRPC and analysis errors share no base class
                    raise TransientError("the Spark Connect server is not reachable",
                                         param="SKYGATE_DATABASE_URL", hint="try again later") from exc
                self._session = session
            return self._session

    def _copy_small_tables(self, session: Any) -> dict[str, str]:
        con = duckdb.connect(str(self._path), read_only=True)
        try:
            self.partitioned = read_partitioned(con)
            rows = con.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema NOT IN (?, ?)", list(_SYSTEM_SCHEMAS)).fetchall()
            names: dict[str, str] = {}
            for schema, table in rows:
                qualified = f"{schema}.{table}"
                if qualified in self.partitioned.catalogs:
                    continue
                # names from the catalog's own information_schema, quoted
                relation = con.sql(f'SELECT * FROM "{schema}"."{table}"')
                count = relation.aggregate("count(*)").fetchone()
                if count is None or count[0] > SMALL_TABLE_ROWS:
                    continue
                view = f"skygate_{schema}_{table}"
                _dataframe(session, relation.to_arrow_table()).createOrReplaceTempView(view)
                names[qualified] = view
            return names
        finally:
            con.close()

    # -- statements ----------------------------------------------------------------------------

    async def stream(
        self,
        sql: str,
        *,
        timeout: float,
        uploads: Mapping[str, pa.Table] = _NO_UPLOADS,
        batch_rows: int = 65536,
        started: float | None = None,
    ) -> AsyncIterator[pa.RecordBatch]:
        tag = f"skygate-{next(self._counter)}"
        # The limit counts from ``started`` (time.monotonic(), which the event loop's clock is here).
        elapsed = 0.0 if started is None else time.monotonic() - started
        deadline = asyncio.get_running_loop().time() + timeout - elapsed
        views: list[str] = []
        finished = False
        try:
            table, rest, schema = await self._before(deadline, timeout,
                                                     self._call(self._start, sql, uploads, tag, views))
            sent = False
            while table is not None:
                for batch in table.to_batches(max_chunksize=batch_rows):
                    if batch.num_rows or not sent:
                        sent = True
                        yield batch
                table = await self._before(deadline, timeout, self._call(next, rest, None))
            if not sent:
                yield pa.RecordBatch.from_pylist([], schema=await self._call(schema))
            finished = True
        finally:
            if not finished and self._session is not None:
                # Cancels the Spark job when the consumer leaves early or the deadline passed.
                await self._call(self._session.interruptTag, tag)
            for view in views:
                await self._call(self._drop_view, view)

    def _start(self, sql: str, uploads: Mapping[str, pa.Table], tag: str, views: list[str]
               ) -> tuple[pa.Table | None, Iterator[pa.Table], Callable[[], pa.Schema]]:
        """Start ``sql``: its first Arrow table (None: no rows), the rest, and its Arrow schema."""
        spark = self._spark()
        frame = self._frame(spark, sql, uploads, tag.rsplit("-", 1)[1], views)
        spark.addTag(tag)
        try:
            client = spark.client
            # pyspark's DataFrame.toArrow collects the whole result; its client's iterator (the
            # same call toArrow makes) hands over each Arrow batch as it arrives.
            plan = frame._plan.to_proto(client)
            tables = _tables(client.to_table_as_iterator(plan, frame._plan.observations))
            # The request (and the job tag, which the client keeps per thread) is sent on the
            # first read, so that read happens here, while the tag is set.
            first = next(tables, None)
        finally:
            spark.removeTag(tag)

        def schema() -> pa.Schema:
            from pyspark.sql.pandas.types import to_arrow_schema

            return to_arrow_schema(frame.schema)

        return first, tables, schema

    @contextlib.asynccontextmanager
    async def frame(self, sql: str, *, uploads: Mapping[str, pa.Table] = _NO_UPLOADS) -> AsyncIterator[Any]:
        """The DataFrame of ``sql`` (Spark SQL from ``adql.spark``) over per-statement views, which are
        dropped when the block ends; run its actions with ``run`` (the anomaly job scores it)."""
        n = f"f{next(self._counter)}"
        views: list[str] = []
        try:
            yield await self._call(lambda: self._frame(self._spark(), sql, uploads, n, views))
        finally:
            for view in views:
                await self._call(self._drop_view, view)

    async def run(self, action: Callable[[Any], _T], *, timeout: float | None = None,
                  stop: Callable[[], None] | None = None) -> _T:
        """Run ``action(session)`` (blocking Spark calls: ``count``, ``write``, ``toArrow``) in a worker
        thread under a Spark job tag; when ``timeout`` passes or ``stop`` raises, the tag's Spark jobs
        are interrupted and the error raised here.

        Raises
        ------
        UsageError
            The time limit passed.
        FatalError
            Spark failed (the action's own ``UsageError``, ``TransientError`` and ``FatalError`` pass).
        """
        tag = f"skygate-{next(self._counter)}"
        limit = float("inf") if timeout is None else timeout
        deadline = asyncio.get_running_loop().time() + limit
        finished = False

        def tagged() -> _T:
            spark = self._spark()
            spark.addTag(tag)
            try:
                return action(spark)
            finally:
                spark.removeTag(tag)

        try:
            result: _T = await self._before(deadline, limit, self._call(tagged), stop)
            finished = True
            return result
        finally:
            if not finished and self._session is not None:
                await self._call(self._session.interruptTag, tag)

    def files(self, sql: str) -> dict[str, list[str]]:
        """For each partitioned table ``sql`` (Spark SQL) names: the files it reads, in index order."""
        from adql.coverage import index_ranges

        catalogs = self.partitioned.catalogs
        try:
            found = index_ranges(sql, "spark", {name: c.index_column for name, c in catalogs.items()})
        except Exception as exc:  # sqlglot's parse errors: the SQL did not come from our translator
            raise FatalError("the Spark SQL could not be read") from exc
        out: dict[str, list[str]] = {}
        for name, ranges in found.items():
            catalog = catalogs[name]
            chosen = catalog.partitions if ranges is None else catalog.overlapping(ranges)
            out[name] = catalog.files(chosen or catalog.partitions[:1])
        return out

    async def explain(self, sql: str) -> str:
        """Spark's formatted physical plan of ``sql`` as this backend would run it (its file scans included)."""
        n = f"x{next(self._counter)}"
        views: list[str] = []
        try:
            frame = await self._call(lambda: self._frame(self._spark(), sql, _NO_UPLOADS, n, views))
            return str(await self._call(frame._explain_string, None, "formatted"))
        finally:
            for view in views:
                await self._call(self._drop_view, view)

    def _frame(self, spark: Any, sql: str, uploads: Mapping[str, pa.Table], n: str, views: list[str]) -> Any:
        """The Spark DataFrame of ``sql`` over per-statement views (their names added to ``views``)."""
        from adql.spark import rename_tables

        names = dict(self._names)
        for upload, table in uploads.items():
            view = f"{upload}_{n}"
            _dataframe(spark, table).createOrReplaceTempView(view)
            views.append(view)
            names[upload.lower()] = view
        for name, files in self.files(sql).items():
            view = f"skygate_{name.replace('.', '_')}_{n}"
            spark.read.parquet(*files).createOrReplaceTempView(view)
            views.append(view)
            names[name] = view
        return spark.sql(rename_tables(sql, names))

    def _drop_view(self, view: str) -> None:
        if self._session is not None:
            self._session.catalog.dropTempView(view)

    async def _before(self, deadline: float, timeout: float, awaitable: Any,
                      stop: Callable[[], None] | None = None) -> Any:
        """``awaitable``'s result, unless the deadline passes or ``stop`` raises first."""
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(awaitable)
        try:
            while not task.done():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise timeout_error(timeout) from TimeoutError()
                wait = None if remaining == float("inf") else remaining
                if stop is not None:
                    wait = _STOP_POLL if wait is None else min(wait, _STOP_POLL)
                await asyncio.wait({task}, timeout=wait)
                if not task.done() and stop is not None:
                    stop()  # what it raises leaves here; the caller interrupts the Spark job
        finally:
            if not task.done():
                task.cancel()  # the thread finishes on its own once Spark is interrupted
        try:
            return task.result()
        except (UsageError, TransientError, FatalError):
            raise
        except Exception as exc:  # pyspark's errors: a query our translator wrote failed in Spark
            refused = _analysis_message(exc)
            if refused is not None:  # valid ADQL that Spark SQL cannot express: say what Spark said
                raise UsageError(f"Spark cannot run this query: {refused}", param="QUERY",
                                 hint="rewrite that part of the query, or query a DuckDB or PostgreSQL service"
                                 ) from exc
            raise FatalError("the Spark query failed") from exc

    async def _call(self, func: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._threads, functools.partial(func, *args))

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await self._call(session.stop)
        self._threads.shutdown(wait=False)


def _analysis_message(exc: BaseException) -> str | None:
    """The first line of Spark's analysis error (what it cannot resolve or support), without its
    SQLSTATE and plan; None for any other error."""
    try:
        from pyspark.errors import AnalysisException
    except ImportError:
        return None
    if not isinstance(exc, AnalysisException):
        return None
    return str(exc).split("\n", 1)[0].split(" SQLSTATE:", 1)[0].strip()


def _dataframe(spark: Any, table: pa.Table) -> Any:
    """A DataFrame of an Arrow table; an empty one gets its schema given (Spark cannot infer it from no rows)."""
    if table.num_rows:
        return spark.createDataFrame(table)
    from pyspark.sql.pandas.types import from_arrow_schema

    return spark.createDataFrame(table, schema=from_arrow_schema(table.schema))


def _tables(stream: Iterator[Any]) -> Iterator[pa.Table]:
    """The Arrow tables of Spark Connect's result iterator (it also yields the Spark schema first)."""
    for item in stream:
        if isinstance(item, pa.Table):
            yield item
