"""The assembled application: portal page and common headers."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from skygate.app import SERVER_HEADER, create_app
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
