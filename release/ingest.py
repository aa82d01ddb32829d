"""Ingest one table: load a source into the release database and publish it in TAP_SCHEMA.

``plan_table`` decides how a source's rows are stored and published: names lower-cased and
checked, types made storable, metadata from the source's fields and from a metadata file (JSON or
TOML, ``read_metadata_file``) that overrides the table description and any column's; with
``ra``/``dec`` the internal HEALPix NESTED index column ``skygate_hpx`` (order 14, cdshealpix)
and a ``Position``. ``ingest_table`` streams the transformed batches into a ``Store`` (sorted on
``skygate_hpx``, the indexed columns indexed), then ``publish_table`` rewrites the whole
TAP_SCHEMA and ``skygate_meta.tables`` in one transaction and grants reads.
Reading files is ``release.sources``, writing ``release.stores``, the demo release
``release.layout``. No HTTP, no ADQL.
Tests: tests/release/test_ingest.py, tests/release/test_progress.py.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import asyncpg
import duckdb
import numpy as np
import pyarrow as pa

from dali.errors import UsageError
from dali.values import Column, Position, TableMeta
from release.metadata import Catalog, read_catalog
from release.progress import Progress, counted_batches
from release.sources import BATCH_ROWS, Source, arrow_column, field_meta
from release.stores import Store
from release.tapschema import META_SCHEMA, TAP_SCHEMA, is_internal, tap_schema_rows

__all__ = [
    "HPX_COLUMN",
    "HPX_ORDER",
    "INDEXED_COLUMNS",
    "LoadedTable",
    "TablePlan",
    "healpix_index",
    "ingest_arrow",
    "ingest_table",
    "plan_table",
    "publish_table",
    "read_metadata_file",
    "transform_batches",
]

HPX_COLUMN = "skygate_hpx"
HPX_ORDER = 14
# Columns indexed whenever a table has them: the object id, the tile and the position, what joins,
# tile look-ups and cone searches filter on.
INDEXED_COLUMNS = ("coadd_object_id", "tilename", "ra", "dec")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class TablePlan:
    """How a source becomes a stored table: renamed and cast fields, and the published columns."""

    schema: pa.Schema
    columns: tuple[Column, ...]
    position: Position | None
    indexes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LoadedTable:
    """One ingested table: what was published and how long it took (``ingest_release`` lists them)."""

    meta: TableMeta
    seconds: float


async def ingest_table(
    store: Store,
    source: Source,
    table: str,
    *,
    ra: str | None = None,
    dec: str | None = None,
    tolerance: float = 0.0,
    overrides: Mapping[str, Any] | None = None,
    description: str | None = None,
    schema_description: str | None = None,
    progress: Progress | None = None,
) -> TableMeta:
    """Load ``source`` into ``table`` ("schema.name") and publish it in TAP_SCHEMA.

    Parameters
    ----------
    store
        Where to write (``open_store``).
    source
        The rows and their field metadata (``open_source``, or ``Source`` over Arrow batches).
    table
        Qualified name; lower-cased.
    ra, dec
        Position columns (degrees, ICRS): adds ``skygate_hpx`` and records a ``Position``.
    tolerance
        Degrees by which ra/dec may differ from the position the index should stand for.
    overrides
        Parsed metadata file (``read_metadata_file``): ``description``, ``schema_description``
        and per-column ``columns``.
    progress
        Told the rows read so far, as phase ``ingest <table>``.

    Returns
    -------
    TableMeta
        What was published.

    Raises
    ------
    UsageError
        For bad table or column names, missing position columns, unsupported column types.
    """
    overrides = dict(overrides or {})
    qualified = _check_table_name(table)
    plan = plan_table(source.schema, ra, dec, tolerance, overrides.get("columns", {}))
    batches = transform_batches(source.batches, plan)
    if progress is not None:
        batches = counted_batches(batches, progress, f"ingest {qualified}", source.rows)
    try:
        nrows = await store.load(qualified, plan.schema, batches, sort_by=HPX_COLUMN if plan.position else None,
                                 indexes=plan.indexes)
    except (pa.ArrowInvalid, duckdb.ConversionException, duckdb.InvalidInputException,
            asyncpg.DataError) as exc:
        # E.g. a CSV column whose type was guessed from the first rows and later holds other values.
        raise UsageError(f"could not load {qualified}: a value does not fit its column's type",
                         param="PATH", hint="fix the value, or give the file as Parquet or FITS with types") from exc
    meta = TableMeta(
        schema=qualified.split(".")[0], name=qualified.split(".")[1], columns=plan.columns,
        description=overrides.get("description") or description or source.description, nrows=nrows,
        position=plan.position,
    )
    await publish_table(store, meta, schema_description=overrides.get("schema_description") or schema_description)
    return meta


async def ingest_arrow(store: Store, table: str, data: pa.Table, **options: Any) -> TableMeta:
    """``ingest_table`` over an in-memory Arrow table (field metadata as for Parquet)."""
    source = Source(schema=data.schema, batches=iter(data.to_batches(max_chunksize=BATCH_ROWS)),
                    description=(data.schema.metadata or {}).get(b"description", b"").decode() or None)
    return await ingest_table(store, source, table, **options)


async def publish_table(store: Store, meta: TableMeta, *, schema_description: str | None = None) -> None:
    """Add or replace ``meta`` in TAP_SCHEMA (rewritten whole, in one transaction) and grant reads."""
    catalog = await _current_catalog(store)
    tables = dict(catalog.tables)
    tables[meta.qualified] = meta
    descriptions = dict(catalog.schema_descriptions)
    if schema_description or meta.schema not in descriptions:
        descriptions[meta.schema] = schema_description or descriptions.get(meta.schema)
    tables = {k: v for k, v in tables.items() if v.schema != TAP_SCHEMA}
    await store.replace_small_tables(tap_schema_rows(tables.values(), descriptions))
    await store.grant(sorted({t.schema for t in tables.values()} | {TAP_SCHEMA, META_SCHEMA}))


def plan_table(schema: pa.Schema, ra: str | None, dec: str | None, tolerance: float,
               overrides: Mapping[str, Mapping[str, Any]], *, param: str = "PATH") -> TablePlan:
    """How rows of ``schema`` are stored and published: names checked and lower-cased, types made
    storable, and with ``ra``/``dec`` the HEALPix index column and a ``Position``; errors name ``param``."""
    fields: list[pa.Field] = []
    columns: list[Column] = []
    seen: set[str] = set()
    for fld in schema:
        name = fld.name.strip().lower()
        if not _NAME.match(name) or is_internal(name):
            raise UsageError(f"column {fld.name!r} cannot be published under that name", param=param,
                             hint="use letters, digits and underscores, not starting with skygate_")
        if name in seen:
            raise UsageError(f"two columns are called {name!r} once lower-cased", param=param)
        seen.add(name)
        arrow = _storable(fld.type, fld.name, param)
        fields.append(pa.field(name, arrow))
        meta = {**field_meta(fld), **{str(k): v for k, v in overrides.get(name, {}).items()}}
        if name in INDEXED_COLUMNS:
            meta.setdefault("indexed", True)
        columns.append(arrow_column(name, arrow, meta))
    position = None
    indexes = [c.name for c in columns if c.indexed]
    if ra or dec:
        if not (ra and dec) or ra.lower() not in seen or dec.lower() not in seen:
            raise UsageError("--ra and --dec must both name columns of the table", param="--ra")
        ra, dec = ra.lower(), dec.lower()
        fields.append(pa.field(HPX_COLUMN, pa.int64()))
        position = Position(ra=ra, dec=dec, index_column=HPX_COLUMN, index_order=HPX_ORDER, tolerance=tolerance)
        columns = [replace(c, indexed=True) if c.name in (ra, dec) else c for c in columns]
        indexes = [HPX_COLUMN, *(c.name for c in columns if c.indexed)]
        columns.append(Column(name=HPX_COLUMN, datatype="long", indexed=True,
                              description=f"HEALPix NESTED index at order {HPX_ORDER} (internal)"))
    return TablePlan(schema=pa.schema(fields), columns=tuple(columns), position=position, indexes=tuple(indexes))


def transform_batches(batches: Iterator[pa.RecordBatch], plan: TablePlan) -> Iterator[pa.RecordBatch]:
    """The batches as ``plan`` stores them: cast to the stored types, with ``skygate_hpx`` when it has a position."""
    position = plan.position
    stored = [f for f in plan.schema if f.name != HPX_COLUMN]
    for batch in batches:
        arrays = [batch.column(i).cast(f.type) if batch.column(i).type != f.type else batch.column(i)
                  for i, f in enumerate(stored)]
        if position is not None:
            names = [f.name for f in stored]
            arrays.append(healpix_index(arrays[names.index(position.ra)], arrays[names.index(position.dec)]))
        yield pa.RecordBatch.from_arrays(arrays, schema=plan.schema)


def healpix_index(ra: pa.Array, dec: pa.Array) -> pa.Array:
    """HEALPix NESTED order-14 index of each (ra, dec); NULL where either is NULL or out of range."""
    import astropy.units as u  # heavy imports kept out of module import
    from astropy.coordinates import Latitude, Longitude
    from cdshealpix.nested import lonlat_to_healpix

    lon = np.asarray(ra.to_numpy(zero_copy_only=False), dtype=np.float64)
    lat = np.asarray(dec.to_numpy(zero_copy_only=False), dtype=np.float64)
    bad = ~np.isfinite(lon) | ~np.isfinite(lat) | (np.abs(lat) > 90)
    if ra.null_count or dec.null_count:
        bad |= np.asarray(ra.is_null()) | np.asarray(dec.is_null())
    lon = np.where(bad, 0.0, lon)
    lat = np.where(bad, 0.0, lat)
    cells = lonlat_to_healpix(Longitude(lon, u.deg), Latitude(lat, u.deg), HPX_ORDER)
    return pa.array(np.asarray(cells, dtype=np.int64), type=pa.int64(), mask=bad)


def read_metadata_file(path: Path) -> dict[str, Any]:
    """A metadata override file: JSON (``.json``) or TOML (``.toml``); YAML is not supported.

    Shape (both formats)::

        description = "the table"            # optional
        schema_description = "the schema"    # optional
        [columns.mag_auto_g]                 # any column, case-insensitive
        unit = "mag"
        ucd = "phot.mag;em.opt.B"
        description = "Kron-aperture magnitude"
        principal = true                     # also: utype, arraysize, xtype, indexed
        null = -9999                         # the value standing for a missing one (VOTable null)

    Raises
    ------
    UsageError
        When the file cannot be read or has another shape.
    """
    try:
        text = path.read_text()
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the metadata file {path.name}", param="--metadata",
                         hint="give a JSON or TOML file") from exc
    if not isinstance(data, dict) or not isinstance(data.get("columns", {}), dict):
        raise UsageError("the metadata file must hold a table with an optional 'columns' table",
                         param="--metadata")
    data["columns"] = {str(k).lower(): v for k, v in data.get("columns", {}).items()}
    return data


async def _current_catalog(store: Store) -> Catalog:
    try:
        return await read_catalog(store.fetch)
    except UsageError:
        return Catalog(tables={}, schema_descriptions={})


def _check_table_name(table: str) -> str:
    qualified = table.strip().lower()
    parts = qualified.split(".")
    if len(parts) != 2 or not all(_NAME.match(p) for p in parts):
        raise UsageError(f"{table!r} is not a table name of the form schema.name", param="--table",
                         hint="letters, digits and underscores, e.g. des_dr1.main")
    if parts[0] in {TAP_SCHEMA, META_SCHEMA}:
        raise UsageError(f"schema {parts[0]} is reserved", param="--table")
    return qualified


def _storable(arrow: pa.DataType, name: str, param: str = "PATH") -> pa.DataType:
    """The Arrow type stored for a source type (dictionaries decoded, large types narrowed)."""
    if pa.types.is_dictionary(arrow):
        return _storable(arrow.value_type, name, param)
    if pa.types.is_large_string(arrow) or pa.types.is_string_view(arrow):
        return pa.string()
    if pa.types.is_large_binary(arrow):
        return pa.binary()
    if pa.types.is_uint64(arrow):
        return pa.int64()
    if pa.types.is_float16(arrow):
        return pa.float32()
    if (pa.types.is_boolean(arrow) or pa.types.is_integer(arrow) or pa.types.is_floating(arrow)
            or pa.types.is_string(arrow) or pa.types.is_timestamp(arrow) or pa.types.is_date(arrow)
            or pa.types.is_binary(arrow) or pa.types.is_decimal(arrow)):
        return arrow
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow) or pa.types.is_fixed_size_list(arrow):
        return pa.list_(_storable(arrow.value_type, name, param))
    raise UsageError(f"column {name!r} has a type this service cannot publish ({arrow})", param=param)
