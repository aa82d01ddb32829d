"""``skygate serve``: run the application with uvicorn, say where it is once it answers, and stop it
cleanly on SIGTERM.

With ``--build-hips`` it also builds or updates the HiPS of the release in a background process once
it answers (``skygate/hips_background.py``), and stops that build when it stops.

On SIGTERM (or Ctrl-C) the running database statements are interrupted at once, so every request
in flight ends within moments with an error document instead of holding the process for its full
time limit; requests still running after ``SHUTDOWN_GRACE`` seconds are cancelled. In-process jobs
stop at their next checkpoint and stay EXECUTING; with no heartbeat, the janitor of the next start
queues them again (uws/system.py).
Tests: tests/skygate/test_serve.py.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
from typing import TYPE_CHECKING

import uvicorn

from dali.errors import SkygateError
from registry.curation import check_public_authority
from registry.service import Publisher
from skygate.hips_background import BackgroundHips
from skygate.logs import uvicorn_log_config
from skygate.settings import Settings

if TYPE_CHECKING:  # the application (every service) is imported only when one process serves it
    from skygate.assembly import Runtime

__all__ = ["SHUTDOWN_GRACE", "proxy_options", "ready_message", "run_serve"]

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
        check_public_authority(settings.authority, settings.base_url)
    except SkygateError as exc:
        print(f"skygate serve: {exc}", file=sys.stderr)
        return 2
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    build_hips = getattr(args, "build_hips", False)
    if build_hips and args.workers > 1:
        print("skygate serve: --build-hips runs one build beside one API process; with --workers N, run "
              "`skygate hips build` once instead", file=sys.stderr)
        return 2
    if args.workers > 1:
        print(ready_message(settings, args.host, args.port, starting=True), flush=True)
        uvicorn.run("skygate.asgi:app", host=args.host, port=args.port, workers=args.workers,
                    server_header=False, log_config=uvicorn_log_config(),
                    timeout_graceful_shutdown=SHUTDOWN_GRACE, **proxy_options(settings))  # type: ignore[arg-type]
    else:
        from skygate.app import create_app, runtime_of

        app = create_app(settings)
        config = uvicorn.Config(app, host=args.host, port=args.port, server_header=False,
                                log_config=uvicorn_log_config(), timeout_graceful_shutdown=SHUTDOWN_GRACE,
                                **proxy_options(settings))  # type: ignore[arg-type]
        hips = BackgroundHips(settings) if build_hips else None
        server = _StoppingServer(config, runtime_of(app))
        asyncio.run(_serve(server, ready_message(settings, args.host, args.port), hips))
    return 0


class _StoppingServer(uvicorn.Server):
    """A uvicorn server that interrupts the release's statements when it starts shutting down."""

    def __init__(self, config: uvicorn.Config, runtime: Runtime) -> None:
        super().__init__(config)
        self._runtime = runtime

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        backend = getattr(self._runtime.release, "backend", None)
        if backend is not None:
            stopped = backend.stop_all()
            _log.info("shutting down: %d running statements interrupted", stopped)
        await super().shutdown(sockets)


async def _serve(server: uvicorn.Server, message: str, hips: BackgroundHips | None = None) -> None:
    """Serve until stopped; print ``message`` once the application has started and listens, then start
    the background HiPS build if asked (after, so that it does not slow the start)."""

    async def announce() -> None:
        while not server.started:
            if server.should_exit:
                return
            await asyncio.sleep(0.05)
        print(message, flush=True)
        if hips is not None:
            await hips.start()

    task = asyncio.create_task(announce())
    try:
        await server.serve()
    finally:
        task.cancel()
        if hips is not None:
            await hips.stop()


def ready_message(settings: Settings, host: str, port: int, *, starting: bool = False) -> str:
    """Where the service is and how to reach it from TOPCAT and pyvo (a few lines for a terminal)."""
    local = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{port}"
    url = settings.base_url if settings.base_url != Settings().base_url else local
    tap = f"{url}/tap"
    pyvo = (f"python -c \"import pyvo; print(pyvo.dal.TAPService('{tap}')"
            ".run_sync('SELECT TOP 5 ra, dec, mag_auto_g FROM des_dr1.main').to_table())\"")
    return "\n".join([
        f"Skygate is {'starting' if starting else 'ready'} at {url}  (Ctrl-C stops it)",
        f"  portal (services and tables): {url}/",
        f"  TOPCAT: VO > Table Access Protocol (TAP) Query, TAP URL {tap}",
        f"  pyvo:   {pyvo}",
    ])
