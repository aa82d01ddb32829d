"""``skygate demo`` and ``skygate ingest``: generate the demo release and load catalogs.

Argument parsing lives in ``skygate/cli.py``; the work lives in ``release.demo`` (generation) and
``release.ingest`` (loading). These handlers read the settings, print what happened with timings,
and turn our errors into a one-line message and exit status 2 instead of a traceback.
Tests: tests/skygate/test_cli.py.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from dali.errors import SkygateError
from skygate.settings import Settings

if TYPE_CHECKING:
    from release.ingest import LoadedTable, Store

__all__ = ["add_release_commands", "run_demo", "run_ingest"]


def add_release_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``demo`` and ``ingest`` on the ``skygate`` sub-command parser."""
    demo = sub.add_parser("demo", help="generate the demo release and load it into the catalog database")
    demo.add_argument("--profile", choices=("ci", "demo", "large"), default=None,
                      help="size of the release (default: SKYGATE_DEMO_PROFILE, else demo)")
    demo.add_argument("--pixscale", type=float, default=None, help="arcsec per pixel of the tile images")
    demo.add_argument("--if-missing", action="store_true",
                      help="do nothing when the release is already generated and ingested")
    demo.add_argument("--no-ingest", action="store_true", help="only generate the files")
    demo.add_argument("--partitioned", action="store_true",
                      help="write the positional tables as HEALPix-partitioned Parquet (HATS), served in place")
    demo.add_argument("--max-rows", type=int, default=None, help="rows per partition (default 1000000)")
    demo.set_defaults(handler="skygate.cli_release:run_demo")

    ingest = sub.add_parser("ingest", help="load data into the catalog database")
    what = ingest.add_subparsers(dest="what", required=True)
    catalog = what.add_parser("catalog", help="a FITS, Parquet or CSV table")
    catalog.add_argument("path", type=Path)
    catalog.add_argument("--table", required=True, help="published name, schema.name")
    catalog.add_argument("--ra", help="right ascension column (deg): adds the HEALPix index")
    catalog.add_argument("--dec", help="declination column (deg)")
    catalog.add_argument("--tolerance", type=float, default=0.0,
                         help="deg by which ra/dec may differ from the true position")
    catalog.add_argument("--metadata", type=Path, help="JSON or TOML file with descriptions, units, UCDs")
    catalog.add_argument("--partitioned", action="store_true",
                         help="with --ra/--dec: write HEALPix-partitioned Parquet (HATS) under the data dir, "
                              "served in place")
    catalog.add_argument("--max-rows", type=int, default=None, help="rows per partition (default 1000000)")
    catalog.set_defaults(handler="skygate.cli_release:run_ingest")


def run_demo(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    profile = args.profile or settings.demo_profile
    release_dir = settings.release_dir
    try:
        return asyncio.run(_demo(settings, profile, release_dir, args))
    except SkygateError as exc:
        print(f"skygate demo: {exc}", file=sys.stderr)
        return 2


async def _demo(settings: Settings, profile: str, release_dir: Path, args: argparse.Namespace) -> int:
    # The release modules (pyarrow, DuckDB, asyncpg) load only when a command runs.
    from release.ingest import ingest_release, ingested_stamp, open_store, release_stamp

    generated = _manifest_profile(release_dir) == profile
    if generated and args.if_missing and args.no_ingest:
        print(f"release {profile} already generated in {release_dir}")
        return 0
    if generated and args.if_missing:
        async with await open_store(settings.database_url, settings.duckdb_path,
                                    readonly_role=settings.readonly_role) as store:
            if await ingested_stamp(store) == _stamp(release_stamp(release_dir), args):
                print(f"release {profile} already generated and ingested ({_where(settings)})")
                return 0
    if not (generated and args.if_missing):
        start = time.perf_counter()
        await asyncio.to_thread(_generate, profile, release_dir, args.pixscale)
        print(f"generated the {profile} release in {release_dir} ({time.perf_counter() - start:.1f} s)")
    if args.no_ingest:
        return 0
    start = time.perf_counter()
    async with await open_store(settings.database_url, settings.duckdb_path,
                                readonly_role=settings.readonly_role) as store:
        if args.partitioned:
            store = _partitioned(store, settings, args.max_rows)
        loaded = await ingest_release(store, release_dir, stamp=_stamp(release_stamp(release_dir), args))
    _report(loaded)
    print(f"ingested into {_where(settings)} in {time.perf_counter() - start:.1f} s")
    return 0


def _stamp(stamp: str | None, args: argparse.Namespace) -> str | None:
    """The release stamp, marked when partitioned: ``--if-missing`` then redoes an unpartitioned ingest."""
    return f"{stamp}/partitioned" if stamp and args.partitioned else stamp


def _generate(profile: str, release_dir: Path, pixscale: float | None) -> None:
    try:
        from release.demo import generate
    except ImportError as exc:
        raise SkygateError("the demo generator (release.demo.generate) is not available") from exc
    generate(profile, release_dir, pixscale=pixscale)


def _manifest_profile(release_dir: Path) -> str | None:
    import json

    try:
        manifest = json.loads((release_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    profile = manifest.get("profile") if isinstance(manifest, dict) else None
    return str(profile) if profile else None


def run_ingest(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    try:
        return asyncio.run(_ingest(settings, args))
    except SkygateError as exc:
        print(f"skygate ingest: {exc}", file=sys.stderr)
        return 2


async def _ingest(settings: Settings, args: argparse.Namespace) -> int:
    from release.ingest import LoadedTable, ingest_table, open_source, open_store, read_metadata_file

    if args.partitioned and not (args.ra and args.dec):
        raise SkygateError("--partitioned needs --ra and --dec: partitions are HEALPix pixels")
    overrides = read_metadata_file(args.metadata) if args.metadata else None
    source = open_source(args.path)
    start = time.perf_counter()
    async with await open_store(settings.database_url, settings.duckdb_path,
                                readonly_role=settings.readonly_role) as store:
        if args.partitioned:
            store = _partitioned(store, settings, args.max_rows)
        meta = await ingest_table(store, source, args.table, ra=args.ra, dec=args.dec, tolerance=args.tolerance,
                                  overrides=overrides)
    _report([LoadedTable(meta, time.perf_counter() - start)])
    print(f"ingested into {_where(settings)}")
    return 0


def _partitioned(store: Store, settings: Settings, max_rows: int | None) -> Store:
    """``store`` writing positional tables as HATS catalogues under ``<data dir>/hats`` (release.partitioned)."""
    from release.hats import DEFAULT_MAX_ROWS
    from release.partitioned import PartitionedStore

    return PartitionedStore(store, settings.data_dir / "hats", max_rows=DEFAULT_MAX_ROWS if max_rows is None else max_rows)


def _report(loaded: list[LoadedTable]) -> None:
    for item in loaded:
        meta = item.meta
        where = f", position ({meta.position.ra}, {meta.position.dec})" if meta.position else ""
        print(f"  {meta.qualified}: {meta.nrows} rows, {len(meta.published_columns)} columns{where} "
              f"({item.seconds:.1f} s)")


def _where(settings: Settings) -> str:
    if settings.uses_postgres:
        return "PostgreSQL " + settings.database_url.rsplit("@", 1)[-1]
    return str(settings.duckdb_path)
