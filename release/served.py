"""Tables every caller's statements see besides the release's stored tables, and TAP_SCHEMA as it then reads.

``ServedTables`` holds what the service builds for itself when it starts, from what it serves,
and keeps in memory as Arrow tables (``release.engine.StatementTable``): *listed* tables, published
like release tables in TAP_SCHEMA and ``/tables`` (the RegTAP ``rr`` schema), and *unlisted* ones
that only functions read (the footprint MOCs of ``skygate_in_footprint``). ``OpenRelease.served``
holds the set for the release being served (empty until the assembly builds it).

``statement_tables`` is the one code path that makes "the tables a caller sees besides the
release": the served tables, the caller's own (user tables), and, whenever either adds a listed
table, TAP_SCHEMA rebuilt from the release's tables plus those (``release.tapschema.tap_schema_rows``)
so queries of TAP_SCHEMA and ``/tables`` agree for every caller. The overlay for callers without
tables of their own is built once per served set. No I/O. Tests: tests/tap/test_regtap.py,
tests/tap/test_user_tables.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import pyarrow as pa

from adql.footprint import footprint_key, footprint_table
from dali.values import TableMeta
from release.engine import StatementTable
from release.tapschema import TAP_SCHEMA, tap_schema_rows, tap_schema_tables

__all__ = ["NO_SERVED", "ServedTables", "footprint_tables", "statement_tables"]

_EMPTY: Mapping[str, StatementTable] = MappingProxyType({})
_NO_DESCRIPTIONS: Mapping[str, str | None] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ServedTables:
    """The tables the service itself serves beside the release (see the module docstring).

    ``schema_descriptions`` and ``schema_utypes`` describe the listed tables' schemas in
    TAP_SCHEMA and ``/tables`` (RegTAP 1.1 §7: the ``rr`` schema's utype is the data model's IVOID).
    """

    listed: Mapping[str, StatementTable] = field(default_factory=dict)
    unlisted: Mapping[str, StatementTable] = field(default_factory=dict)
    schema_descriptions: Mapping[str, str | None] = field(default_factory=dict)
    schema_utypes: Mapping[str, str] = field(default_factory=dict)
    # TAP_SCHEMA for callers without tables of their own, by id() of the release metadata it covers
    _overlay: dict[int, tuple[Mapping[str, TableMeta], dict[str, StatementTable]]] = field(
        default_factory=dict, compare=False, repr=False)

    def metadata(self) -> dict[str, TableMeta]:
        """The listed tables' metadata by qualified name."""
        return {key: table.meta for key, table in self.listed.items()}

    def with_tables(self, other: ServedTables) -> ServedTables:
        """These tables and ``other``'s (``other`` wins on a name both have)."""
        return ServedTables({**self.listed, **other.listed}, {**self.unlisted, **other.unlisted},
                            {**self.schema_descriptions, **other.schema_descriptions},
                            {**self.schema_utypes, **other.schema_utypes})


NO_SERVED = ServedTables()


def footprint_tables(footprints: Iterable[tuple[str, int, Mapping[int, Iterable[int]]]]) -> ServedTables:
    """The footprint MOCs as the unlisted tables ``skygate_in_footprint`` reads (``adql.footprint``).

    Parameters
    ----------
    footprints
        (name, MOC order, cells by depth: NESTED indexes) of each footprint, e.g. from a MOC's JSON
        serialisation.
    """
    unlisted = {}
    for number, (name, order, cells) in enumerate(sorted(footprints, key=lambda f: f[0])):
        depths, ipix = [], []
        for depth, indexes in cells.items():
            found = list(indexes)
            depths += [int(depth)] * len(found)
            ipix += [int(i) for i in found]
        data = pa.table({"depth": pa.array(depths, pa.int32()), "ipix": pa.array(ipix, pa.int64())})
        meta = footprint_table(name, order, f"the footprint MOC of {name}")
        unlisted[footprint_key(name)] = StatementTable(meta=meta, physical=f"skygate_footprint_{number}", data=data)
    return ServedTables(unlisted=unlisted)


def statement_tables(release: Mapping[str, TableMeta], schema_descriptions: Mapping[str, str | None],
                     served: ServedTables = NO_SERVED, own: Mapping[str, StatementTable] = _EMPTY,
                     own_descriptions: Mapping[str, str | None] = _NO_DESCRIPTIONS) -> dict[str, StatementTable]:
    """The ``StatementTable`` values a caller's queries see besides the release's stored tables.

    Parameters
    ----------
    release
        The release's published tables (TAP_SCHEMA's own included).
    schema_descriptions
        The release's schema descriptions.
    served
        What the service serves beside the release (``OpenRelease.served``).
    own
        The caller's own tables (``release.user_tables.UserTables.statement_table``).
    own_descriptions
        Descriptions of the schemas of ``own``.

    Returns
    -------
    dict
        Qualified name (or function key) -> table: ``served``'s, ``own`` and, when any of them is
        listed, the five TAP_SCHEMA tables describing the release and them.
    """
    found: dict[str, StatementTable] = {**served.unlisted, **served.listed, **own}
    if not served.listed and not own:
        return found
    if own:
        found.update(_tap_schema(release, schema_descriptions, served, own, own_descriptions))
        return found
    cached = served._overlay.get(id(release))
    if cached is None or cached[0] is not release:
        cached = (release, _tap_schema(release, schema_descriptions, served, own, own_descriptions))
        served._overlay.clear()
        served._overlay[id(release)] = cached
    found.update(cached[1])
    return found


def _tap_schema(release: Mapping[str, TableMeta], schema_descriptions: Mapping[str, str | None],
                served: ServedTables, own: Mapping[str, StatementTable],
                own_descriptions: Mapping[str, str | None]) -> dict[str, StatementTable]:
    published = ([m for m in release.values() if m.schema != TAP_SCHEMA]
                 + [t.meta for t in served.listed.values()] + [t.meta for t in own.values()])
    descriptions = {**served.schema_descriptions, **schema_descriptions}
    for key, value in own_descriptions.items():
        descriptions.setdefault(key, value)
    rows = tap_schema_rows(published, descriptions, schema_utypes=served.schema_utypes)
    return {meta.qualified: StatementTable(meta=release.get(meta.qualified, meta),
                                           physical=f"skygate_{meta.schema}_{meta.name}", data=rows[meta.qualified])
            for meta in tap_schema_tables()}
