"""Service configurations for tests, built the way the application builds them: ``Settings`` holds
every default, so a test changes only what it is about (``dataclasses.replace`` of the assembled value)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from skygate.assembly import tap_config as assembled_tap_config
from skygate.settings import Settings
from skygate.worker import job_config as assembled_job_config
from tap.service import TapConfig
from uws.config import JobConfig


def job_config(**changes: Any) -> JobConfig:
    """The job-system configuration of the default settings, with ``changes``; job links are built
    from the request's URL (``base_url`` empty), as the tests' clients address ``http://testserver``."""
    return replace(assembled_job_config(Settings()), **{"base_url": "", **changes})


def tap_config(**changes: Any) -> TapConfig:
    """TAP's configuration of the default settings, with ``changes``."""
    return replace(assembled_tap_config(Settings()), **changes)
