"""``skygate adql translate``: show the SQL an ADQL query becomes, or why it is refused.

Argument parsing is registered from ``skygate/cli.py``; the translation is ``adql.translate`` with
the metadata of the configured release (read through ``release.runtime``). ``--syntax-only``
checks the grammar alone and needs no release. Errors print one line and exit with status 2.
Tests: tests/adql/test_cli.py.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from dali.errors import SkygateError
from dali.values import TableMeta
from skygate.settings import Settings

__all__ = ["add_adql_commands", "run_translate"]


def add_adql_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``adql translate`` on the ``skygate`` sub-command parser."""
    adql_cmd = sub.add_parser("adql", help="ADQL tools")
    what = adql_cmd.add_subparsers(dest="what", required=True)
    translate = what.add_parser("translate", help="print the SQL for an ADQL query")
    translate.add_argument("query", help="the ADQL query (quote it)")
    translate.add_argument("--dialect", choices=("postgres", "duckdb", "spark"), default=None,
                           help="SQL dialect (default: the configured backend's)")
    translate.add_argument("--syntax-only", action="store_true", help="check the grammar only")
    translate.add_argument("--maxrec", type=int, default=None, help="row limit to apply (as TAP MAXREC)")
    translate.set_defaults(handler="skygate.cli_adql:run_translate")


def run_translate(args: argparse.Namespace) -> int:
    import adql

    try:
        if args.syntax_only:
            adql.parse(args.query)
            print("valid ADQL")
            return 0
        settings = Settings.from_env()
        metadata = asyncio.run(_metadata(settings))
        dialect = args.dialect or ("postgres" if settings.uses_postgres
                                   else "spark" if settings.database_url.startswith("sc://") else "duckdb")
        if dialect == "spark":
            from adql.spark import translate_spark

            result = translate_spark(args.query, metadata, dialect, maxrec=args.maxrec)
        else:
            result = adql.translate(args.query, metadata, dialect, maxrec=args.maxrec)
    except SkygateError as exc:
        print(f"skygate adql: {exc}", file=sys.stderr)
        return 2
    print(result.sql)
    return 0


async def _metadata(settings: Settings) -> dict[str, TableMeta]:
    """The release's published tables; a missing release raises the backend's UsageError, which
    says what is missing and how to load it."""
    from release.backends import open_backend
    from release.metadata import load_metadata

    backend = open_backend(settings.database_url, settings.duckdb_path, base_url=settings.base_url,
                           readonly_role=settings.readonly_role)
    try:
        return await load_metadata(backend)
    finally:
        await backend.close()
