"""``skygate registry show``: print the VOResource records this deployment publishes.

Argument parsing is registered from ``skygate/cli.py``. The records are built exactly as
``/registry/oai`` builds them (``registry.service.Publisher`` over ``skygate.registry_sources``),
from the settings and the configured release (when none is loaded, the records carry no tables).
The stored dates are read but never written. Errors print one line and exit with status 2.
Tests: tests/registry/test_cli.py (beside the registry fixtures; also ``skygate serve`` refusing bad registry settings).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace

from dali.errors import SkygateError
from registry.ledger import Record
from registry.service import Publisher
from skygate.settings import Settings

__all__ = ["add_registry_commands", "run_show"]


def add_registry_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``registry show`` on the ``skygate`` sub-command parser."""
    registry_cmd = sub.add_parser("registry", help="the published VOResource records")
    what = registry_cmd.add_subparsers(dest="what", required=True)
    show = what.add_parser("show", help="list the records, or print one")
    show.add_argument("identifier", nargs="?", default=None,
                      help="an IVOID or its resource key (e.g. tap, scs/des_dr1.main); omit to list them all")
    show.add_argument("--metadata", default=None, metavar="PATH",
                      help="registry metadata TOML file (default: SKYGATE_REGISTRY_METADATA)")
    show.set_defaults(handler="skygate.cli_registry:run_show")


def run_show(args: argparse.Namespace) -> int:
    from lxml import etree

    from registry.curation import PLACEHOLDER_AUTHORITY, ivoid
    from registry.ledger import Ledger

    try:
        settings = Settings.from_env()
        if args.metadata is not None:
            settings = settings.with_(registry_metadata=args.metadata)
        from skygate.registry_sources import footprint_urls

        publisher = Publisher.from_settings(settings, footprints=footprint_urls(settings))
        publisher = replace(publisher, ledger=Ledger(publisher.ledger.path, readonly=True))
        records = asyncio.run(_records(settings, publisher))
    except SkygateError as exc:
        print(f"skygate registry: {exc}", file=sys.stderr)
        return 2
    if publisher.authority == PLACEHOLDER_AUTHORITY:
        print("skygate registry: SKYGATE_AUTHORITY is the placeholder skygate.example; set your own before "
              "registering", file=sys.stderr)
    if args.identifier is None:
        for record in records:
            print(f"{record.ivoid}\t{record.xsi_type}\t{record.status}\t{record.title}")
        return 0
    wanted = args.identifier if args.identifier.startswith("ivo://") else ivoid(publisher.authority, args.identifier)
    for record in records:
        if record.ivoid.lower() == wanted.lower():
            if record.xml is None:
                print(f"{record.ivoid}: deleted {record.updated:%Y-%m-%dT%H:%M:%SZ}")
            else:
                print(etree.tostring(etree.fromstring(record.xml), pretty_print=True, encoding="unicode"), end="")
            return 0
    print(f"skygate registry: no record {wanted}; `skygate registry show` lists them", file=sys.stderr)
    return 2


async def _records(settings: Settings, publisher: Publisher) -> list[Record]:
    from registry.coverage import CoverageCache
    from release.runtime import open_release
    from skygate.registry_sources import registry_sources

    release = await open_release(settings.database_url, settings.duckdb_path, base_url=settings.base_url,
                                 readonly_role=settings.readonly_role)
    try:
        coverage = await CoverageCache().get(release)
        return await publisher.records(registry_sources(settings, release), release.metadata, coverage)
    finally:
        await release.close()
