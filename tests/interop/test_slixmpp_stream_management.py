"""Stream management (XEP-0198) with slixmpp's own plugin (``xep_0198``), over real TLS.

Juliet's phone (slixmpp with stream management and resumption) loses its connection — the
socket is aborted under the client, as when the radio drops: no ``</stream:stream>``, no FIN
from the application — while Romeo keeps writing to her. The server keeps her session
(hibernating) and queues; slixmpp reconnects, resumes, and the test counts every message:
nothing lost, nothing twice. When she comes back too late, the resumption fails and what was
queued is in offline storage for her next login; an iq sent to her meanwhile bounces.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from tests.interop.slix import (
    TIMEOUT,
    Client,
    connected,
    disconnect,
    go_online,
    make_client,
)
from tests.server_fixtures import RunningServer, running_server
from xmpp_video.config import Settings
from xmpp_video.core.c2s import C2SStream

pytestmark = pytest.mark.asyncio


class Phone(Client):
    """A slixmpp client with XEP-0198 (resumption requested), that can lose its connection."""

    def __init__(self, jid: str, password: str) -> None:
        super().__init__(jid, password)
        self.register_plugin("xep_0198", {"window": 5})
        self.bodies: Counter[str] = Counter()
        self.sm_enabled = asyncio.Event()
        self.resumed = asyncio.Event()
        self.sm_failed = asyncio.Event()
        self.bound_again = asyncio.Event()
        self.add_event_handler("sm_enabled", lambda _e: self.sm_enabled.set())
        self.add_event_handler("session_resumed", lambda _e: self.resumed.set())
        self.add_event_handler("sm_failed", lambda _e: self.sm_failed.set())
        self.add_event_handler("session_bind", lambda _e: self.bound_again.set())
        self.add_event_handler("message", self._count)

    def _count(self, msg: Any) -> None:
        if msg["body"]:
            self.bodies[msg["body"]] += 1

    def lose_connection(self) -> None:
        """The network goes away under the client: no stream end, no waiting."""
        assert self.transport is not None
        self.transport.abort()


def phone(server: RunningServer, jid: str) -> Phone:
    template = make_client(server, jid)  # the test settings (TLS context, no reconnection…)
    client = Phone(jid, template.password)
    for name in (
        "ssl_context",
        "enable_direct_tls",
        "enable_starttls",
        "enable_plaintext",
        "reconnect_max_attempts",
        "auto_authorize",
        "auto_subscribe",
    ):
        setattr(client, name, getattr(template, name))
    return client


@asynccontextmanager
async def online(server: RunningServer, client: Phone) -> AsyncIterator[Phone]:
    client.connect("127.0.0.1", server.c2s_port)
    try:
        await asyncio.wait_for(client.started.wait(), TIMEOUT)
        await asyncio.wait_for(client.sm_enabled.wait(), TIMEOUT)
        await go_online(client)
        yield client
    finally:
        await disconnect(client)


def session_of(server: RunningServer, full_jid: str) -> C2SStream:
    session = server.server.registry.get(full_jid)
    assert isinstance(session, C2SStream), full_jid
    return session


async def until(condition: Any, timeout: float = TIMEOUT) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def reconnect(server: RunningServer, client: Phone) -> None:
    client.disconnected_event.clear()
    client.connect("127.0.0.1", server.c2s_port)


async def test_a_dropped_phone_resumes_with_nothing_lost_and_nothing_twice(
    xmpp_server: RunningServer,
) -> None:
    juliet_jid = await xmpp_server.add_user("juliet")
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet = phone(xmpp_server, juliet_jid)
    async with online(xmpp_server, juliet), connected(xmpp_server, romeo_jid) as romeo:
        full = juliet.boundjid.full
        session = session_of(xmpp_server, full)
        sent: list[str] = []

        def send(n: int, to: str) -> None:
            for _ in range(n):
                body = f"message {len(sent)}"
                sent.append(body)
                romeo.send_message(mto=to, mbody=body, mtype="chat")

        send(10, full)
        await until(lambda: sum(juliet.bodies.values()) == 10)
        # some in flight when the network goes, to her resource and to her account
        send(5, full)
        send(5, juliet_jid)
        juliet.lose_connection()
        await until(lambda: session.hibernating)
        assert xmpp_server.server.registry.get(full) is session  # her resource stays
        assert session.available  # and her presence
        send(10, full)
        send(10, juliet_jid)
        await until(lambda: session.sm is not None and len(session.sm.unacked) >= 20)

        await reconnect(xmpp_server, juliet)
        await asyncio.wait_for(juliet.resumed.wait(), TIMEOUT)
        assert juliet.boundjid.full == full
        assert xmpp_server.server.registry.get(full) is session
        assert not session.hibernating
        send(5, full)  # and the resumed stream goes on
        await until(lambda: sum(juliet.bodies.values()) >= len(sent))
        await asyncio.sleep(0.3)  # anything extra would show up now
        assert juliet.bodies == Counter(sent), "every message exactly once"
        assert not juliet.sm_failed.is_set()
        # Juliet's own stanzas were acknowledged across the resumption too
        romeo_presences = romeo.presences.qsize()
        juliet.send_message(mto=romeo_jid, mbody="back", mtype="chat")
        msg = await romeo.next_message()
        assert msg["body"] == "back"
        assert romeo.presences.qsize() == romeo_presences  # she never went unavailable


async def test_a_resumption_after_the_timeout_fails_and_the_queue_waits_offline(
    server_settings: Settings,
) -> None:
    settings = dataclasses.replace(server_settings, sm_resumption_timeout=0.5)
    async with running_server(settings) as server:
        juliet_jid = await server.add_user("juliet")
        romeo_jid = await server.add_user("romeo")
        juliet = phone(server, juliet_jid)
        async with online(server, juliet), connected(server, romeo_jid) as romeo:
            full = juliet.boundjid.full
            session = session_of(server, full)
            juliet.lose_connection()
            await until(lambda: session.hibernating)
            bodies = [f"while away {i}" for i in range(6)]
            for i, body in enumerate(bodies):
                romeo.send_message(mto=full if i % 2 else juliet_jid, mbody=body, mtype="chat")
            romeo.send_message(mto=full, mtype="chat")  # a chat state only: not kept
            await until(lambda: server.server.registry.get(full) is None)
            stored = await server.server.storage.offline.count(juliet_jid)
            assert stored == len(bodies)

            juliet.started.clear()
            await reconnect(server, juliet)
            await asyncio.wait_for(juliet.sm_failed.wait(), TIMEOUT)
            await asyncio.wait_for(juliet.started.wait(), TIMEOUT)  # a new session instead
            assert not juliet.resumed.is_set()
            juliet.send_presence()  # initial presence: offline messages come
            await until(lambda: sum(juliet.bodies.values()) >= len(bodies))
            await asyncio.sleep(0.2)
            assert juliet.bodies == Counter(bodies)


async def test_an_iq_to_a_session_that_expires_bounces(server_settings: Settings) -> None:
    """…and when it expires, the session goes unavailable: her laptop sees it."""
    settings = dataclasses.replace(server_settings, sm_resumption_timeout=0.5)
    async with running_server(settings) as server:
        juliet_jid = await server.add_user("juliet")
        romeo_jid = await server.add_user("romeo")
        juliet = phone(server, juliet_jid)
        async with (
            online(server, juliet),
            connected(server, romeo_jid) as romeo,
            connected(server, juliet_jid) as laptop,
        ):
            full = juliet.boundjid.full
            session = session_of(server, full)
            await asyncio.sleep(0.1)
            while not laptop.presences.empty():  # the phone's presence, seen at login
                laptop.presences.get_nowait()
            juliet.lose_connection()
            await until(lambda: session.hibernating)
            await asyncio.sleep(0.1)
            assert laptop.presences.empty()  # still available while hibernating
            iq = romeo.make_iq_get(queryxmlns="jabber:iq:version", ito=full)
            with pytest.raises(Exception) as raised:  # noqa: PT011 - slixmpp's IqError
                await iq.send(timeout=TIMEOUT)
            error = raised.value.iq  # type: ignore[attr-defined]
            assert error["type"] == "error"
            assert error["error"]["condition"] == "service-unavailable"
            assert error["from"] == full
            unavailable = await laptop.next_presence(type_="unavailable", from_=full)
            assert unavailable["from"] == full
