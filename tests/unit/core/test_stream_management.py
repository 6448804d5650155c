"""Stream management (XEP-0198), CSI and keepalive inside `core.c2s.C2SStream`, without sockets.

The fakes of `test_negotiation` (server context without database, channel that records what is
written); offline storage is a list. What is tested here: when a session hibernates and when it
ends; that a resumed connection reaches the very session object modules know; the fate of every
kind of unacknowledged stanza when a session ends (stored, bounced, dropped — in order, also
what arrives while that is done); the hooks push will use; the keepalive's arithmetic.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from xml.etree import ElementTree as ET
from xml.etree.ElementTree import Element

import pytest

from tests.unit.core.test_negotiation import (
    HEADER,
    FakeChannel,
    _plain,
    bind,
    make_server,
    stream_errors,
)
from xmpp_video.core.c2s import C2SStream
from xmpp_video.core.events import (
    SessionClosed,
    SessionHibernating,
    SessionResumed,
    StanzaQueuedWhileHibernating,
)
from xmpp_video.core.keepalive import Keepalive
from xmpp_video.core.server import Server
from xmpp_video.jid import JID
from xmpp_video.stream.states import StreamState

pytestmark = pytest.mark.asyncio

SM = b"urn:xmpp:sm:3"
LOGIN = _plain("", "romeo", "wherefore art thou")


class Client:
    """One connection: a channel and the stream the transport created for it."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.channel = FakeChannel(encrypted=True, tls_available=False)
        self.channel.attached = None  # type: ignore[attr-defined]
        self.stream = C2SStream(server, self.channel)
        self._seen = 0

    @property
    def consumer(self) -> C2SStream:
        """Where the transport hands input: the stream, or the session that took over."""
        attached: C2SStream | None = getattr(self.channel, "attached", None)
        return attached or self.stream

    async def send(self, data: bytes) -> bytes:
        self.consumer.data_received(data)
        await settle(self.server)
        out = bytes(self.channel.output[self._seen :])
        self._seen = len(self.channel.output)
        return out

    async def login(self, resource: str | None = "balcony") -> bytes:
        await self.send(HEADER)
        await self.send(LOGIN(None))  # type: ignore[arg-type]
        out = await self.send(HEADER)
        if resource is not None:
            out = await self.send(bind(resource))
        return out

    async def enable(self) -> str:
        out = await self.send(b"<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
        enabled = ET.fromstring(out)
        return enabled.get("id", "")

    def drop(self) -> None:
        """The transport reports the connection gone (no stream end)."""
        self.channel.closed = True
        self.consumer.connection_lost()


async def settle(server: Server) -> None:
    for _ in range(1000):
        if not len(server.tasks):
            return
        await asyncio.sleep(0)
    raise AssertionError("tasks never finished")


class Recorder:
    """Offline storage, and sessions that record what they are sent."""

    def __init__(self) -> None:
        self.stored: list[Element] = []
        self.refuse = False
        self.gate: asyncio.Event | None = None  # set: storing waits for it (a slow database)

    async def store(self, stanza: Element, to_bare: str) -> bool:
        await asyncio.sleep(0)  # a database round trip
        if self.gate is not None:
            await self.gate.wait()
        if self.refuse:
            return False
        self.stored.append(stanza)
        return True


@asynccontextmanager
async def context(**overrides: Any) -> AsyncIterator[tuple[Server, Recorder]]:
    server = make_server(**overrides)
    recorder = Recorder()
    server.router.offline_store = recorder.store
    try:
        yield server, recorder
    finally:
        for session in list(server.resumption):
            session.close()
        await settle(server)


def message(to: str, body: str | None = "hi", from_: str = "juliet@localhost/garden") -> Element:
    el = Element("{jabber:client}message", {"to": to, "from": from_, "type": "chat"})
    if body is not None:
        ET.SubElement(el, "{jabber:client}body").text = body
    else:
        ET.SubElement(el, "{http://jabber.org/protocol/chatstates}composing")
    return el


class Juliet(C2SStream):
    """A bound session of another account that records what it receives."""

    def __init__(self, server: Server) -> None:
        super().__init__(server, FakeChannel(encrypted=True, tls_available=False))
        self.received: list[Element] = []
        self.bind(JID.parse("juliet@localhost/garden"))
        self.state = StreamState.BOUND
        server.registry.add(self)

    def deliver(self, stanza: Element) -> None:
        self.received.append(stanza)


async def test_a_dropped_connection_hibernates_only_when_resumable() -> None:
    async with context() as (server, _):
        plain = Client(server)
        await plain.login("a")
        await plain.send(b"<enable xmlns='urn:xmpp:sm:3'/>")  # acks, no resumption
        managed = Client(server)
        await managed.login("b")
        await managed.enable()
        closing = Client(server)
        await closing.login("c")
        await closing.enable()

        plain.drop()
        managed.drop()
        await closing.send(b"</stream:stream>")
        closing.drop()
        await settle(server)
        assert server.registry.get("romeo@localhost/a") is None
        assert server.registry.get("romeo@localhost/c") is None
        assert server.registry.get("romeo@localhost/b") is managed.stream
        assert managed.stream.hibernating
        assert managed.stream not in server.connections
        assert len(server.resumption) == 1


async def test_no_resumption_when_the_timeout_is_zero() -> None:
    async with context(sm_resumption_timeout=0.0) as (server, _):
        client = Client(server)
        await client.login()
        out = await client.send(b"<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
        assert ET.fromstring(out).attrib == {}
        client.drop()
        assert server.registry.get("romeo@localhost/balcony") is None


async def test_expiry_stores_bounces_and_drops_in_order_then_closes() -> None:
    async with context(sm_resumption_timeout=0.05) as (server, recorder):
        juliet = Juliet(server)
        closed: list[object] = []
        server.hooks.on(SessionClosed, lambda e: closed.append((e.session, list(recorder.stored))))
        client = Client(server)
        await client.login()
        await client.enable()
        session = client.stream
        full = session.full
        client.drop()
        assert session.hibernating
        first, chat_state = message(full, "first"), message(full, None)
        ping = ET.fromstring(
            f"<iq xmlns='jabber:client' type='get' id='q1' from='juliet@localhost/garden'"
            f" to='{full}'><query xmlns='jabber:iq:version'/></iq>"
        )
        result = ET.fromstring(
            f"<iq xmlns='jabber:client' type='result' id='q2' from='juliet@localhost/garden'"
            f" to='{full}'/>"
        )
        headline = message(full, "news")
        headline.set("type", "headline")
        presence = ET.fromstring(
            f"<presence xmlns='jabber:client' from='juliet@localhost/garden' to='{full}'/>"
        )
        jmi = ET.fromstring(
            f"<message xmlns='jabber:client' from='juliet@localhost/garden' to='{full}'>"
            "<propose xmlns='urn:xmpp:jingle-message:0' id='c1'/></message>"
        )
        for stanza in (first, chat_state, ping, result, headline, presence, jmi):
            session.deliver(stanza)
        assert session.sm is not None
        assert len(session.sm.unacked) == 7
        recorder.gate = asyncio.Event()
        await asyncio.sleep(0.1)  # expires; storing has begun
        assert session.state is StreamState.CLOSED
        assert server.registry.get(full) is session  # until its queue is done
        late = message(full, "late")
        session.deliver(late)  # while its queue is being stored: after the others
        recorder.gate.set()
        await settle(server)
        assert recorder.stored == [first, jmi, late]
        assert [(el.get("type"), el.get("id")) for el in juliet.received] == [("error", "q1")]
        assert (
            juliet.received[0].find(
                "{jabber:client}error/{urn:ietf:params:xml:ns:xmpp-stanzas}service-unavailable"
            )
            is not None
        )
        assert closed == [(session, [first, jmi, late])]  # once, after all was stored
        assert server.registry.get(full) is None
        assert session.state is StreamState.CLOSED
        assert len(server.resumption) == 0


async def test_a_message_offline_storage_refuses_bounces() -> None:
    async with context(sm_resumption_timeout=0.05) as (server, recorder):
        juliet = Juliet(server)
        recorder.refuse = True
        client = Client(server)
        await client.login()
        await client.enable()
        client.drop()
        client.stream.deliver(message(client.stream.full, "too many"))
        await asyncio.sleep(0.1)
        await settle(server)
        assert [el.get("type") for el in juliet.received] == ["error"]
        assert juliet.received[0].findtext("{jabber:client}body") == "too many"


async def test_a_full_queue_ends_the_hibernation_at_once() -> None:
    async with context(sm_queue_limit=3) as (server, recorder):
        client = Client(server)
        await client.login()
        await client.enable()
        session = client.stream
        client.drop()
        for i in range(4):
            session.deliver(message(session.full, f"m{i}"))
        await settle(server)
        assert session.state is StreamState.CLOSED
        assert [el.findtext("{jabber:client}body") for el in recorder.stored] == [
            "m0",
            "m1",
            "m2",
            "m3",
        ]


async def test_hooks_for_push() -> None:
    async with context() as (server, _):
        seen: list[tuple[str, object]] = []
        server.hooks.on(SessionHibernating, lambda e: seen.append(("hibernating", e.session)))
        server.hooks.on(
            StanzaQueuedWhileHibernating,
            lambda e: seen.append(("queued", (e.session, e.stanza, e.queued))),
        )
        server.hooks.on(SessionResumed, lambda e: seen.append(("resumed", e.session)))
        client = Client(server)
        await client.login()
        previd = await client.enable()
        session = client.stream
        client.drop()
        await settle(server)
        stanza = message(session.full, "wake up")
        session.deliver(stanza)
        await settle(server)
        again = Client(server)
        await again.login(resource=None)
        await again.send(b"<resume xmlns='urn:xmpp:sm:3' previd='" + previd.encode() + b"' h='0'/>")
        assert seen == [
            ("hibernating", session),
            ("queued", (session, stanza, 1)),
            ("resumed", session),
        ]


async def test_the_resumed_connection_reaches_the_same_session_object() -> None:
    async with context() as (server, _):
        client = Client(server)
        await client.login()
        previd = await client.enable()
        session = client.stream
        session.roster = {}  # state modules keep on the session object
        session.carbons = True
        await client.send(b"<presence/>")  # handled: h = 1
        session.presence = Element("{jabber:client}presence")  # (no presence module here)
        client.drop()
        session.deliver(message(session.full, "queued"))

        again = Client(server)
        await again.login(resource=None)
        # <resume/> and what follows in the same read: handled by the resumed session
        out = await again.send(
            b"<resume xmlns='urn:xmpp:sm:3' previd='"
            + previd.encode()
            + b"' h='0'/><r xmlns='urn:xmpp:sm:3'/>"
        )
        assert again.channel.attached is session  # type: ignore[attr-defined]
        assert session.channel is again.channel
        assert again.stream.state is StreamState.CLOSED  # the stream that asked is done
        assert again.stream not in server.connections
        assert session in server.connections
        assert server.registry.get(session.full) is session
        assert session.roster == {}
        assert session.carbons
        assert session.available
        root = ET.fromstring(
            b"<root xmlns:stream='http://etherx.jabber.org/streams'>" + out + b"</root>"
        )
        tags = [el.tag.rpartition("}")[2] for el in root]
        assert tags == ["resumed", "message", "r", "a"]
        assert root[0].get("h") == "1"
        assert root[3].get("h") == "1"
        # it goes on, on the new connection
        out = await again.send(b"<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
        assert b"id='p'" in out  # answered (no ping module here: an error)
        assert not stream_errors(again.channel.output)


async def test_ending_a_hibernating_session_from_outside() -> None:
    """What an admin's "end user session" does to a hibernating session."""
    async with context() as (server, recorder):
        client = Client(server)
        await client.login()
        await client.enable()
        session = client.stream
        client.drop()
        session.deliver(message(session.full, "kept"))
        session.close()
        await settle(server)
        assert session.state is StreamState.CLOSED
        assert server.registry.get(session.full) is None
        assert [el.findtext("{jabber:client}body") for el in recorder.stored] == ["kept"]


async def test_csi_applies_to_what_queues_while_hibernating() -> None:
    async with context() as (server, _):
        client = Client(server)
        await client.login()
        await client.enable()
        await client.send(b"<inactive xmlns='urn:xmpp:csi:0'/>")
        session = client.stream
        client.drop()
        for show in ("away", "xa"):
            el = ET.fromstring(
                "<presence xmlns='jabber:client' from='juliet@localhost/garden'>"
                f"<show>{show}</show></presence>"
            )
            session.deliver(el)
        assert session.sm is not None
        assert not session.sm.unacked  # held (collapsed), not queued
        assert session.csi is not None
        assert len(session.csi) == 1


# -- keepalive ------------------------------------------------------------------------------


@dataclasses.dataclass
class Silent:
    """What the sweep looks at and does to a stream."""

    heard: bool = True
    silent_sweeps: int = 0
    pinged_at: int = -1
    pings: int = 0
    dropped: bool = False

    def keepalive_ping(self) -> None:
        self.pings += 1

    def drop(self, condition: object, text: str) -> None:
        self.dropped = True


async def test_keepalive_pings_after_the_interval_and_gives_up_after_the_timeout() -> None:
    keepalive = Keepalive(make_server(), interval=120, timeout=30)
    assert keepalive.tick == 7.5
    stream = Silent()
    sweeps = 0
    while not stream.dropped:
        keepalive.check(stream)  # type: ignore[arg-type]
        sweeps += 1
        assert stream.pings <= 1
    # silent for 16 sweeps (120 s) after the first one that reset it: ping; 4 more (30 s): drop
    assert sweeps == 1 + 16 + 4
    talkative = Silent()
    for i in range(100):
        if i % 10 == 0:
            talkative.heard = True  # some traffic now and then, or an answer to the ping
        keepalive.check(talkative)  # type: ignore[arg-type]
    assert not talkative.dropped
    assert talkative.pings == 0


async def test_keepalive_answer_resets() -> None:
    keepalive = Keepalive(make_server(), interval=1, timeout=1)
    stream = Silent()
    for _ in range(6):
        keepalive.check(stream)  # type: ignore[arg-type]
    assert stream.pings == 1
    stream.heard = True  # the answer
    keepalive.check(stream)  # type: ignore[arg-type]
    assert (stream.silent_sweeps, stream.pinged_at) == (0, -1)
    for _ in range(4):
        keepalive.check(stream)  # type: ignore[arg-type]
    assert stream.pings == 2
    assert not stream.dropped


async def test_ended_streams_leave_nothing_for_the_cyclic_garbage_collector() -> None:
    """A stream that ends, by `</stream:stream>` or a lost connection, frees its parser at once
    (reference counting), not at a full run of the cyclic collector: thousands of connections
    coming and going must not pile up (core/c2s.py `_end`)."""
    async with context() as (server, _):

        async def connect_and_end(lost: bool) -> None:
            client = Client(server)
            await client.login()
            if lost:
                client.drop()
            else:
                await client.send(b"</stream:stream>")
            await settle(server)
            assert client.stream.closed

        await connect_and_end(False)  # first use: caches, lazy imports
        await connect_and_end(True)
        gc.collect()
        gc.disable()
        try:
            for _ in range(10):
                await connect_and_end(False)
                await connect_and_end(True)
            garbage = gc.collect()
        finally:
            gc.enable()
        assert garbage < 20 * 3, f"{garbage} objects in cycles after 20 sessions"
