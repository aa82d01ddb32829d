"""``Settings`` is the single source of every default: the services' configurations copy it field by field."""

from __future__ import annotations

from dataclasses import MISSING, fields
from pathlib import Path

import pytest

from skygate.assembly import SERVICE_CONFIGS, service_config
from skygate.settings import Settings
from skygate.worker import job_config
from uws.config import JobConfig


@pytest.mark.parametrize("kind", SERVICE_CONFIGS, ids=lambda kind: kind.__name__)
def test_each_service_configuration_has_no_default_and_copies_the_settings(kind: type, tmp_path: Path) -> None:
    assert [f.name for f in fields(kind) if f.default is not MISSING or f.default_factory is not MISSING] == []
    settings = Settings(data_dir=tmp_path, base_url="http://example.org/sky", maxrec_default=7, body_max_bytes=9)
    config = service_config(kind, settings)
    for f in fields(kind):
        assert getattr(config, f.name) == getattr(settings, f.name), f.name


def test_a_configuration_field_that_is_no_setting_is_refused() -> None:
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Odd:
        base_url: str
        no_such_setting: int

    with pytest.raises(TypeError, match="no_such_setting"):
        service_config(Odd, Settings())


def test_the_job_configuration_takes_its_settings_without_defaults_of_its_own() -> None:
    settings = Settings()
    defaulted = {f.name for f in fields(JobConfig) if f.default is not MISSING}
    # Settings decides these (under the same name or SKYGATE_USER_*): JobConfig may not repeat a default.
    from_settings = {"store_url", "results_dir", "broker_url", "base_url", "queue_name", "execution_duration",
                     "execution_duration_max", "destruction_days", "wait_max", "body_max_bytes",
                     "max_active_per_owner", "max_running_per_owner", "max_result_bytes_per_owner"}
    assert defaulted.isdisjoint(from_settings)
    assert defaulted.isdisjoint(f.name for f in fields(Settings))
    config = job_config(settings)
    for name in from_settings & {f.name for f in fields(Settings)}:
        assert getattr(config, name) == getattr(settings, name), name
    assert config.max_active_per_owner == settings.user_max_active_jobs
