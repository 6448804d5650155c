"""c2s over TCP: an asyncio.Protocol per connection, STARTTLS and direct TLS (XEP-0368)."""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import cast

from xmpp_video.core.c2s import C2SStream
from xmpp_video.core.server import Server

log = logging.getLogger(__name__)


class TcpChannel:
    """The `Channel` a C2SStream writes to, over an asyncio transport."""

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
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)

    def write(self, data: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(data)

    def write_buffer_size(self) -> int:
        return self.transport.get_write_buffer_size()

    def close(self) -> None:
        self.transport.close()

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
    server: Server, host: str, port: int, *, direct_tls: bool, sock_reuse: bool = True
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
        reuse_port=sock_reuse,
        backlog=1024,
    )
