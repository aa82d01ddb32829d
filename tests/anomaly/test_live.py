"""Acceptance: anomaly jobs on a live uvicorn server, as astronomers run them, through pyvo's UWS job
API and through curl; a second job reuses the first one's model on another region."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import requests
import uvicorn

from skygate.app import create_app
from skygate.settings import Settings

pytestmark = pytest.mark.live

FEATURES = ("mag_auto_g, mag_auto_r, mag_auto_i, mag_auto_z, mag_auto_g - mag_auto_r AS g_r, "
            "mag_auto_r - mag_auto_i AS r_i, mag_auto_i - mag_auto_z AS i_z")
REGION_A = f"SELECT coadd_object_id, {FEATURES} FROM des_dr1.main WHERE tilename = 'DES2134-0041'"
REGION_B = f"SELECT coadd_object_id, {FEATURES} FROM des_dr1.main WHERE tilename = 'DES2359-0041'"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, ci_duckdb_path: Path) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    data_dir = tmp_path_factory.mktemp("anomaly-live")
    (data_dir / "catalog.duckdb").symlink_to(ci_duckdb_path)
    config = uvicorn.Config(create_app(Settings(data_dir=data_dir, base_url=base)), host="127.0.0.1", port=port,
                            log_level="warning", ws="none", http="h11", lifespan="on")
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if uvicorn_server.started:
            break
        time.sleep(0.05)
    assert uvicorn_server.started, "uvicorn did not start"
    yield base
    uvicorn_server.should_exit = True
    thread.join(timeout=20)


def test_pyvo_submits_waits_and_fetches(server: str, pyvo_session: requests.Session) -> None:
    from pyvo.dal import AsyncTAPJob

    job = AsyncTAPJob.create(f"{server}/anomaly", REGION_A, NTREES="100", TOP="20", session=pyvo_session)
    job.run()
    job.wait(phases={"COMPLETED", "ERROR", "ABORTED"}, timeout=300)
    job.raise_if_error()
    result = job.fetch_result().to_table()
    assert {"coadd_object_id", "score", "rank", "g_r"} <= set(result.colnames) and len(result) > 9000
    uris = {uri.rsplit("/", 1)[1]: uri for uri in job.result_uris}
    top = httpx.get(uris["top"]).text
    assert top.count("<TR>") == 20
    png = httpx.get(uris["scores.png"])
    assert png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"
    ranked = result[np.argsort(result["rank"])]
    assert float(ranked["score"][0]) == float(np.max(result["score"]))
    job.delete()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_submits_then_reuses_the_model_on_another_region(server: str, tmp_path: Path) -> None:
    def curl(*args: str) -> str:
        return subprocess.run(["curl", "-s", "-S", *args], check=True, capture_output=True, text=True,
                              timeout=120).stdout

    def submit(*params: str) -> str:
        head = curl("-o", "/dev/null", "-D", "-", *(x for p in params for x in ("--data-urlencode", p)),
                    "-d", "PHASE=RUN", f"{server}/anomaly/async")
        match = re.search(r"^location: (\S+)", head, re.IGNORECASE | re.MULTILINE)
        assert match, head
        return match.group(1)

    def finish(job_url: str) -> str:
        for _ in range(300):
            phase = curl(f"{job_url}/phase").strip()
            if phase in ("COMPLETED", "ERROR", "ABORTED"):
                return phase
            curl(f"{job_url}?WAIT=5")
        raise AssertionError("the job did not finish")

    first = submit(f"QUERY={REGION_A}", "NTREES=100", "TOP=10")
    assert finish(first) == "COMPLETED"
    curl("-o", str(tmp_path / "scores.png"), f"{first}/results/scores.png")
    assert (tmp_path / "scores.png").read_bytes()[:4] == b"\x89PNG"
    assert curl(f"{first}/results/top").count("<TR>") == 10
    second = submit(f"QUERY={REGION_B}", f"MODEL={first.rsplit('/', 1)[1]}", "RESPONSEFORMAT=csv")
    assert finish(second) == "COMPLETED"
    rows = curl(f"{second}/results/result").splitlines()
    assert rows[0].startswith("coadd_object_id,score,rank,") and len(rows) > 9000
    summary = json.loads(curl(f"{second}/results/summary.json"))
    assert summary["model"]["source"] == f"job {first.rsplit('/', 1)[1]}"
    assert summary["rows"]["scored"] == len(rows) - 1
