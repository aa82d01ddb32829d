"""The assembled application: portal page and common headers."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from skygate.app import SERVER_HEADER, create_app, runtime_of
from skygate.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, base_url="http://example.org/skygate")


async def test_portal_lists_services_with_base_url(settings: Settings) -> None:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "http://example.org/skygate/tap" in response.text
    assert response.headers["server"] == SERVER_HEADER


@pytest.mark.parametrize("root", ["/tap", "/tap/", "/sia", "/sia/", "/soda", "/soda/", "/anomaly", "/anomaly/",
                                  "/scs", "/scs/"])
async def test_every_service_answers_at_its_root(settings: Settings, root: str) -> None:
    """A page at each service's root, with or without the slash: never a redirect, never a 404."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get(root, follow_redirects=False)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert f"http://example.org/skygate{root.rstrip('/')}/" in response.text  # links to the service's endpoints


async def test_the_runtime_is_filled_in_by_the_lifespan(settings: Settings) -> None:
    app = create_app(settings)
    runtime = runtime_of(app)
    assert runtime.release is None and runtime.jobs is None and runtime.quotas is not None
    async with app.router.lifespan_context(app):
        assert runtime.release is not None and runtime.jobs is not None
        assert runtime.jobs.owner_of is not None
