"""TAP test fixtures: the application over the ingested ``ci`` release, driven through ASGI."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

with warnings.catch_warnings():
    # starlette 0.52's testclient touches an anyio alias deprecated in anyio 4.12 at import time.
    warnings.simplefilter("ignore", DeprecationWarning)
    from starlette.testclient import TestClient

from skygate.app import create_app
from skygate.settings import Settings

BASE = "http://testserver"


def release_settings(data_dir: Path, duckdb_path: Path, **changes: object) -> Settings:
    """Settings serving ``duckdb_path`` (linked into ``data_dir``) at http://testserver."""
    data_dir.mkdir(parents=True, exist_ok=True)
    link = data_dir / "catalog.duckdb"
    if not link.exists():
        link.symlink_to(duckdb_path)
    return Settings(data_dir=data_dir, base_url=BASE, maxrec_default=1000, maxrec_hard=5000).with_(**changes)


@pytest.fixture(scope="module")
def tap_settings(tmp_path_factory: pytest.TempPathFactory, ci_duckdb_path: Path) -> Settings:
    return release_settings(tmp_path_factory.mktemp("tap"), ci_duckdb_path)


@pytest.fixture(scope="module")
def client(tap_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(tap_settings), base_url=BASE) as test_client:
        yield test_client


def final_phase(client: TestClient, job: str, headers: dict[str, str] | None = None) -> str:
    """Wait for a UWS job to end and return its phase: a WAIT returns at the first phase change
    (QUEUED to EXECUTING on a busy machine), so wait again from the phase it reached."""
    phase = client.get(f"{job}/phase", headers=headers).text
    for _ in range(180):
        if phase in ("COMPLETED", "ERROR", "ABORTED"):
            break
        client.get(job, params={"WAIT": "10", "PHASE": phase}, headers=headers)
        phase = client.get(f"{job}/phase", headers=headers).text
    return phase
