"""DataLink 1.1 links of the coadd images: the rows of a links document and its writer.

For each ID: the image files (``#this``), the SODA cutout service (``#cutout``, a service
descriptor) and a preview (``#preview``); an ID naming nothing gets one ``NotFoundFault`` row.
The document goes out through ``dali.writers`` like every other table, with the SODA service
descriptor (``dali.descriptors``) after the results. ``link_rows`` reads the release folder
(blocking: the HTTP edge calls it in a thread). No HTTP here.
Tests: tests/soda/test_routes.py.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from dali.descriptors import DATALINK_FORMAT, DATALINK_STANDARD_ID, soda_descriptor
from dali.errors import UsageError
from dali.values import Column
from dali.writers import Format, Info, OutputFormat, TableWriter, arrow_type, write_table
from soda.service import Image, resolve

__all__ = ["LINK_COLUMNS", "MAX_LINK_IDS", "LinkRows", "file_url", "link_rows", "links_writer"]

MAX_LINK_IDS = 100
# DataLink 1.1 §3.2: every column MUST be present; content_length is a long in bytes.
LINK_COLUMNS = (
    Column("ID", "char", ucd="meta.id;meta.main", description="Input identifier"),
    Column("access_url", "char", ucd="meta.ref.url", description="Link to the data or a preview"),
    Column("service_def", "char", ucd="meta.ref", description="Service descriptor for processing links"),
    Column("error_message", "char", ucd="meta.code.error", description="Why no link could be made"),
    Column("description", "char", ucd="meta.note", description="What the link leads to"),
    Column("semantics", "char", ucd="meta.code", description="Relation to the dataset (DataLink core vocabulary)"),
    Column("content_type", "char", ucd="meta.code.mime", description="Media type of what the link returns"),
    Column("content_length", "long", unit="byte", ucd="phys.size;meta.file",
           description="Size of what the link returns"),
)
_SCHEMA = pa.schema([pa.field(c.name, arrow_type(c)) for c in LINK_COLUMNS])


@dataclass(frozen=True, slots=True)
class LinkRows:
    """The links of the IDs asked for: ``maxrec`` is how many rows to send when the IDs were over
    the cap (the rows of the first ``MAX_LINK_IDS``; the table also holds the next ID's, so the
    writer sees the cut), None when every ID's links are sent."""

    table: pa.Table
    maxrec: int | None


def file_url(base_url: str, image: Image) -> str:
    return f"{base_url}/soda/files/{image.tilename}/{urllib.parse.quote(image.path.name)}"


def _row(did: str, *, semantics: str, access_url: str | None = None, service_def: str | None = None,
         error_message: str | None = None, description: str | None = None, content_type: str | None = None,
         content_length: int | None = None) -> dict[str, Any]:
    return {"ID": did, "access_url": access_url, "service_def": service_def, "error_message": error_message,
            "description": description, "semantics": semantics, "content_type": content_type,
            "content_length": content_length}


def _links_for(release_dir: Path, base_url: str, did: str) -> list[dict[str, Any]]:
    try:
        images = resolve(release_dir, did)
    except UsageError:
        return [_row(did, error_message=f"NotFoundFault: no dataset with ID {did[:200]}", semantics="#this")]
    rows = []
    for image in images:
        what = f"{image.tilename} {image.band}-band coadd"
        rows.append(_row(did, access_url=file_url(base_url, image), semantics="#this",
                         description=f"The {what} image (SCI, MSK, WGT; tile-compressed FITS)",
                         content_type="application/fits", content_length=image.path.stat().st_size))
    rows.append(_row(did, service_def="soda", semantics="#cutout",
                     description="Cut a region (CIRCLE, POLYGON or POS) out of SCI, MSK and WGT with SODA",
                     content_type="application/fits"))
    for image in images:
        rows.append(_row(did, access_url=f"{base_url}/soda/preview?ID={urllib.parse.quote(image.did, safe='')}",
                         semantics="#preview", description=f"Preview of the {image.tilename} {image.band}-band image",
                         content_type="image/png"))
    return rows


def link_rows(release_dir: Path, base_url: str, ids: Sequence[str], *, limit: int = MAX_LINK_IDS) -> LinkRows:
    """The links of ``ids``, at most ``limit`` IDs' worth sent (DataLink 1.1 §3.1: a service may cap
    the IDs it processes, flagging OVERFLOW, and never splits the links of one ID)."""
    kept = [_links_for(release_dir, base_url, did) for did in ids[:limit]]
    maxrec = None
    if len(ids) > limit:
        maxrec = sum(len(rows) for rows in kept)
        kept.append(_links_for(release_dir, base_url, ids[limit]))
    return LinkRows(pa.Table.from_pylist([row for rows in kept for row in rows], schema=_SCHEMA), maxrec)


def links_writer(rows: LinkRows, *, base_url: str, limit: int = MAX_LINK_IDS) -> TableWriter:
    """The DataLink 1.1 document: the link rows, ``standardID``, and the SODA descriptor that the
    ``#cutout`` rows name in ``service_def`` (its ID input from the FIELD ``ID``)."""

    async def batches() -> AsyncIterator[pa.RecordBatch]:
        for batch in rows.table.to_batches():
            yield batch

    return write_table(Format(OutputFormat.VOTABLE_TD, DATALINK_FORMAT), LINK_COLUMNS, batches(),
                       maxrec=rows.maxrec, infos=[Info("standardID", DATALINK_STANDARD_ID)], field_ids=["ID"],
                       descriptors=[soda_descriptor(f"{base_url}/soda/sync", id_ref="ID")],
                       overflow_message=f"Only the first {limit} IDs were processed")
