"""The job-kind table and the worker entry point (skygate/worker.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from skygate.settings import Settings
from skygate.worker import WorkerResources, job_config, job_kinds, load_extra_kinds, run_worker


def test_job_kind_names_are_unique() -> None:
    names = [k.name for k in job_kinds(WorkerResources(Settings()))]
    assert len(names) == len(set(names))


def test_job_config_follows_the_settings(tmp_path: Path) -> None:
    embedded = job_config(Settings(data_dir=tmp_path))
    assert embedded.store_url == f"sqlite:///{(tmp_path / 'jobs.sqlite').resolve()}"
    assert embedded.results_dir == (tmp_path / "results").resolve()
    assert embedded.broker_url == ""
    production = job_config(Settings(database_url="postgresql://db/x", broker_url="redis://r"), queue_name="q1")
    assert production.store_url == "postgresql://db/x" and production.broker_url == "redis://r"
    assert production.queue_name == "q1"


def test_extra_kinds_load_by_module_and_function() -> None:
    assert [k.name for k in load_extra_kinds(["uws.testing:job_kinds"])] == [
        "uws-echo", "uws-sleep", "uws-async-sleep"]


def test_a_worker_without_a_broker_says_so(monkeypatch, capsys) -> None:
    for key in list(__import__("os").environ):
        if key.startswith("SKYGATE_") and key != "SKYGATE_REQUIRE_SERVICES":
            monkeypatch.delenv(key)
    args = argparse.Namespace(processes=1, threads=1, queue=None, kinds=None)
    assert run_worker(args) == 2
    assert "SKYGATE_BROKER_URL" in capsys.readouterr().err
