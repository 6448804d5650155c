"""External components for the tests: slixmpp's ComponentXMPP, and a raw one for bad cases."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import slixmpp

from tests.integration.raw import RawPeer
from tests.server_fixtures import RunningServer

TIMEOUT = 10.0
COMPONENT = "comp.localhost"
SECRET = "a component secret long enough"
STREAM_ERRORS = "urn:ietf:params:xml:ns:xmpp-streams"


class Component(slixmpp.ComponentXMPP):  # type: ignore[misc]
    """A slixmpp component that records what it receives and answers disco itself."""

    def __init__(self, jid: str = COMPONENT, secret: str = SECRET) -> None:
        super().__init__(jid, secret)
        self.messages: asyncio.Queue[Any] = asyncio.Queue()
        self.presences: asyncio.Queue[Any] = asyncio.Queue()
        self.started = asyncio.Event()
        self.disconnected_event = asyncio.Event()
        self.stream_errors: list[str] = []
        self.add_event_handler("session_start", lambda _e: self.started.set())
        self.add_event_handler("message", self.messages.put_nowait)
        self.add_event_handler("presence", self.presences.put_nowait)
        self.add_event_handler("disconnected", lambda _e: self.disconnected_event.set())
        self.add_event_handler("stream_error", lambda e: self.stream_errors.append(e["condition"]))
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0199")
        self.plugin["xep_0030"].add_identity(category="gateway", itype="test", name="Test gateway")
        self.reconnect_max_attempts = 0

    async def next_message(self, timeout: float = TIMEOUT) -> Any:
        return await asyncio.wait_for(self.messages.get(), timeout)

    async def next_presence(self, timeout: float = TIMEOUT) -> Any:
        return await asyncio.wait_for(self.presences.get(), timeout)


def component_port(server: RunningServer) -> int:
    return server.app.listeners.ports["component"]


@asynccontextmanager
async def component(server: RunningServer, jid: str = COMPONENT) -> AsyncIterator[Component]:
    """A slixmpp component connected and accepted (handshake done)."""
    comp = Component(jid)
    comp.connect("127.0.0.1", component_port(server))
    try:
        await asyncio.wait_for(comp.started.wait(), TIMEOUT)
        yield comp
    finally:
        comp.disconnect(wait=1.0)
        try:
            await asyncio.wait_for(comp.disconnected_event.wait(), 5)
        except TimeoutError:
            comp.abort()


def header(to: str = COMPONENT, namespace: str = "jabber:component:accept") -> bytes:
    return (
        f"<stream:stream xmlns='{namespace}' xmlns:stream='http://etherx.jabber.org/streams'"
        f" to='{to}'>"
    ).encode()


def handshake(stream_id: str, secret: str = SECRET) -> bytes:
    digest = hashlib.sha1((stream_id + secret).encode()).hexdigest()  # noqa: S324 - XEP-0114
    return f"<handshake>{digest}</handshake>".encode()


async def raw_component(
    server: RunningServer, *, to: str = COMPONENT, secret: str | None = SECRET
) -> tuple[RawPeer, bytes]:
    """A raw component stream: header sent and answered, then (``secret`` not None) the
    handshake sent; returns the peer and what the server wrote so far."""
    peer = await RawPeer.connect(component_port(server))
    peer.send(header(to))
    answer = await peer.read_until(b">")
    while not re.search(rb"<stream:stream[^>]*>", answer):
        answer += await peer.read_until(b">")
    match = re.search(rb" id='([^']+)'", answer)
    assert match is not None, answer
    if secret is not None:
        peer.send(handshake(match.group(1).decode(), secret))
    return peer, answer


def stream_error(condition: str) -> bytes:
    return f"<{condition} xmlns='{STREAM_ERRORS}'/>".encode()
