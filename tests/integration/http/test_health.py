"""GET /health follows the database: 503 naming the check while it is away, 200 once back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import pytest_asyncio

from tests.integration.tcp_proxy import TcpProxy
from tests.server_fixtures import make_settings, running_server

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def proxy(database_url: str) -> AsyncIterator[TcpProxy]:
    parts = urlsplit(database_url)
    assert parts.hostname is not None
    forwarder = TcpProxy(parts.hostname, parts.port or 5432)
    await forwarder.start()
    try:
        yield forwarder
    finally:
        await forwarder.stop()


@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
async def test_health_follows_the_database(
    tmp_path: Path, database_url: str, proxy: TcpProxy
) -> None:
    parts = urlsplit(database_url)
    user = f"{parts.username}@" if parts.username else ""
    through_proxy = urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}"))
    async with (
        running_server(make_settings(tmp_path, through_proxy)) as server,
        httpx.AsyncClient(base_url=server.http_url, timeout=10) as http,
    ):
        healthy = await http.get("/health")
        assert healthy.status_code == 200
        assert healthy.json()["status"] == "ok"
        assert healthy.json()["checks"]["database"] == "ok"

        await proxy.stop()
        down = await http.get("/health")
        assert down.status_code == 503
        body = down.json()
        assert body["error"] == "unhealthy"
        assert "database" in body["message"]
        assert body["checks"]["database"] != "ok"

        await proxy.start()
        async with asyncio.timeout(15):
            while (await http.get("/health")).status_code != 200:
                await asyncio.sleep(0.2)
