"""``skygate demo`` and ``skygate ingest``: generate the demo release and load catalogs.

Argument parsing lives in ``skygate/cli.py``; the work lives in ``release.demo`` (generation) and
``release.layout``/``release.ingest`` (loading the release, or one table). These handlers read the
settings, draw a progress bar per phase on stderr (skygate/progress.py), print what happened with
timings and a one-line summary, and turn our errors into a one-line message and exit status 2
instead of a traceback. After loading they rebuild the footprint MOCs and name each one's URL in its
table's description (``release.layout.reference_footprints``). ``demo`` builds no HiPS: it says how they
are built (`skygate hips build`, or in the background by `skygate serve --build-hips`, as `make serve`
does), so that a first run answers queries without waiting for them.
Tests: tests/skygate/test_cli_release.py.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from dali.errors import SkygateError
from skygate.progress import Bars
from skygate.settings import Settings

if TYPE_CHECKING:
    from release.ingest import LoadedTable
    from release.stores import Store

__all__ = ["add_release_commands", "run_demo", "run_ingest"]


def add_release_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``demo`` and ``ingest`` on the ``skygate`` sub-command parser."""
    demo = sub.add_parser("demo", help="generate the demo release and load it into the catalog database")
    demo.add_argument("--profile", choices=("ci", "tour", "demo", "large"), default=None,
                      help="size of the release (default: SKYGATE_DEMO_PROFILE, else demo)")
    demo.add_argument("--pixscale", type=float, default=None, help="arcsec per pixel of the tile images")
    demo.add_argument("--if-missing", action="store_true",
                      help="do nothing when the release is already generated and ingested")
    demo.add_argument("--no-ingest", action="store_true", help="only generate the files")
    demo.add_argument("--workers", type=int, default=None,
                      help="processes rendering tiles (default: one per core; the files are the same)")
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
    bars = Bars()
    try:
        return asyncio.run(_demo(settings, profile, release_dir, args, bars))
    except SkygateError as exc:
        bars.close()  # before the message, so it is not drawn over
        print(f"skygate demo: {exc}", file=sys.stderr)
        return 2
    finally:
        bars.close()


async def _demo(settings: Settings, profile: str, release_dir: Path, args: argparse.Namespace,
                bars: Bars) -> int:
    # The release modules (pyarrow, DuckDB, asyncpg) load only when a command runs.
    from release.layout import ingest_release, ingested_stamp, release_stamp
    from release.stores import open_store

    generated = _manifest_profile(release_dir) == profile
    if generated and args.if_missing and args.no_ingest:
        print(f"release {profile} already generated in {release_dir}")
        return 0
    if generated and args.if_missing:
        async with await open_store(settings.database_url, settings.duckdb_path,
                                    readonly_role=settings.readonly_role) as store:
            if await ingested_stamp(store) == _stamp(release_stamp(release_dir), args):
                print(f"release {profile} already generated and ingested ({_where(settings)})")
                await _references(settings, store)  # SKYGATE_BASE_URL may have changed since
                _hips_note(settings)
                return 0
    began = time.perf_counter()
    generate_s = 0.0
    if not (generated and args.if_missing):
        await asyncio.to_thread(_generate, profile, release_dir, args.pixscale, args.workers, bars)
        generate_s = time.perf_counter() - began
        bars.close()
        print(f"generated the {profile} release in {release_dir} ({generate_s:.1f} s)")
    if args.no_ingest:
        return 0
    start = time.perf_counter()
    async with await open_store(settings.database_url, settings.duckdb_path,
                                readonly_role=settings.readonly_role) as store:
        if args.partitioned:
            store = _partitioned(store, settings, args.max_rows)
        loaded = await ingest_release(store, release_dir, progress=bars,
                                      stamp=_stamp(release_stamp(release_dir), args))
        bars.close()
        await _footprints(settings, store)
    _report(loaded)
    ingest_s = time.perf_counter() - start
    print(f"ingested into {_where(settings)} in {ingest_s:.1f} s")
    _hips_note(settings)
    print(_summary(profile, release_dir, loaded, generate_s, ingest_s, time.perf_counter() - began))
    return 0


def _hips_note(settings: Settings) -> None:
    """How the HiPS for Aladin and /sky come to be, when none is built yet."""
    from sky.hipsmeta import COLOUR_SURVEY

    if not (settings.hips_dir / COLOUR_SURVEY / "properties").is_file():
        print("HiPS for Aladin and /sky: none built yet; `make serve` builds them in the background "
              "(`skygate serve --build-hips`), or run `skygate hips build` (about 2.5 minutes for the demo "
              "profile on two cores)")


def _stamp(stamp: str | None, args: argparse.Namespace) -> str | None:
    """The release stamp, marked when partitioned: ``--if-missing`` then redoes an unpartitioned ingest."""
    return f"{stamp}/partitioned" if stamp and args.partitioned else stamp


def _generate(profile: str, release_dir: Path, pixscale: float | None, workers: int | None,
              bars: Bars) -> None:
    try:
        from release.demo import generate
    except ImportError as exc:
        raise SkygateError("the demo generator (release.demo.generate) is not available") from exc
    generate(profile, release_dir, pixscale=pixscale, workers=workers, progress=bars)


def _summary(profile: str, release_dir: Path, loaded: list[LoadedTable], generate_s: float, ingest_s: float,
             total_s: float) -> str:
    """One line: what the release holds and where the time went."""
    import json

    try:
        manifest = json.loads((release_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        manifest = {}
    tiles, bands = len(manifest.get("tiles", [])), len(manifest.get("bands", []))
    rows = sum(item.meta.nrows or 0 for item in loaded)
    generated = f"generated {generate_s:.0f} s + " if generate_s else ""
    return (f"{profile} release ready in {total_s:.0f} s ({generated}ingested {ingest_s:.0f} s): {tiles} tiles, "
            f"{tiles * bands} band images, {len(loaded)} tables, {rows:,} rows")


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
    from release.ingest import LoadedTable, ingest_table, read_metadata_file
    from release.sources import open_source
    from release.stores import open_store

    if args.partitioned and not (args.ra and args.dec):
        raise SkygateError("--partitioned needs --ra and --dec: partitions are HEALPix pixels")
    overrides = read_metadata_file(args.metadata) if args.metadata else None
    source = open_source(args.path)
    start = time.perf_counter()
    bars = Bars()
    try:
        async with await open_store(settings.database_url, settings.duckdb_path,
                                    readonly_role=settings.readonly_role) as store:
            if args.partitioned:
                store = _partitioned(store, settings, args.max_rows)
            meta = await ingest_table(store, source, args.table, ra=args.ra, dec=args.dec,
                                      tolerance=args.tolerance, overrides=overrides, progress=bars)
            bars.close()
            await _footprints(settings, store)
    finally:
        bars.close()
    _report([LoadedTable(meta, time.perf_counter() - start)])
    print(f"ingested into {_where(settings)}")
    return 0


async def _footprints(settings: Settings, store: Store) -> None:
    """Rebuild the MOC footprints of every positional table and of the images (the release changed)."""
    from sky.moc import build_footprints

    start = time.perf_counter()
    built = await build_footprints(store.fetch, settings.moc_dir, order=settings.moc_order)
    names = ", ".join(f"{f.name} {f.area_deg2:.2f} deg²" for f in built) or "none"
    print(f"footprints (MOC order {settings.moc_order}) in {settings.moc_dir}: {names} "
          f"({time.perf_counter() - start:.1f} s)")
    await _references(settings, store)


async def _references(settings: Settings, store: Store) -> None:
    """Name each footprint's URL in its table's description (TAP_SCHEMA, hence /tap/tables too).

    Written here, at ingest, with the configured SKYGATE_BASE_URL: TAP_SCHEMA is a stored table that
    ADQL queries read like any other, so a URL put in at serve time would reach /tap/tables but not
    ``SELECT description FROM tap_schema.tables`` (taplint compares the two). ``demo --if-missing``, which
    `make serve` runs first, calls this again, so a changed base URL is followed without a new ingest.
    """
    from urllib.parse import quote

    from release.layout import reference_footprints
    from sky.moc import read_footprints

    urls = {name: f"{settings.base_url}/moc/{quote(name)}" for name in read_footprints(settings.moc_dir)}
    if await reference_footprints(store, urls):
        print(f"table descriptions name their footprints ({settings.base_url}/moc/...)")


def _partitioned(store: Store, settings: Settings, max_rows: int | None) -> Store:
    """``store`` writing positional tables as HATS catalogues under ``<data dir>/hats`` (release.partitioned)."""
    from release.hats import DEFAULT_MAX_ROWS
    from release.partitioned import PartitionedStore

    rows = DEFAULT_MAX_ROWS if max_rows is None else max_rows
    return PartitionedStore(store, settings.data_dir / "hats", max_rows=rows)


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
