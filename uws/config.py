"""How the job system is set up: one frozen value built by ``skygate`` from its settings.

Values only. The fields a ``SKYGATE_*`` setting decides have no default here: their defaults live in
``skygate.settings.Settings`` alone, and ``skygate.worker.job_config`` copies them over. The fields
that only tune the job system itself (heartbeats, polling, sweeping) keep their defaults here.
Tests build their own with short intervals (``dataclasses.replace`` of ``job_config(Settings())``).
Tests: tests/uws/test_system.py, tests/uws/test_worker.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["JobConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class JobConfig:
    """Job-system configuration shared by the API processes and the workers.

    Attributes
    ----------
    store_url
        ``sqlite:///<path>`` (embedded) or ``postgresql://...`` (production).
    results_dir
        Where each job's files live (``<results_dir>/<job_id>/``); shared by every machine.
    broker_url
        ``redis://...`` to queue jobs for ``skygate worker`` processes; empty runs them in the
        API process (``local_workers`` at a time).
    base_url
        The public URL job links are built from (``Settings.base_url``); empty = the request's.
    queue_name
        The dramatiq queue (tests use a unique one per run).
    execution_duration, execution_duration_max
        Default and largest execution duration in seconds (0 = unlimited is replaced by the max).
    destruction_days
        Default lifetime of a job; ``destruction`` may be moved, not beyond this from now.
    wait_max
        Cap in seconds for blocking ``WAIT`` (``WAIT=-1``, "as long as allowed", means this).
    heartbeat_interval, heartbeat_timeout
        Workers record a heartbeat this often; an EXECUTING job silent for ``heartbeat_timeout``
        has lost its worker and is re-queued (up to ``max_attempts`` runs) or failed.
    requeue_after
        A job QUEUED this long without starting is sent to the broker again (lost messages after
        a broker restart); duplicates are harmless because starting is a compare-and-set.
    sweep_interval
        How often the janitor and the destruction sweeper run (0 disables them).
    poll_interval, poll_max
        A blocking WAIT re-reads the phase after ``poll_interval`` seconds, then twice as long
        each time up to ``poll_max`` (a safety net: phase changes wake waiters by notification,
        so only another process's change on a store that cannot notify waits for a poll).
    body_max_bytes
        The largest request body read (``Settings.body_max_bytes``), and the most a job may
        store as parameters (inline values and uploaded file parts together).
    gzip_loopback
        Whether long text results (``dali.compression``) go gzipped to clients on this machine too
        (``Settings.gzip_loopback``); clients elsewhere get them gzipped when they accept it.
    max_active_per_owner
        Most jobs one owner may have QUEUED or EXECUTING; one more is refused (HTTP 429) until one
        ends (0: no limit). The anonymous caller counts as one owner.
    max_running_per_owner
        Most jobs of one owner that run at once (0: no limit). A worker that picks up a job of an
        owner at the limit puts it back for ``defer_seconds`` and takes the next message, so one
        owner's thousand queued jobs do not keep another owner's single job waiting.
    defer_seconds
        How long such a job waits before it is offered to a worker again.
    max_result_bytes_per_owner
        Most bytes the results of one owner's jobs may keep (0: no limit): at the limit a new job
        is refused (HTTP 429), and a job whose results would go over it ends in ERROR, its results
        dropped.
    worker_poll_ms
        dramatiq's worker timeout: the longest back-off of a consumer whose prefetch is full, and
        how often idle worker threads wake (idle consumers block on Redis instead of polling).
    """

    # From the settings (``skygate.worker.job_config``): no defaults of their own.
    store_url: str
    results_dir: Path
    broker_url: str
    base_url: str
    queue_name: str
    execution_duration: int
    execution_duration_max: int
    destruction_days: float
    wait_max: int
    body_max_bytes: int
    gzip_loopback: bool
    max_active_per_owner: int
    max_running_per_owner: int
    max_result_bytes_per_owner: int
    # The job system's own tuning.
    local_workers: int = 4
    heartbeat_interval: float = 1.0
    heartbeat_timeout: float = 30.0
    max_attempts: int = 2
    requeue_after: float = 60.0
    sweep_interval: float = 10.0
    poll_interval: float = 0.02
    poll_max: float = 1.0
    worker_poll_ms: int = 100
    defer_seconds: float = 1.0
