"""What a running job function sees: its id, parameters, result directory, progress and stop checks.

No store and no queue here: the runner (``uws/runner.py``) watches the store and flips the stop
flag; the context only records what the function reports. Tests: tests/uws/test_context.py.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from uws.models import Parameters, Result

__all__ = ["JobAborted", "JobContext", "JobStopped", "JobTimedOut", "ResultSource"]

ResultSource = bytes | Path | Callable[[BinaryIO], None]


class JobStopped(Exception):
    """Raised by ``checkpoint()`` when the job must stop; job functions let it propagate."""


class JobAborted(JobStopped):
    """The job was aborted (or deleted) while running."""


class JobTimedOut(JobStopped):
    """The job ran past its execution duration."""


class JobContext:
    """Handed to every job function as ``ctx``.

    Attributes
    ----------
    job_id, kind, run_id, owner
        Identify the job.
    parameters
        The submitted parameters (``uws.Parameters``), also passed as the first argument.
    job_dir
        ``<results_dir>/<job_id>``: scratch space belongs in ``ctx.scratch_path(...)``.
    deadline
        ``time.monotonic()`` value after which the job has run out of time, or ``None``.
    resources
        Whatever ``skygate/worker.py`` attached to the job kind (query engine, settings).
    attempt
        Which run of the job this is (1, or more after a worker died).
    """

    def __init__(
        self,
        *,
        job_id: str,
        kind: str,
        parameters: Parameters,
        job_dir: Path,
        run_id: str | None = None,
        owner: str | None = None,
        deadline: float | None = None,
        resources: Any = None,
        attempt: int = 1,
    ) -> None:
        self.job_id = job_id
        self.kind = kind
        self.parameters = parameters
        self.job_dir = job_dir
        self.run_id = run_id
        self.owner = owner
        self.deadline = deadline
        self.resources = resources
        self.attempt = attempt
        self.stop_reason: type[JobStopped] | None = None
        self._progress: tuple[int, int] | None = None
        self._results: dict[str, Result] = {}

    # -- reporting -------------------------------------------------------------------------

    def progress(self, done: int, total: int) -> None:
        """Report how far the job is (cheap: stored with the next heartbeat)."""
        self._progress = (int(done), int(total))

    @property
    def last_progress(self) -> tuple[int, int] | None:
        return self._progress

    def checkpoint(self) -> None:
        """Raise ``JobAborted`` or ``JobTimedOut`` when the job must stop; call it often.

        Costs a flag check and a clock read, no I/O.
        """
        if self.stop_reason is not None:
            raise self.stop_reason()
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.stop_reason = JobTimedOut
            raise JobTimedOut()

    def stop(self, reason: type[JobStopped]) -> None:
        """Ask the function to stop at its next checkpoint (called by the runner)."""
        if self.stop_reason is None:
            self.stop_reason = reason

    # -- results ---------------------------------------------------------------------------

    @property
    def results_dir(self) -> Path:
        return self.job_dir / "results"

    def scratch_path(self, name: str) -> Path:
        """A path in the job's scratch directory (created), e.g. to stream a result into
        before handing it to ``add_result``; the directory is removed with the job."""
        scratch = self.job_dir / "scratch"
        scratch.mkdir(parents=True, exist_ok=True)
        return scratch / _safe_name(name)

    def add_result(self, result_id: str, source: ResultSource, mime_type: str) -> Result:
        """Publish a result atomically: written beside its final name, then renamed.

        Parameters
        ----------
        result_id
            ``"result"`` for the primary result; others any URL-safe name.
        source
            ``bytes``; a ``Path`` to a finished file (moved when on the same file system, else
            copied); or a callable ``writer(file)`` that writes the content to a binary file.
        mime_type
            The result's media type, listed in the job document and sent as Content-Type.

        Returns
        -------
        Result
            Also remembered by the context; the job lists it once it is COMPLETED.
        """
        self.checkpoint()
        name = _safe_name(result_id)
        self.results_dir.mkdir(parents=True, exist_ok=True)
        final = self.results_dir / name
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=self.results_dir)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(source, bytes):
                    out.write(source)
                elif isinstance(source, Path):
                    with source.open("rb") as src:
                        shutil.copyfileobj(src, out, 1 << 20)
                else:
                    source(out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if isinstance(source, Path):
            source.unlink(missing_ok=True)
        result = Result(id=name, mime_type=mime_type, size=final.stat().st_size)
        self._results[name] = result
        return result

    @property
    def results(self) -> list[Result]:
        """Results added so far, the primary ``result`` first."""
        return sorted(self._results.values(), key=lambda r: r.id != "result")


def _safe_name(name: str) -> str:
    if not name or "/" in name or "\\" in name or name.startswith(".") or len(name) > 128:
        raise ValueError(f"{name!r} is not a usable result or file name")
    return name
