"""When each record was created and last changed, and which records were removed.

OAI-PMH harvesters ask for what changed since their last visit (``from``), so a record's
``updated`` date must move when, and only when, its content changes, and a resource that
disappears (a table dropped from the release, a service switched off) must be answered as a
deleted record (OAI-PMH 2.0 §2.5.1, ``deletedRecord=persistent``). Records are rebuilt from the
running configuration on every request; the ledger compares each one's content hash with the hash
it stored and keeps or moves the dates. It is a small JSON file under ``SKYGATE_DATA_DIR`` (written
atomically by rename), re-read when another process changed it; ``path=None`` keeps it in memory,
``readonly`` reads it without writing.
Tests: tests/registry/test_oai.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from registry.records import Resource, record_xml

__all__ = ["Ledger", "Record"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Record:
    """A published (or deleted) record: ``xml`` is the ``ri:Resource`` element, None when deleted."""

    ivoid: str
    xsi_type: str
    title: str
    created: datetime
    updated: datetime
    status: str
    xml: str | None

    @property
    def deleted(self) -> bool:
        return self.status == "deleted"


def _digest(resource: Resource) -> str:
    return hashlib.sha256(f"{resource.xsi_type}\n{resource.title}\n{resource.body}".encode()).hexdigest()


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


class Ledger:
    """The stored dates of every record ever published by this deployment."""

    def __init__(self, path: Path | None, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly  # read the stored dates, never write (``skygate registry show``)
        self._entries: dict[str, dict[str, Any]] = {}
        self._mtime: float | None = None
        self._lock = threading.Lock()

    def stamp(self, resources: Sequence[Resource], *, created: datetime, now: datetime | None = None) -> list[Record]:
        """Date ``resources`` (new: created now or at ``created``, whichever is earlier; changed:
        updated now), mark the stored ones that are gone as deleted, and save what moved.

        Blocking (a small file); async callers run it in a thread.
        """
        now = (now or datetime.now(UTC)).replace(microsecond=0)
        with self._lock:
            self._reload()
            changed = False
            current = set()
            for resource in resources:
                key = resource.ivoid.lower()  # IVOIDs compare case-insensitively
                current.add(key)
                digest = _digest(resource)
                entry = self._entries.get(key)
                if entry is None:
                    first = min(created, now)
                    entry = {"created": _iso(first), "updated": _iso(now)}
                elif entry["hash"] == digest and entry["status"] == "active":
                    continue
                else:
                    entry = {**entry, "updated": _iso(max(now, _parse(entry["updated"])))}
                self._entries[key] = {**entry, "ivoid": resource.ivoid, "type": resource.xsi_type,
                                      "title": resource.title, "hash": digest, "status": "active"}
                changed = True
            for key, entry in self._entries.items():
                if key not in current and entry["status"] == "active":
                    self._entries[key] = {**entry, "status": "deleted", "updated": _iso(now)}
                    changed = True
            if changed:
                try:
                    self._save()
                except OSError:
                    # Serving records matters more than keeping their dates: they are still right in
                    # this process, and a later change is saved once the file can be written.
                    _log.warning("cannot write the registry ledger %s", self.path, exc_info=True)
            by_key = {r.ivoid.lower(): r for r in resources}
            return [self._record(entry, by_key.get(key)) for key, entry in self._entries.items()]

    @staticmethod
    def _record(entry: dict[str, Any], resource: Resource | None) -> Record:
        created, updated = _parse(entry["created"]), _parse(entry["updated"])
        xml = None
        if resource is not None and entry["status"] == "active":
            xml = record_xml(resource, created=created, updated=updated)
        return Record(entry["ivoid"], entry["type"], entry["title"], created, updated, entry["status"], xml)

    def _reload(self) -> None:
        if self.path is None:
            return
        try:
            mtime = self.path.stat().st_mtime
            if mtime == self._mtime:
                return
            entries = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError):
            _log.warning("cannot read the registry ledger %s; keeping the dates known here", self.path,
                         exc_info=True)
            return
        self._entries, self._mtime = entries, mtime

    def _save(self) -> None:
        if self.path is None or self.readonly:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        scratch = self.path.with_name(f"{self.path.name}.{os.getpid()}.{threading.get_ident()}")
        scratch.write_text(json.dumps(self._entries, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(scratch, self.path)
        self._mtime = self.path.stat().st_mtime
