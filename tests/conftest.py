"""Fixtures shared by the whole suite.

Real services: PostgreSQL and Redis on 127.0.0.1 at their standard ports. When one is absent the
tests that need it skip with a visible reason, except under ``SKYGATE_REQUIRE_SERVICES=1`` (set by
.ci/run), where absence is a failure.
"""

from __future__ import annotations

import contextlib
import gc
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

# The ingested `ci` release (release engineer): duckdb_backend, postgres_backend, ci_engine.
# The application under uvicorn on 127.0.0.1 (TAP engineer): live_server, live_server_postgres.
from tests.live_fixtures import live_server, live_server_postgres, pyvo_session  # noqa: F401

# The ci release written partitioned (HATS), and Spark serving it: partitioned_ci, spark_server, spark_release,
# live_server_spark.
from tests.partitioned_fixtures import (  # noqa: F401
    live_server_spark,
    partitioned_ci,
    skip_spark_unless_asked,
    spark_release,
    spark_server,
)
from tests.release_fixtures import (  # noqa: F401
    ci_duckdb_path,
    ci_engine,
    ci_metadata,
    ci_postgres_url,
    duckdb_backend,
    postgres_backend,
    tour_duckdb_path,
)

ROOT = Path(__file__).resolve().parents[1]
# Generated test data (the `ci` demo profile) is cached here between runs; it is deterministic.
TEST_CACHE = ROOT / "var" / "test-cache"

POSTGRES_HOST, POSTGRES_PORT = "127.0.0.1", 5432
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _missing(service: str) -> None:
    message = f"{service} is not running on 127.0.0.1"
    if os.environ.get("SKYGATE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} and SKYGATE_REQUIRE_SERVICES=1")
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """A superuser URL to the PostgreSQL server (trust authentication on these machines)."""
    if not _reachable(POSTGRES_HOST, POSTGRES_PORT):
        _missing("PostgreSQL")
    user = os.environ.get("PGUSER", "postgres")
    return f"postgresql://{user}@{POSTGRES_HOST}:{POSTGRES_PORT}/postgres"


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not _reachable(REDIS_HOST, REDIS_PORT):
        _missing("Redis")
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


def _release_current(manifest: Path, profile: str) -> bool:
    import json

    import numpy as np

    from release.demo import GENERATOR_VERSION

    try:
        meta = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return False
    return (meta.get("profile"), meta.get("generator_version"), meta.get("numpy_version")) == (
        profile, GENERATOR_VERSION, np.__version__)


def cached_release(profile: str) -> Path:
    """The demo release ``profile`` in var/test-cache/<profile>/, generated once and reused while its
    manifest matches the generator and numpy versions. A file lock keeps parallel test runs from
    generating it twice at the same time."""
    import fcntl

    from release.demo import generate

    target = TEST_CACHE / profile
    TEST_CACHE.mkdir(parents=True, exist_ok=True)
    with open(TEST_CACHE / f"{profile}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not _release_current(target / "manifest.json", profile):
                generate(profile, target, workers=2)  # the parallel path; test_demo_release compares serial
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target


@pytest.fixture(scope="session")
def ci_release_dir() -> Path:
    """The `ci` demo release (two tiles), what most tests serve."""
    return cached_release("ci")


@pytest.fixture(scope="session")
def tour_release_dir() -> Path:
    """The `tour` demo release (the `ci` tiles and the galaxy cluster's), for the example notebooks."""
    return cached_release("tour")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_spark_unless_asked(config, items)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Drop the PostgreSQL databases and roles this test process created (tests/isolation.py)."""
    import asyncio

    from tests.isolation import drop_worker_objects

    if getattr(session.config.option, "numprocesses", None) and "PYTEST_XDIST_WORKER" not in os.environ:
        return  # the xdist controller runs no tests; each worker cleans up after itself
    if _reachable(POSTGRES_HOST, POSTGRES_PORT):
        import asyncpg

        user = os.environ.get("PGUSER", "postgres")
        # Cleaning up is a courtesy: it never fails the run.
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            asyncio.run(drop_worker_objects(f"postgresql://{user}@{POSTGRES_HOST}:{POSTGRES_PORT}/postgres"))


@pytest.fixture(autouse=True)
def _collect_garbage_after_live_tests(request: pytest.FixtureRequest) -> Iterator[None]:
    """A socket a live test leaks in a reference cycle warns when it is collected; collecting here
    makes that ResourceWarning fail the test that leaked it, not an unrelated one later."""
    yield
    if request.node.get_closest_marker("live") is not None:
        gc.collect()
