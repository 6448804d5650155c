"""c2s over TCP: an asyncio.Protocol per connection, STARTTLS and direct TLS (XEP-0368)."""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import cast

from xmpp_video.core.c2s import C2SStream
from xmpp_video.core.server import Server

log = logging.getLogger(__name__)
LINGER_SECONDS = 2.0


class TcpChannel:
    """The `Channel` a C2SStream writes to, over an asyncio transport.

    Writes made during one event-loop iteration are joined and handed to the transport once, at
    the end of the iteration: a burst of stanzas for one client costs one TLS record and one
    system call instead of one each. `close()` and `starttls()` flush first.
    """

    def __init__(
        self,
        transport: asyncio.Transport,
        protocol: XmppTcpProtocol,
        ssl_context: ssl.SSLContext | None,
        encrypted: bool,
    ) -> None:
        self.transport = transport
        self.protocol = protocol
        self.ssl_context = ssl_context
        self.encrypted = encrypted
        self._pending: list[bytes] | None = None
        self._pending_size = 0
        self._loop = asyncio.get_running_loop()
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)

    def write(self, data: bytes) -> None:
        pending = self._pending
        if pending is None:
            self._pending = [data]
            self._pending_size = len(data)
            self._loop.call_soon(self.flush)
        else:
            pending.append(data)
            self._pending_size += len(data)

    def flush(self) -> None:
        pending = self._pending
        if pending is None:
            return
        self._pending = None
        self._pending_size = 0
        if not self.transport.is_closing():
            self.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def write_buffer_size(self) -> int:
        return self.transport.get_write_buffer_size() + self._pending_size

    def close(self) -> None:
        """Flush, then close. On plain TCP: half-close and keep draining what the peer still
        sends for a moment, so that unread input does not turn into a reset that destroys the
        stream error we just wrote (a lingering close)."""
        self.flush()
        transport = self.transport
        if transport.is_closing():
            return
        if transport.can_write_eof():
            transport.write_eof()
            self._loop.call_later(LINGER_SECONDS, transport.close)
        else:
            transport.close()

    def pause_reading(self) -> None:
        if not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if not self.transport.is_closing():
            self.transport.resume_reading()

    def can_starttls(self) -> bool:
        return self.ssl_context is not None and not self.encrypted

    async def starttls(self) -> None:
        assert self.ssl_context is not None
        self.flush()  # <proceed/> goes out in clear text, before the handshake
        loop = asyncio.get_running_loop()
        new = await loop.start_tls(
            self.transport,
            self.protocol,
            self.ssl_context,
            server_side=True,
            ssl_handshake_timeout=15.0,
        )
        if new is None:
            raise ConnectionError("transport closed during TLS handshake")
        self.transport = new
        self.encrypted = True


class XmppTcpProtocol(asyncio.Protocol):
    def __init__(self, server: Server, direct_tls: bool) -> None:
        self.server = server
        self.direct_tls = direct_tls
        self.stream: C2SStream | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        channel = TcpChannel(
            cast(asyncio.Transport, transport),
            self,
            self.server.ssl_context,
            encrypted=self.direct_tls,
        )
        self.stream = C2SStream(self.server, channel)
        self.server.connections.add(self.stream)

    def data_received(self, data: bytes) -> None:
        if self.stream is not None:
            self.stream.data_received(data)

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.stream is not None:
            self.server.connections.discard(self.stream)
            self.stream.connection_lost()


async def start_c2s(
    server: Server, host: str, port: int, *, direct_tls: bool, reuse_port: bool = False
) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    ssl_context = server.ssl_context if direct_tls else None
    return await loop.create_server(
        lambda: XmppTcpProtocol(server, direct_tls),
        host=host,
        port=port,
        ssl=ssl_context,
        ssl_handshake_timeout=15.0 if ssl_context else None,
        reuse_address=True,
        reuse_port=reuse_port,
        backlog=1024,
    )
