"""slixmpp clients for the tests: connect with real TLS to the test server and wait for events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import slixmpp

from tests.server_fixtures import PASSWORD, RunningServer

log = logging.getLogger(__name__)
TIMEOUT = 10.0


class Client(slixmpp.ClientXMPP):  # type: ignore[misc]
    """A slixmpp client that records what it receives, to await in tests."""

    def __init__(self, jid: str, password: str, mechanism: str | None = None) -> None:
        super().__init__(jid, password, sasl_mech=mechanism)
        self.messages: asyncio.Queue[Any] = asyncio.Queue()
        self.presences: asyncio.Queue[Any] = asyncio.Queue()
        self.auth_failed = asyncio.Event()
        self.started = asyncio.Event()
        self.disconnected_event = asyncio.Event()
        self.stream_errors: list[str] = []
        self.add_event_handler("session_start", self._on_start)
        self.add_event_handler("failed_all_auth", lambda _e: self.auth_failed.set())
        self.add_event_handler("message", self.messages.put_nowait)
        self.add_event_handler("presence", self.presences.put_nowait)
        self.add_event_handler("disconnected", lambda _e: self.disconnected_event.set())
        self.add_event_handler("stream_error", self._on_stream_error)
        for plugin in ("xep_0030", "xep_0199", "xep_0092", "xep_0203"):
            self.register_plugin(plugin)

    def _on_start(self, _event: Any) -> None:
        self.started.set()

    def _on_stream_error(self, error: Any) -> None:
        self.stream_errors.append(error["condition"])

    async def next_message(self, timeout: float = TIMEOUT) -> Any:
        return await asyncio.wait_for(self.messages.get(), timeout)

    async def next_presence(
        self, timeout: float = TIMEOUT, *, type_: str | None = None, from_: str | None = None
    ) -> Any:
        while True:
            stanza = await asyncio.wait_for(self.presences.get(), timeout)
            if type_ is not None and stanza["type"] != type_:
                continue
            if (
                from_ is not None
                and str(stanza["from"]) != from_
                and str(stanza["from"].bare) != from_
            ):
                continue
            return stanza


def make_client(
    server: RunningServer,
    jid: str,
    password: str = PASSWORD,
    *,
    direct_tls: bool = False,
    mechanism: str | None = None,
) -> Client:
    client = Client(jid, password, mechanism)
    configure(client, server, direct_tls=direct_tls)
    return client


def configure(client: Client, server: RunningServer, *, direct_tls: bool = False) -> None:
    """TLS as the test server wants it, no reconnection, subscriptions answered by the test."""
    client.ssl_context = server.client_ssl_context()
    client.enable_direct_tls = direct_tls
    client.enable_starttls = not direct_tls
    client.enable_plaintext = False
    client.reconnect_max_attempts = 0
    client.auto_authorize = None  # tests answer subscription requests explicitly
    client.auto_subscribe = False


async def go_online(client: Client) -> None:
    """As real clients do: fetch the roster (subscribes to pushes), then send presence and wait
    for it to come back."""
    await client.get_roster(timeout=TIMEOUT)
    client.send_presence()
    await client.next_presence(from_=client.boundjid.full)


async def disconnect(client: Client) -> None:
    """End the stream and wait for the server to close it (abort after 5 s)."""
    client.disconnect(wait=1.0)
    try:
        await asyncio.wait_for(client.disconnected_event.wait(), 5)
    except TimeoutError:
        client.abort()


@asynccontextmanager
async def connected(
    server: RunningServer,
    jid: str,
    password: str = PASSWORD,
    *,
    direct_tls: bool = False,
    mechanism: str | None = None,
    presence: bool = True,
) -> AsyncIterator[Client]:
    """A logged-in client (session started, initial presence sent unless told otherwise)."""
    client = make_client(server, jid, password, direct_tls=direct_tls, mechanism=mechanism)
    port = server.tls_port if direct_tls else server.c2s_port
    client.connect("127.0.0.1", port)
    try:
        await asyncio.wait_for(client.started.wait(), TIMEOUT)
        if presence:
            await go_online(client)
        yield client
    finally:
        await disconnect(client)
