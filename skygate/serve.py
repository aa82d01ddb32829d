"""``skygate serve``: run the application with uvicorn."""

from __future__ import annotations

import argparse

import uvicorn

from skygate.logs import uvicorn_log_config
from skygate.settings import Settings

__all__ = ["run_serve"]


def run_serve(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if args.workers > 1:
        uvicorn.run("skygate.asgi:app", host=args.host, port=args.port, workers=args.workers,
                    proxy_headers=True, server_header=False, log_config=uvicorn_log_config())
    else:
        from skygate.app import create_app

        uvicorn.run(create_app(settings), host=args.host, port=args.port, proxy_headers=True,
                    server_header=False, log_config=uvicorn_log_config())
    return 0
