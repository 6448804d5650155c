"""XMPP over WebSocket (RFC 7395): an adapter in front of the same c2s stream as TCP.

After the HTTP upgrade (transport/http.py), a `WebSocketChannel` sits between the connection's
`TcpChannel` (TLS, write coalescing, lingering close) and a `C2SStream`: incoming text messages
become stream bytes (`websocket_to_stream`: ``<open/>`` → stream header, ``<close/>`` → end
tag), and every write of the stream, one complete element thanks to `WEBSOCKET_FRAMING`, goes
out as one text message. Client frames are decoded by wsproto; server frames, unmasked, are
built here (a two-to-ten byte header), which keeps the output path free of copies.

Refused, with a stream error and a WebSocket close code: binary messages (1003), messages
larger than ``MAX_STANZA_SIZE`` (1009), malformed framing elements (1007 for invalid UTF-8
comes from wsproto).
"""

from __future__ import annotations

import logging
import struct
from typing import ClassVar, Protocol

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.frame_protocol import CloseReason

from xmpp_video.core.c2s import C2SStream
from xmpp_video.core.server import Server
from xmpp_video.stanza.conditions import StreamErrorCondition
from xmpp_video.stream.states import StreamState
from xmpp_video.transport.tcp import TcpChannel
from xmpp_video.xml.errors import XmlStreamError
from xmpp_video.xml.framing import WEBSOCKET_FRAMING, Framing, websocket_to_stream

log = logging.getLogger(__name__)
SUBPROTOCOL = "xmpp"
_PING = b"\x89\x00"  # an unmasked ping frame without payload


class KeptAlive(Protocol):
    """A WebSocket the listener pings (`HttpService`): both kinds, XMPP and JSON."""

    def ping(self) -> bool: ...


def text_frame(payload: bytes) -> bytes:
    """An unmasked, final text frame carrying ``payload`` (UTF-8)."""
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 65536:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload


class WebSocketChannel:
    """One RFC 7395 connection: the `Channel` of its C2SStream, the consumer of its TcpChannel."""

    __slots__ = (
        "_close_code",
        "_parts",
        "_size",
        "encrypted",
        "home",
        "max_message",
        "peer",
        "pinged",
        "stream",
        "tcp",
        "ws",
    )

    framing: ClassVar[Framing] = WEBSOCKET_FRAMING

    def __init__(self, server: Server, tcp: TcpChannel, *, encrypted: bool, peer: str) -> None:
        self.tcp = tcp
        self.encrypted = encrypted
        self.peer = peer
        self.ws = Connection(ConnectionType.SERVER)
        self.max_message = server.settings.max_stanza_size
        self.pinged = False  # a keepalive ping is out and nothing came back since
        self._parts: list[str] | None = None  # fragments of an unfinished text message
        self._size = 0
        self._close_code = CloseReason.NORMAL_CLOSURE
        self.home: set[KeptAlive] | None = None  # the listener's set of live WebSockets
        self.stream = C2SStream(server, self, transport_name="websocket")

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
            elif isinstance(event, CloseConnection):
                self._remote_close(event)
                return
            elif isinstance(event, BytesMessage):
                self._refuse(
                    CloseReason.UNSUPPORTED_DATA,
                    StreamErrorCondition.UNSUPPORTED_STANZA_TYPE,
                    "binary WebSocket messages are not allowed (RFC 7395 §3.2)",
                )
                return
            # Pong: keepalive answered, nothing else to do
            if self.stream.state is StreamState.CLOSED:
                return

    def connection_lost(self) -> None:
        if self.home is not None:
            self.home.discard(self)
        self.stream.connection_lost()
        # Nothing reads for the stream any more: drop the reference, or the stream (which keeps
        # its channel while it hibernates or ends) and this channel keep each other alive until
        # a full run of the cyclic garbage collector, with everything they hold (~90 objects).
        del self.stream

    def _text(self, event: TextMessage) -> None:
        data = event.data
        if self._parts is None and event.message_finished:
            message = data.encode()
            if len(message) > self.max_message:
                self._too_large()
                return
        else:
            if self._parts is None:
                self._parts = []
                self._size = 0
            self._parts.append(data)
            self._size += len(data)  # characters: at most the UTF-8 size, a cheap lower bound
            if self._size > self.max_message:
                self._too_large()
                return
            if not event.message_finished:
                return
            message = "".join(self._parts).encode()
            self._parts = None
            if len(message) > self.max_message:
                self._too_large()
                return
        try:
            message = websocket_to_stream(message)
        except XmlStreamError as exc:
            self._refuse(CloseReason.POLICY_VIOLATION, exc.condition, exc.text)
            return
        self.stream.data_received(message)

    def _too_large(self) -> None:
        self._parts = None
        self._refuse(
            CloseReason.MESSAGE_TOO_BIG,
            StreamErrorCondition.POLICY_VIOLATION,
            f"message larger than {self.max_message} bytes",
        )

    def _refuse(self, code: CloseReason, condition: StreamErrorCondition, text: str) -> None:
        self._close_code = code
        self.stream.close(condition, text)

    def _remote_close(self, event: CloseConnection) -> None:
        """The client closed the WebSocket (after ``<close/>``, or without it); our close frame
        answers theirs. Without ``<close/>`` first, the stream was not closed: as RFC 7395 §3.6
        says, that is a broken connection, which a session with stream management resumption
        survives (it hibernates, XEP-0198) and any other session does not."""
        self._close_code = CloseReason.NORMAL_CLOSURE
        self.close()

    # -- Channel of the stream --------------------------------------------------------------

    def write(self, data: bytes) -> None:
        self.tcp.write(text_frame(data))

    def write_buffer_size(self) -> int:
        return self.tcp.write_buffer_size()

    def close(self) -> None:
        ws = self.ws
        if ws.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
            self.tcp.write(ws.send(CloseConnection(code=self._close_code)))
        self.tcp.close()

    def pause_reading(self) -> None:
        self.tcp.pause_reading()

    def resume_reading(self) -> None:
        self.tcp.resume_reading()

    def can_starttls(self) -> bool:
        return False  # TLS is the HTTP connection's business (wss://)

    def attach(self, stream: C2SStream) -> None:
        """Read for ``stream`` from now on (a session resumed on this connection, XEP-0198)."""
        self.stream = stream

    async def starttls(self) -> None:
        raise ConnectionError("no STARTTLS over WebSocket")

    def ping(self) -> bool:
        """Send a keepalive ping; False if the previous one got no sign of life (then close)."""
        if self.pinged:
            log.info("WebSocket %s: no answer to keepalive ping; closing", self.peer)
            self._close_code = CloseReason.GOING_AWAY
            self.stream.close(StreamErrorCondition.CONNECTION_TIMEOUT, "no answer to ping")
            return False
        self.pinged = True
        self.tcp.write(_PING)
        return True
