"""RFC 7395 helpers for tests, over the `websockets` client library (an independent stack)."""

from __future__ import annotations

import asyncio
import base64
import ssl
from xml.etree import ElementTree

import websockets
from websockets.asyncio.client import ClientConnection

from tests.server_fixtures import PASSWORD, RunningServer

FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
OPEN = f"<open xmlns='{FRAMING}' to='localhost' version='1.0'/>"
CLOSE = f"<close xmlns='{FRAMING}'/>"
TIMEOUT = 10.0


async def connect(
    server: RunningServer, *, tls: bool = False, subprotocols: list[str] | None = None
) -> ClientConnection:
    if tls:
        url = f"wss://localhost:{server.https_port}/xmpp-websocket"
        context: ssl.SSLContext | None = server.client_ssl_context()
    else:
        url, context = server.ws_url, None
    return await websockets.connect(
        url,
        subprotocols=subprotocols if subprotocols is not None else ["xmpp"],  # type: ignore[arg-type]
        ssl=context,
        open_timeout=TIMEOUT,
    )


async def recv(ws: ClientConnection) -> ElementTree.Element:
    """The next message, parsed on its own (RFC 7395: each message is a complete document)."""
    message = await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert isinstance(message, str), "the server must send text messages"
    return ElementTree.fromstring(message)


async def log_in(ws: ClientConnection, user: str, password: str = PASSWORD) -> str:
    """Open, SASL PLAIN (the connection must count as encrypted), restart, bind: the full JID."""
    await ws.send(OPEN)
    opened = await recv(ws)
    assert opened.tag == f"{{{FRAMING}}}open", opened.tag
    features = await recv(ws)
    mechanisms = [m.text for m in features.iter("{urn:ietf:params:xml:ns:xmpp-sasl}mechanism")]
    assert "PLAIN" in mechanisms, mechanisms
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    await ws.send(
        f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>"
    )
    success = await recv(ws)
    assert success.tag == "{urn:ietf:params:xml:ns:xmpp-sasl}success", ElementTree.tostring(success)
    await ws.send(OPEN)
    await recv(ws)  # <open/>
    await recv(ws)  # features with bind
    await ws.send(
        "<iq xmlns='jabber:client' type='set' id='bind'>"
        "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"
    )
    bound = await recv(ws)
    jid = bound.find(".//{urn:ietf:params:xml:ns:xmpp-bind}jid")
    assert jid is not None
    assert jid.text is not None
    return jid.text
