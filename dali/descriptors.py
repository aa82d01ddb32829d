"""DataLink 1.1 service descriptors as values, and the two every result of ours carries.

A service descriptor (DataLink 1.1 §4) is a ``RESOURCE type="meta" utype="adhoc:service"`` telling a
client how to call a service with the values of a result row: its standardID, accessURL and the
``inputParams`` whose ``ref`` names the FIELD a value comes from. ``soda_descriptor`` (cutouts,
SODA 1.0 §3.3 parameters) and ``datalink_descriptor`` (the links of a dataset) are the one
definition of each, used by SIA's results and by DataLink's documents; ``dali.writers`` writes them
after the results RESOURCE. Pure values; no XML here (``dali.formats.votable``).
Tests: tests/dali/test_descriptors.py.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DATALINK_FORMAT",
    "DATALINK_STANDARD_ID",
    "SODA_ASYNC_ID",
    "SODA_SYNC_ID",
    "InputParam",
    "ServiceDescriptor",
    "datalink_descriptor",
    "soda_descriptor",
]

DATALINK_STANDARD_ID = "ivo://ivoa.net/std/DataLink#links-1.1"
DATALINK_FORMAT = "application/x-votable+xml;content=datalink"
SODA_SYNC_ID = "ivo://ivoa.net/std/SODA#sync-1.0"
SODA_ASYNC_ID = "ivo://ivoa.net/std/SODA#async-1.0"


@dataclass(frozen=True, slots=True)
class InputParam:
    """One ``PARAM`` of a descriptor's ``inputParams``: a value from the FIELD ``ref``, or the
    client's (``value`` empty)."""

    name: str
    datatype: str = "char"
    arraysize: str | None = "*"
    xtype: str | None = None
    unit: str | None = None
    ucd: str | None = None
    ref: str | None = None
    value: str = ""
    description: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceDescriptor:
    """A ``RESOURCE type="meta" utype="adhoc:service"``; ``resource_id`` is its XML ID, which a
    DataLink ``service_def`` cell names."""

    standard_id: str
    access_url: str
    input_params: tuple[InputParam, ...]
    resource_id: str | None = None
    name: str | None = None
    content_type: str | None = None


def soda_descriptor(access_url: str, *, id_ref: str) -> ServiceDescriptor:
    """The SODA sync service at ``access_url`` (pyvo's ``processed(circle=...)`` calls it), its ID
    taken from the FIELD ``id_ref``; CIRCLE, POLYGON, POS and BAND as SODA 1.0 §3.3 defines them."""
    return ServiceDescriptor(
        SODA_SYNC_ID, access_url, (
            InputParam("ID", ucd="meta.ref.url;meta.curation", ref=id_ref),
            InputParam("CIRCLE", "double", "3", "circle", "deg", "pos.outline;obs",
                       description="Circle to cut: ra dec radius (ICRS, degrees)"),
            InputParam("POLYGON", "double", "*", "polygon", "deg", "pos.outline;obs",
                       description="Polygon to cut: ra dec pairs (ICRS, degrees)"),
            InputParam("POS", ucd="pos.outline;obs", description="CIRCLE, RANGE or POLYGON region to cut"),
            InputParam("BAND", "double", "2", "interval", "m", "em.wl;stat.interval",
                       description="Wavelength interval: selects the filters of a tile"),
        ),
        resource_id="soda", name="soda", content_type="application/fits")


def datalink_descriptor(access_url: str, *, id_ref: str) -> ServiceDescriptor:
    """The DataLink links service at ``access_url``, its ID taken from the FIELD ``id_ref``."""
    return ServiceDescriptor(
        DATALINK_STANDARD_ID, access_url, (InputParam("ID", ucd="meta.id;meta.main", ref=id_ref),),
        resource_id="datalink", name="datalink", content_type=DATALINK_FORMAT)
