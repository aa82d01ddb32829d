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
  ``ctx.resources``, ``ctx.attempt``; inline uploads (multipart ``param:`` parts) are files in ``params.files[name]``.

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
    routes = [..., *job_routes("tap", runtime, path="/async")]  # /tap/async, /tap/async/{job_id}/...

``job_routes(kind_name, runtime, path="/async")`` returns Starlette routes for the job list and every job
sub-resource (phase, executionduration, destruction, error, quote, owner, parameters[/name],
results[/id]); they find the running ``uws.system.JobSystem`` at ``runtime.jobs`` (a
``uws.routes.JobsRuntime``, filled in by the ``skygate/app.py`` lifespan). Links are built from
``Settings.base_url`` plus the mount path. Bad input -> 400 text/plain, a request illegal in the
job's phase -> 403, unknown job (or a job of another kind) -> 404; never a 500 for bad input.

Behaviour worth knowing:
- ``PHASE=RUN`` (on creation, in the body or the query string, or POSTed to ``{job}/phase``)
  moves the job to QUEUED before the 303 is sent, after ``check`` passed.
- Blocking ``GET {job}?WAIT=n[&PHASE=...]`` (``-1`` = the server cap ``wait_max``; other negative
  numbers, fractions and words are a 400) returns as soon as the phase changes: an in-process
  notification for this process's changes, PostgreSQL LISTEN/NOTIFY for other processes', and on
  SQLite a fallback poll backing off from 20 ms to ``poll_max`` for other processes' changes.
- Request bodies are read by ``dali.form`` within ``body_max_bytes`` (413 above it); a job keeps
  at most ``body_max_bytes`` of uploaded files and ``INLINE_MAX_BYTES`` of parameter text.
- ABORT and completion race by compare-and-set; the loser changes nothing. An aborted sync
  function stops at its next ``ctx.checkpoint()``, an async one is cancelled.
- Execution duration is enforced (ERROR, "ran out of time"); destruction removes the job and its
  directory (the sweeper runs every ``sweep_interval``).
- A worker that dies (SIGKILL, OOM) stops heart-beating; after ``heartbeat_timeout`` the janitor
  queues the job again (``ctx.attempt`` is then 2) up to ``max_attempts`` runs, then ERROR with
  a clear message. QUEUED jobs are re-sent to the broker at start-up and when they wait longer
  than ``requeue_after`` (a restarted Redis forgets its queue).
- Owner: ``JobSystem.owner_of(request)`` names the caller (``None``: anonymous) and
  ``is_admin(request)`` lets an administrator act on any job; the list shows only the caller's
  jobs and another owner's job answers 404, like a job that does not exist. The authentication
  layer in ``skygate`` sets both; job kinds never see them.

Running it: the ``skygate/app.py`` lifespan calls ``open_job_system(job_config(settings), kinds)``.
Embedded default (no ``SKYGATE_BROKER_URL``): jobs run in the API process, job store SQLite under
``data_dir``. Production: ``SKYGATE_BROKER_URL=redis://...``, job store in PostgreSQL (schema
``uws``), and ``skygate worker --processes N --threads M`` on any number of machines sharing the
store and ``data_dir/results`` (``--queue`` and ``--kinds module:function`` for tests and smoke
checks, e.g. ``--kinds uws.testing:job_kinds``).

Job functions that start other jobs (anomaly chunks) may use a ``JobSystem`` directly:
``create(kind, [Parameter(...)], run=True)``, ``get``, ``wait(job_id, phase, timeout)``,
``abort``, ``delete``.

What lives where:
``models`` (Phase, Job, Parameters, Result, ErrorInfo), ``context`` (JobContext and the stop
exceptions), ``kinds`` (JobKind), ``config`` (JobConfig), ``limits`` (each owner's limits), ``store``
(the JobStore protocol and ``open_store``), ``sql`` (the SQL both stores share), ``sqlite`` /
``postgres`` (the two stores), ``runner`` (runs one job by id:
claim, heartbeats, abort, deadline, results), ``queue`` (the dramatiq actor, the Redis broker with
blocking idle consumers, the in-process queue, worker processes), ``system`` (JobSystem:
create/run/abort/wait/delete, janitor and destruction sweeper), ``xml`` (UWS 1.1 documents),
``routes`` (HTTP), ``testing`` (trivial job kinds for tests and benchmarks).
Tests: tests/uws/ (both stores; ``test_reliability.py`` with real Redis and worker processes).
"""

from uws.context import JobAborted, JobContext, JobStopped, JobTimedOut
from uws.kinds import ErrorRenderer, JobFunction, JobKind, text_error
from uws.models import ErrorInfo, ErrorType, Job, Parameter, Parameters, Phase, Result

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
