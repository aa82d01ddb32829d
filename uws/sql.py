"""The SQL both job stores share (``uws.sqlite``, ``uws.postgres``): the columns, the row encoding
of a job and its changes, and ``SqlJobStore`` with every statement written once.

Tests: tests/uws/test_store.py (run against both stores).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from uws.models import ErrorInfo, ErrorType, Job, Parameter, Phase, Result

__all__ = [
    "CHANGE_COLUMNS",
    "JOB_COLUMNS",
    "Listener",
    "SqlJobStore",
    "encode_change",
    "from_epoch",
    "job_to_row",
    "row_to_job",
    "to_epoch",
]

# Told about each phase change: (job id, new phase, or None when the job was deleted).
Listener = Callable[[str, Phase | None], None]

# Column order of every SELECT both stores make.
JOB_COLUMNS = (
    "job_id", "kind", "phase", "owner", "run_id", "creation_time", "execution_duration",
    "destruction", "parameters", "start_time", "end_time", "results", "error_type",
    "error_message", "attempts", "heartbeat", "progress_done", "progress_total",
)
# What ``transition`` may change besides the phase, and the columns each change writes.
CHANGE_COLUMNS: dict[str, tuple[str, ...]] = {
    "start_time": ("start_time",),
    "end_time": ("end_time",),
    "results": ("results",),
    "error": ("error_type", "error_message"),
    "attempts": ("attempts",),
    "heartbeat": ("heartbeat",),
    "enqueued_at": ("enqueued_at",),
    "parameters": ("parameters",),
    "execution_duration": ("execution_duration",),
    "run_id": ("run_id",),
    "progress": ("progress_done", "progress_total"),
}


def to_epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def from_epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def job_to_row(job: Job) -> tuple[Any, ...]:
    """Values for ``JOB_COLUMNS`` of a new job."""
    return (
        job.job_id, job.kind, job.phase.value, job.owner or "", job.run_id, to_epoch(job.creation_time),
        job.execution_duration, to_epoch(job.destruction), _params_json(job.parameters),
        to_epoch(job.start_time), to_epoch(job.end_time), _results_json(job.results),
        job.error.type.value if job.error else None, job.error.message if job.error else None,
        job.attempts, to_epoch(job.heartbeat),
        job.progress[0] if job.progress else None, job.progress[1] if job.progress else None,
    )


def row_to_job(row: Sequence[Any]) -> Job:
    (job_id, kind, phase, owner, run_id, creation, duration, destruction, params, start, end,
     results, error_type, error_message, attempts, heartbeat, done, total) = row
    creation_time = from_epoch(creation)
    assert creation_time is not None
    return Job(
        job_id=job_id, kind=kind, phase=Phase(phase), owner=owner or None, run_id=run_id,
        creation_time=creation_time, execution_duration=int(duration),
        destruction=from_epoch(destruction),
        parameters=tuple(Parameter(n, v, bool(r)) for n, v, r in json.loads(params)),
        start_time=from_epoch(start), end_time=from_epoch(end),
        results=tuple(Result(r["id"], r["mime_type"], int(r["size"])) for r in json.loads(results)),
        error=ErrorInfo(ErrorType(error_type), error_message or "") if error_type else None,
        attempts=int(attempts), heartbeat=from_epoch(heartbeat),
        progress=(int(done), int(total)) if done is not None and total is not None else None,
    )


def encode_change(name: str, value: Any) -> tuple[Any, ...]:
    """The column values ``transition`` writes for one named change."""
    if name not in CHANGE_COLUMNS:
        raise ValueError(f"transition cannot change {name!r}")
    if name in ("start_time", "end_time", "heartbeat", "enqueued_at"):
        return (to_epoch(value),)
    if name == "results":
        return (_results_json(value),)
    if name == "parameters":
        return (_params_json(value),)
    if name == "run_id":
        return (value,)
    if name == "error":
        return (value.type.value, value.message) if value is not None else (None, None)
    if name == "progress":
        return (int(value[0]), int(value[1])) if value is not None else (None, None)
    return (int(value),)


def _params_json(params: Sequence[Parameter]) -> str:
    return json.dumps([[p.name, p.value, p.by_reference] for p in params])


def _results_json(results: Sequence[Result]) -> str:
    return json.dumps([{"id": r.id, "mime_type": r.mime_type, "size": r.size} for r in results])


class SqlJobStore:
    """The SQL both stores share; subclasses say how to run a statement and name the table.

    Every statement is written with ``?`` placeholders (the PostgreSQL store renumbers them).
    """

    table = "uws_jobs"
    notifies_across_processes = False
    # The sum of the sizes in an owner's results (a JSON list per job; SQLite's JSON1 functions).
    _result_bytes_sql = ("SELECT SUM(json_extract(r.value, '$.size')) FROM {table}, json_each({table}.results) AS r "
                         "WHERE owner = ?")

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    @property
    def _select(self) -> str:
        return f"SELECT {', '.join(JOB_COLUMNS)} FROM {self.table}"

    async def _execute(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        """Run a statement; the number of rows it changed."""
        raise NotImplementedError

    async def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[Sequence[Any]]:
        raise NotImplementedError

    async def _update_phase(self, sql: str, args: tuple[Any, ...], job_id: str, to: Phase | None) -> bool:
        """Run a statement that sets a job's phase to ``to`` (``None``: deletes it); tell the
        listeners when it changed a row."""
        won = await self._execute(sql, args) == 1
        if won:
            self._changed(job_id, to)
        return won

    async def _update_phase_returning(
        self, sql: str, args: tuple[Any, ...], job_id: str, to: Phase
    ) -> Sequence[Any] | None:
        """Like ``_update_phase`` for an UPDATE; the changed row (``JOB_COLUMNS``) or None."""
        rows = await self._query(f"{sql} RETURNING {', '.join(JOB_COLUMNS)}", args)
        if rows:
            self._changed(job_id, to)
        return rows[0] if rows else None

    async def claim(self, job_id: str, now: datetime) -> Job | None:
        sql = (f"UPDATE {self.table} SET phase = 'EXECUTING', start_time = ?, heartbeat = ?, "
               "attempts = attempts + 1 WHERE job_id = ? AND phase = 'QUEUED'")
        row = await self._update_phase_returning(sql, (to_epoch(now), to_epoch(now), job_id), job_id,
                                                 Phase.EXECUTING)
        return row_to_job(row) if row is not None else None

    def _changed(self, job_id: str, phase: Phase | None) -> None:
        for callback in list(self._listeners):
            callback(job_id, phase)

    def subscribe(self, callback: Listener) -> None:
        self._listeners.append(callback)

    async def create(self, job: Job, *, enqueued_at: datetime | None = None) -> None:
        columns = (*JOB_COLUMNS, "enqueued_at")
        sql = f"INSERT INTO {self.table} ({', '.join(columns)}) {self._new_row(len(columns))}"
        await self._execute(sql, (*job_to_row(job), to_epoch(enqueued_at)))

    def _new_row(self, n: int) -> str:
        """What ``create`` inserts: ``n`` placeholders."""
        return f"VALUES ({', '.join('?' * n)})"

    async def get(self, job_id: str) -> Job | None:
        rows = await self._query(f"{self._select} WHERE job_id = ?", (job_id,))
        return row_to_job(rows[0]) if rows else None

    async def phase(self, job_id: str) -> Phase | None:
        rows = await self._query(f"SELECT phase FROM {self.table} WHERE job_id = ?", (job_id,))
        return Phase(rows[0][0]) if rows else None

    async def list_jobs(
        self, *, kind: str, owner: str | None, phases: Collection[Phase] | None = None,
        after: datetime | None = None, last: int | None = None,
    ) -> list[Job]:
        where = ["kind = ?", "owner = ?"]
        args: list[Any] = [kind, owner or ""]
        if phases:
            where.append(f"phase IN ({', '.join('?' * len(phases))})")
            args.extend(p.value for p in phases)
        else:
            where.append("phase <> 'ARCHIVED'")
        if after is not None:
            where.append("creation_time > ?")
            args.append(to_epoch(after))
        sql = f"{self._select} WHERE {' AND '.join(where)} ORDER BY creation_time DESC, job_id"
        if last is not None:
            sql += " LIMIT ?"
            args.append(last)
        rows = await self._query(sql, tuple(args))
        return [row_to_job(r) for r in rows]

    async def result_bytes(self, owner: str | None) -> int:
        """The bytes the results of ``owner``'s jobs keep (their recorded sizes)."""
        rows = await self._query(self._result_bytes_sql.format(table=self.table), (owner or "",))
        return int(rows[0][0] or 0)

    async def count_owned(self, owner: str | None, phases: Collection[Phase]) -> int:
        marks = ", ".join("?" * len(phases))
        rows = await self._query(f"SELECT COUNT(*) FROM {self.table} WHERE owner = ? AND phase IN ({marks})",
                                 (owner or "", *(p.value for p in phases)))
        return int(rows[0][0])

    async def transition(
        self, job_id: str, from_: Phase | Collection[Phase], to: Phase, *, attempt: int | None = None,
        **changes: Any,
    ) -> bool:
        sources = [from_] if isinstance(from_, Phase) else list(from_)
        sets, args = ["phase = ?"], [to.value]
        for name, value in changes.items():
            sets.extend(f"{c} = ?" for c in CHANGE_COLUMNS.get(name, (name,)))
            args.extend(encode_change(name, value))
        sql = (f"UPDATE {self.table} SET {', '.join(sets)} WHERE job_id = ? "
               f"AND phase IN ({', '.join('?' * len(sources))})")
        where_args: tuple[Any, ...] = (job_id, *(p.value for p in sources))
        if attempt is not None:
            sql += " AND attempts = ?"
            where_args = (*where_args, attempt)
        won = await self._update_phase(sql, (*args, *where_args), job_id, to)
        return won

    async def set_destruction(self, job_id: str, when: datetime | None) -> bool:
        sql = f"UPDATE {self.table} SET destruction = ? WHERE job_id = ?"
        return await self._execute(sql, (to_epoch(when), job_id)) == 1

    async def heartbeat(
        self, job_id: str, progress: tuple[int, int] | None, *, attempt: int | None = None
    ) -> Phase | None:
        done, total = progress if progress else (None, None)
        sql = (f"UPDATE {self.table} SET heartbeat = ?, progress_done = coalesce(?, progress_done), "
               "progress_total = coalesce(?, progress_total) WHERE job_id = ? AND phase = 'EXECUTING'")
        args: tuple[Any, ...] = (to_epoch(datetime.now(UTC)), done, total, job_id)
        if attempt is not None:
            sql += " AND attempts = ?"
            args = (*args, attempt)
        if await self._execute(sql, args) == 1:
            return Phase.EXECUTING
        phase = await self.phase(job_id)
        # EXECUTING under another attempt: the job was given to another worker meanwhile.
        return Phase.QUEUED if phase is Phase.EXECUTING else phase

    async def delete(self, job_id: str) -> bool:
        won = await self._update_phase(f"DELETE FROM {self.table} WHERE job_id = ?", (job_id,), job_id, None)
        return won

    async def stale(self, heartbeat_before: datetime) -> list[Job]:
        sql = f"{self._select} WHERE phase = 'EXECUTING' AND coalesce(heartbeat, start_time, 0) < ?"
        return [row_to_job(r) for r in await self._query(sql, (to_epoch(heartbeat_before),))]

    async def waiting(self, enqueued_before: datetime) -> list[str]:
        sql = f"SELECT job_id FROM {self.table} WHERE phase = 'QUEUED' AND coalesce(enqueued_at, 0) < ?"
        return [r[0] for r in await self._query(sql, (to_epoch(enqueued_before),))]

    async def expired(self, now: datetime) -> list[str]:
        sql = f"SELECT job_id FROM {self.table} WHERE destruction IS NOT NULL AND destruction < ?"
        return [r[0] for r in await self._query(sql, (to_epoch(now),))]
