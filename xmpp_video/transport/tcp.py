"""c2s over TCP: an asyncio.Protocol per connection, STARTTLS and direct TLS (XEP-0368).

TLS is done here, with an `ssl.SSLObject` over memory BIOs on the plain TCP transport, rather
than by the event loop (`loop.start_tls`, `create_server(ssl=...)`): uvloop's TLS transport
allocates a 256 KiB read buffer per connection and a 256 KiB bytes object per read, and adds two
transport objects; this way an idle TLS connection costs some 5 KB less, and STARTTLS and direct
TLS are the same code. Memory per idle connection is measured by `benchmarks/idle_memory.py`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from contextlib import suppress
from typing import ClassVar, Protocol, cast

from xmpp_video.core.c2s import C2SStream
from xmpp_video.core.server import Server
from xmpp_video.xml.framing import TCP_FRAMING, Framing

log = logging.getLogger(__name__)
LINGER_SECONDS = 2.0
HANDSHAKE_TIMEOUT_SECONDS = 15.0
# Decrypted bytes held while the stream has paused reading, beyond which the socket is paused too.
MAX_HELD = 65536
TLS_READ_SIZE = 16384 + 256  # one TLS record's worth of plaintext per SSLObject.read()
# Bytes handed to the memory BIOs at a time: their buffers keep the largest size they ever held,
# for the life of the connection, so a burst (a big roster, offline messages) is cut in pieces.
TLS_SLICE = 16384


_local = threading.local()


def _read_buffer() -> tuple[bytearray, memoryview]:
    """This thread's buffer for SSLObject.read(): decrypted data is copied out at its size, rather
    than read into a new bytes object of TLS_READ_SIZE shrunk afterwards (one large short-lived
    allocation per read, which fragments the heap)."""
    buffers: tuple[bytearray, memoryview] | None = getattr(_local, "buffers", None)
    if buffers is None:
        buffer = bytearray(TLS_READ_SIZE)
        buffers = _local.buffers = (buffer, memoryview(buffer))
    return buffers


class Consumer(Protocol):
    """What reads a connection's (decrypted) bytes: a c2s stream, or an HTTP connection."""

    def data_received(self, data: bytes) -> None: ...
    def connection_lost(self) -> None: ...


class TcpChannel(asyncio.Protocol):
    """The asyncio protocol of one c2s connection and the `Channel` its C2SStream writes to.

    Writes made during one event-loop iteration are joined and handed to the transport once, at
    the end of the iteration: a burst of stanzas for one client costs one TLS record and one
    system call instead of one each. `close()` and `starttls()` flush first.

    With TLS, `pause_reading()` holds back decrypted data rather than only pausing the socket:
    the TLS handshake of STARTTLS goes on while the stream is paused (it pauses during
    `starttls()`), and the first bytes of the new stream, which may come in the same segment as
    the client's last handshake message, reach the stream only when it resumes reading, that is
    after it has reset its parser.
    """

    __slots__ = (
        "_closed",
        "_held",
        "_incoming",
        "_loop",
        "_outgoing",
        "_paused",
        "_pending",
        "_pending_size",
        "_timer",
        "_tls",
        "_waiter",
        "direct_tls",
        "encrypted",
        "peer",
        "server",
        "stream",
        "transport",
    )

    framing: ClassVar[Framing] = TCP_FRAMING

    def __init__(self, server: Server, direct_tls: bool) -> None:
        self.server = server
        self.direct_tls = direct_tls
        self.encrypted = False
        self.stream: Consumer | None = None
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self._loop = asyncio.get_running_loop()
        self._pending: list[bytes] | None = None  # writes of this loop iteration
        self._pending_size = 0
        self._paused = False  # the stream paused reading
        self._closed = False  # close() was called: input is discarded
        self._held: list[bytes] | None = None  # decrypted while paused
        self._tls: ssl.SSLObject | None = None
        self._incoming: ssl.MemoryBIO | None = None
        self._outgoing: ssl.MemoryBIO | None = None
        self._waiter: asyncio.Future[None] | None = None  # starttls() waiting for the handshake
        self._timer: asyncio.TimerHandle | None = None  # handshake timeout

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        if self.direct_tls and self._ssl_context() is not None:
            self._start_tls()  # the stream starts once the handshake is done
        else:
            self._open_stream()

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        if self._tls is None:
            if self.stream is not None:
                self.stream.data_received(data)
        elif len(data) <= TLS_SLICE:
            self._tls_received(data)
        else:
            view = memoryview(data)
            for start in range(0, len(data), TLS_SLICE):
                if self._closed:
                    break
                self._tls_received(view[start : start + TLS_SLICE])

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._held = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._waiter is not None:
            self._wake(ConnectionError("transport closed during TLS handshake"))
        # Dropping the references to the stream and the transport breaks the cycles through
        # this channel: all is freed now, not at the next run of the cyclic garbage collector.
        stream, self.stream = self.stream, None
        self.transport = None
        self._tls = self._incoming = self._outgoing = None
        if stream is not None:
            stream.connection_lost()

    # -- Channel --------------------------------------------------------------------------

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
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        tls = self._tls
        if tls is None:
            transport.write(data)
        elif self.encrypted:
            try:
                if len(data) <= TLS_SLICE:
                    tls.write(data)
                    self._send()
                else:
                    view = memoryview(data)
                    for start in range(0, len(data), TLS_SLICE):
                        tls.write(view[start : start + TLS_SLICE])
                        self._send()
            except ssl.SSLError as exc:
                self._fail(exc)
        # else: nothing can be sent during a handshake (the stream writes nothing then)

    def write_buffer_size(self) -> int:
        transport = self.transport
        buffered = transport.get_write_buffer_size() if transport is not None else 0
        return buffered + self._pending_size

    def close(self) -> None:
        """Flush, then close: with TLS, after a close_notify alert. Then half-close and keep
        draining what the peer still sends for a moment, so that unread input does not turn into
        a reset that destroys the stream error we just wrote (a lingering close)."""
        self.flush()
        self._closed = True
        self._held = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        tls = self._tls
        if tls is not None:
            if not self.encrypted:
                transport.close()
                return
            with suppress(ssl.SSLError):
                tls.unwrap()  # writes close_notify (then wants the peer's: SSLWantReadError)
            self._send()
        if transport.can_write_eof():
            try:
                transport.write_eof()
            except OSError:  # the peer reset the connection before we saw it (ENOTCONN)
                transport.abort()
                return
            self._loop.call_later(LINGER_SECONDS, transport.close)
        else:
            transport.close()

    def pause_reading(self) -> None:
        self._paused = True
        transport = self.transport
        if transport is not None and not transport.is_closing() and self._waiter is None:
            transport.pause_reading()

    def resume_reading(self) -> None:
        self._paused = False
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self._held is not None:
            self._loop.call_soon(self._deliver_held)
        transport.resume_reading()

    def can_starttls(self) -> bool:
        return self._ssl_context() is not None and not self.encrypted and self._tls is None

    def attach(self, stream: Consumer) -> None:
        """Read for ``stream`` from now on (a session resumed on this connection, XEP-0198)."""
        self.stream = stream

    async def starttls(self) -> None:
        self.flush()  # <proceed/> goes out in clear text, before the handshake
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionError("transport closed before the TLS handshake")
        waiter = self._waiter = self._loop.create_future()
        self._start_tls()
        transport.resume_reading()  # the stream paused reading; the handshake needs it
        await waiter

    # -- TLS ------------------------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext | None:
        return self.server.ssl_context

    def _start_tls(self) -> None:
        context = self._ssl_context()
        assert context is not None
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._timer = self._loop.call_later(HANDSHAKE_TIMEOUT_SECONDS, self._handshake_timed_out)

    def _tls_received(self, data: bytes | memoryview) -> None:
        tls, incoming = self._tls, self._incoming
        assert tls is not None
        assert incoming is not None
        incoming.write(data)
        if not self.encrypted:
            try:
                tls.do_handshake()
            except ssl.SSLWantReadError:
                self._send()
                return
            except (ssl.SSLError, OSError) as exc:
                self._send()  # the alert, if any
                self._handshake_failed(exc)
                return
            self._send()  # the server's last handshake messages, session tickets
            self._handshake_done()
        chunks: list[bytes] = []
        eof = False
        buffer, view = _read_buffer()
        try:
            # with a buffer, read() returns a count (typeshed says bytes)
            while count := cast(int, tls.read(TLS_READ_SIZE, buffer)):
                chunks.append(view[:count].tobytes())
            eof = True  # 0: the peer's close_notify
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLZeroReturnError:
            eof = True
        except (ssl.SSLError, OSError) as exc:
            self._fail(exc)
            return
        self._send()  # answers to post-handshake messages (key updates)
        if chunks:
            self._deliver(chunks[0] if len(chunks) == 1 else b"".join(chunks))
        if eof and self.transport is not None:
            self.transport.close()

    def _send(self) -> None:
        outgoing = self._outgoing
        if outgoing is not None and outgoing.pending:
            data = outgoing.read()
            transport = self.transport
            if transport is not None and not transport.is_closing():
                transport.write(data)

    def _deliver(self, data: bytes) -> None:
        held = self._held
        if held is not None or self._paused:
            if held is None:
                self._held = [data]
            else:
                held.append(data)
                if sum(map(len, held)) > MAX_HELD and self.transport is not None:
                    self.transport.pause_reading()
        elif self.stream is not None:
            self.stream.data_received(data)

    def _deliver_held(self) -> None:
        held = self._held
        if held is None or self._paused or self._closed:
            return
        self._held = None
        if self.stream is not None:
            self.stream.data_received(held[0] if len(held) == 1 else b"".join(held))

    def _handshake_done(self) -> None:
        self.encrypted = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._waiter is not None:
            self._wake(None)
        else:
            self._open_stream()  # direct TLS
        if self._paused and self.transport is not None:
            self.transport.pause_reading()

    def _handshake_failed(self, exc: BaseException) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._waiter is not None:
            self._wake(ConnectionError(f"TLS handshake failed: {exc}"))
        else:
            log.info("TLS handshake with %s failed: %s", self.peer, exc)
        self._closed = True
        if self.transport is not None:
            self.transport.abort()

    def _handshake_timed_out(self) -> None:
        self._timer = None
        self._handshake_failed(TimeoutError(f"no handshake in {HANDSHAKE_TIMEOUT_SECONDS:g} s"))

    def _wake(self, exc: BaseException | None) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            if exc is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(exc)

    def _fail(self, exc: BaseException) -> None:
        log.info("TLS error with %s: %s", self.peer, exc)
        self._closed = True
        if self.transport is not None:
            self.transport.abort()

    def _open_stream(self) -> None:
        """The connection is ready (after the handshake with direct TLS): start reading it."""
        self.stream = C2SStream(self.server, self)


async def start_c2s(
    server: Server, host: str, port: int, *, direct_tls: bool, reuse_port: bool = False
) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(
        lambda: TcpChannel(server, direct_tls),
        host=host,
        port=port,
        reuse_address=True,
        reuse_port=reuse_port,
        backlog=1024,
    )
    return listener
