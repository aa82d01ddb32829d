"""Authentication under uvicorn: forwarded client addresses are believed only from trusted proxies.

Failed logins are throttled per client address, so a client that may set ``X-Forwarded-For``
itself could give every attempt a new address. Tests: the real server, over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from skygate.serve import proxy_options
from skygate.settings import Settings
from tests.live_fixtures import LiveServer, serve


def _spoofed_attempts(server: LiveServer, count: int) -> list[int]:
    # A different wrong token each time: a refused credential sent again counts once (auth.limits).
    with httpx.Client(base_url=server.url) as client:
        return [client.get("/whoami", headers={"Authorization": f"Bearer sgt_wrong{n}",
                                               "X-Forwarded-For": f"198.51.100.{n}"}).status_code
                for n in range(1, count + 1)]


@pytest.fixture()
def untrusting(tmp_path: Path, ci_duckdb_path: Path) -> Iterator[LiveServer]:
    (tmp_path / "catalog.duckdb").symlink_to(ci_duckdb_path)
    yield from serve(Settings(data_dir=tmp_path, auth="tokens"))


@pytest.fixture()
def behind_proxy(tmp_path: Path, ci_duckdb_path: Path) -> Iterator[LiveServer]:
    (tmp_path / "catalog.duckdb").symlink_to(ci_duckdb_path)
    yield from serve(Settings(data_dir=tmp_path, auth="tokens", trusted_proxies="127.0.0.1"))


@pytest.mark.live
def test_forwarded_addresses_are_ignored_by_default(untrusting: LiveServer) -> None:
    statuses = _spoofed_attempts(untrusting, 21)
    assert statuses[:20] == [401] * 20 and statuses[20] == 429


@pytest.mark.live
def test_forwarded_addresses_count_behind_a_trusted_proxy(behind_proxy: LiveServer) -> None:
    assert _spoofed_attempts(behind_proxy, 21) == [401] * 21


def test_proxy_options() -> None:
    assert proxy_options(Settings()) == {"proxy_headers": False}
    assert proxy_options(Settings(trusted_proxies="10.0.0.5,10.0.0.6")) == {
        "proxy_headers": True, "forwarded_allow_ips": "10.0.0.5,10.0.0.6"}
