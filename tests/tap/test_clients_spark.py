"""The pyvo scenarios of test_clients.py against the application serving the partitioned ci release
from Spark (``live_server_spark``): the same counts as an independent computation on the release's
Parquet files, sync and async queries with their overflow, uploads joined with the catalogue. The
same scenario functions run here as on DuckDB, so the answers must be the same. And a client that
leaves while Spark runs its query gets that Spark job cancelled.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
import numpy as np
import pytest
import pyvo
import requests

from tests.live_fixtures import LiveServer
from tests.tap import test_clients as scenarios
from tests.tap.test_clients import positions  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.spark, pytest.mark.live]


@pytest.fixture
def tap(live_server_spark: LiveServer, pyvo_session: requests.Session) -> pyvo.dal.TAPService:
    return pyvo.dal.TAPService(live_server_spark.tap_url, session=pyvo_session)


def test_cone_box_and_polygon_counts_match_an_independent_computation(
    tap: pyvo.dal.TAPService, positions: tuple[np.ndarray, np.ndarray]  # noqa: F811
) -> None:
    scenarios.test_cone_box_and_polygon_counts_match_an_independent_computation(tap, positions)


def test_pyvo_run_sync_and_overflow(tap: pyvo.dal.TAPService) -> None:
    scenarios.test_pyvo_run_sync_and_overflow(tap)


def test_pyvo_reads_our_error_messages(tap: pyvo.dal.TAPService) -> None:
    scenarios.test_pyvo_reads_our_error_messages(tap)


def test_pyvo_run_async_and_job_lifecycle(tap: pyvo.dal.TAPService, live_server_spark: LiveServer) -> None:
    scenarios.test_pyvo_run_async_and_job_lifecycle(tap, live_server_spark)


def test_pyvo_search_with_an_astropy_upload(tap: pyvo.dal.TAPService) -> None:
    scenarios.test_pyvo_search_with_an_astropy_upload(tap)


def test_pyvo_tables_and_examples(tap: pyvo.dal.TAPService) -> None:
    scenarios.test_pyvo_tables_and_examples(tap)


def test_a_client_that_leaves_cancels_its_spark_job(live_server_spark: LiveServer,
                                                    spark_server: tuple[str, Path]) -> None:
    log = spark_server[1]
    before = log.read_text(errors="replace").count("OPERATION_CANCELED")
    # 20 k x 20 k rows through a nested-loop join with trigonometry: tens of seconds on two cores, in
    # tasks of a partition each, which Spark stops between rows when the job is cancelled
    heavy = ("SELECT COUNT(*) AS n FROM des_dr1.main AS a JOIN des_dr1.main AS b "
             "ON SIN(a.mag_auto_g * b.mag_auto_r) < COS(a.mag_auto_i - b.mag_auto_i)")
    address = urlsplit(live_server_spark.url)
    body = urlencode({"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": heavy}).encode()
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(f"POST /tap/sync HTTP/1.1\r\nHost: {address.netloc}\r\n"
                     "Content-Type: application/x-www-form-urlencoded\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        time.sleep(4)  # Spark is running the join now
    # the connection is closed: the server interrupts the statement's Spark job
    deadline = time.monotonic() + 20
    while log.read_text(errors="replace").count("OPERATION_CANCELED") == before and time.monotonic() < deadline:
        time.sleep(0.25)
    assert log.read_text(errors="replace").count("OPERATION_CANCELED") > before
    # and the executors are free again
    started = time.monotonic()
    count = {"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": "SELECT COUNT(*) AS n FROM des_dr1.tile_info",
             "FORMAT": "csv"}
    answer = httpx.post(f"{live_server_spark.tap_url}/sync", data=count, timeout=30)
    assert answer.text.splitlines() == ["n", "2"] and time.monotonic() - started < 15
