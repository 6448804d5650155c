"""Bad input on the stream gets the stream error RFC 6120 and SPEC §10 name, then the server
closes that stream — and keeps serving everyone else."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from tests.integration.raw import HEADER, RawPeer
from tests.interop.slix import connected
from tests.server_fixtures import RunningServer

pytestmark = pytest.mark.asyncio


async def _still_serves(server: RunningServer) -> None:
    jid = await server.add_user(f"witness{id(server) % 1000}")
    async with connected(server, jid) as witness:
        assert witness.boundjid.bare == jid


@pytest.mark.parametrize(
    ("payload", "condition"),
    [
        (b"<?xml version='1.0'?><!DOCTYPE stream [<!ENTITY x 'y'>]>", b"restricted-xml"),
        (HEADER + b"<!-- a comment -->", b"restricted-xml"),
        (HEADER + b"<?pi data?>", b"restricted-xml"),
        (HEADER + b"<message>&unknown;</message>", b"restricted-xml"),
        (HEADER + b"<message><body></message>", b"not-well-formed"),
        (HEADER + b"\xff\xfe", b"not-well-formed"),
        (
            b"<?xml version='1.0'?><stream:stream to='nowhere.example' version='1.0' "
            b"xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
            b"host-unknown",
        ),
        (
            b"<?xml version='1.0'?><stream:stream to='localhost' version='1.0' "
            b"xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'>",
            b"invalid-namespace",
        ),
        (HEADER + b"<message to='a@localhost'><body>hi</body></message>", b"not-authorized"),
    ],
)
async def test_bad_stream_input_gets_its_stream_error(
    xmpp_server: RunningServer, payload: bytes, condition: bytes
) -> None:
    peer = await RawPeer.connect(xmpp_server.c2s_port)
    try:
        peer.send(payload)
        answer = await peer.read_until_closed()
    finally:
        peer.close()
    assert b"<stream:error>" in answer
    assert b"<" + condition + b" xmlns='urn:ietf:params:xml:ns:xmpp-streams'" in answer
    assert answer.endswith(b"</stream:stream>")
    await _still_serves(xmpp_server)


async def test_billion_laughs_is_refused_without_expanding(xmpp_server: RunningServer) -> None:
    bomb = (
        b"<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
        + b"".join(
            b"<!ENTITY lol%d '%s'>" % (i, b"&lol%d;" % (i - 1) * 10 if i > 1 else b"&lol;" * 10)
            for i in range(1, 10)
        )
        + b"]><lolz>&lol9;</lolz>"
    )
    peer = await RawPeer.connect(xmpp_server.c2s_port)
    try:
        peer.send(bomb)
        answer = await peer.read_until_closed()
    finally:
        peer.close()
    assert b"restricted-xml" in answer
    assert len(answer) < 2000


async def test_oversized_header_is_policy_violation(xmpp_server: RunningServer) -> None:
    peer = await RawPeer.connect(xmpp_server.c2s_port)
    try:
        size = xmpp_server.app.settings.max_stanza_size
        peer.send(b"<?xml version='1.0'?><stream:stream to='localhost' a='" + b"x" * (size + 10))
        answer = await peer.read_until_closed()
    finally:
        peer.close()
    assert b"policy-violation" in answer


async def test_authenticated_stream_errors(xmpp_server: RunningServer) -> None:
    """Restricted XML, an oversized stanza and a forged from, each on a logged-in stream."""
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    size = xmpp_server.app.settings.max_stanza_size
    cases = [
        (b"<message to='juliet@localhost'><!-- c --><body>x</body></message>", "restricted-xml"),
        (
            b"<message to='juliet@localhost'><body>" + b"x" * size + b"</body></message>",
            "policy-violation",
        ),
        (
            b"<message to='juliet@localhost' from='juliet@localhost/other' type='chat'>"
            b"<body>forged</body></message>",
            "invalid-from",
        ),
    ]
    async with connected(xmpp_server, juliet_jid) as juliet:
        for raw, condition in cases:
            async with connected(xmpp_server, romeo_jid) as romeo:
                romeo.send_raw(raw.decode())
                await asyncio.wait_for(romeo.disconnected_event.wait(), 10)
                assert romeo.stream_errors == [condition]
        assert juliet.messages.empty(), "nothing from a refused stanza reaches the recipient"
        # and juliet's own stream was never disturbed
        rtt = await juliet.plugin["xep_0199"].ping(jid=xmpp_server.domain, timeout=5)
        assert rtt is not None


@pytest.fixture
def server_settings(server_settings):  # type: ignore[no-untyped-def]
    return dataclasses.replace(server_settings, auth_timeout=1.0)


async def test_idle_unauthenticated_connection_is_closed(xmpp_server: RunningServer) -> None:
    peer = await RawPeer.connect(xmpp_server.c2s_port)
    try:
        peer.send(HEADER)
        answer = await peer.read_until_closed(timeout=5)
    finally:
        peer.close()
    assert b"<connection-timeout" in answer


async def test_slow_loris_header_is_closed(xmpp_server: RunningServer) -> None:
    peer = await RawPeer.connect(xmpp_server.c2s_port)
    reading = asyncio.create_task(peer.read_until_closed(timeout=5))
    try:
        for byte in HEADER[:20]:  # one byte every 100 ms: slower than AUTH_TIMEOUT allows
            if reading.done():
                break  # the server already hung up
            peer.send(bytes([byte]))
            await asyncio.sleep(0.1)
        answer = await reading
    finally:
        peer.close()
    assert b"connection-timeout" in answer
