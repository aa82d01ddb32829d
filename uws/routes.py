"""The UWS 1.1 HTTP resource tree of one job list, for any job kind.

``job_routes(kind, path)`` gives a service the routes for ``{path}`` (the job list) and every
``{path}/{job_id}/...`` resource. Handlers find the ``JobSystem`` on the ``JobsRuntime`` the service
hands them (``runtime.jobs``: None until the application's lifespan has opened it).
Parameters come urlencoded or multipart, in the body or the query string, read by ``dali.form``
within ``JobConfig.body_max_bytes``; names are case-insensitive. Bad input gets 400 text/plain,
a request over a size limit 413, an illegal request for the job's phase 403, an unknown job
404 — never a 500. Tests: tests/uws/test_routes.py, tests/skygate/test_request_limits.py.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import secrets
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from dali.compression import COMPRESSED_KINDS, GZIP_MIN_BYTES, gzip_stream, gzip_wanted
from dali.errors import TooLargeError, TransientError, UsageError, escaped
from dali.form import FormLimits, read_request
from dali.params import DaliParams, FilePart
from dali.writers import resolve_format
from uws.models import ACTIVE_PHASES, Job, Parameter, Phase
from uws.system import JobNotFound, JobSystem, PhaseConflict, QuotaExceeded
from uws.xml import format_time, job_document, jobs_document, parameters_document, results_document

__all__ = ["CONTROL_PARAMETERS", "JobsRuntime", "job_routes"]

log = logging.getLogger(__name__)

XML = "text/xml; charset=utf-8"
# Job-control parameters a creating POST may carry; they are not job parameters.
CONTROL_PARAMETERS = frozenset({"phase", "executionduration", "destruction"})
_FILE_NAME = re.compile(r"[^A-Za-z0-9_.-]")

Handler = Callable[[Request], Awaitable[Response]]


class JobsRuntime(Protocol):
    """Where the routes find the running job system. Read on every request, not when the routes are
    built: the application opens the job system in its lifespan, after assembling the routes."""

    @property
    def jobs(self) -> JobSystem | None: ...


def job_routes(kind: str, runtime: JobsRuntime, path: str = "/async") -> list[BaseRoute]:
    """Routes for the UWS job list of ``kind`` at ``path`` (relative to where they are mounted).

    Parameters
    ----------
    kind
        A job-kind name registered in ``skygate/worker.py``.
    runtime
        Holds the running ``JobSystem`` (``runtime.jobs``; None: the job service is not running).
    path
        The job list's path, e.g. ``"/async"`` inside the service's mount (``/tap``).

    Returns
    -------
    list[BaseRoute]
        GET/POST ``{path}``; GET/POST/DELETE ``{path}/{job_id}``; ``phase``,
        ``executionduration``, ``destruction`` (GET/POST); ``error``, ``quote``, ``owner``,
        ``results``, ``results/{result_id}``, ``parameters`` (GET/POST), ``parameters/{name}``.
    """
    h = _Handlers(kind, path.rstrip("/"), runtime)
    job = f"{h.path}/{{job_id}}"
    return [
        Route(h.path, h.job_list, methods=["GET", "POST"]),
        Route(job, h.job, methods=["GET", "POST", "DELETE"]),
        Route(f"{job}/phase", h.phase, methods=["GET", "POST"]),
        Route(f"{job}/executionduration", h.execution_duration, methods=["GET", "POST"]),
        Route(f"{job}/destruction", h.destruction, methods=["GET", "POST"]),
        Route(f"{job}/error", h.error, methods=["GET"]),
        Route(f"{job}/quote", h.quote, methods=["GET"]),
        Route(f"{job}/owner", h.owner, methods=["GET"]),
        Route(f"{job}/parameters", h.parameters, methods=["GET", "POST"]),
        Route(f"{job}/parameters/{{name}}", h.parameter, methods=["GET"]),
        Route(f"{job}/results", h.results, methods=["GET"]),
        Route(f"{job}/results/{{result_id}}", h.result, methods=["GET"]),
    ]


def _answers(handler: Handler) -> Handler:
    """Turn the job system's refusals into UWS status codes with a text/plain reason."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except JobNotFound:
            return _text("No such job.\n", 404)
        except PhaseConflict as exc:
            return _text(f"{exc}\n", 403)
        except QuotaExceeded as exc:
            response = _text(f"{exc}\n", 429)
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        except TooLargeError as exc:
            return _text(f"{exc}\n", 413)
        except UsageError as exc:
            return _text(f"{exc}\n", 400)
        except TransientError as exc:
            return _text(f"{exc}\n", 503)
        except HTTPException:
            raise
        except Exception:
            log.exception("UWS request %s %s failed", request.method, escaped(request.url.path))
            return _text("The job service failed; the problem has been logged.\n", 500)

    return wrapped


class _Handlers:
    def __init__(self, kind: str, path: str, runtime: JobsRuntime) -> None:
        self.kind = kind
        self.path = path
        self.runtime = runtime
        for name in ("job_list", "job", "phase", "execution_duration", "destruction", "error", "quote",
                     "owner", "parameters", "parameter", "results", "result"):
            setattr(self, name, _answers(getattr(self, name)))

    # -- helpers ---------------------------------------------------------------------------

    def _system(self, request: Request) -> JobSystem:
        system = self.runtime.jobs
        if system is None or self.kind not in system.kinds:
            raise TransientError("The job service is not running.")
        return system

    def _list_url(self, request: Request) -> str:
        system = self._system(request)
        scope = request.scope
        app_root = scope.get("app_root_path", scope.get("root_path", ""))
        prefix = scope.get("root_path", "")[len(app_root):]
        base = system.config.base_url or f"{request.url.scheme}://{request.url.netloc}{app_root}"
        return f"{base.rstrip('/')}{prefix}{self.path}"

    def _job_url(self, request: Request, job_id: str) -> str:
        return f"{self._list_url(request)}/{job_id}"

    async def _job(self, request: Request) -> tuple[JobSystem, Job]:
        system = self._system(request)
        job = await system.get(request.path_params["job_id"], kind=self.kind, owner=system.owner_of(request),
                               admin=system.is_admin(request))
        return system, job

    def _to_job(self, request: Request, job_id: str) -> Response:
        return RedirectResponse(self._job_url(request, job_id), status_code=303)

    # -- the job list ----------------------------------------------------------------------

    async def job_list(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._create(request)
        system = self._system(request)
        query = await _params(request, system)
        phases = [_phase(v) for v in query.getall("PHASE")]
        after = _single(query, "AFTER")
        last = _single(query, "LAST")
        jobs = await system.list_jobs(
            self.kind, system.owner_of(request), phases=phases or None,
            after=_time(after, "AFTER") if after is not None else None,
            last=_count(last, "LAST") if last is not None else None,
        )
        return Response(jobs_document(jobs, self._list_url(request)), media_type=XML)

    async def _create(self, request: Request) -> Response:
        system = self._system(request)
        job_id = system.new_job_id()
        control: dict[str, str] = {}
        params: list[Parameter] = []
        for name, value in (await _params(request, system)).items:
            if name.lower() in CONTROL_PARAMETERS and isinstance(value, str):
                control[name.lower()] = value
            elif isinstance(value, str):
                params.append(Parameter(name, value))
            else:
                params.append(await _save_upload(system.job_dir(job_id), name, value))
        try:
            run = False
            if "phase" in control:
                if _phase(control["phase"]) is not Phase.EXECUTING:
                    raise UsageError("PHASE on job creation may only be RUN", param="PHASE")
                run = True
            duration = _count(control["executionduration"], "EXECUTIONDURATION", signed=True) \
                if "executionduration" in control else None
            destruction = _time(control["destruction"], "DESTRUCTION") if "destruction" in control else None
            job = await system.create(
                self.kind, params, owner=system.owner_of(request), execution_duration=duration,
                destruction=destruction, run=run, job_id=job_id,
            )
        except BaseException:
            # refused: drop the inline uploads saved for the job that was not created
            if any(p.by_reference for p in params):
                await asyncio.to_thread(shutil.rmtree, system.job_dir(job_id), True)
            raise
        return self._to_job(request, job.job_id)

    # -- the job ---------------------------------------------------------------------------

    async def job(self, request: Request) -> Response:
        if request.method == "DELETE":
            return await self._delete(request)
        if request.method == "POST":
            action = _single(await _params(request, self._system(request)), "ACTION")
            if action is None:
                raise PhaseConflict("Job parameters cannot be posted to the job; use its /parameters.")
            if action.upper() != "DELETE":
                raise UsageError(f"Unknown ACTION {action!r}: only DELETE is supported.", param="ACTION")
            return await self._delete(request)
        query = await _params(request, self._system(request))
        wait = _single(query, "WAIT")
        if wait is None:
            system, job = await self._job(request)
        else:
            system = self._system(request)
            seconds = _wait_seconds(wait, system.config.wait_max)
            condition = _single(query, "PHASE")
            wanted = _phase(condition) if condition is not None else None
            with system.watch(request.path_params["job_id"]) as waiter:  # before reading the job
                system, job = await self._job(request)
                if seconds > 0 and job.phase in ACTIVE_PHASES and wanted in (None, job.phase):
                    await system.wait(job.job_id, job.phase, seconds, waiter=waiter)
                    system, job = await self._job(request)
        return Response(job_document(job, self._job_url(request, job.job_id)), media_type=XML)

    async def _delete(self, request: Request) -> Response:
        system, job = await self._job(request)
        await system.delete(job.job_id)
        return RedirectResponse(self._list_url(request), status_code=303)

    async def phase(self, request: Request) -> Response:
        system, job = await self._job(request)
        if request.method == "GET":
            return _text(job.phase.value)
        value = _single(await _params(request, system), "PHASE")
        if value is None:
            raise UsageError("PHASE is required: RUN or ABORT", param="PHASE")
        if value.upper() == "RUN":
            await system.run(job)
        elif value.upper() == "ABORT":
            await system.abort(job.job_id)
        else:
            raise UsageError(f"Unknown PHASE {value!r}: use RUN or ABORT", param="PHASE")
        return self._to_job(request, job.job_id)

    async def execution_duration(self, request: Request) -> Response:
        system, job = await self._job(request)
        if request.method == "GET":
            return _text(str(job.execution_duration))
        value = _single(await _params(request, system), "EXECUTIONDURATION")
        if value is None:
            raise UsageError("EXECUTIONDURATION is required (seconds)", param="EXECUTIONDURATION")
        await system.set_execution_duration(job, _count(value, "EXECUTIONDURATION", signed=True))
        return self._to_job(request, job.job_id)

    async def destruction(self, request: Request) -> Response:
        system, job = await self._job(request)
        if request.method == "GET":
            return _text(format_time(job.destruction) if job.destruction else "")
        value = _single(await _params(request, system), "DESTRUCTION")
        if value is None:
            raise UsageError("DESTRUCTION is required (an ISO 8601 time)", param="DESTRUCTION")
        await system.set_destruction(job, _time(value, "DESTRUCTION"))
        return self._to_job(request, job.job_id)

    async def error(self, request: Request) -> Response:
        system, job = await self._job(request)
        if job.phase is not Phase.ERROR or job.error is None:
            return _text("This job has no error.\n", 404)
        body, content_type = system.kind(job.kind).error_document(job.error)
        return Response(body, media_type=content_type)

    async def quote(self, request: Request) -> Response:
        await self._job(request)
        return _text("")  # "don't know" (UWS 1.1 §2.2.3.3)

    async def owner(self, request: Request) -> Response:
        _, job = await self._job(request)
        return _text(job.owner or "")

    async def parameters(self, request: Request) -> Response:
        system, job = await self._job(request)
        if request.method == "GET":
            return Response(parameters_document(job, self._job_url(request, job.job_id)), media_type=XML)
        if job.phase is not Phase.PENDING:
            raise PhaseConflict(f"Parameters can only be changed while the job is PENDING, not {job.phase}.")
        new: list[Parameter] = []
        try:
            for name, value in (await _params(request, system)).items:
                if isinstance(value, str):
                    new.append(Parameter(name, value))
                else:
                    new.append(await _save_upload(system.job_dir(job.job_id), name, value))
            await system.set_parameters(job, new)
        except BaseException:
            # refused: drop the files saved for parameters that were not set
            for p in new:
                if p.by_reference:
                    (system.job_dir(job.job_id) / "params" / p.value).unlink(missing_ok=True)
            raise
        return self._to_job(request, job.job_id)

    async def parameter(self, request: Request) -> Response:
        system, job = await self._job(request)
        name = request.path_params["name"].lower()
        matches = [p for p in job.parameters if p.name.lower() == name]
        if not matches:
            return _text("No such parameter.\n", 404)
        p = matches[-1]
        if not p.by_reference:
            return _text(p.value)
        path = system.job_dir(job.job_id) / "params" / p.value
        if not path.is_file():
            return _text("The parameter's file is gone.\n", 404)
        return FileResponse(path, media_type="application/octet-stream")

    async def results(self, request: Request) -> Response:
        _, job = await self._job(request)
        return Response(results_document(job, self._job_url(request, job.job_id)), media_type=XML)

    async def result(self, request: Request) -> Response:
        system, job = await self._job(request)
        wanted = request.path_params["result_id"]
        for r in job.results:
            if r.id == wanted:
                path = system.job_dir(job.job_id) / "results" / r.id
                if path.is_file():
                    return _result_file(request, path, r.mime_type, loopback=system.config.gzip_loopback)
        if job.phase is Phase.ERROR and job.error is not None:
            # UWS 1.1 §2.1.3: in ERROR "Results may be unavailable or available but invalid". A
            # client that fetches the result before looking at the phase (astroquery reads
            # results/result first) gets the job's error document, as from {job}/error (UWS 1.1
            # §2.2.2.5, returned with status 200), instead of a bare 404.
            body, content_type = system.kind(job.kind).error_document(job.error)
            return Response(body, media_type=content_type)
        return _text("No such result.\n", 404)


def _result_file(request: Request, path: Path, media_type: str, *, loopback: bool) -> Response:
    """A result file as stored, or gzipped (``dali.compression``) when it is a long text table and the
    client accepts gzip and is elsewhere; a range request or HEAD gets the file as stored."""
    try:
        kind = resolve_format(media_type).kind
    except UsageError:  # not a table format (text/plain, images, models)
        return FileResponse(path, media_type=media_type)
    headers = {"Vary": "Accept-Encoding"} if kind in COMPRESSED_KINDS else None
    if (request.method == "GET" and "range" not in request.headers and path.stat().st_size >= GZIP_MIN_BYTES
            and gzip_wanted(kind, request.headers.get("accept-encoding"),
                            request.client.host if request.client else None, loopback=loopback)):
        return StreamingResponse(gzip_stream((), _file_chunks(path)), media_type=media_type,
                                 headers={"Vary": "Accept-Encoding", "Content-Encoding": "gzip"})
    return FileResponse(path, media_type=media_type, headers=headers)


async def _file_chunks(path: Path, size: int = 1 << 20) -> AsyncIterator[bytes]:
    with path.open("rb") as source:
        while chunk := await asyncio.to_thread(source.read, size):
            yield chunk


# -- parameter parsing ---------------------------------------------------------------------


def _text(body: str, status: int = 200) -> Response:
    return PlainTextResponse(body, status_code=status)


async def _params(request: Request, system: JobSystem) -> DaliParams:
    """The request's parameters (query string, then a POST's body), read by ``dali.form``."""
    return await read_request(request, FormLimits(body_max_bytes=system.config.body_max_bytes))


def _single(params: DaliParams, name: str) -> str | None:
    """The value of a single-valued control parameter (any case), stripped; the same value sent
    twice (in the query string and the body, say) counts once, two different values are an error
    (DALI 1.1 §4.2)."""
    values = set(params.getall(name))
    if not values:
        return None
    if len(values) > 1:
        raise UsageError(f"{name} was given more than once", param=name)
    return values.pop().strip()


async def _save_upload(job_dir: Path, name: str, upload: FilePart) -> Parameter:
    """Store an inline upload (multipart file part) as a by-reference job parameter."""
    file_name = f"{secrets.token_hex(4)}-{_FILE_NAME.sub('_', name)[:64]}"
    target = job_dir / "params" / file_name
    await asyncio.to_thread(_write, target, upload.content)
    return Parameter(name, file_name, by_reference=True)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)


def _phase(value: str) -> Phase:
    """A PHASE value; ``RUN`` (job control) is returned as EXECUTING."""
    text = value.strip().upper()
    if text == "RUN":
        return Phase.EXECUTING
    try:
        return Phase(text)
    except ValueError:
        raise UsageError(f"Unknown PHASE {value!r}", param="PHASE",
                         hint="one of " + ", ".join(p.value for p in Phase)) from None


def _count(value: str, name: str, *, signed: bool = False) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise UsageError(f"{name} must be a whole number, not {value!r}", param=name) from None
    if number < 0 and not signed:
        raise UsageError(f"{name} must not be negative", param=name)
    if abs(number) > 2**31 - 1:
        raise UsageError(f"{name} is too large", param=name)
    return number


def _wait_seconds(value: str, wait_max: int) -> float:
    """Seconds to block for ``WAIT``.

    UWS 1.1 (the job resource's blocking behaviour) defines WAIT as a whole number of seconds,
    with ``-1`` asking to wait as long as the server allows; the server may cap any wait and
    should answer within typical TCP timeouts. So: ``-1`` waits ``wait_max`` (documented with
    ``SKYGATE_WAIT_MAX``), larger waits are cut to ``wait_max``, ``0`` answers at once; any
    other negative number, a fraction or a word means nothing in UWS and is a 400, not a
    silent maximum wait.
    """
    number = _count(value, "WAIT", signed=True)
    if number < -1:
        raise UsageError("WAIT must be -1 (as long as allowed) or a number of seconds", param="WAIT")
    if number == -1:
        return float(wait_max)
    return float(min(number, wait_max))


def _time(value: str, name: str) -> datetime:
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{name} must be an ISO 8601 time such as 2030-01-01T00:00:00Z, not {value!r}",
                         param=name) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # UWS times are UTC
    return parsed
