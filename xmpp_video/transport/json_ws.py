"""The JSON protocol's WebSocket (SPEC §5): `/ws` or `/xmpp-websocket` without subprotocol.

Consumer of the connection's `TcpChannel` after the upgrade, and the `JsonChannel` of its
`JsonSession`: text messages in (fragments joined, bounded), text messages out. Binary
messages get a JSON ``bad_request`` error; the connection stays usable, as for any bad message.
"""

from __future__ import annotations

import logging

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.frame_protocol import CloseReason

from xmpp_video.bridge.protocol import ErrorCode, error
from xmpp_video.bridge.session import JsonSession
from xmpp_video.core.server import Server
from xmpp_video.transport.tcp import TcpChannel
from xmpp_video.transport.websocket import KeptAlive, text_frame

log = logging.getLogger(__name__)
_PING = b"\x89\x00"


class JsonWebSocket:
    __slots__ = ("_parts", "_size", "home", "peer", "pinged", "session", "tcp", "ws")

    def __init__(self, server: Server, tcp: TcpChannel, peer: str) -> None:
        self.tcp = tcp
        self.peer = peer
        self.ws = Connection(ConnectionType.SERVER)
        self.pinged = False
        self.home: set[KeptAlive] | None = None
        self._parts: list[str] | None = None
        self._size = 0
        self.session = JsonSession(server, self)

    # -- consumer of the TCP channel --------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.pinged = False
        ws = self.ws
        if ws.state is ConnectionState.CLOSED:
            return
        ws.receive_data(data)
        for event in ws.events():
            if isinstance(event, TextMessage):
                self._text(event)
            elif isinstance(event, Ping):
                self.tcp.write(ws.send(event.response()))
            elif isinstance(event, BytesMessage):
                if event.message_finished:
                    self.send_text(error(ErrorCode.BAD_REQUEST, "send JSON in text messages"))
            elif isinstance(event, CloseConnection):
                self.close(CloseReason.NORMAL_CLOSURE)
                return

    def _text(self, event: TextMessage) -> None:
        limit = self.session.max_message
        if self._parts is None:
            if event.message_finished:
                self.session.text_received(event.data)
                return
            self._parts, self._size = [], 0
        if self._size <= limit:
            self._parts.append(event.data)
            self._size += len(event.data)
        if not event.message_finished:
            return
        parts, self._parts = self._parts, None
        if self._size > limit:
            self.send_text(error(ErrorCode.TOO_LARGE, f"messages are limited to {limit} bytes"))
            return
        self.session.text_received("".join(parts))

    def connection_lost(self) -> None:
        if self.home is not None:
            self.home.discard(self)
        self.session.connection_lost()
        # Nothing reads for the session any more: drop the reference, or the session (which
        # keeps its channel) and this channel keep each other alive until a full run of the
        # cyclic garbage collector.
        del self.session

    # -- JsonChannel ------------------------------------------------------------------------

    def send_text(self, text: str) -> None:
        self.tcp.write(text_frame(text.encode()))

    def close(self, code: int, reason: str = "") -> None:
        ws = self.ws
        if ws.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
            self.tcp.write(ws.send(CloseConnection(code=code, reason=reason)))
        self.tcp.close()

    def ping(self) -> bool:
        if self.pinged:
            log.info("JSON WebSocket %s: no answer to keepalive ping; closing", self.peer)
            self.session.close(None, "no answer to ping")
            return False
        self.pinged = True
        self.tcp.write(_PING)
        return True


def open_json_session(
    server: Server, tcp: TcpChannel, trailing: bytes, peer: str, home: set[KeptAlive]
) -> JsonWebSocket:
    """Hand an upgraded connection to a new JSON session (``trailing``: bytes already read)."""
    channel = JsonWebSocket(server, tcp, peer)
    channel.home = home
    home.add(channel)
    tcp.stream = channel
    if trailing:
        channel.data_received(trailing)
    return channel
