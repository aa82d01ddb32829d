"""Settings, read once from the ``SKYGATE_*`` environment.

Everything else receives a ``Settings`` value (or the parts it needs) as an argument: no other
module reads the environment. Tests: tests/skygate/test_settings.py.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["Settings", "SettingsError"]


class SettingsError(ValueError):
    """A ``SKYGATE_*`` variable has a value we cannot use."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Service configuration.

    ``database_url`` empty means the embedded default: a DuckDB file under ``data_dir``.
    ``jobs_url`` empty means: the database when it is PostgreSQL, else a SQLite file under ``data_dir``.
    ``broker_url`` empty means the in-process broker and worker.
    """

    data_dir: Path = Path("var")
    database_url: str = ""
    jobs_url: str = ""
    broker_url: str = ""
    base_url: str = "http://127.0.0.1:8000"
    maxrec_default: int = 100_000
    maxrec_hard: int = 10_000_000
    execution_duration: int = 3600
    execution_duration_max: int = 86_400
    destruction_days: float = 7.0
    query_timeout: float = 600.0
    sync_timeout: float = 300.0
    upload_max_rows: int = 1_000_000
    upload_max_bytes: int = 100_000_000
    upload_allow_private: bool = False
    upload_timeout: float = 60.0
    body_max_bytes: int = 64_000_000
    anomaly_chunk_rows: int = 250_000
    wait_max: int = 600
    demo_profile: str = "demo"
    readonly_role: str = "skygate_reader"
    auth: str = "none"
    anonymous: str = "read"
    oidc_issuer: str = ""
    oidc_audience: str = ""
    oidc_user_claim: str = "preferred_username"
    oidc_admin_claim: str = ""
    oidc_jwks_url: str = ""
    trusted_proxies: str = ""
    user_max_active_jobs: int = 0
    user_max_running_jobs: int = 0
    scs_max_sr: float = 10.0
    authority: str = "skygate.example"
    registry_metadata: str = ""
    moc_order: int = 12

    @property
    def release_dir(self) -> Path:
        """Where the release files (catalog Parquet, tile FITS) live."""
        return self.data_dir / "release"

    @property
    def moc_dir(self) -> Path:
        """Where the MOC footprints (one per positional table, one for the images) are stored."""
        return self.data_dir / "moc"

    @property
    def hips_dir(self) -> Path:
        """Where the HiPS surveys of the coadds are built."""
        return self.data_dir / "hips"

    @property
    def results_dir(self) -> Path:
        return self.data_dir / "results"

    @property
    def duckdb_path(self) -> Path:
        return self.data_dir / "catalog.duckdb"

    @property
    def uses_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))

    @property
    def effective_jobs_url(self) -> str:
        if self.jobs_url:
            return self.jobs_url
        if self.uses_postgres:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'jobs.sqlite').resolve()}"

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields changed (tests use it)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``SKYGATE_<FIELD>`` for every field; unknown ``SKYGATE_*`` names are an error."""
        env = os.environ if environ is None else environ
        known = {name.upper(): name for name in cls.__dataclass_fields__}
        values: dict[str, object] = {}
        for key, raw in env.items():
            if not key.startswith("SKYGATE_") or key == "SKYGATE_REQUIRE_SERVICES":
                continue
            field_name = known.get(key.removeprefix("SKYGATE_"))
            if field_name is None:
                raise SettingsError(f"unknown setting {key}; known: {', '.join(sorted(known))}")
            values[field_name] = _convert(cls, field_name, key, raw)
        return cls(**values)  # type: ignore[arg-type]


def _convert(cls: type[Settings], field_name: str, key: str, raw: str) -> object:
    default = getattr(cls(), field_name)
    try:
        if isinstance(default, bool):
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Path):
            return Path(raw)
    except ValueError as exc:
        raise SettingsError(f"{key}={raw!r} is not a valid {type(default).__name__}") from exc
    if field_name == "base_url":
        return raw.rstrip("/")
    return raw
