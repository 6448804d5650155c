"""The XEP-0114 component listener: plain TCP, one `ComponentStream` per connection.

The connection is `TcpChannel` (write batching per loop iteration, lingering close, flow control)
with TLS left out: XEP-0114 has none. The listener binds COMPONENT_BIND_HOST (the loopback unless
configured otherwise) because everything on it, stanzas of users included, travels in clear.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from contextlib import suppress
from typing import Final

from xmpp_video.core.components import ComponentsModule, ComponentStream
from xmpp_video.core.server import Server
from xmpp_video.transport.tcp import TcpChannel

# TCP keepalive on component connections: one that died without a FIN (a host that vanished)
# is noticed after some 90 s of silence, and its domain is free again for the reconnecting
# component, which gets <conflict/> until then. Clients have XEP-0199 pings instead (keepalive
# sweep); a component's idle link is long-lived and quiet, TCP's own probes suit it.
KEEPALIVE: Final = (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3))


class ComponentTcpChannel(TcpChannel):
    """A `TcpChannel` that never does TLS, keeps TCP alive and reads for a component stream."""

    __slots__ = ()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                for name, value in KEEPALIVE:
                    option = getattr(socket, name, None)  # Linux names; others: defaults
                    if option is not None:
                        sock.setsockopt(socket.IPPROTO_TCP, option, value)
        super().connection_made(transport)

    def _ssl_context(self) -> ssl.SSLContext | None:
        return None

    def _open_stream(self) -> None:
        self.stream = ComponentStream(self.server, self.server.require(ComponentsModule), self)


async def start_components(
    server: Server, host: str, port: int, *, reuse_port: bool = False
) -> asyncio.Server:
    """Listen for components on ``host:port`` (the `ComponentsModule` must be set up)."""
    server.require(ComponentsModule)  # fail at startup, not at the first connection
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: ComponentTcpChannel(server, direct_tls=False),
        host=host,
        port=port,
        reuse_address=True,
        reuse_port=reuse_port,
        backlog=128,
    )
