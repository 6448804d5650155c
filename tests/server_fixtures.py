"""A real xmpp-video server in the test's event loop, on free ports, over a fresh database."""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from xmpp_video.app import App
from xmpp_video.config import Settings
from xmpp_video.core.accounts import parse_account_jid
from xmpp_video.core.server import Server
from xmpp_video.storage.migrate import upgrade

PASSWORD = "correct horse battery staple"


@dataclass
class RunningServer:
    app: App
    data_dir: Path

    @property
    def server(self) -> Server:
        assert self.app.server is not None
        return self.app.server

    @property
    def domain(self) -> str:
        return self.app.settings.xmpp_domain

    @property
    def c2s_port(self) -> int:
        return self.app.listeners.ports["c2s"]

    @property
    def tls_port(self) -> int:
        return self.app.listeners.ports["c2s_tls"]

    @property
    def http_port(self) -> int:
        return self.app.listeners.ports["http"]

    @property
    def https_port(self) -> int:
        return self.app.listeners.ports["https"]

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.http_port}/ws"

    @property
    def cert_path(self) -> Path:
        return self.data_dir / "tls" / "cert.pem"

    def client_ssl_context(self) -> ssl.SSLContext:
        """Verifies the server's generated certificate for real (no CERT_NONE)."""
        context = ssl.create_default_context(cafile=str(self.cert_path))
        return context

    async def add_user(self, name: str, password: str = PASSWORD) -> str:
        jid = parse_account_jid(name, self.domain)
        await self.server.accounts.add(jid, password)
        return str(jid)


def make_settings(data_dir: Path, database_url: str, **overrides: object) -> Settings:
    base = Settings(
        xmpp_domain="localhost",
        data_dir=data_dir,
        database_url=database_url,
        bind_host="127.0.0.1",
        auth_timeout=10.0,
        shutdown_timeout=5.0,
    )
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


@pytest.fixture
def server_settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url)


@asynccontextmanager
async def running_server(settings: Settings) -> AsyncIterator[RunningServer]:
    """A started server with these settings (all listeners on free ports), stopped at the end."""
    url = settings.effective_database_url
    if url.startswith("postgresql"):
        await asyncio.to_thread(upgrade, url)  # as an operator runs `xmpp-video db upgrade`
    app = App(settings, ephemeral_ports=True)
    await app.start()
    try:
        yield RunningServer(app, settings.data_dir)
    finally:
        await app.stop()


@pytest_asyncio.fixture
async def xmpp_server(server_settings: Settings) -> AsyncIterator[RunningServer]:
    async with running_server(server_settings) as server:
        yield server
