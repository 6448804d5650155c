"""Connections that end leave nothing for the cyclic garbage collector.

The server collects young objects rarely and its old ones (after `gc.freeze()`) only at rare
full runs, so what a connection leaves in reference cycles piles up: before this was checked,
waves of 2,000 logins and logouts grew the process by 10-25 MB each (the stream's expat parser,
the WebSocket channel and its stream holding each other). Each transport is driven by a real
client here — TCP with TLS (raw), RFC 7395 WebSocket (`websockets`), the JSON protocol — ending
both ways (closing the stream, dropping the connection), then the collector is asked what it
found.
"""

from __future__ import annotations

import asyncio
import gc
from collections import Counter

import pytest
import websockets

from tests.integration.http.jsonclient import access_token
from tests.integration.http.wsclient import CLOSE, connect, log_in
from tests.integration.xmpp_raw import RawClient, until
from tests.server_fixtures import RunningServer

pytestmark = pytest.mark.asyncio

# the server's own per-connection objects (a client-side StreamParser is the test's business)
SERVER_TYPES = {
    "C2SStream",
    "TcpChannel",
    "HttpChannel",
    "HttpConnection",
    "WebSocketChannel",
    "JsonWebSocket",
    "JsonSession",
}


def _server_objects_in_cycles() -> Counter[str]:
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
    finally:
        gc.set_debug(0)
    found = Counter(type(o).__name__ for o in gc.garbage if type(o).__name__ in SERVER_TYPES)
    gc.garbage.clear()
    return found


async def _tcp(server: RunningServer, user: str, drop: bool) -> None:
    client = await RawClient.connect(server)
    await client.login(user)
    if drop:
        client.abort()
    else:
        client.send("</stream:stream>")
        client.close()


async def _websocket(server: RunningServer, user: str, drop: bool) -> None:
    ws = await connect(server, tls=True)  # PLAIN needs wss:// (or a trusted proxy)
    await log_in(ws, user)
    if drop:
        ws.transport.abort()
    else:
        await ws.send(CLOSE)
        await ws.close()


async def _json(server: RunningServer, user: str, drop: bool) -> None:
    token = await access_token(server, user)
    ws = await websockets.connect(server.ws_url)
    await ws.send(f'{{"type": "auth", "token": "{token}"}}')
    assert "auth_ok" in str(await asyncio.wait_for(ws.recv(), 10))
    if drop:
        ws.transport.abort()
    else:
        await ws.close()


async def test_ended_connections_leave_no_server_objects_in_cycles(
    xmpp_server: RunningServer,
) -> None:
    await xmpp_server.add_user("romeo")
    server = xmpp_server.server
    _server_objects_in_cycles()  # whatever came before
    for connect_and_end in (_tcp, _websocket, _json):
        for drop in (False, True, False, True):
            await connect_and_end(xmpp_server, "romeo", drop)
    await until(lambda: not server.connections, timeout=15)
    await asyncio.sleep(0.5)  # the sessions' SessionClosed hooks
    assert _server_objects_in_cycles() == Counter()
