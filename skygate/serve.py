"""``skygate serve``: run the application with uvicorn, and say where it is once it answers."""

from __future__ import annotations

import argparse
import asyncio

import uvicorn

from skygate.settings import Settings

__all__ = ["ready_message", "run_serve"]


def run_serve(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if args.workers > 1:
        print(ready_message(settings, args.host, args.port, starting=True), flush=True)
        uvicorn.run("skygate.asgi:app", host=args.host, port=args.port, workers=args.workers,
                    proxy_headers=True, server_header=False)
    else:
        from skygate.app import create_app

        config = uvicorn.Config(create_app(settings), host=args.host, port=args.port, proxy_headers=True,
                                server_header=False)
        asyncio.run(_serve(uvicorn.Server(config), ready_message(settings, args.host, args.port)))
    return 0


async def _serve(server: uvicorn.Server, message: str) -> None:
    """Serve until stopped; print ``message`` once the application has started and listens."""

    async def announce() -> None:
        while not server.started:
            if server.should_exit:
                return
            await asyncio.sleep(0.05)
        print(message, flush=True)

    task = asyncio.create_task(announce())
    try:
        await server.serve()
    finally:
        task.cancel()


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
