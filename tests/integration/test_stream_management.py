"""Stream management (XEP-0198), client state indication (XEP-0352) and the server's keepalive,
element by element over real TLS streams (`tests.integration.xmpp_raw`).

Juliet is the phone; Romeo writes to her. ``h`` arithmetic both ways, the server's own ack
requests, ``<resume/>`` that fails (unknown id, another account's id, an ``h`` acknowledging
more than was sent, an expired id), a resume while the old connection is still open, a clean
close that does not hibernate; CSI holding presence but not calls or messages; a client that
never answers pings.
"""

from __future__ import annotations

import asyncio
import dataclasses
from xml.etree.ElementTree import Element

import httpx
import pytest

from tests.integration.http import wsclient
from tests.integration.xmpp_raw import (
    CSI,
    SM,
    STREAMS,
    Closed,
    RawClient,
    clients,
    stream_error,
    until,
)
from tests.server_fixtures import RunningServer, running_server
from xmpp_video.config import Settings
from xmpp_video.core.c2s import C2SStream
from xmpp_video.storage.repositories import RosterItem, Subscription

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True),
]
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
MESSAGE = "{jabber:client}message"
PRESENCE = "{jabber:client}presence"
IQ = "{jabber:client}iq"
JMI_PROPOSE = (
    "<propose xmlns='urn:xmpp:jingle-message:0' id='call-1'>"
    "<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/></propose>"
)


def stanzas(elements: list[Element]) -> list[Element]:
    return [el for el in elements if el.tag in (MESSAGE, PRESENCE, IQ)]


def session(server: RunningServer, full: str) -> C2SStream:
    found = server.server.registry.get(full)
    assert isinstance(found, C2SStream), full
    return found


async def enable(client: RawClient) -> str:
    client.send(f"<enable xmlns='{SM}' resume='true'/>")
    enabled, _ = await client.until(f"{{{SM}}}enabled")
    return enabled.get("id", "")


def chat(to: str, body: str) -> str:
    return f"<message to='{to}' type='chat'><body>{body}</body></message>"


def bodies(elements: list[Element]) -> list[str]:
    return [el.findtext("{jabber:client}body") or "" for el in elements if el.tag == MESSAGE]


# -- acks ------------------------------------------------------------------------------------------


async def test_enable_then_h_counts_both_ways(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("juliet")
    async with clients(xmpp_server) as open_:
        juliet = await open_()
        features = await juliet.login("juliet", resource=None)
        assert features.find(f"{{{SM}}}sm") is not None
        assert features.find(f"{{{CSI}}}csi") is not None
        juliet.send(f"<enable xmlns='{SM}' resume='true'/>")  # before binding: refused
        failed, _ = await juliet.until(f"{{{SM}}}failed")
        assert [child.tag for child in failed] == [f"{{{STANZAS}}}unexpected-request"]
        full = await juliet.bind("phone")  # … and binding still works
        juliet.send(f"<enable xmlns='{SM}' resume='true'/>")
        enabled, _ = await juliet.until(f"{{{SM}}}enabled")
        assert enabled.get("resume") == "true"
        assert enabled.get("max") == "300"
        assert len(enabled.get("id", "")) >= 16

        # the server counts what it handled from the client
        juliet.send("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
        juliet.send("<iq type='get' id='p2'><ping xmlns='urn:xmpp:ping'/></iq>")
        juliet.send("<presence/>")
        juliet.send(f"<r xmlns='{SM}'/>")
        answer, before = await juliet.until(f"{{{SM}}}a")
        assert answer.get("h") == "3"

        # and asks for acks itself, 1 s after an unacknowledged stanza at the latest
        _request, more = await juliet.until(f"{{{SM}}}r", timeout=3)
        received = len(stanzas(before + more))
        assert received == 3  # two results and the presence echoed to itself
        state = session(xmpp_server, full).sm
        assert state is not None
        assert len(state.unacked) == 3
        juliet.send(f"<a xmlns='{SM}' h='2'/>")
        await until(lambda: len(state.unacked) == 1)
        juliet.send(f"<a xmlns='{SM}' h='3'/>")
        await until(lambda: not state.unacked)

        # after SM_ACK_EVERY (5) unacknowledged stanzas it asks at once, right after the 5th
        for i in range(6):
            juliet.send(f"<iq type='get' id='q{i}'><ping xmlns='urn:xmpp:ping'/></iq>")
        elements = [await juliet.next() for _ in range(6)]
        assert [el.tag for el in elements] == [IQ] * 5 + [f"{{{SM}}}r"]

        # an ack for more than was ever sent ends the stream
        juliet.send(f"<a xmlns='{SM}' h='100'/>")
        rest = await juliet.rest()
        assert stream_error(rest) == "undefined-condition"
        error = next(el for el in rest if el.tag == f"{{{STREAMS}}}error")
        too_high = error.find(f"{{{SM}}}handled-count-too-high")
        assert too_high is not None
        assert too_high.get("h") == "100"
        assert too_high.get("send-count") == str(3 + len(stanzas(elements)) + 1)


async def test_a_second_enable_is_a_stream_error(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("juliet")
    async with clients(xmpp_server) as open_:
        juliet = await open_()
        await juliet.login("juliet")
        await enable(juliet)
        juliet.send(f"<enable xmlns='{SM}'/>")
        assert stream_error(await juliet.rest()) == "policy-violation"


async def test_acks_without_enable_are_refused(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("juliet")
    async with clients(xmpp_server) as open_:
        juliet = await open_()
        await juliet.login("juliet")
        juliet.send(f"<r xmlns='{SM}'/>")
        assert stream_error(await juliet.rest()) == "unsupported-stanza-type"


# -- resumption ------------------------------------------------------------------------------------


async def test_resume_failures_and_their_h(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("juliet")
    romeo_jid = await xmpp_server.add_user("romeo")
    server = xmpp_server.server
    async with clients(xmpp_server) as open_:
        # an id nobody ever had: item-not-found, no h; the client may bind instead
        stranger = await open_()
        await stranger.login("juliet", resource=None)
        stranger.send(f"<resume xmlns='{SM}' previd='no-such-id' h='0'/>")
        failed, _ = await stranger.until(f"{{{SM}}}failed")
        assert [child.tag for child in failed] == [f"{{{STANZAS}}}item-not-found"]
        assert failed.get("h") is None
        await stranger.bind("other")
        stranger.close()

        juliet = await open_()
        await juliet.login("juliet")
        previd = await enable(juliet)
        full = juliet.full
        juliet.send("<presence/>")  # handled: h = 1
        await juliet.until(PRESENCE)
        phone = session(xmpp_server, full)
        romeo = await open_()
        await romeo.login("romeo")
        romeo.send(chat(full, "before the drop"))
        assert bodies([(await juliet.until(MESSAGE))[0]]) == ["before the drop"]
        juliet.abort()
        await until(lambda: phone.hibernating)
        romeo.send(chat(full, "while away"))
        await until(lambda: phone.sm is not None and len(phone.sm.unacked) == 3)

        # another account cannot take it over, nor learn anything about it
        thief = await open_()
        await thief.login("romeo", resource=None)
        thief.send(f"<resume xmlns='{SM}' previd='{previd}' h='0'/>")
        failed, _ = await thief.until(f"{{{SM}}}failed")
        assert [child.tag for child in failed] == [f"{{{STANZAS}}}item-not-found"]
        assert failed.get("h") is None
        assert phone.hibernating

        # Juliet claims to have handled more than was sent (the presence echo and 2 messages)
        again = await open_()
        await again.login("juliet", resource=None)
        again.send(f"<resume xmlns='{SM}' previd='{previd}' h='7'/>")
        failed, _ = await again.until(f"{{{SM}}}failed")
        assert failed.get("h") == "1"
        assert [child.tag for child in failed] == [
            f"{{{STANZAS}}}undefined-condition",
            f"{{{SM}}}handled-count-too-high",
        ]
        # that session is over; what it never acknowledged waits offline
        await until(lambda: server.registry.get(full) is None)
        await until(lambda: not phone._draining)
        assert await server.storage.offline.count("juliet@localhost") == 2

        # the same id later: still failed, now with the final h the server remembers
        again.send(f"<resume xmlns='{SM}' previd='{previd}' h='0'/>")
        failed, _ = await again.until(f"{{{SM}}}failed")
        assert failed.get("h") == "1"
        assert [child.tag for child in failed] == [f"{{{STANZAS}}}item-not-found"]
        assert romeo_jid


async def test_resume_while_the_old_connection_is_still_open(xmpp_server: RunningServer) -> None:
    """The server has not noticed the drop yet: the old stream gets <conflict/>, the new one
    the session, with what the client had not acknowledged."""
    await xmpp_server.add_user("juliet")
    await xmpp_server.add_user("romeo")
    async with clients(xmpp_server) as open_:
        old = await open_()
        await old.login("juliet")
        previd = await enable(old)
        full = old.full
        phone = session(xmpp_server, full)
        romeo = await open_()
        await romeo.login("romeo")
        for i in range(3):
            romeo.send(chat(full, f"m{i}"))
        got = [(await old.until(MESSAGE))[0] for _ in range(3)]
        assert bodies(got) == ["m0", "m1", "m2"]
        old.send(f"<a xmlns='{SM}' h='1'/>")  # only m0 acknowledged
        await until(lambda: phone.sm is not None and len(phone.sm.unacked) == 2)

        new = await open_()
        await new.login("juliet", resource=None)
        new.send(f"<resume xmlns='{SM}' previd='{previd}' h='2'/>")  # it did see m1
        resumed, _ = await new.until(f"{{{SM}}}resumed")
        assert resumed.get("previd") == previd
        assert resumed.get("h") == "0"
        resent, _ = await new.until(MESSAGE)
        assert bodies([resent]) == ["m2"]
        assert stream_error(await old.rest()) == "conflict"
        assert xmpp_server.server.registry.get(full) is phone  # the same session object
        assert not phone.hibernating

        # it goes on: counting continues from the old stream's values
        romeo.send(chat(full, "m3"))
        assert bodies([(await new.until(MESSAGE))[0]]) == ["m3"]
        new.send(f"<r xmlns='{SM}'/>")
        answer, _ = await new.until(f"{{{SM}}}a")
        assert answer.get("h") == "0"
        new.send("<presence/>")
        new.send(f"<r xmlns='{SM}'/>")
        answer, _ = await new.until(f"{{{SM}}}a")
        assert answer.get("h") == "1"
        new.send(f"<a xmlns='{SM}' h='5'/>")  # m0..m3 and the presence echo
        await until(lambda: phone.sm is not None and not phone.sm.unacked)


async def test_a_websocket_closed_without_close_hibernates_and_resumes_over_tcp(
    server_settings: Settings,
) -> None:
    """RFC 7395 §3.6: a WebSocket closed without <close/> is a broken connection; the session
    can then be resumed, over any transport."""
    settings = dataclasses.replace(server_settings, trusted_proxies="127.0.0.1")
    async with running_server(settings) as server, clients(server) as open_:
        await server.add_user("juliet")
        await server.add_user("romeo")
        ws = await wsclient.connect(server)
        full = await wsclient.log_in(ws, "juliet")
        await ws.send(f"<enable xmlns='{SM}' resume='true'/>")
        enabled = await wsclient.recv(ws)
        assert enabled.tag == f"{{{SM}}}enabled"
        phone = session(server, full)
        await ws.close()  # a close frame, no <close/>: the tab was closed, the page reloads
        await until(lambda: phone.hibernating)
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            metrics = (await http.get("/metrics")).text
        assert "xmpp_video_hibernating_sessions 1.0" in metrics
        romeo = await open_()
        await romeo.login("romeo")
        romeo.send(chat(full, "while reloading"))
        await until(lambda: phone.sm is not None and len(phone.sm.unacked) == 1)

        tcp = await open_()
        await tcp.login("juliet", resource=None)
        tcp.send(f"<resume xmlns='{SM}' previd='{enabled.get('id')}' h='0'/>")
        await tcp.until(f"{{{SM}}}resumed")
        message, _ = await tcp.until(MESSAGE)
        assert bodies([message]) == ["while reloading"]
        assert phone.transport_name == "tcp"

        # with <close/> first, the session ends
        ws = await wsclient.connect(server)
        full = await wsclient.log_in(ws, "juliet")
        await ws.send(f"<enable xmlns='{SM}' resume='true'/>")
        await wsclient.recv(ws)
        await ws.send(wsclient.CLOSE)
        await wsclient.recv(ws)  # <close/>
        await ws.close()
        await until(lambda: server.server.registry.get(full) is None)


async def test_a_clean_close_does_not_hibernate(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("juliet")
    async with clients(xmpp_server) as open_:
        juliet = await open_()
        await juliet.login("juliet")
        previd = await enable(juliet)
        full = juliet.full
        juliet.send("</stream:stream>")
        await juliet.rest()
        await until(lambda: xmpp_server.server.registry.get(full) is None)
        again = await open_()
        await again.login("juliet", resource=None)
        again.send(f"<resume xmlns='{SM}' previd='{previd}' h='0'/>")
        failed, _ = await again.until(f"{{{SM}}}failed")
        assert failed.get("h") == "0"


async def test_the_queue_of_a_connected_client_is_bounded(
    server_settings: Settings,
) -> None:
    settings = dataclasses.replace(server_settings, sm_queue_limit=10)
    async with running_server(settings) as server, clients(server) as open_:
        await server.add_user("juliet")
        await server.add_user("romeo")
        juliet = await open_()
        await juliet.login("juliet")
        await enable(juliet)
        romeo = await open_()
        await romeo.login("romeo")
        for i in range(12):
            romeo.send(chat(juliet.full, f"m{i}"))
        rest = await juliet.rest()  # Juliet reads but never acknowledges
        assert stream_error(rest) == "resource-constraint"
        assert len(bodies(rest)) == 11  # the 11th is over the limit: then the stream ends
        # nothing is lost: the unacknowledged ones and the 12th wait in offline storage
        await until(lambda: server.server.registry.get(juliet.full) is None)
        offline = server.server.storage.offline
        await asyncio.sleep(0.3)
        assert await offline.count("juliet@localhost") == 12


# -- client state indication -----------------------------------------------------------------------


async def test_an_inactive_client_waits_for_presence_but_not_for_calls_and_messages(
    xmpp_server: RunningServer,
) -> None:
    juliet_jid = await xmpp_server.add_user("juliet")
    romeo_jid = await xmpp_server.add_user("romeo")
    roster = xmpp_server.server.storage.roster
    await roster.upsert(RosterItem(juliet_jid, romeo_jid, subscription=Subscription.BOTH))
    await roster.upsert(RosterItem(romeo_jid, juliet_jid, subscription=Subscription.BOTH))
    async with clients(xmpp_server) as open_:
        juliet = await open_()
        await juliet.login("juliet")
        juliet.send("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq><presence/>")
        await juliet.until(PRESENCE)
        romeo = await open_()
        await romeo.login("romeo")
        romeo.send("<presence/>")
        first, _ = await juliet.until(PRESENCE)
        assert first.get("from") == romeo.full

        juliet.send(f"<inactive xmlns='{CSI}'/>")
        for show in ("away", "xa", "dnd"):
            romeo.send(f"<presence><show>{show}</show></presence>")
        romeo.send(
            f"<message to='{juliet_jid}' type='chat'>"
            "<composing xmlns='http://jabber.org/protocol/chatstates'/></message>"
        )
        assert await juliet.quiet(0.5) == []  # nothing: presence and typing are held

        romeo.send(f"<message to='{juliet_jid}' type='chat' id='c1'>{JMI_PROPOSE}</message>")
        propose, _ = await juliet.until(MESSAGE, timeout=1)  # a call rings at once
        assert propose.find("{urn:xmpp:jingle-message:0}propose") is not None
        romeo.send(chat(juliet_jid, "are you there?"))
        message, before = await juliet.until(MESSAGE, timeout=1)  # so does a message
        assert bodies([message]) == ["are you there?"]
        assert before == []
        assert await juliet.quiet(0.3) == []  # the typing notification it superseded: gone

        juliet.send(f"<active xmlns='{CSI}'/>")
        flushed = await juliet.quiet(0.5)
        assert [el.tag for el in flushed] == [PRESENCE]  # only the latest presence
        assert flushed[0].findtext("{jabber:client}show") == "dnd"
        assert flushed[0].get("from") == romeo.full


# -- keepalive -------------------------------------------------------------------------------------


@pytest.mark.parametrize("resumable", [False, True])
async def test_a_client_that_never_answers_pings_is_closed_in_bounded_time(
    server_settings: Settings, resumable: bool
) -> None:
    settings = dataclasses.replace(server_settings, keepalive_interval=0.4, keepalive_timeout=0.4)
    async with running_server(settings) as server, clients(server) as open_:
        await server.add_user("juliet")
        juliet = await open_()
        await juliet.login("juliet")
        if resumable:
            await enable(juliet)
        full = juliet.full
        phone = session(server, full)
        started = asyncio.get_running_loop().time()
        ping, _ = await juliet.until(IQ, timeout=2)
        assert ping.get("type") == "get"
        assert ping.find("{urn:xmpp:ping}ping") is not None
        assert ping.get("from") == "localhost"
        rest = await juliet.rest(timeout=3)  # never answered
        elapsed = asyncio.get_running_loop().time() - started
        assert stream_error(rest) == "connection-timeout"
        assert elapsed < 2.0, elapsed
        if resumable:  # hibernates: still there, still available
            assert server.server.registry.get(full) is phone
            assert phone.hibernating
        else:
            await until(lambda: server.server.registry.get(full) is None)


async def test_a_client_that_answers_pings_or_talks_stays(server_settings: Settings) -> None:
    settings = dataclasses.replace(server_settings, keepalive_interval=0.3, keepalive_timeout=0.3)
    async with running_server(settings) as server, clients(server) as open_:
        await server.add_user("juliet")
        juliet = await open_()
        await juliet.login("juliet")
        for _ in range(3):
            ping, _ = await juliet.until(IQ, timeout=2)
            juliet.send(f"<iq type='result' id='{ping.get('id')}' to='localhost'/>")
        for _ in range(6):  # whitespace keepalives are traffic too
            juliet.send(" ")
            await asyncio.sleep(0.15)
        try:
            late = await juliet.quiet(0.1)
        except Closed:
            pytest.fail("closed although it answered")
        assert stream_error(late) is None
        assert server.server.registry.get(juliet.full) is not None
