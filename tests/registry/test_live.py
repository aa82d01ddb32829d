"""Cone search as astronomers reach it: pyvo's SCSService against the application under uvicorn.

Marked ``live``. The server serves ``sky.points`` (tests/registry/conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from pyvo.dal import DALQueryError, SCSService

from skygate.settings import Settings
from tests.live_fixtures import LiveServer, serve

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def sky_server(sky_duckdb: Path) -> Iterator[LiveServer]:
    yield from serve(Settings(data_dir=sky_duckdb.parent, maxrec_default=1000, maxrec_hard=5000))


def test_pyvo_searches_and_reads_positions(sky_server: LiveServer, pyvo_session: requests.Session) -> None:
    service = SCSService(f"{sky_server.url}/scs/sky.points", session=pyvo_session)
    results = service.search(pos=(0.0, 89.5), radius=1.0, verbosity=3)
    assert len(results) > 10
    for record in results:
        assert abs(record.pos.dec.deg - record["dec"]) < 1e-12
        assert record.id == str(record["point_id"])
    assert [c.name for c in service.columns] == ["point_id", "ra", "dec", "mag"]


def test_pyvo_reads_our_error_message(sky_server: LiveServer, pyvo_session: requests.Session) -> None:
    service = SCSService(f"{sky_server.url}/scs/sky.points", session=pyvo_session)
    with pytest.raises(DALQueryError, match="SR 30 is larger than the largest radius"):
        service.search(pos=(10.0, 10.0), radius=30.0)


@pytest.mark.stilts
def test_stilts_cone_reads_the_rows(sky_server: LiveServer, tmp_path: Path) -> None:
    import shutil
    import subprocess

    if shutil.which("stilts") is None:
        pytest.skip("stilts is not installed")
    out = tmp_path / "cone.csv"
    result = subprocess.run(["stilts", "cone", f"serviceurl={sky_server.url}/scs/sky.points?", "lon=0", "lat=-89.5",
                             "radius=1", "verb=3", "ofmt=csv", f"out={out}"],
                            check=False, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == "point_id,ra,dec,mag,note" and len(lines) > 10
