"""The publishing registry of one deployment: its records, dated by the ledger, on demand.

``Publisher`` holds what does not change while the service runs (authority, base URL, curation,
cone search limits, the ledger); ``records`` rebuilds the records from the services' current
capabilities and the release metadata, so a changed setting or release is published at once.
No HTTP here. Tests: tests/registry/test_records.py, tests/registry/test_oai.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dali.values import TableMeta
from registry.coverage import ReleaseCoverage
from registry.curation import Curation, check_authority, load_curation
from registry.ledger import Ledger, Record
from registry.records import ServiceSource, resources
from registry.rr_schema import rr_tables

__all__ = ["Publisher", "PublisherSettings"]


class PublisherSettings(Protocol):
    """The settings a ``Publisher`` is made from (``skygate.settings.Settings``; registry never imports
    skygate)."""

    @property
    def data_dir(self) -> Path: ...
    @property
    def authority(self) -> str: ...
    @property
    def base_url(self) -> str: ...
    @property
    def registry_metadata(self) -> str: ...
    @property
    def scs_max_sr(self) -> float: ...
    @property
    def maxrec_hard(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Publisher:
    """Builds the deployment's records.

    Parameters
    ----------
    authority
        ``SKYGATE_AUTHORITY``.
    base_url
        ``SKYGATE_BASE_URL``.
    curation
        From ``SKYGATE_REGISTRY_METADATA``.
    max_sr, max_records
        The cone search limits the records publish.
    ledger
        Where the records' dates are kept.
    footprints
        The footprint MOC URLs by table (the assembly reads them from what ``/moc`` serves); the
        records about one table reference theirs.
    """

    authority: str
    base_url: str
    curation: Curation
    max_sr: float
    max_records: int
    ledger: Ledger
    # The footprint MOCs served at /moc: qualified table name -> URL (read when records are built).
    footprints: Callable[[], Mapping[str, str]] | None = None

    @classmethod
    def from_settings(cls, settings: PublisherSettings, *, footprints: Callable[[], Mapping[str, str]] | None = None,
                      readonly: bool = False) -> Publisher:
        """From the settings; ``readonly`` reads the ledger's dates without writing them (a process
        that only needs the records, e.g. a worker).

        Raises
        ------
        UsageError
            A malformed authority or an unusable registry metadata file.
        """
        return cls(
            authority=check_authority(settings.authority),
            base_url=settings.base_url.rstrip("/"),
            curation=load_curation(settings.registry_metadata),
            max_sr=settings.scs_max_sr,
            max_records=settings.maxrec_hard,
            ledger=Ledger(Path(settings.data_dir) / "registry-ledger.json", readonly=readonly),
            footprints=footprints,
        )

    def records_now(self, services: Sequence[ServiceSource], metadata: Mapping[str, TableMeta],
                    coverage: ReleaseCoverage | None = None) -> list[Record]:
        """Every record, deleted ones included, in publication order (blocking: the ledger file).

        The TAP service also serves the RegTAP ``rr`` tables built from these records
        (``registry.regtap``), so while a release is loaded its tableset lists them too.
        """
        if metadata:
            metadata = {**metadata, **{m.qualified: m for m in rr_tables()}}
        built = resources(authority=self.authority, base_url=self.base_url, curation=self.curation,
                          services=services, metadata=metadata, max_sr=self.max_sr, max_records=self.max_records,
                          coverage=coverage, footprints=self.footprints() if self.footprints else None)
        return self.ledger.stamp(built, created=self.curation.created)

    async def records(self, services: Sequence[ServiceSource], metadata: Mapping[str, TableMeta],
                      coverage: ReleaseCoverage | None = None) -> list[Record]:
        """``records_now`` in a worker thread."""
        return await asyncio.to_thread(self.records_now, services, metadata, coverage)
