"""Settings, read once from the ``SKYGATE_*`` environment.

Everything else receives a ``Settings`` value (or the parts it needs) as an argument: no other
module reads the environment. Tests: tests/skygate/test_settings.py.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from release.backends import MemoryLimits

__all__ = ["ResourceLimits", "Settings", "SettingsError", "parse_size", "physical_memory"]

_MIB = 2**20
_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]?)i?B?\s*$", re.IGNORECASE)
_SIZES = frozenset({"query_memory", "query_temp", "worker_memory", "user_table_max_bytes",
                     "user_result_max_bytes"})


class SettingsError(ValueError):
    """A ``SKYGATE_*`` variable has a value we cannot use."""


@dataclass(frozen=True, slots=True)
class ResourceLimits:
    """Bytes each bound allows (``Settings.limits``).

    Attributes
    ----------
    query_memory
        DuckDB's ``memory_limit`` for the catalogue (one per process, shared by its statements);
        PostgreSQL's ``work_mem`` is derived from it.
    query_temp
        DuckDB's ``max_temp_directory_size`` (spilling beyond ``query_memory``).
    worker_memory
        The most a job's estimated arrays may take; bigger jobs are refused when they are created.
    """

    query_memory: int
    query_temp: int
    worker_memory: int


def physical_memory() -> int:
    """Bytes of RAM on this machine (or 4 GiB where the system does not say)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 4 * 1024 * _MIB


def parse_size(text: str) -> int:
    """``"512M"``, ``"2G"``, ``"2GiB"`` or a byte count, as bytes (K, M, G, T are powers of 1024)."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(text)
    power = " KMGT".index((match.group(2) or " ").upper())
    return int(match.group(1)) * int(1024**power)


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
    queue_name: str = "skygate-uws"
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
    body_timeout: float = 60.0
    gzip_loopback: bool = False
    anomaly_chunk_rows: int = 250_000
    # Memory and temporary disk; 0 means derived from this machine (``limits``). Sizes accept
    # K, M, G and T suffixes (powers of 1024).
    query_memory: int = 0
    query_temp: int = 0
    worker_memory: int = 0
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
    user_table_max_bytes: int = 1 << 30
    user_requests_per_minute: int = 0
    user_result_max_bytes: int = 0
    scs_max_sr: float = 10.0
    authority: str = "skygate.example"
    registry_metadata: str = ""
    moc_order: int = 12

    @property
    def release_dir(self) -> Path:
        """Where the release files (catalog Parquet, tile FITS) live."""
        return self.data_dir / "release"

    @property
    def user_tables_dir(self) -> Path:
        """Where users' own tables are kept when the catalogue is the embedded DuckDB file."""
        return self.data_dir / "user-tables"

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
    def temp_dir(self) -> Path:
        """Where DuckDB spills what does not fit in ``query_memory``."""
        return self.data_dir / "tmp"

    def memory_limits(self) -> MemoryLimits:
        """What the catalogue backend's statements may use (``release.backends.MemoryLimits``)."""
        limits = self.limits()
        return MemoryLimits(memory=limits.query_memory, temp=limits.query_temp, temp_dir=self.temp_dir / "duckdb")

    def limits(self) -> ResourceLimits:
        """The memory and temporary-disk limits, zeros replaced by what this machine suggests."""
        ram = physical_memory()
        free = shutil.disk_usage(self.data_dir if self.data_dir.exists() else Path.cwd()).free
        return ResourceLimits(
            # DuckDB's own default is 80 % of RAM (DuckDB docs, Configuration); a quarter leaves room for
            # the API's result writers, the in-process jobs and the rest of the machine.
            query_memory=self.query_memory or max(256 * _MIB, ram // 4),
            query_temp=self.query_temp or max(1024 * _MIB, min(10 * 1024 * _MIB, free // 4)),
            # Half the machine for one job's arrays: the embedded worker shares the API's process.
            worker_memory=self.worker_memory or max(512 * _MIB, ram // 2),
        )

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
        if field_name in _SIZES:
            return parse_size(raw)
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
