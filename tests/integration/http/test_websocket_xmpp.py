"""XMPP over WebSocket (RFC 7395) on /ws and /xmpp-websocket: the same streams as over TCP.

Romeo connects with the `websockets` client library and speaks RFC 7395 by hand; Juliet is a
slixmpp client on TCP. Framing rules and refusals are checked message by message.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from xml.etree import ElementTree

import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.frames import CloseCode

from tests.integration.http.wsclient import CLOSE, FRAMING, OPEN, TIMEOUT, connect, log_in, recv
from tests.interop.slix import connected
from tests.server_fixtures import PASSWORD, RunningServer, make_settings, running_server
from xmpp_video.config import Settings

pytestmark = pytest.mark.asyncio
STREAMS = "urn:ietf:params:xml:ns:xmpp-streams"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"


@pytest.fixture
def server_settings(tmp_path: Path, database_url: str) -> Settings:
    # ws:// from 127.0.0.1 counts as encrypted, as behind a TLS-terminating proxy (SPEC §10)
    return make_settings(tmp_path, database_url, trusted_proxies="127.0.0.1", max_stanza_size=4096)


async def _stream_error(ws: ClientConnection) -> tuple[str, int | None]:
    """Read up to the stream error; then expect <close/> and the WebSocket close: the error
    condition and the close code."""
    while True:
        el = await recv(ws)
        if el.tag == "{http://etherx.jabber.org/streams}error":
            break
    condition = el[0].tag.removeprefix(f"{{{STREAMS}}}")
    closing = await recv(ws)
    assert closing.tag == f"{{{FRAMING}}}close"
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert ws.close_code is not None
    return condition, ws.close_code


async def test_websocket_and_tcp_clients_exchange_messages(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    async with connected(xmpp_server, juliet_jid) as juliet, await connect(xmpp_server) as ws:
        romeo_full = await log_in(ws, "romeo")
        assert romeo_full.startswith(romeo_jid + "/")
        await ws.send(
            f"<message xmlns='jabber:client' to='{juliet_jid}' type='chat'>"
            "<body>over the websocket</body></message>"
        )
        got = await juliet.next_message()
        assert got["body"] == "over the websocket"
        assert str(got["from"]) == romeo_full
        juliet.send_message(mto=romeo_full, mbody="over tcp", mtype="chat")
        message = await recv(ws)
        assert message.tag == "{jabber:client}message"
        assert message.get("from") == str(juliet.boundjid)
        assert message.findtext("{jabber:client}body") == "over tcp"
        await ws.send(CLOSE)
        closing = await recv(ws)
        assert closing.tag == f"{{{FRAMING}}}close"


async def test_both_paths_serve_xmpp_and_wss_offers_plain(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("romeo")
    async with await connect(xmpp_server, tls=True) as ws:
        assert ws.subprotocol == "xmpp"
        assert (await log_in(ws, "romeo")).startswith("romeo@localhost/")


async def test_stream_id_and_features_are_standalone_documents(
    xmpp_server: RunningServer,
) -> None:
    async with await connect(xmpp_server) as ws:
        await ws.send(OPEN)
        raw_open = await asyncio.wait_for(ws.recv(), TIMEOUT)
        raw_features = await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert isinstance(raw_open, str)
    assert isinstance(raw_features, str)
    opened = ElementTree.fromstring(raw_open)
    assert opened.get("from") == "localhost"
    assert opened.get("id")
    assert opened.get("version") == "1.0"
    features = ElementTree.fromstring(raw_features)  # declares its own stream: prefix
    assert features.tag == "{http://etherx.jabber.org/streams}features"


async def test_plain_is_not_offered_on_an_unencrypted_websocket(
    tmp_path: Path, database_url: str
) -> None:
    async with (
        running_server(make_settings(tmp_path, database_url)) as server,
        await connect(server) as ws,
    ):
        await ws.send(OPEN)
        await recv(ws)
        features = await recv(ws)
        mechanisms = {m.text for m in features.iter(f"{{{SASL}}}mechanism")}
        assert mechanisms == {"SCRAM-SHA-256", "SCRAM-SHA-1"}
        token = base64.b64encode(f"\0romeo\0{PASSWORD}".encode()).decode()
        await ws.send(f"<auth xmlns='{SASL}' mechanism='PLAIN'>{token}</auth>")
        failure = await recv(ws)
        assert failure.tag == f"{{{SASL}}}failure"
        assert failure[0].tag == f"{{{SASL}}}invalid-mechanism"


async def test_binary_message_is_refused(xmpp_server: RunningServer) -> None:
    async with await connect(xmpp_server) as ws:
        await ws.send(OPEN)
        await recv(ws)
        await recv(ws)
        await ws.send(b"<presence/>")
        condition, code = await _stream_error(ws)
    assert condition == "unsupported-stanza-type"
    assert code == CloseCode.UNSUPPORTED_DATA


async def test_oversized_message_is_refused(xmpp_server: RunningServer) -> None:
    async with await connect(xmpp_server) as ws:
        await ws.send(OPEN)
        await recv(ws)
        await recv(ws)
        await ws.send(
            "<presence xmlns='jabber:client'><status>" + "x" * 5000 + "</status></presence>"
        )
        condition, code = await _stream_error(ws)
    assert condition == "policy-violation"
    assert code == CloseCode.MESSAGE_TOO_BIG


async def test_oversized_message_in_fragments_is_refused(xmpp_server: RunningServer) -> None:
    async with await connect(xmpp_server) as ws:
        await ws.send(OPEN)
        await recv(ws)
        await recv(ws)
        await ws.send(["<presence xmlns='jabber:client'><status>"] + ["x" * 1000] * 6)
        condition, code = await _stream_error(ws)
    assert condition == "policy-violation"
    assert code == CloseCode.MESSAGE_TOO_BIG


@pytest.mark.parametrize(
    ("payload", "condition"),
    [
        ("<presence xmlns='jabber:client'><!-- a comment --></presence>", "restricted-xml"),
        ("<presence xmlns='jabber:client'><x></presence>", "not-well-formed"),
        (f"<open xmlns='{FRAMING}' to='localhost' version='1.0'><x/></open>", "invalid-xml"),
    ],
)
async def test_bad_xml_gets_its_stream_error(
    xmpp_server: RunningServer, payload: str, condition: str
) -> None:
    async with await connect(xmpp_server) as ws:
        await ws.send(OPEN)
        await recv(ws)
        await recv(ws)
        await ws.send(payload)
        got, _code = await _stream_error(ws)
    assert got == condition


async def test_open_for_another_domain_is_host_unknown(xmpp_server: RunningServer) -> None:
    async with await connect(xmpp_server) as ws:
        await ws.send(f"<open xmlns='{FRAMING}' to='example.org' version='1.0'/>")
        condition, _code = await _stream_error(ws)
    assert condition == "host-unknown"


async def test_server_still_serves_after_a_broken_client(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("romeo")
    async with await connect(xmpp_server) as bad:
        await bad.send("<<<")
        condition, _code = await _stream_error(bad)
    assert condition == "not-well-formed"
    async with await connect(xmpp_server) as good:
        assert (await log_in(good, "romeo")).startswith("romeo@localhost/")


async def test_no_subprotocol_is_the_json_protocol(xmpp_server: RunningServer) -> None:
    """An XMPP client that forgot the subprotocol reaches the JSON endpoint: its <open/> is
    answered with a JSON error, and it is closed (4001) for not authenticating."""
    async with await connect(xmpp_server, subprotocols=[]) as ws:
        assert ws.subprotocol is None
        await ws.send(OPEN)
        answer = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert answer["type"] == "error"
        assert answer["code"] == "not_authenticated"
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert ws.close_code == 4001


async def test_client_closing_the_websocket_ends_the_session(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("romeo")
    ws = await connect(xmpp_server)
    await log_in(ws, "romeo")
    assert any(s.jid is not None for s in xmpp_server.server.connections)
    await ws.close()
    async with asyncio.timeout(TIMEOUT):
        while xmpp_server.server.connections:
            await asyncio.sleep(0.02)


async def test_shutdown_tells_websocket_clients(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("romeo")
    async with await connect(xmpp_server) as ws:
        await log_in(ws, "romeo")
        stopping = asyncio.create_task(xmpp_server.app.stop())
        condition, code = await _stream_error(ws)
        await stopping
    assert condition == "system-shutdown"
    assert code == CloseCode.NORMAL_CLOSURE


async def test_keepalive_pings_and_closes_a_silent_peer(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, ws_ping_interval=0.2)
    async with running_server(settings) as server:
        # a real client library answers pings by itself: still connected after many intervals
        async with await connect(server) as lively:
            await lively.send(OPEN)
            await recv(lively)
            await recv(lively)
            await asyncio.sleep(1.2)
            await lively.send("<iq xmlns='jabber:client' type='get' id='x'/>")  # not authorized
            condition, _code = await _stream_error(lively)
            assert condition == "not-authorized"  # it was alive until then
        # a peer that never answers: pinged, then closed within a few intervals
        reader, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
        writer.write(
            b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: xmpp\r\n\r\n"
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        assert head.startswith(b"HTTP/1.1 101")
        assert b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head  # RFC 6455 §1.3 example
        received = b""
        async with asyncio.timeout(5):
            while chunk := await reader.read(4096):
                received += chunk
        writer.close()
        assert received.startswith(b"\x89\x00")  # a ping, unanswered...
        assert b"connection-timeout" in received  # ...then the stream error and the close
        assert b"\x88" in received
