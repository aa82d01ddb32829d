"""``skygate serve``: run the application with uvicorn, and stop it cleanly on SIGTERM.

On SIGTERM (or Ctrl-C) the running database statements are interrupted at once, so every request
in flight ends within moments with an error document instead of holding the process for its full
time limit; requests still running after ``SHUTDOWN_GRACE`` seconds are cancelled. In-process jobs
stop at their next checkpoint and stay EXECUTING; with no heartbeat, the janitor of the next start
queues them again (uws/system.py).
Tests: tests/skygate/test_serve.py.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys

import uvicorn
from starlette.applications import Starlette

from dali.errors import SkygateError
from registry.service import Publisher
from skygate.logs import uvicorn_log_config
from skygate.settings import Settings

__all__ = ["SHUTDOWN_GRACE", "proxy_options", "run_serve"]

SHUTDOWN_GRACE = 3
_log = logging.getLogger(__name__)


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
                    timeout_graceful_shutdown=SHUTDOWN_GRACE, **proxy_options(settings))  # type: ignore[arg-type]
    else:
        from skygate.app import create_app

        app = create_app(settings)
        config = uvicorn.Config(app, host=args.host, port=args.port, server_header=False,
                                log_config=uvicorn_log_config(), timeout_graceful_shutdown=SHUTDOWN_GRACE,
                                **proxy_options(settings))  # type: ignore[arg-type]
        _StoppingServer(config, app).run()
    return 0


class _StoppingServer(uvicorn.Server):
    """A uvicorn server that interrupts the release's statements when it starts shutting down."""

    def __init__(self, config: uvicorn.Config, app: Starlette) -> None:
        super().__init__(config)
        self._app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        release = getattr(self._app.state, "release", None)
        backend = getattr(release, "backend", None)
        if backend is not None:
            stopped = backend.stop_all()
            _log.info("shutting down: %d running statements interrupted", stopped)
        await super().shutdown(sockets)
