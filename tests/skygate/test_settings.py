"""Settings come from SKYGATE_* variables, typed, and unknown names are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from skygate.settings import ResourceLimits, Settings, SettingsError, parse_size, physical_memory


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


@pytest.mark.parametrize(("text", "size"), [("1024", 1024), ("512M", 512 * 2**20), ("2G", 2 * 2**30),
                                            ("2GiB", 2 * 2**30), ("3gb", 3 * 2**30), ("1T", 2**40)])
def test_sizes_take_units(text: str, size: int) -> None:
    assert parse_size(text) == size
    assert Settings.from_env({"SKYGATE_QUERY_MEMORY": text}).query_memory == size


def test_a_bad_size_is_refused() -> None:
    with pytest.raises(SettingsError, match="SKYGATE_WORKER_MEMORY='lots' is not a valid int"):
        Settings.from_env({"SKYGATE_WORKER_MEMORY": "lots"})


def test_limits_default_to_shares_of_the_machine(tmp_path: Path) -> None:
    limits = Settings(data_dir=tmp_path).limits()
    ram = physical_memory()
    assert limits.query_memory == max(256 * 2**20, ram // 4)
    assert limits.worker_memory == max(512 * 2**20, ram // 2)
    assert 2**30 <= limits.query_temp <= 10 * 2**30
    given = Settings(data_dir=tmp_path, query_memory=2**30, query_temp=2**29, worker_memory=3 * 2**30)
    assert given.limits() == ResourceLimits(query_memory=2**30, query_temp=2**29, worker_memory=3 * 2**30)
    memory = given.memory_limits()
    assert (memory.memory, memory.temp, memory.temp_dir) == (2**30, 2**29, tmp_path / "tmp" / "duckdb")
