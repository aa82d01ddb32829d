"""The release as a running service holds it: backend, metadata and query engine, opened together.

``open_release`` is what the application lifespan calls. A missing release (no DuckDB file, no
TAP_SCHEMA) is not an error here: the result says why nothing is loaded, so the portal can tell
people to run ``skygate demo`` while the rest of the service still starts.
Tests: tests/skygate/test_serve.py, tests/release/test_engine.py.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from dali.errors import SkygateError, UsageError
from dali.values import TableMeta
from release.backends import Backend, MemoryLimits, open_backend
from release.engine import QueryEngine, Translator
from release.metadata import load_catalog
from release.served import ServedTables
from release.user_tables import UserTables, open_user_tables

__all__ = ["NO_RELEASE_HINT", "OpenRelease", "ReleaseRuntime", "open_release", "unavailable_because"]

NO_RELEASE_HINT = "no release loaded — run `skygate demo`"
_log = logging.getLogger(__name__)


@dataclass
class OpenRelease:
    """What is being served; ``engine`` is None (and ``problem`` says why) when nothing is loaded."""

    backend: Backend | None
    metadata: dict[str, TableMeta] = field(default_factory=dict)
    engine: QueryEngine | None = None
    problem: str | None = None
    schema_descriptions: dict[str, str | None] = field(default_factory=dict)
    # The callers' own tables (``release.user_tables``); None where the backend keeps none (Spark).
    user_tables: UserTables | None = None
    # What the service serves beside the release (``release.served``: RegTAP's rr, the footprints),
    # built by the assembly once the release is open.
    served: ServedTables = field(default_factory=ServedTables)

    def table_list(self) -> list[tuple[str, str]]:
        """(qualified name, description) of every published table, for the portal."""
        return [(name, meta.description or "") for name, meta in sorted(self.metadata.items())]

    async def close(self) -> None:
        if self.user_tables is not None:
            await self.user_tables.close()
        if self.backend is not None:
            await self.backend.close()



class ReleaseRuntime(Protocol):
    """Where a service finds the open release while it runs: the services' handlers read ``release`` on
    each request (None until the application's lifespan has opened it; ``skygate.assembly.Runtime``)."""

    @property
    def release(self) -> OpenRelease | None: ...


async def open_release(database_url: str, duckdb_path: Path, *, base_url: str, readonly_role: str,
                       limits: MemoryLimits | None = None, user_tables_dir: Path | None = None) -> OpenRelease:
    """Open the backend the settings name and read its metadata; never raises for a missing release.
    ``user_tables_dir`` is where the DuckDB backend keeps users' tables (None: no user tables)."""
    try:
        backend = open_backend(database_url, duckdb_path, base_url=base_url, readonly_role=readonly_role,
                               limits=limits)
    except UsageError as exc:
        _log.warning("no release: %s", exc)
        return OpenRelease(backend=None, problem=f"{NO_RELEASE_HINT} ({exc.message})")
    try:
        catalog = await load_catalog(backend)
    except SkygateError as exc:
        _log.warning("no release metadata: %s", exc)
        return OpenRelease(backend=backend, problem=f"{NO_RELEASE_HINT} ({exc.message})")
    user_tables = (open_user_tables(database_url, user_tables_dir, readonly_role=readonly_role)
                   if user_tables_dir is not None else None)
    return OpenRelease(backend=backend, metadata=catalog.tables,
                       engine=QueryEngine(backend, catalog.tables, translate=_translator(backend)),
                       schema_descriptions=catalog.schema_descriptions, user_tables=user_tables)


def _translator(backend: Backend) -> Translator | None:
    """The ADQL translator for the backend's SQL: Spark's rewrites the DuckDB translation (adql.spark)."""
    if backend.dialect != "spark":
        return None
    from adql.spark import translate_spark

    return translate_spark


async def unavailable_because(release: OpenRelease | None) -> str | None:
    """Why the release cannot answer queries now (no release, or a trivial statement fails), or
    None when it answers: the VOSI availability of every service that queries it."""
    if release is None or release.engine is None or release.backend is None:
        return getattr(release, "problem", None) or "no data release is loaded"
    rows: Any = release.backend.stream("SELECT 1 AS ok", timeout=5.0)  # an async generator: aclose() stops it
    try:
        async with contextlib.aclosing(rows):
            async for _ in rows:
                pass
    except Exception:  # noqa: BLE001 (any failure means "not available"; logged)
        _log.warning("availability check failed", exc_info=True)
        return "the database is not answering"
    return None
