"""Async jobs from the shell against the live ``ci`` server: a query that outlives the sync wait
completes as a job, ``job ID`` shows / fetches / deletes, the table cache is refreshed on demand."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from astropy.table import Table
from lxml import etree

from tests.live_fixtures import LiveServer

pytestmark = pytest.mark.live


def _shell(url: str, home: Path, *entries: str) -> str:
    args = [sys.executable, "-m", "skygate.shell", url, "--cache-dir", str(home / "cache"),
            "--history", str(home / "h")]
    for entry in entries:
        args += ["-c", entry]
    done = subprocess.run(args, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return done.stdout


def test_a_query_outliving_the_sync_wait_completes_as_a_job(live_server: LiveServer, tmp_path: Path) -> None:
    out = _shell(live_server.tap_url, tmp_path, "config sync_wait 0.01",
                 "SELECT COUNT(*) AS n FROM des_dr1.main AS a, des_dr1.main_sample AS b "
                 "WHERE a.mag_auto_g < b.mag_auto_g;")
    assert "running it as an async job" in out
    match = re.search(r"\(1 row; async job (\w+);", out)
    assert match, out
    phase = requests.get(f"{live_server.tap_url}/async/{match.group(1)}/phase", timeout=30).text.strip()
    assert phase == "COMPLETED"


def test_job_show_results_and_delete(live_server: LiveServer, tmp_path: Path) -> None:
    created = requests.post(f"{live_server.tap_url}/async", timeout=30, allow_redirects=False, data={
        "LANG": "ADQL", "QUERY": "SELECT TOP 7 coadd_object_id FROM des_dr1.main", "PHASE": "RUN"})
    job_id = created.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    broken = requests.post(f"{live_server.tap_url}/async", timeout=30, allow_redirects=False, data={
        "LANG": "ADQL", "QUERY": "SELECT nope FROM des_dr1.main", "PHASE": "RUN"})
    broken_id = broken.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    requests.get(f"{live_server.tap_url}/async/{job_id}?WAIT=30&PHASE=EXECUTING", timeout=60)
    requests.get(f"{live_server.tap_url}/async/{broken_id}?WAIT=30&PHASE=EXECUTING", timeout=60)
    target = tmp_path / "job.vot"
    out = _shell(live_server.tap_url, tmp_path, f"job {job_id}", f"job {job_id} results",
                 f"job {job_id} results > {target}", f"job {broken_id}", f"job {job_id} delete", f"job {job_id}",
                 "job x y z")
    assert f"job {job_id}: COMPLETED" in out and "query: SELECT TOP 7 coadd_object_id" in out
    assert "(7 rows" in out and f"wrote 7 rows to {target}" in out
    assert len(Table.read(target, format="votable")) == 7
    assert f"job {broken_id}: ERROR" in out and "error: unknown column nope" in out
    assert f"job {job_id} deleted" in out
    assert out.count("error:") == 3  # the broken job's message, the deleted job, the bad usage
    assert "usage: job ID [show|results|delete]" in out


def test_refresh_metadata_cache_reads_the_tables_again(live_server: LiveServer, tmp_path: Path) -> None:
    listed = etree.fromstring(requests.get(f"{live_server.tap_url}/tables", timeout=30).content)
    count = sum(1 for e in listed.iter("table"))  # the release's and the service's own (rr)
    first = _shell(live_server.tap_url, tmp_path, "find_tables tile")
    assert f"{count} tables read from the service" in first and "des_dr1.tile_info" in first
    again = _shell(live_server.tap_url, tmp_path, "refresh_metadata_cache")
    assert f"{count} tables cached" in again and f"{count} tables read from the service" in again
