"""What the publishing registry describes: each service with the VOSI capabilities it serves.

The registry (``registry/``) may not import the services, so the assembly hands it, per service, the
very capabilities document that service answers at ``/…/capabilities`` (built by the same
function, from the same settings and release), plus the parameters of the job services, which no
VOSI document carries. The anomaly parameters are the names ``anomaly.params.ScoreParams.echo``
applies (tests/skygate/test_registry_sources.py fails when one is added without a description here).
``served_tables`` builds what the service serves beside the release for every caller
(``release.served``): the RegTAP ``rr`` tables from the very records OAI-PMH publishes, and the
footprint MOCs ``skygate_in_footprint`` reads; the application lifespan and each worker process
build them once the release is open, so a changed release or setting shows after the restart
that loads it. ``footprint_urls`` tells the records which footprint MOCs ``/moc`` serves.
Tests: tests/skygate/test_registry_sources.py, tests/registry/test_records.py, tests/tap/test_regtap.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from anomaly.routes import capabilities as anomaly_capabilities
from registry.coverage import CoverageCache
from registry.records import JobCapability, JobParameter, ServiceSource
from registry.regtap import regtap_tables
from registry.service import Publisher
from release.served import NO_SERVED, ServedTables, footprint_tables
from sia.routes import capabilities_xml as sia_capabilities
from skygate.assembly import tap_config
from skygate.settings import Settings
from soda.params import MAX_BULK_POSITIONS
from soda.routes import capabilities_xml as soda_capabilities
from tap.capabilities import tap_capabilities

__all__ = ["ANOMALY_PARAMETERS", "BULK_PARAMETERS", "footprint_urls", "registry_sources", "served_tables"]

_log = logging.getLogger(__name__)

ANOMALY_PARAMETERS = (
    JobParameter("QUERY", "ADQL selecting one identifier column and the numeric feature columns to score",
                 required=True),
    JobParameter("ID_COLUMN", "name of the identifier column (default: the first selected column)"),
    JobParameter("NTREES", "number of trees in the Extended Isolation Forest (default 200)", "int"),
    JobParameter("SAMPLE_SIZE", "points drawn for each tree (default 256)", "int"),
    JobParameter("EXTENSION_LEVEL", "hyperplane extension level, 0 to d-1 (default d-1, fully extended)", "int"),
    JobParameter("SEED", "random seed; the forest is a function of the selection, the parameters and the seed "
                 "(default 1)", "long"),
    JobParameter("STANDARDIZE", "scale features to zero mean and unit variance first: yes or no (default yes)"),
    JobParameter("TOP", "how many of the highest-scoring rows the top result lists (default 100)", "int"),
    JobParameter("RESPONSEFORMAT", "format of the result and top tables (as TAP: votable, csv, parquet, ...)"),
    JobParameter("MODEL", "id of an earlier completed anomaly job whose forest scores this selection"),
    JobParameter("NULL_VALUES", "feature values treated as missing: survey (default: the release's sentinel "
                 "magnitudes 99, -99, 999, -999), none, or numbers separated by commas"),
)

BULK_PARAMETERS = (
    JobParameter("POSITIONS", f"CSV or VOTable (at most {MAX_BULK_POSITIONS} rows) with RA,DEC or COADD_OBJECT_ID "
                 "columns, optionally XSIZE, YSIZE and per-row colour options; a multipart file part",
                 required=True),
    JobParameter("XSIZE", "cutout width in arcminutes, 0.1 to 12 (default 1)", "double"),
    JobParameter("YSIZE", "cutout height in arcminutes, 0.1 to 12 (default XSIZE)", "double"),
    JobParameter("COLORS_FITS", "bands cut as FITS, letters from grizY (default i)"),
    JobParameter("RGB_LUPTON_COLORS", "band triplets for Lupton RGB PNGs, e.g. irg"),
    JobParameter("MAKE_FITS", "make FITS cutouts: true or false (default true)", "boolean"),
    JobParameter("MAKE_RGB_LUPTON", "make Lupton RGB PNGs: true or false", "boolean"),
    JobParameter("RGB_MINIMUM", "Lupton RGB minimum (default 1)", "double"),
    JobParameter("RGB_STRETCH", "Lupton RGB stretch (default 50)", "double"),
    JobParameter("RGB_ASINH", "Lupton RGB softening Q (default 10)", "double"),
    JobParameter("RETURN_LIST_ONLY", "only match positions to tiles, cut nothing: true or false", "boolean"),
)


def registry_sources(settings: Settings, release: Any) -> list[ServiceSource]:
    """The services of this deployment, as the registry publishes them."""
    base = settings.base_url
    metadata = getattr(release, "metadata", None) or {}
    tap = tap_capabilities(tap_config(settings), has_obscore="ivoa.obscore" in metadata)
    bulk = JobCapability(
        "soda-bulk", "Skygate bulk cutouts",
        "Cutouts around many positions at once, as DESaccess makes them: FITS per band and Lupton RGB PNGs, "
        "one archive per job.", "/soda/bulk", BULK_PARAMETERS)
    anomaly = JobCapability(
        "anomaly-score", "Skygate anomaly scoring",
        "Extended Isolation Forest anomaly scores for the rows an ADQL query selects.", "/anomaly/async",
        ANOMALY_PARAMETERS)
    return [
        ServiceSource("tap", "Skygate TAP service", "ADQL 2.1 queries over the release tables, synchronous and "
                      "asynchronous, with table upload.", tap, catalog=True),
        ServiceSource("sia", "Skygate image search (SIA 2.0)", "Find the coadd images of the release by position, "
                      "band, time and other ObsCore constraints.", sia_capabilities(base), catalog=True,
                      tables=("ivoa.obscore",)),
        ServiceSource("soda", "Skygate cutouts (SODA 1.0, DataLink)", "Image cutouts by circle, polygon or band, "
                      "synchronous or as jobs; DataLink links for every image; bulk cutouts.",
                      soda_capabilities(base), jobs=(bulk,)),
        ServiceSource("anomaly", "Skygate anomaly scoring", "Anomaly scoring of catalogue rows as UWS jobs.",
                      anomaly_capabilities(base), jobs=(anomaly,)),
    ]


def footprint_urls(settings: Settings) -> Callable[[], dict[str, str]]:
    """The footprint MOCs ``/moc`` serves now (``sky.moc``'s index), by table name -> URL."""
    from sky.moc import read_footprints

    def urls() -> dict[str, str]:
        return {name: f"{settings.base_url}/moc/{quote(name)}" for name in read_footprints(settings.moc_dir)}

    return urls


async def served_tables(settings: Settings, release: Any, publisher: Publisher,
                        coverage: CoverageCache) -> ServedTables:
    """The RegTAP ``rr`` tables and the footprints of the open ``release`` (nothing while none is
    loaded). A failure is logged and leaves the service without them rather than down."""
    if getattr(release, "engine", None) is None:
        return NO_SERVED
    try:
        measured = await coverage.get(release)
        records = await publisher.records(registry_sources(settings, release), release.metadata, measured)
        served = await asyncio.to_thread(regtap_tables, records)
        footprints = await asyncio.to_thread(_footprint_cells, settings.moc_dir)
    except Exception:  # noqa: BLE001 (the rest of the service works without them)
        _log.exception("the RegTAP tables and footprints could not be built; TAP serves the release only")
        return NO_SERVED
    return served.with_tables(footprint_tables(footprints))


def _footprint_cells(moc_dir: Path) -> list[tuple[str, int, dict[int, list[int]]]]:
    """(name, order, cells by depth) of every stored footprint MOC."""
    from mocpy import MOC

    from sky.moc import read_footprints

    found = []
    for name, footprint in read_footprints(moc_dir).items():
        moc = MOC.from_fits(moc_dir / footprint.file_name)
        cells = {int(depth): [int(i) for i in ipix] for depth, ipix in moc.serialize("json").items()}
        found.append((name, footprint.order, cells))
    return found
