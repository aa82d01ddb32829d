"""What each service is handed at assembly: its typed configuration, taken from the settings, and the
``Runtime`` the application's lifespan fills in.

``Settings`` is the single source of every default: the services' configurations (``TapConfig``,
``SiaConfig``, ...) have no defaults of their own, and ``service_config`` copies the same-named
settings (properties such as ``release_dir`` included) into them. A service reads the running
release, job system and quotas through a runtime protocol (``release.runtime.ReleaseRuntime``,
``uws.routes.JobsRuntime``, or its own adding to them, as ``tap.routes.TapRuntime``), which ``Runtime``
satisfies; the services never import ``skygate``.
Tests: tests/skygate/test_assembly.py, tests/skygate/test_app.py.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, TypeVar

from anomaly.routes import AnomalyConfig
from auth.quotas import QuotaBook
from portal.routes import PortalConfig
from registry.routes import RegistryConfig
from release.runtime import OpenRelease
from sia.routes import SiaConfig
from skygate.settings import Settings
from soda.routes import SodaConfig
from tap.service import TapConfig
from uws.system import JobSystem

__all__ = ["SERVICE_CONFIGS", "Runtime", "service_config", "tap_config"]

Config = TypeVar("Config")

# Every service configuration the assembly builds; tests/skygate/test_assembly.py checks each against Settings.
SERVICE_CONFIGS: tuple[type[Any], ...] = (TapConfig, SiaConfig, SodaConfig, AnomalyConfig, RegistryConfig,
                                          PortalConfig)


@dataclass
class Runtime:
    """What the lifespan opens, read by the services' handlers on each request (None before it is open).

    Mutable on purpose: the routes are built before the lifespan runs, so they keep this holder and
    read its fields when a request comes, not the values at assembly."""

    release: OpenRelease | None = None
    jobs: JobSystem | None = None
    quotas: QuotaBook | None = None


def service_config(kind: type[Config], settings: Settings) -> Config:
    """A service's configuration: every field of ``kind`` from the setting of the same name."""
    names = [f.name for f in fields(kind)]  # type: ignore[arg-type]
    missing = [name for name in names if not hasattr(settings, name)]
    if missing:  # a programming error: a configuration field no setting provides
        raise TypeError(f"{kind.__name__} fields {missing} are not settings")
    return kind(**{name: getattr(settings, name) for name in names})


def tap_config(settings: Settings) -> TapConfig:
    """TAP's configuration (the application's routes, the job kind and the registry's records share it)."""
    return service_config(TapConfig, settings)
