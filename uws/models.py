"""The UWS job model: phases, parameters, results, errors and jobs (job kinds: ``uws.kinds``).

Plain values only: no HTTP, no database, no queue. Tests: tests/uws/test_context.py (Parameters).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from dali.params import DaliParams, collect

__all__ = [
    "ACTIVE_PHASES",
    "FINAL_PHASES",
    "ErrorInfo",
    "ErrorType",
    "Job",
    "Parameter",
    "Parameters",
    "Phase",
    "Result",
]


class Phase(StrEnum):
    """UWS 1.1 execution phases (UWS.xsd ``ExecutionPhase``)."""

    PENDING = "PENDING"
    QUEUED = "QUEUED"
    EXECUTING = "EXECUTING"
    COMPLETED = "COMPLETED"
    ERROR = "ERROR"
    ABORTED = "ABORTED"
    UNKNOWN = "UNKNOWN"
    HELD = "HELD"
    SUSPENDED = "SUSPENDED"
    ARCHIVED = "ARCHIVED"


# WAIT blocks only in these phases (UWS 1.1 §2.2.3.1).
ACTIVE_PHASES = frozenset({Phase.PENDING, Phase.QUEUED, Phase.EXECUTING})
FINAL_PHASES = frozenset({Phase.COMPLETED, Phase.ERROR, Phase.ABORTED, Phase.ARCHIVED})


class ErrorType(StrEnum):
    """``errorSummary/@type``: may the same request succeed later?"""

    TRANSIENT = "transient"
    FATAL = "fatal"


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """Why a job ended in ERROR: shown in ``errorSummary`` and rendered at ``/error``."""

    type: ErrorType
    message: str


@dataclass(frozen=True, slots=True)
class Parameter:
    """One submitted job parameter, in submission order.

    ``by_reference`` marks an inline upload (a multipart file part): ``value`` is then the file
    name under the job's ``params`` directory, and the file is given to job functions through
    ``Parameters.files``.
    """

    name: str
    value: str
    by_reference: bool = False


class Parameters(Mapping[str, str]):
    """The submitted parameters: a case-insensitive multi-dict.

    ``params["query"]`` is the last value sent for ``QUERY`` (any case); ``params.getall("upload")``
    every value in order; ``params.files`` maps the lower-cased name of each inline upload to its
    file. Iteration yields each distinct name once, lower-cased.
    """

    __slots__ = ("files", "items_")

    def __init__(self, items: Iterable[Parameter] = (), files: Mapping[str, Path] | None = None) -> None:
        self.items_: tuple[Parameter, ...] = tuple(items)
        self.files: Mapping[str, Path] = dict(files or {})

    def __getitem__(self, name: str) -> str:
        values = self.getall(name)
        if not values:
            raise KeyError(name)
        return values[-1]

    def __iter__(self) -> Iterator[str]:
        seen: dict[str, None] = {}
        for p in self.items_:
            seen.setdefault(p.name.lower(), None)
        return iter(seen)

    def __len__(self) -> int:
        return len({p.name.lower() for p in self.items_})

    def getall(self, name: str) -> list[str]:
        """Every value sent for ``name`` (case-insensitive), in order."""
        key = name.lower()
        return [p.value for p in self.items_ if p.name.lower() == key]

    def inline(self) -> DaliParams:
        """The values sent inline as ``dali.params.DaliParams``, the structure a request's parameters
        arrive in, so a job kind parses them as its sync endpoint does (inline uploads are ``files``)."""
        return collect((p.name, p.value) for p in self.items_ if not p.by_reference)

    def __repr__(self) -> str:
        return f"Parameters({list(self.items_)!r})"


@dataclass(frozen=True, slots=True)
class Result:
    """A finished result file of a job: ``<results_dir>/<job_id>/results/<id>`` on disk.

    ``id="result"`` is the primary result that clients such as pyvo fetch.
    """

    id: str
    mime_type: str
    size: int


@dataclass(frozen=True, slots=True)
class Job:
    """Everything the store knows about one job."""

    job_id: str
    kind: str
    phase: Phase
    owner: str | None
    run_id: str | None
    creation_time: datetime
    execution_duration: int
    destruction: datetime | None
    parameters: tuple[Parameter, ...] = ()
    start_time: datetime | None = None
    end_time: datetime | None = None
    results: tuple[Result, ...] = ()
    error: ErrorInfo | None = None
    attempts: int = 0
    heartbeat: datetime | None = None
    progress: tuple[int, int] | None = None
