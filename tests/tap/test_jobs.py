"""The ``tap.query`` job kind's function on its own (tap/jobs.py); its runs through UWS, pyvo and taplint
are in test_clients.py and test_live.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from dali.errors import FatalError
from tap.jobs import KIND, run_query
from uws import JobContext, Parameter, Parameters


async def test_the_kind_refuses_to_run_without_its_resources(tmp_path: Path) -> None:
    params = Parameters([Parameter("LANG", "ADQL"), Parameter("QUERY", "SELECT 1 AS x")])
    ctx = JobContext(job_id="j1", kind=KIND, parameters=params, job_dir=tmp_path / "j1", resources=None)
    with pytest.raises(FatalError, match="registered without its resources"):
        await run_query(params, ctx)
