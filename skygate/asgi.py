"""The ASGI entry point for process managers (``uvicorn skygate.asgi:app``, gunicorn)."""

from skygate.app import create_app

app = create_app()
