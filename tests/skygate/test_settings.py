"""Settings come from SKYGATE_* variables, typed, and unknown names are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from skygate.settings import Settings, SettingsError


def test_defaults_are_the_embedded_service() -> None:
    settings = Settings.from_env({})
    assert not settings.uses_postgres
    assert settings.effective_jobs_url.startswith("sqlite:///")
    assert settings.broker_url == ""


def test_values_are_typed() -> None:
    settings = Settings.from_env(
        {"SKYGATE_MAXREC_HARD": "500", "SKYGATE_DATA_DIR": "/tmp/x", "SKYGATE_BASE_URL": "http://h/p/",
         "SKYGATE_UPLOAD_ALLOW_PRIVATE": "yes", "SKYGATE_DATABASE_URL": "postgresql://u@h/db"}
    )
    assert settings.maxrec_hard == 500
    assert settings.data_dir == Path("/tmp/x")
    assert settings.base_url == "http://h/p"
    assert settings.upload_allow_private is True
    assert settings.effective_jobs_url == "postgresql://u@h/db"


@pytest.mark.parametrize(
    ("env", "fragment"),
    [({"SKYGATE_MAXREC": "5"}, "unknown setting SKYGATE_MAXREC"),
     ({"SKYGATE_MAXREC_HARD": "many"}, "not a valid int"),
     ({"SKYGATE_UPLOAD_ALLOW_PRIVATE": "perhaps"}, "not a valid bool")],
)
def test_bad_values_are_refused_loudly(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(SettingsError, match=fragment):
        Settings.from_env(env)
