"""UWS 1.1, generic over job kinds: job model and store (phase changes by compare-and-set), the
HTTP resource tree and its XML, blocking WAIT, the dramatiq queue, duration and destruction limits.

Every long-running thing (TAP async queries, SODA async and bulk cutouts, anomaly scoring) is a
UWS job of some *kind*. Services never see the store or the queue; they write a job function and
mount the routes.

Writing a job kind (in the service's ``jobs.py``)::

    from dali.errors import UsageError
    from uws import JobContext, Parameters, Result

    def run_cutouts(params: Parameters, ctx: JobContext) -> list[Result]:
        ids = params.getall("ID")                  # case-insensitive multi-dict of submitted values
        if not ids:
            raise UsageError("ID is required", param="ID")   # -> ERROR, errorSummary type fatal
        for i, one in enumerate(ids):
            ctx.checkpoint()                       # raises when ABORTed or out of time: let it propagate
            ctx.progress(i, len(ids))
            ...
        return [ctx.add_result("result", data_bytes, "application/fits")]   # atomic write+rename

    async def run_query(params: Parameters, ctx: JobContext) -> list[Result]:
        engine = ctx.resources.engine              # attached by skygate/worker.py
        path = ctx.scratch_path("result.xml")      # stream a big result here, then publish it:
        ...                                        # an ``async def`` is *cancelled* on ABORT/deadline
        return [ctx.add_result("result", path, "application/x-votable+xml")]

- Sync functions run in a worker thread and must call ``ctx.checkpoint()`` regularly; async ones
  are cancelled (``asyncio.CancelledError``) so a running database statement is cancelled too.
- ``UsageError`` -> ERROR/fatal with its message; ``TransientError`` -> ERROR/transient;
  ``FatalError`` or any other exception -> ERROR/fatal with a generic message (logged with traceback).
- ``ctx.add_result(result_id, source, mime_type)``: ``source`` is ``bytes``, a ``Path`` to a finished
  file (e.g. from ``ctx.scratch_path``) or ``writer(binary_file)``. Results appear in the job
  (``{job}/results/{id}``) when it is COMPLETED; ``"result"`` is the primary one (pyvo fetches it).
- ``ctx.job_id``, ``ctx.run_id``, ``ctx.owner``, ``ctx.parameters``, ``ctx.job_dir``,
  ``ctx.resources``; inline uploads (multipart ``param:`` parts) are files in ``params.files[name]``.

Registering it (``skygate/worker.py``, the job-kind table)::

    JobKind("soda-async", soda.jobs.run_cutouts, check=soda.jobs.check,
            error_document=soda.jobs.error_text, multi_valued=frozenset({"id", "pos"}))

``check(params)`` (optional, cheap, no I/O) runs in the API when the job is asked to run: a
``UsageError`` there puts the job in ERROR at once (UWS pitfall 6). ``error_document(ErrorInfo)``
renders ``{job}/error`` as ``(bytes, content_type)`` (TAP: DALI error VOTable; default text/plain).
Worker-side resources reach the function through ``JobKind.resources`` (-> ``ctx.resources``) or
``functools.partial``; services never import ``skygate``.

Mounting the UWS resource tree (in the service's ``routes.py``)::

    from uws.routes import job_routes
    routes = [..., *job_routes("tap", path="/async")]       # /tap/async, /tap/async/{job_id}/...

``job_routes(kind_name, path="/async")`` returns Starlette routes for the job list and every job
sub-resource; they find the running ``uws.system.JobSystem`` at ``request.app.state.uws`` (opened
by the ``skygate/app.py`` lifespan with ``uws.system.open_job_system(config, kinds)``).

What lives where:
``models`` (Phase, Job, JobKind, Parameters, Result, ErrorInfo), ``context`` (JobContext and the stop
exceptions), ``store`` (the JobStore protocol and ``open_store``), ``sqlite`` / ``postgres`` (the two
stores), ``runner`` (runs one job by id: heartbeats, abort, deadline, results), ``queue`` (the
dramatiq actor and the in-process queue), ``system`` (JobSystem: create/run/abort/wait/delete,
janitor and destruction sweeper), ``xml`` (UWS 1.1 documents), ``routes`` (HTTP), ``testing``
(trivial job kinds for tests and benchmarks).
"""

from uws.context import JobAborted, JobContext, JobStopped, JobTimedOut
from uws.models import (
    ErrorInfo,
    ErrorRenderer,
    ErrorType,
    Job,
    JobFunction,
    JobKind,
    Parameter,
    Parameters,
    Phase,
    Result,
    text_error,
)

__all__ = [
    "ErrorInfo",
    "ErrorRenderer",
    "ErrorType",
    "Job",
    "JobAborted",
    "JobContext",
    "JobFunction",
    "JobKind",
    "JobStopped",
    "JobTimedOut",
    "Parameter",
    "Parameters",
    "Phase",
    "Result",
    "text_error",
]
