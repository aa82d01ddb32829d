"""``skygate serve``: run the application with uvicorn."""

from __future__ import annotations

import argparse
import sys

import uvicorn

from dali.errors import SkygateError
from registry.service import Publisher
from skygate.logs import uvicorn_log_config
from skygate.settings import Settings

__all__ = ["proxy_options", "run_serve"]


def proxy_options(settings: Settings) -> dict[str, object]:
    """uvicorn's proxy settings: ``X-Forwarded-For``/``-Proto`` are believed only from the addresses
    in ``SKYGATE_TRUSTED_PROXIES`` (none by default), since the client address they rewrite is what
    failed logins are throttled by."""
    if not settings.trusted_proxies:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": settings.trusted_proxies}


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
                    server_header=False, log_config=uvicorn_log_config(),
                    **proxy_options(settings))  # type: ignore[arg-type]
    else:
        from skygate.app import create_app

        uvicorn.run(create_app(settings), host=args.host, port=args.port, server_header=False,
                    log_config=uvicorn_log_config(), **proxy_options(settings))  # type: ignore[arg-type]
    return 0
