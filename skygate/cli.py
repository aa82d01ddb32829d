"""The ``skygate`` command.

Sub-commands: ``serve`` (the API), ``worker`` (job workers), ``demo`` (generate and load the demo
release), ``ingest`` (load a catalog), ``hips`` (build the HiPS surveys), ``adql`` (translate a query),
``registry`` (show the published records), ``user`` and ``token`` (accounts of ``SKYGATE_AUTH=tokens``),
``shell`` (a TAP shell). Each handler lives beside the code it drives; this module only parses arguments.
Tests: tests/skygate/test_cli_release.py.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skygate", description="IVOA services for a survey data release")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the API with uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    serve.add_argument("--build-hips", action="store_true",
                       help="build or update the HiPS of the release's coadds in the background (as make serve does)")
    serve.set_defaults(handler="skygate.serve:run_serve")

    worker = sub.add_parser("worker", help="run job workers on the configured broker")
    worker.add_argument("--processes", type=int, default=1)
    worker.add_argument("--threads", type=int, default=4)
    worker.add_argument("--queue", default=None, help="dramatiq queue name (default skygate-uws)")
    worker.add_argument("--kinds", action="append", metavar="MODULE:FUNCTION",
                        help="extra job kinds, e.g. uws.testing:job_kinds (repeatable)")
    worker.set_defaults(handler="skygate.worker:run_worker")

    from skygate.cli_release import add_release_commands  # demo, ingest

    add_release_commands(sub)

    from skygate.cli_sky import add_sky_commands  # hips build

    add_sky_commands(sub)

    from skygate.cli_adql import add_adql_commands  # adql translate

    add_adql_commands(sub)

    from skygate.cli_registry import add_registry_commands  # registry show

    add_registry_commands(sub)

    from skygate.cli_auth import add_auth_commands  # user, token

    add_auth_commands(sub)

    shell = sub.add_parser("shell", help="an easyaccess-style ADQL shell for any TAP service")
    from skygate.shell.repl import add_arguments  # light: the shell's imports wait for its handler

    add_arguments(shell)
    shell.set_defaults(handler="skygate.shell.repl:run")

    return parser


def _resolve(handler: str):  # type: ignore[no-untyped-def]
    module_name, func_name = handler.split(":")
    module = __import__(module_name, fromlist=[func_name])
    return getattr(module, func_name)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    handler = _resolve(args.handler)
    status = handler(args)
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
