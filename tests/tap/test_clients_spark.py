"""The pyvo scenarios of test_clients.py against the application serving the partitioned ci release
from Spark (``live_server_spark``): the same counts as an independent computation on the release's
Parquet files, sync and async queries with their overflow, uploads joined with the catalogue. The
same scenario functions run here as on DuckDB, so the answers must be the same.
"""

from __future__ import annotations

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
