"""Session fixtures for the partitioned ``ci`` release and the Spark backend over it.

Imported by tests/conftest.py so that the Spark tests share one ingest and one Spark Connect server per
test process: ``partitioned_ci`` (the ``ci`` release written as HATS beside a DuckDB file),
``spark_server`` (a local Spark Connect server, ``local[2]``), ``spark_release`` (the release opened on
it) and ``live_server_spark`` (the application serving it). Spark tests carry the ``spark`` marker and
run only when ``-m`` names it (tests/conftest.py); without pyspark (the ``[spark]`` extra) or Java they
skip with the reason.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from release.layout import ingest_release
from release.partitioned import PartitionedStore
from release.runtime import OpenRelease, open_release
from release.stores import open_store
from skygate.settings import Settings
from tests.live_fixtures import LiveServer, serve

MAX_ROWS = 2000  # the ci release's 20 k rows of des_dr1.main make a few dozen partitions


@pytest.fixture(scope="session")
def partitioned_ci(ci_release_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir holding ``catalog.duckdb`` and ``hats/<schema>/<table>`` for the ci release."""
    where = tmp_path_factory.mktemp("partitioned")

    async def ingest() -> None:
        async with await open_store("", where / "catalog.duckdb", readonly_role="") as store:
            await ingest_release(PartitionedStore(store, where / "hats", max_rows=MAX_ROWS), ci_release_dir)

    asyncio.run(ingest())
    return where


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def spark_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``sc://127.0.0.1:<port>`` of a Spark Connect server started for this session, and its log."""
    pyspark = pytest.importorskip("pyspark", reason="pyspark (the [spark] extra) is not installed")
    if shutil.which("java") is None:
        pytest.skip("Java is not installed (Spark needs a JRE 17)")
    home = Path(pyspark.__file__).parent
    jars = sorted((home / "jars").glob("spark-connect_*.jar"))
    if not jars:
        pytest.skip("this pyspark has no Spark Connect server jar")
    port = _free_port()
    log = tmp_path_factory.mktemp("spark") / "server.log"
    # The Python workers (anomaly scoring runs in them) use this interpreter, which has skygate.
    env = {**os.environ, "SPARK_HOME": str(home), "PYSPARK_PYTHON": sys.executable}
    start = time.monotonic()
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(home / "bin" / "spark-submit"), "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
             "--master", "local[2]", "--driver-memory", "1g", "--conf", f"spark.connect.grpc.binding.port={port}",
             "--conf", "spark.ui.enabled=false", str(jars[0])],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        while time.monotonic() - start < 120:
            if server.poll() is not None:
                pytest.fail(f"the Spark Connect server stopped: {log.read_text()[-2000:]}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.25)
        else:
            pytest.fail("the Spark Connect server did not start in 120 s")
        print(f"Spark Connect server up in {time.monotonic() - start:.1f} s")
        yield f"sc://127.0.0.1:{port}", log
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture(scope="session")
def spark_release(spark_server: tuple[str, Path], partitioned_ci: Path) -> Iterator[OpenRelease]:
    """The partitioned ci release served by Spark (``SKYGATE_DATABASE_URL=sc://...``)."""
    opened = asyncio.run(open_release(spark_server[0], partitioned_ci / "catalog.duckdb", base_url="http://x",
                                      readonly_role=""))
    assert opened.problem is None, opened.problem
    yield opened
    asyncio.run(opened.close())


@pytest.fixture(scope="session")
def live_server_spark(spark_server: tuple[str, Path], partitioned_ci: Path,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The whole application under uvicorn serving the partitioned ci release from Spark
    (``SKYGATE_DATABASE_URL=sc://...``), with the limits of ``live_server``."""
    data_dir = tmp_path_factory.mktemp("live-spark")
    (data_dir / "catalog.duckdb").symlink_to(partitioned_ci / "catalog.duckdb")
    yield from serve(Settings(data_dir=data_dir, database_url=spark_server[0], maxrec_default=1000,
                              maxrec_hard=100_000))


def skip_spark_unless_asked(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Spark tests start a JVM (10-20 s, two cores busy): they run only when ``-m`` names ``spark``."""
    if "spark" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="Spark tests run with -m spark (.ci/run runs them)")
    for item in items:
        if item.get_closest_marker("spark") is not None:
            item.add_marker(skip)
