"""The HTTP listener (HTTP_PORT, and HTTPS_PORT with TLS): HTTP/1.1 by h11, WebSocket upgrades.

Why h11 + wsproto under our own `asyncio.Protocol` rather than aiohttp: a WebSocket client is a
long-lived connection like a TCP one, and here it costs what a TCP one costs plus the framing
(`benchmarks/ws_idle_memory.py stack`: some 3 KB of server RSS per idle WebSocket for this path
against 14 KB for an aiohttp handler, which keeps a task, a request and a response object per
connection);
and the upgraded connection reuses `TcpChannel` as is: our TLS over memory BIOs, write
coalescing, lingering close, flow control. The HTTP API itself is a handful of small JSON
endpoints (http/), for which h11's strictness is worth more than a framework.

Each connection starts as an `HttpConnection` (one request at a time, keep-alive, pipelining
by h11); a WebSocket upgrade on `/ws` or `/xmpp-websocket` replaces it by a `WebSocketChannel`
(subprotocol ``xmpp``, RFC 7395) or by a `JsonWebSocket` (no subprotocol: the JSON protocol).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import ssl
from typing import Final

import h11

from xmpp_video.core.server import Server
from xmpp_video.http.messages import Request, Response, json_error
from xmpp_video.http.paths import WEBSOCKET_PATHS
from xmpp_video.http.routes import Routes
from xmpp_video.transport.json_ws import open_json_session
from xmpp_video.transport.tcp import TcpChannel
from xmpp_video.transport.websocket import SUBPROTOCOL, KeptAlive, WebSocketChannel

log = logging.getLogger(__name__)

MAX_HEADERS_SIZE: Final = 16384
REQUEST_TIMEOUT_SECONDS: Final = 10.0  # to send a whole request once it has begun (slowloris)
KEEPALIVE_SECONDS: Final = 30.0  # an idle keep-alive connection is closed after this
_WS_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class HttpService:
    """The HTTP side of one server: its routes, its open connections and WebSockets."""

    def __init__(self, server: Server, routes: Routes, ssl_context: ssl.SSLContext | None) -> None:
        self.server = server
        self.routes = routes
        self.ssl_context = ssl_context
        self.connections: set[HttpConnection] = set()  # not upgraded
        self.websockets: set[KeptAlive] = set()
        self.trusted_proxies = server.settings.trusted_proxy_addresses
        self.max_body = server.settings.max_http_body
        self._pinger: asyncio.TimerHandle | None = None

    async def listen(self, host: str, port: int, *, tls: bool, reuse_port: bool) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        return await loop.create_server(
            lambda: HttpChannel(self, tls),
            host=host,
            port=port,
            reuse_address=True,
            reuse_port=reuse_port,
            backlog=1024,
        )

    def start_keepalive(self) -> None:
        interval = self.server.settings.ws_ping_interval
        self._pinger = asyncio.get_running_loop().call_later(interval, self._ping_all)

    def _ping_all(self) -> None:
        for channel in list(self.websockets):
            channel.ping()
        self.start_keepalive()

    def stop(self) -> None:
        """Stop pinging and close the HTTP connections that are between requests (WebSocket
        streams are closed with the other streams, through `server.connections`)."""
        if self._pinger is not None:
            self._pinger.cancel()
            self._pinger = None
        for connection in list(self.connections):
            connection.close_if_idle()


class HttpChannel(TcpChannel):
    """A TCP (or TLS) connection of the HTTP listener; reads into an HttpConnection first."""

    __slots__ = ("service",)

    def __init__(self, service: HttpService, tls: bool) -> None:
        self.service = service
        super().__init__(service.server, direct_tls=tls)

    def _ssl_context(self) -> ssl.SSLContext | None:
        return self.service.ssl_context

    def _open_stream(self) -> None:
        self.stream = HttpConnection(self.service, self)


def _ip(peer: str) -> str:
    return peer.rsplit(":", 1)[0] if ":" in peer else peer


class HttpConnection:
    """HTTP/1.1 on one connection: requests in order, each answered before the next is read."""

    __slots__ = (
        "_body",
        "_busy",
        "_request",
        "_timer",
        "client",
        "h11",
        "secure",
        "service",
        "tcp",
    )

    def __init__(self, service: HttpService, tcp: HttpChannel) -> None:
        self.service = service
        self.tcp = tcp
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADERS_SIZE)
        ip = _ip(tcp.peer)
        self.client = ip
        self.secure = tcp.encrypted or ip in service.trusted_proxies
        self._request: h11.Request | None = None
        self._body: list[bytes] = []
        self._busy = False  # a handler is working on a request
        self._timer: asyncio.TimerHandle | None = None
        self._arm(KEEPALIVE_SECONDS)
        service.connections.add(self)

    # -- consumer of the TCP channel ------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.h11.receive_data(data)
        if self._request is None and not self._busy:
            self._arm(REQUEST_TIMEOUT_SECONDS)  # a request has begun: it has this long
        if not self._busy:
            self._process()

    def connection_lost(self) -> None:
        self.service.connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close_if_idle(self) -> None:
        if not self._busy:
            self.tcp.close()

    # -- requests -------------------------------------------------------------------------

    def _process(self) -> None:
        while not self._busy:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                self._fail(exc.error_status_hint, "bad_request", "malformed HTTP request")
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                if not self._begin(event):
                    return
            elif isinstance(event, h11.Data):
                self._body.append(event.data)
                if sum(map(len, self._body)) > self.service.max_body:
                    self._too_large()
                    return
            elif isinstance(event, h11.EndOfMessage):
                self._complete()
            elif isinstance(event, h11.ConnectionClosed):
                self.tcp.close()
                return

    def _begin(self, event: h11.Request) -> bool:
        self._request = event
        self._body = []
        for name, value in event.headers:
            if name == b"content-length" and int(value) > self.service.max_body:
                self._too_large()
                return False
        return True

    def _too_large(self) -> None:
        self._fail(413, "payload_too_large", f"body larger than {self.service.max_body} bytes")

    def _complete(self) -> None:
        event = self._request
        assert event is not None
        headers: dict[str, str] = {}
        for raw_name, raw_value in event.headers:
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        target = event.target.decode("latin-1")
        path, _, query = target.partition("?")
        client = self.client
        if client in self.service.trusted_proxies and "x-forwarded-for" in headers:
            client = headers["x-forwarded-for"].split(",")[-1].strip() or client
        request = Request(
            method=event.method.decode("latin-1"),
            path=path,
            query=query,
            headers=headers,
            body=b"".join(self._body),
            client=client,
            secure=self.secure,
        )
        self._body = []
        if path in WEBSOCKET_PATHS and headers.get("upgrade", "").lower() == "websocket":
            self._upgrade(request)
            return
        self._busy = True
        self.tcp.pause_reading()
        self.service.server.tasks.spawn(self._respond(request), name=f"http-{self.client}")

    async def _respond(self, request: Request) -> None:
        response = await self.service.routes.dispatch(request)
        if request.method == "HEAD":
            response = Response(response.status, b"", response.content_type, response.headers)
        self._send(response)
        self._busy = False
        self._next()

    def _send(self, response: Response, close: bool = False) -> None:
        headers = [
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(response.body))),
        ]
        if not any(name.lower() == "cache-control" for name, _ in response.headers):
            headers.append(("Cache-Control", "no-store"))  # API answers; static files set theirs
        headers += response.headers
        if close:
            headers.append(("Connection", "close"))
        try:
            out = self.h11.send(h11.Response(status_code=response.status, headers=headers))
            body = self.h11.send(h11.Data(data=response.body)) if response.body else b""
            end = self.h11.send(h11.EndOfMessage())
        except h11.LocalProtocolError:
            self.tcp.close()
            return
        assert out is not None
        assert end is not None
        self.tcp.write(out + (body or b"") + end)

    def _next(self) -> None:
        """After a response: close, or get ready for the next request (maybe pipelined)."""
        self._request = None
        if self.h11.our_state is not h11.DONE or self.h11.their_state is not h11.DONE:
            self.tcp.close()
            self.tcp.resume_reading()  # paused for the handler: the lingering close needs EOF
            return
        try:
            self.h11.start_next_cycle()
        except h11.LocalProtocolError:
            self.tcp.close()
            return
        self._arm(KEEPALIVE_SECONDS)
        self.tcp.resume_reading()
        self._process()

    def _fail(self, status: int, code: str, message: str) -> None:
        """Answer an unreadable request, then close."""
        self._busy = True  # read nothing more
        if self.h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            self._send(json_error(status, code, message), close=True)
        self.tcp.close()

    def _arm(self, seconds: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(seconds, self._timed_out)

    def _timed_out(self) -> None:
        self._timer = None
        if not self._busy:
            self.tcp.close()

    # -- WebSocket ------------------------------------------------------------------------

    def _upgrade(self, request: Request) -> None:
        headers = request.headers
        connection = {t.strip().lower() for t in headers.get("connection", "").split(",")}
        key = headers.get("sec-websocket-key", "")
        if request.method != "GET":
            self._fail(405, "method_not_allowed", "a WebSocket upgrade must be a GET")
            return
        if headers.get("sec-websocket-version") != "13":
            self._busy = True
            self._send(
                json_error(426, "upgrade_required", "WebSocket version 13 is required"),
                close=True,
            )
            self.tcp.close()
            return
        if "upgrade" not in connection or len(key) != 24:
            self._fail(400, "bad_request", "invalid WebSocket upgrade request")
            return
        protocols = {p.strip() for p in headers.get("sec-websocket-protocol", "").split(",")}
        accept = base64.b64encode(
            hashlib.sha1(key.encode() + _WS_GUID, usedforsecurity=False).digest()
        ).decode()
        response_headers = [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", accept),
        ]
        native = SUBPROTOCOL in protocols
        if native:
            response_headers.append(("Sec-WebSocket-Protocol", SUBPROTOCOL))
        data = self.h11.send(h11.InformationalResponse(status_code=101, headers=response_headers))
        assert data is not None
        self.tcp.write(data)
        trailing, _ = self.h11.trailing_data
        self._busy = True  # this object reads nothing more
        self.service.connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        tcp, service = self.tcp, self.service
        if native:
            channel = WebSocketChannel(
                service.server, tcp, encrypted=request.secure, peer=request.client
            )
            channel.home = service.websockets
            service.websockets.add(channel)
            tcp.stream = channel
            if trailing:
                channel.data_received(trailing)
        else:
            open_json_session(service.server, tcp, trailing, request.client, service.websockets)
