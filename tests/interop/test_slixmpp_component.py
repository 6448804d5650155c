"""External components (XEP-0114): slixmpp's ComponentXMPP talks to slixmpp users through the
server; raw streams check every refusal. Real sockets; SQLite only (nothing here touches
storage in a backend-specific way)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.integration.raw import RawPeer
from tests.interop.component import (
    COMPONENT,
    SECRET,
    component,
    component_port,
    handshake,
    header,
    raw_component,
    stream_error,
)
from tests.interop.slix import Client, connected
from tests.server_fixtures import RunningServer, make_settings, running_server
from xmpp_video.app import App
from xmpp_video.config import Settings
from xmpp_video.core.components import ComponentsModule

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True),
]

SMALL_STANZA = 4096


@pytest.fixture
def component_settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(
        tmp_path,
        database_url,
        components=f"{COMPONENT}={SECRET}, other.localhost=another secret for tests",
        max_stanza_size=SMALL_STANZA,
    )


@pytest_asyncio.fixture
async def server(component_settings: Settings) -> AsyncIterator[RunningServer]:
    async with running_server(component_settings) as running:
        yield running


async def _still_serves(server: RunningServer) -> None:
    jid = await server.add_user(f"witness{id(server) % 1000}")
    async with connected(server, jid) as witness:
        assert witness.boundjid.bare == jid


async def _iq_error(client: Client, to: str) -> str:
    """The condition of the error answering a disco#info query to ``to``."""
    iq = client.make_iq_get(queryxmlns="http://jabber.org/protocol/disco#info", ito=to)
    try:
        await iq.send(timeout=10)
    except Exception as exc:  # slixmpp raises IqError for an error answer
        return str(exc.iq["error"]["condition"])  # type: ignore[attr-defined]
    raise AssertionError("expected an error")


# -- the happy paths -------------------------------------------------------------------------


async def test_user_and_component_exchange_messages_iqs_and_presence(
    server: RunningServer,
) -> None:
    jid = await server.add_user("romeo")
    async with component(server) as comp, connected(server, jid) as romeo:
        romeo.send_message(mto=f"bot@{COMPONENT}/x", mbody="hello bot", mtype="chat")
        msg = await comp.next_message()
        assert msg["body"] == "hello bot"
        assert msg["from"] == romeo.boundjid
        assert str(msg["to"]) == f"bot@{COMPONENT}/x"

        # the component answers a full JID, writes to the bare JID, sends presence
        comp.send_message(mto=romeo.boundjid.full, mfrom=f"bot@{COMPONENT}", mbody="to full")
        answer = await romeo.next_message()
        assert answer["body"] == "to full"
        assert str(answer["from"]) == f"bot@{COMPONENT}"
        comp.send_message(mto=jid, mfrom=f"bot@{COMPONENT}/r", mbody="to bare", mtype="chat")
        answer = await romeo.next_message()
        assert answer["body"] == "to bare"
        assert str(answer["from"]) == f"bot@{COMPONENT}/r"
        comp.send_presence(pto=romeo.boundjid.full, pfrom=f"bot@{COMPONENT}", pstatus="here")
        presence = await romeo.next_presence(from_=f"bot@{COMPONENT}")
        assert presence["status"] == "here"

        # the component answers its own disco; the server lists it among its items
        info = await romeo.plugin["xep_0030"].get_info(jid=COMPONENT, timeout=10)
        identities = info["disco_info"]["identities"]
        assert ("gateway", "test", None, "Test gateway") in identities
        rtt = await romeo.plugin["xep_0199"].ping(jid=f"bot@{COMPONENT}", timeout=10)
        assert rtt >= 0
        items = await romeo.plugin["xep_0030"].get_items(jid=server.domain, timeout=10)
        assert (COMPONENT, None, None) in items["disco_items"]["items"]

        # it asks a user's resource, and the server (disco#info of the domain)
        user_info = await comp.plugin["xep_0030"].get_info(
            jid=romeo.boundjid.full, ifrom=f"bot@{COMPONENT}", timeout=10
        )
        assert user_info["type"] == "result"
        assert str(user_info["from"]) == romeo.boundjid.full
        server_info = await comp.plugin["xep_0030"].get_info(
            jid=server.domain, ifrom=COMPONENT, timeout=10
        )
        assert ("server", "im", None, "xmpp-video") in server_info["disco_info"]["identities"]


async def test_directed_presence_and_subscription_requests(server: RunningServer) -> None:
    jid = await server.add_user("romeo")
    async with component(server) as comp:
        async with connected(server, jid) as romeo:
            full = romeo.boundjid.full
            romeo.send_presence(pto=f"room@{COMPONENT}/romeo")
            joined = await comp.next_presence()
            assert (str(joined["from"]), joined["type"]) == (full, "available")
            comp.send_presence(pto=jid, pfrom=f"bot@{COMPONENT}", ptype="subscribe")
            request = await romeo.next_presence(type_="subscribe")
            assert str(request["from"]) == f"bot@{COMPONENT}"
        # romeo's session ended: the component hears it, as a room must
        left = await comp.next_presence()
        assert (str(left["from"]), left["type"]) == (full, "unavailable")
        assert str(left["to"]) == f"room@{COMPONENT}/romeo"


async def test_component_messages_to_unknown_users_bounce_to_it(server: RunningServer) -> None:
    async with component(server) as comp:
        comp.send_message(mto="nobody@localhost", mfrom=f"bot@{COMPONENT}", mbody="hi")
        bounce = await comp.next_message()
        assert bounce["type"] == "error"
        assert str(bounce["to"]) == f"bot@{COMPONENT}"


async def test_disconnected_component_means_service_unavailable(server: RunningServer) -> None:
    jid = await server.add_user("romeo")
    async with connected(server, jid) as romeo:
        assert await _iq_error(romeo, COMPONENT) == "service-unavailable"  # never connected
        async with component(server):
            items = await romeo.plugin["xep_0030"].get_items(jid=server.domain, timeout=10)
            assert (COMPONENT, None, None) in items["disco_items"]["items"]
        for _ in range(100):  # until the server has noticed the end of the connection
            if not _connected(server):
                break
            await asyncio.sleep(0.05)
        assert await _iq_error(romeo, f"x@{COMPONENT}/r") == "service-unavailable"
        romeo.send_message(mto=f"bot@{COMPONENT}", mbody="anyone?", mtype="chat")
        bounce = await romeo.next_message()
        assert bounce["type"] == "error"
        assert bounce["error"]["condition"] == "service-unavailable"
        items = await romeo.plugin["xep_0030"].get_items(jid=server.domain, timeout=10)
        assert (COMPONENT, None, None) not in items["disco_items"]["items"]
        # an error to the component is not answered (no error loops)
        romeo.send_message(mto=f"bot@{COMPONENT}", mtype="error")
        romeo.send_message(mto=romeo.boundjid.full, mbody="marker")
        assert (await romeo.next_message())["body"] == "marker"


def _connected(server: RunningServer) -> bool:
    return COMPONENT in server.server.require(ComponentsModule).streams


async def test_component_gets_system_shutdown(component_settings: Settings) -> None:
    async with running_server(component_settings) as running:
        peer, _ = await raw_component(running)
        assert await peer.read_until(b"<handshake/>")
        await running.app.stop()
        answer = await peer.read_until_closed()
        peer.close()
        assert stream_error("system-shutdown") in answer


# -- refusals --------------------------------------------------------------------------------


async def test_wrong_secret_is_not_authorized(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    peer, head = await raw_component(server, secret="not the secret")
    answer = await peer.read_until_closed()
    peer.close()
    assert b"xmlns='jabber:component:accept'" in head
    stream_tag = head[head.index(b"<stream:stream") :]
    assert b"version=" not in stream_tag  # XEP-0114 streams have no version (and no features)
    assert stream_error("not-authorized") in answer
    assert answer.endswith(b"</stream:stream>")
    good, good_head = await raw_component(server)  # and a good one, for the logs
    assert b"<handshake/>" in good_head + await good.read_until(b"<handshake/>")
    good.close()
    stream_id = re.search(rb" id='([^']+)'", good_head)
    assert stream_id is not None
    assert SECRET not in caplog.text
    assert handshake(stream_id.group(1).decode()).decode()[11:51] not in caplog.text
    await _still_serves(server)


async def test_unknown_domain_is_host_unknown(server: RunningServer) -> None:
    peer, head = await raw_component(server, to="stranger.localhost", secret=None)
    answer = head + await peer.read_until_closed()
    peer.close()
    assert b" from='localhost'" in answer
    assert stream_error("host-unknown") in answer
    await _still_serves(server)


async def test_client_namespace_header_is_invalid_namespace(server: RunningServer) -> None:
    peer = await RawPeer.connect(component_port(server))
    peer.send(header(namespace="jabber:client"))
    answer = await peer.read_until_closed()
    peer.close()
    assert stream_error("invalid-namespace") in answer


async def test_second_connection_gets_conflict_and_the_first_stays(
    server: RunningServer,
) -> None:
    jid = await server.add_user("romeo")
    async with component(server) as comp, connected(server, jid) as romeo:
        peer, _ = await raw_component(server)
        answer = await peer.read_until_closed()
        peer.close()
        assert stream_error("conflict") in answer
        romeo.send_message(mto=COMPONENT, mbody="still there?", mtype="chat")
        assert (await comp.next_message())["body"] == "still there?"


async def test_component_connections_keep_tcp_alive(server: RunningServer) -> None:
    """A dead component link must not hold its domain (and <conflict/> a reconnect) for ever."""
    peer, _ = await raw_component(server)
    await peer.read_until(b"<handshake/>")
    stream = server.server.require(ComponentsModule).streams[COMPONENT]
    sock = stream.channel.transport.get_extra_info("socket")  # type: ignore[attr-defined]
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    if hasattr(socket, "TCP_KEEPIDLE"):
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 60
    peer.close()


async def test_foreign_from_is_invalid_from(server: RunningServer) -> None:
    jid = await server.add_user("romeo")
    peer, _ = await raw_component(server)
    await peer.read_until(b"<handshake/>")
    peer.send(f"<message from='romeo@localhost' to='{jid}'><body>forged</body></message>".encode())
    answer = await peer.read_until_closed()
    peer.close()
    assert stream_error("invalid-from") in answer
    await _still_serves(server)


async def test_stanzas_before_handshake_are_not_authorized(server: RunningServer) -> None:
    peer, _ = await raw_component(server, secret=None)
    peer.send(f"<message from='{COMPONENT}' to='romeo@localhost'/>".encode())
    answer = await peer.read_until_closed()
    peer.close()
    assert stream_error("not-authorized") in answer


async def test_handshake_timeout(component_settings: Settings) -> None:
    settings = dataclasses.replace(component_settings, auth_timeout=0.5)
    async with running_server(settings) as running:
        peer, _ = await raw_component(running, secret=None)
        answer = await peer.read_until_closed()
        peer.close()
        assert stream_error("connection-timeout") in answer


@pytest.mark.parametrize(
    ("payload", "condition"),
    [
        (b"<!-- a comment -->", "restricted-xml"),
        (b"<?pi data?>", "restricted-xml"),
        (b"<message to='romeo@localhost'>&unknown;</message>", "restricted-xml"),
        (b"<message><body></message>", "not-well-formed"),
        (b"<message to='romeo@localhost'><body>" + b"x" * SMALL_STANZA, "policy-violation"),
        (b"<a>" * 80, "policy-violation"),  # deeper than MAX_DEPTH
    ],
)
async def test_bad_xml_gets_the_c2s_stream_errors(
    server: RunningServer, payload: bytes, condition: str
) -> None:
    peer, _ = await raw_component(server)
    await peer.read_until(b"<handshake/>")
    peer.send(payload)
    answer = await peer.read_until_closed()
    peer.close()
    assert stream_error(condition) in answer
    await _still_serves(server)


async def test_unknown_element_after_handshake(server: RunningServer) -> None:
    peer, _ = await raw_component(server)
    await peer.read_until(b"<handshake/>")
    peer.send(b"<handshake>again</handshake>")
    answer = await peer.read_until_closed()
    peer.close()
    assert stream_error("unsupported-stanza-type") in answer


async def test_stanza_without_to_is_bad_request(server: RunningServer) -> None:
    peer, _ = await raw_component(server)
    await peer.read_until(b"<handshake/>")
    peer.send(
        f"<iq type='get' id='q1' from='{COMPONENT}'><ping xmlns='urn:xmpp:ping'/></iq>".encode()
    )
    answer = await peer.read_until(b"</iq>")
    peer.close()
    assert b"type='error'" in answer
    assert b"<bad-request" in answer


# -- the listener ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("configured", [True, False])
async def test_listener_on_and_off(component_settings: Settings, configured: bool) -> None:
    """COMPONENT_PORT=0 turns the listener off; so does an empty COMPONENTS; otherwise it
    listens on COMPONENT_BIND_HOST (no other listener here: their ports are 0)."""
    port = _free_port()
    off = {"c2s_port": 0, "c2s_tls_port": 0, "http_port": 0, "https_port": 0}
    cases = [
        (dataclasses.replace(component_settings, component_port=0, **off), False),
        (dataclasses.replace(component_settings, component_port=port, components="", **off), False),
    ]
    if configured:
        cases = [(dataclasses.replace(component_settings, component_port=port, **off), True)]
    for settings, listening in cases:
        app = App(settings)
        await app.start()
        try:
            assert ("component" in app.listeners.ports) is listening
            if listening:
                assert app.listeners.ports["component"] == port
                _reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
        finally:
            await app.stop()
