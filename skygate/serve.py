"""``skygate serve``: run the application with uvicorn."""

from __future__ import annotations

import argparse
import sys

import uvicorn

from dali.errors import SkygateError
from registry.service import Publisher
from skygate.settings import Settings

__all__ = ["run_serve"]


def run_serve(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    try:
        Publisher.from_settings(settings)  # SKYGATE_AUTHORITY and the registry metadata file, checked up front
    except SkygateError as exc:
        print(f"skygate serve: {exc}", file=sys.stderr)
        return 2
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if args.workers > 1:
        uvicorn.run("skygate.asgi:app", host=args.host, port=args.port, workers=args.workers,
                    proxy_headers=True, server_header=False)
    else:
        from skygate.app import create_app

        uvicorn.run(create_app(settings), host=args.host, port=args.port, proxy_headers=True,
                    server_header=False)
    return 0
