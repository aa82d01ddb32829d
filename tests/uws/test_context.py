"""What job functions see: atomic results, checkpoints, parameters."""

from __future__ import annotations

import time
from pathlib import Path
from typing import BinaryIO

import pytest

from uws.context import JobAborted, JobContext, JobTimedOut
from uws.models import Parameter, Parameters


def _ctx(tmp_path: Path, deadline: float | None = None) -> JobContext:
    return JobContext(job_id="j", kind="k", parameters=Parameters(), job_dir=tmp_path / "j", deadline=deadline)


def test_results_from_bytes_paths_and_writers(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    scratch = ctx.scratch_path("big.vot")
    scratch.write_bytes(b"<VOTABLE/>")
    ctx.add_result("extra", b"abc", "text/plain")
    ctx.add_result("result", scratch, "application/x-votable+xml")
    ctx.add_result("w", lambda out: out.write(b"xyz"), "text/plain")
    assert [r.id for r in ctx.results] == ["result", "extra", "w"]
    assert (ctx.results_dir / "result").read_bytes() == b"<VOTABLE/>" and not scratch.exists()
    assert ctx.results[0].size == 10
    assert sorted(p.name for p in ctx.results_dir.iterdir()) == ["extra", "result", "w"]


def test_a_failing_writer_leaves_no_result_and_no_partial_file(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)

    def writer(out: BinaryIO) -> None:
        out.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        ctx.add_result("result", writer, "text/plain")
    assert ctx.results == []
    assert list(ctx.results_dir.iterdir()) == []


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "x" * 200])
def test_unsafe_result_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError):
        _ctx(tmp_path).add_result(name, b"", "text/plain")


def test_checkpoint_raises_after_abort_and_after_the_deadline(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    ctx.checkpoint()
    ctx.stop(JobAborted)
    with pytest.raises(JobAborted):
        ctx.checkpoint()
    with pytest.raises(JobAborted):  # no result can be published once stopped
        ctx.add_result("result", b"late", "text/plain")
    late = _ctx(tmp_path, deadline=time.monotonic() - 1)
    with pytest.raises(JobTimedOut):
        late.checkpoint()


def test_parameters_are_a_case_insensitive_multidict() -> None:
    params = Parameters([Parameter("QUERY", "a"), Parameter("upload", "t1,x"), Parameter("Upload", "t2,y")],
                        files={"t1": Path("/tmp/t1")})
    assert params["query"] == params["Query"] == "a"
    assert params.getall("UPLOAD") == ["t1,x", "t2,y"]
    assert params["upload"] == "t2,y"
    assert sorted(params) == ["query", "upload"] and len(params) == 2
    assert params.get("missing") is None and "QUERY".lower() in params
    assert params.files["t1"] == Path("/tmp/t1")
