"""Server memory per idle WebSocket client: the figures behind "h11 + wsproto under our own
asyncio Protocol rather than aiohttp" (xmpp_video/transport/http.py).

Run: python3 benchmarks/ws_idle_memory.py stack [--clients 2000]
     python3 benchmarks/ws_idle_memory.py xmpp  [--clients 1000] [--also-10000]
                                                [--transports ws,wss,tcp]

stack  transport only, no XMPP. One tiny server process per variant, both on uvloop:
       aiohttp   `web.WebSocketResponse(protocols=("xmpp",))`, handler looping `async for msg in ws`
       wsproto   a bare asyncio.Protocol: handshake with wsproto's H11Handshake, then it holds
                 only the `wsproto.connection.Connection` (as xmpp-video's WebSocketChannel does)
       (aiohttp is not a project dependency: without it that variant is skipped.)
xmpp   the real server: `xmpp-video serve` in a throwaway DATA_DIR (accounts made by
       benchmarks/xv_accounts.py), N WebSocket clients each doing the RFC 7395 login (<open/>,
       SASL PLAIN, <open/>, bind, presence, a ping to know it was processed), then idle. With
       --transports also wss:// (HTTPS listener) and TCP with STARTTLS (the c2s port), each on a
       freshly started server, for comparison.

For each case: start the server, connect (xmpp: log in) --warmup clients (50) and close them
(lazy imports, caches, glibc's dynamic mmap threshold), wait until the server is quiet plus
--settle seconds, read VmRSS from /proc/PID/status (PID and its descendants), connect N clients,
wait again (the xmpp server's parser compactor runs every second: an idle stream's parser is
released after 1-2 s), read VmRSS again. Figure: (after - before) / clients connected, in KB
(1024 bytes). Then the clients close and the RSS left behind is shown too (memory the process
keeps). RSS is a high-water mark: memory freed by the compactor stays in the process and is
reused by later logins, so a figure also carries the login burst (parsers of streams that have
not been idle for a sweep yet); `--warmup N` leaves that burst before the baseline.

Clients run in separate processes (--per-process each; the open-files limit is 20,000 per
process and every client is one fd on each side). Everything listens on 127.0.0.1 only, every
wait is bounded (--timeout overall), and every process started here is stopped by its PID
(children also get SIGTERM if this script dies: PR_SET_PDEATHSIG), temp dirs are removed.
The script prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import ctypes
import ctypes.util
import functools
import gc
import importlib.metadata
import json
import os
import platform
import resource
import shutil
import signal
import socket
import ssl
import struct
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DOMAIN = "localhost"
PREFIX = "wsmem"
FRAMING_NS = "urn:ietf:params:xml:ns:xmpp-framing"
SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND = (
    b"<iq xmlns='jabber:client' type='set' id='b'>"
    b"<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"
)
PRESENCE = b"<presence xmlns='jabber:client'/>"
PING = (
    b"<iq xmlns='jabber:client' type='get' id='ping1' to='localhost'>"
    b"<ping xmlns='urn:xmpp:ping'/></iq>"
)
WS_OPEN = f"<open xmlns='{FRAMING_NS}' to='{DOMAIN}' version='1.0'/>".encode()
TCP_HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
)
ERROR_MARKERS = (b"<failure", b"stream:error", b"<close", b"</stream:stream>")
CLK_TCK = os.sysconf("SC_CLK_TCK")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def password(i: int) -> str:
    return f"pw-{i}"


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# /proc figures of a process and its descendants
# --------------------------------------------------------------------------------------------


def _tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = collections.defaultdict(list)
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    rest = f.read().rsplit(")", 1)[1].split()
                children[int(rest[1])].append(int(name))
            except (OSError, IndexError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def rss_kb(pid: int) -> int:
    total = 0
    for p in _tree(pid):
        with contextlib.suppress(OSError), open(f"/proc/{p}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
    return total


def fds(pid: int) -> int:
    total = 0
    for p in _tree(pid):
        with contextlib.suppress(OSError):
            total += len(os.listdir(f"/proc/{p}/fd"))
    return total


def cpu_seconds(pid: int) -> float:
    total = 0
    for p in _tree(pid):
        with contextlib.suppress(OSError, IndexError), open(f"/proc/{p}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
            total += int(rest[11]) + int(rest[12])
    return total / CLK_TCK


async def settle(pid: int, extra: float, max_wait: float = 20.0) -> None:
    """Wait until the server uses < 3 % of a core over 0.5 s (at most max_wait), then `extra` s."""
    end = time.monotonic() + max_wait
    while time.monotonic() < end:
        c0, t0 = cpu_seconds(pid), time.monotonic()
        await asyncio.sleep(0.5)
        if (cpu_seconds(pid) - c0) / (time.monotonic() - t0) < 0.03:
            break
    await asyncio.sleep(extra)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def _child_setup() -> None:
    """In every child, before exec: SIGTERM when this script dies; the hard fd limit."""
    _libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    raise_fd_limit()


def run_loop(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        import uvloop
    except ImportError:
        log("uvloop is not installed: using asyncio's own loop")
        return asyncio.run(coro)
    return uvloop.run(coro)


async def read_stdin_lines(handle: Callable[[str], Awaitable[Any] | Any]) -> None:
    """Child side of the control pipe: one JSON line answered per command; returns at EOF."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        result = handle(line.decode().strip())
        if asyncio.iscoroutine(result):
            result = await result
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


def watchdog(seconds: float) -> None:
    """A child never outlives its parent's overall timeout by much, whatever happens."""
    asyncio.get_running_loop().call_later(seconds, os._exit, 3)


# --------------------------------------------------------------------------------------------
# clients: raw sockets, just enough WebSocket (RFC 6455) and XMPP
# --------------------------------------------------------------------------------------------


class ClientError(Exception):
    pass


class MarkerClient(asyncio.Protocol):
    """Collects what the server sends (TCP bytes, or WebSocket text payloads) in `buffer`;
    `send_and_wait` returns once a marker shows up (and drops everything up to it)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.waiter: tuple[bytes, asyncio.Future[None]] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ClientError("closed by server"))

    def data_received(self, data: bytes) -> None:
        self._received(data)

    def _received(self, data: bytes) -> None:
        self.buffer += data
        self._check()

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter[1].done():
            self.waiter[1].set_exception(exc)
        self.waiter = None

    def _check(self) -> None:
        if self.waiter is None:
            return
        marker, future = self.waiter
        if marker in self.buffer:
            self.waiter = None
            self.buffer = self.buffer.split(marker, 1)[1]
            if not future.done():
                future.set_result(None)
            return
        for bad in ERROR_MARKERS:
            if bad in self.buffer:
                text = self.buffer[self.buffer.index(bad) :][:60].decode(errors="replace")
                self._fail(ClientError(text))
                return

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    async def send_and_wait(self, data: bytes, marker: bytes) -> None:
        future = asyncio.get_running_loop().create_future()
        self.waiter = (marker, future)
        if data:
            self.send(data)
        self._check()
        await future

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _mask(payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    if not n:
        return payload
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


class WsClient(MarkerClient):
    """A WebSocket client: the HTTP upgrade by hand, masked frames out, pings answered."""

    def __init__(self, port: int, path: str = "/ws") -> None:
        super().__init__()
        self.port = port
        self.path = path
        self.raw = b""
        self.upgraded = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.subprotocol = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: xmpp\r\n\r\n"
        )
        transport.write(request.encode())  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ClientError("closed during the WebSocket handshake"))
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.raw += data
        if not self.upgraded:
            end = self.raw.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.raw = self.raw[:end], self.raw[end + 4 :]
            lines = head.decode("latin-1").split("\r\n")
            if " 101 " not in lines[0] + " ":
                if not self.ready.done():
                    self.ready.set_exception(ClientError(f"handshake answered {lines[0]!r}"))
                self.close()
                return
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "sec-websocket-protocol":
                    self.subprotocol = value.strip()
            self.upgraded = True
            if not self.ready.done():
                self.ready.set_result(None)
        self._frames()

    def _frames(self) -> None:
        raw, pos = self.raw, 0
        while len(raw) - pos >= 2:
            b0, b1 = raw[pos], raw[pos + 1]
            length, head = b1 & 0x7F, 2
            if length == 126:
                if len(raw) - pos < 4:
                    break
                (length,) = struct.unpack_from("!H", raw, pos + 2)
                head = 4
            elif length == 127:
                if len(raw) - pos < 10:
                    break
                (length,) = struct.unpack_from("!Q", raw, pos + 2)
                head = 10
            key = b""
            if b1 & 0x80:  # servers do not mask, but be lenient
                key, head = raw[pos + head : pos + head + 4], head + 4
            if len(raw) - pos < head + length:
                break
            payload = raw[pos + head : pos + head + length]
            if key:
                payload = _mask(payload, key)
            pos += head + length
            opcode = b0 & 0x0F
            if opcode in (0x0, 0x1):
                self._received(payload)
            elif opcode == 0x8:  # close: answer it, then the server closes TCP
                self.send_frame(0x8, payload[:2])
                self._fail(ClientError(f"WebSocket closed by server {payload[:2].hex()}"))
            elif opcode == 0x9:
                self.send_frame(0xA, payload)
        self.raw = raw[pos:]

    def send_frame(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        n = len(payload)
        if n < 126:
            header = bytes((0x80 | opcode, 0x80 | n))
        elif n < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        key = os.urandom(4)
        self.transport.write(header + key + _mask(payload, key))

    def send(self, data: bytes) -> None:
        self.send_frame(0x1, data)


@functools.cache
def _client_context() -> ssl.SSLContext:
    """One context for all clients (creating one loads the CA store: some 20 ms)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _auth(i: int) -> bytes:
    token = base64.b64encode(f"\0{PREFIX}{i}\0{password(i)}".encode()).decode()
    return f"<auth xmlns='{SASL_NS}' mechanism='PLAIN'>{token}</auth>".encode()


async def connect_ws(port: int, tls: bool, login: bool, i: int) -> MarkerClient:
    loop = asyncio.get_running_loop()
    client = WsClient(port)
    context = _client_context() if tls else None
    await loop.create_connection(
        lambda: client, "127.0.0.1", port, ssl=context, server_hostname=DOMAIN if tls else None
    )
    try:
        await client.ready
        if client.subprotocol != "xmpp":
            raise ClientError(f"subprotocol {client.subprotocol!r}")
        if login:
            await client.send_and_wait(WS_OPEN, b"</stream:features>")
            await client.send_and_wait(_auth(i), b"<success")
            await client.send_and_wait(WS_OPEN, b"</stream:features>")
            await client.send_and_wait(BIND, b"</jid>")
            client.send(PRESENCE)
            await client.send_and_wait(PING, b"ping1")
    except BaseException:
        client.close()
        raise
    return client


async def connect_tcp(port: int, i: int) -> MarkerClient:
    """c2s over TCP: stream, STARTTLS, PLAIN, bind, presence, ping."""
    loop = asyncio.get_running_loop()
    client = MarkerClient()
    await loop.create_connection(lambda: client, "127.0.0.1", port)
    try:
        await client.send_and_wait(TCP_HEADER, b"</stream:features>")
        await client.send_and_wait(
            b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", b"<proceed"
        )
        assert client.transport is not None
        new = await loop.start_tls(
            client.transport, client, _client_context(), server_hostname=DOMAIN
        )
        assert new is not None
        client.transport = new
        client.buffer = b""
        await client.send_and_wait(TCP_HEADER, b"</stream:features>")
        await client.send_and_wait(_auth(i), b"<success")
        await client.send_and_wait(TCP_HEADER, b"</stream:features>")
        await client.send_and_wait(BIND, b"</jid>")
        client.send(PRESENCE)
        await client.send_and_wait(PING, b"ping1")
    except BaseException:
        client.close()
        raise
    return client


async def _client_worker(cfg: dict[str, Any]) -> None:
    """Child: connect cfg['count'] clients, print one JSON line, hold them until stdin closes."""
    watchdog(cfg["timeout"])
    raise_fd_limit()
    kind, port, login = cfg["kind"], cfg["port"], cfg["login"]
    clients: list[MarkerClient] = []
    errors: collections.Counter[str] = collections.Counter()
    sem = asyncio.Semaphore(cfg["concurrency"])

    async def one(i: int) -> None:
        async with sem:
            try:
                async with asyncio.timeout(cfg["login_timeout"]):
                    if kind == "tcp":
                        client = await connect_tcp(port, i)
                    else:
                        client = await connect_ws(port, kind == "wss", login, i)
                clients.append(client)
            except (OSError, ClientError, TimeoutError, ssl.SSLError) as exc:
                errors[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1

    t0 = time.monotonic()
    first = cfg["first"]
    await asyncio.gather(*(one(i) for i in range(first, first + cfg["count"])))
    result = {
        "ok": len(clients),
        "failed": sum(errors.values()),
        "errors": dict(errors.most_common(5)),
        "seconds": round(time.monotonic() - t0, 2),
    }
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()

    def command(line: str) -> dict[str, int]:
        return {"open": sum(1 for c in clients if not c.closed)}

    await read_stdin_lines(command)
    for c in clients:
        c.close()
    await asyncio.sleep(0.5)


# --------------------------------------------------------------------------------------------
# stack mode: the two tiny servers (children)
# --------------------------------------------------------------------------------------------


def _control_commands(count: Callable[[], int]) -> Callable[[str], dict[str, Any]]:
    def command(line: str) -> dict[str, Any]:
        if line == "trim":
            gc.collect()
            _libc.malloc_trim(0)
        return {"open": count()}

    return command


async def _aiohttp_server(timeout: float) -> None:
    from aiohttp import web

    watchdog(timeout)
    held: set[web.WebSocketResponse] = set()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("xmpp",))
        await ws.prepare(request)
        held.add(ws)
        try:
            async for _msg in ws:
                pass
        finally:
            held.discard(ws)
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]
    sys.stdout.write(json.dumps({"port": port}) + "\n")
    sys.stdout.flush()
    try:
        await read_stdin_lines(_control_commands(lambda: len(held)))
    finally:
        await runner.cleanup()


class _WsprotoIdle(asyncio.Protocol):
    """Handshake by wsproto's H11Handshake, then only its `Connection` is kept."""

    def __init__(self, conns: set[_WsprotoIdle]) -> None:
        from wsproto.connection import Connection, ConnectionType
        from wsproto.handshake import H11Handshake

        self.conns = conns
        self.transport: asyncio.Transport | None = None
        self.handshake: H11Handshake | None = H11Handshake(ConnectionType.SERVER)
        self.ws: Connection | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        from wsproto.events import AcceptConnection, CloseConnection, Ping, Request

        assert self.transport is not None
        if self.ws is not None:
            self.ws.receive_data(data)
            for event in self.ws.events():
                if isinstance(event, Ping):
                    self.transport.write(self.ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    self.transport.write(self.ws.send(event.response()))
                    self.transport.close()
            return
        assert self.handshake is not None
        self.handshake.receive_data(data)
        for event in self.handshake.events():
            if isinstance(event, Request):
                protocol = "xmpp" if "xmpp" in event.subprotocols else None
                self.transport.write(self.handshake.send(AcceptConnection(subprotocol=protocol)))
                self.ws = self.handshake.connection
                self.handshake = None
                self.conns.add(self)
                return

    def connection_lost(self, exc: Exception | None) -> None:
        self.conns.discard(self)


async def _wsproto_server(timeout: float) -> None:
    watchdog(timeout)
    conns: set[_WsprotoIdle] = set()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _WsprotoIdle(conns), "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write(json.dumps({"port": port}) + "\n")
    sys.stdout.flush()
    try:
        await read_stdin_lines(_control_commands(lambda: len(conns)))
    finally:
        server.close()


# --------------------------------------------------------------------------------------------
# parent side: children, client fleets
# --------------------------------------------------------------------------------------------


class Children:
    """Every process this script starts, so that all of them are stopped (by PID) at the end."""

    def __init__(self) -> None:
        self.procs: list[asyncio.subprocess.Process] = []

    async def start(
        self, argv: list[str], *, env: dict[str, str] | None = None, stdout: Any = None
    ) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE if stdout is None else stdout,
            env=env,
            preexec_fn=_child_setup,
        )
        self.procs.append(proc)
        return proc

    async def stop(self, proc: asyncio.subprocess.Process, *, term_first: bool = False) -> None:
        """Close its stdin (our children exit then), else SIGTERM, else SIGKILL; by PID."""
        if proc.returncode is None and proc.stdin is not None:
            proc.stdin.close()
        steps: list[tuple[Callable[[], None] | None, float]] = [
            (None, 0 if term_first else 15),
            (proc.terminate, 20),
            (proc.kill, 5),
        ]
        for action, wait in steps:
            if proc.returncode is not None:
                break
            if action is not None:
                with contextlib.suppress(ProcessLookupError):
                    action()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), wait)
        if proc.returncode is None:
            log(f"process {proc.pid} did not end")
        elif proc in self.procs:
            self.procs.remove(proc)

    async def stop_all(self) -> None:
        for proc in list(self.procs):
            await self.stop(proc, term_first=True)


async def read_json(proc: asyncio.subprocess.Process, timeout: float) -> Any:
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), timeout)
    if not line:
        raise RuntimeError(f"child {proc.pid} exited ({await proc.wait()})")
    return json.loads(line)


class Fleet:
    """N clients spread over client processes."""

    def __init__(self, children: Children, args: argparse.Namespace) -> None:
        self.children = children
        self.args = args
        self.procs: list[asyncio.subprocess.Process] = []
        self.ok = self.failed = 0
        self.errors: collections.Counter[str] = collections.Counter()
        self.seconds = 0.0

    async def connect(self, kind: str, port: int, n: int, *, login: bool, first: int = 0) -> None:
        args = self.args
        nproc = max(1, -(-n // args.per_process))
        timeout = max(120.0, n / 20)
        t0 = time.monotonic()
        share, extra = divmod(n, nproc)
        start = first
        for k in range(nproc):
            count = share + (1 if k < extra else 0)
            cfg = {
                "kind": kind,
                "port": port,
                "login": login,
                "first": start,
                "count": count,
                "concurrency": args.concurrency,
                "login_timeout": 60.0,
                "timeout": args.timeout + 60,
            }
            start += count
            self.procs.append(
                await self.children.start([sys.executable, __file__, "_clients", json.dumps(cfg)])
            )
        for proc in self.procs:
            result = await read_json(proc, timeout)
            self.ok += result["ok"]
            self.failed += result["failed"]
            self.errors.update(result["errors"])
        self.seconds = time.monotonic() - t0

    async def still_open(self) -> int:
        total = 0
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(b"status\n")
            await proc.stdin.drain()
            total += (await read_json(proc, 30))["open"]
        return total

    async def close(self) -> None:
        await asyncio.gather(*(self.children.stop(p) for p in self.procs))
        self.procs = []

    def describe(self) -> str:
        text = f"{self.ok} connected, {self.failed} failed in {self.seconds:.1f} s"
        for error, count in self.errors.most_common(3):
            text += f"\n      {count} x {error}"
        return text


def per_client(before_kb: int, after_kb: int, n: int) -> float:
    return (after_kb - before_kb) / n if n else float("nan")


# --------------------------------------------------------------------------------------------
# stack mode
# --------------------------------------------------------------------------------------------


async def stack_variant(
    variant: str, children: Children, args: argparse.Namespace
) -> dict[str, Any]:
    n = args.clients
    server = await children.start(
        [sys.executable, __file__, f"_server_{variant}", str(args.timeout + 60)]
    )
    try:
        port = (await read_json(server, 60))["port"]
        pid = server.pid

        async def ask(command: str) -> int:
            assert server.stdin is not None
            server.stdin.write(command.encode() + b"\n")
            await server.stdin.drain()
            return int((await read_json(server, 30))["open"])

        warm = Fleet(children, args)
        await warm.connect("ws", port, args.warmup, login=False)
        await warm.close()
        await settle(pid, args.settle)
        rss0, fds0 = rss_kb(pid), fds(pid)
        fleet = Fleet(children, args)
        await fleet.connect("ws", port, n, login=False)
        log(f"  {variant}: {fleet.describe()}")
        await settle(pid, args.settle)
        rss1, fds1 = rss_kb(pid), fds(pid)
        held = await ask("count")
        still = await fleet.still_open()
        await fleet.close()
        await settle(pid, args.settle)
        rss2 = rss_kb(pid)
        await ask("trim")
        rss3 = rss_kb(pid)
        ok = fleet.ok
        return {
            "variant": variant,
            "connected": ok,
            "failed": fleet.failed,
            "held_by_server": held,
            "still_open": still,
            "fds_delta": fds1 - fds0,
            "rss_before_mib": rss0 / 1024,
            "rss_with_clients_mib": rss1 / 1024,
            "kb_per_client": per_client(rss0, rss1, ok),
            "kb_left_after_close": per_client(rss0, rss2, ok),
            "kb_left_after_trim": per_client(rss0, rss3, ok),
        }
    finally:
        await children.stop(server)


async def run_stack(args: argparse.Namespace, children: Children) -> None:
    variants = []
    try:
        import aiohttp

        variants.append("aiohttp")
        aiohttp_version = aiohttp.__version__
    except ImportError:
        print("aiohttp is not installed (not a project dependency): aiohttp variant skipped")
        aiohttp_version = "-"
    variants.append("wsproto")
    import wsproto

    print(
        f"== stack: idle WebSocket connections, no XMPP, N={args.clients}, "
        f"clients in {-(-args.clients // args.per_process)} process(es) =="
    )
    print(f"   aiohttp {aiohttp_version}, wsproto {wsproto.__version__}, {_loop_name()} in both")
    rows = []
    for variant in variants:
        row = await stack_variant(variant, children, args)
        rows.append(row)
        print(
            f"{variant:8} connected {row['connected']}/{args.clients} "
            f"(server holds {row['held_by_server']}, fds +{row['fds_delta']}, "
            f"still open {row['still_open']}): RSS {row['rss_before_mib']:.1f} -> "
            f"{row['rss_with_clients_mib']:.1f} MiB = {row['kb_per_client']:.2f} KB per idle "
            f"WebSocket; left after close {row['kb_left_after_close']:.2f} KB/conn, "
            f"after gc+malloc_trim {row['kb_left_after_trim']:.2f}",
            flush=True,
        )
    print()
    print(
        "| server (uvloop) | KB server RSS per idle WebSocket | connected | RSS before → with N (MiB) | KB/conn left after close | after gc + malloc_trim |"
    )
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['variant']} | **{row['kb_per_client']:.1f}** | {row['connected']} | "
            f"{row['rss_before_mib']:.1f} → {row['rss_with_clients_mib']:.1f} | "
            f"{row['kb_left_after_close']:.1f} | {row['kb_left_after_trim']:.1f} |"
        )


def _loop_name() -> str:
    try:
        return f"uvloop {importlib.metadata.version('uvloop')}"
    except importlib.metadata.PackageNotFoundError:
        return "asyncio (no uvloop)"


# --------------------------------------------------------------------------------------------
# xmpp mode
# --------------------------------------------------------------------------------------------


def _server_command() -> list[str]:
    beside = Path(sys.executable).parent / "xmpp-video"
    found = str(beside) if beside.exists() else shutil.which("xmpp-video")
    if found:
        return [found, "serve"]
    return [sys.executable, "-c", "from xmpp_video.cli.main import main; main()", "serve"]


def _server_env(data_dir: Path, ports: dict[str, int]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATA_DIR=str(data_dir),
        DATABASE_URL="",
        XMPP_DOMAIN=DOMAIN,
        BIND_HOST="127.0.0.1",
        HTTP_PORT=str(ports["http"]),
        HTTPS_PORT=str(ports["https"]),
        C2S_PORT=str(ports["c2s"]),
        C2S_TLS_PORT="0",
        COMPONENT_PORT="0",
        LOG_LEVEL="WARNING",
        TRUSTED_PROXIES="127.0.0.1",  # ws:// from 127.0.0.1 counts as encrypted: PLAIN offered
        PYTHONUNBUFFERED="1",
    )
    return env


async def http_get(port: int, path: str, tls: bool = False) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=_client_context() if tls else None
    )
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = data.decode(errors="replace").partition("\r\n\r\n")
    status = int(head.split()[1]) if head.startswith("HTTP/") else 0
    return status, body


async def server_gauges(http_port: int) -> str:
    with contextlib.suppress(OSError, TimeoutError, ValueError, IndexError):
        status, body = await http_get(http_port, "/metrics")
        if status == 200:
            wanted = ("xmpp_video_connections{", "xmpp_video_sessions ")
            parts = []
            for line in body.splitlines():
                if line.startswith(wanted):
                    name, value = line.rsplit(" ", 1)
                    name = name.replace("xmpp_video_", "").replace('transport="', "").strip('"}')
                    parts.append(f"{name.replace('connections{', '')}={float(value):.0f}")
            return " ".join(parts)
    return "?"


async def create_accounts(data_dir: Path, n: int, env: dict[str, str], timeout: float) -> None:
    accounts = data_dir / "ws_idle_accounts.txt"
    if accounts.exists() and len(accounts.read_text().splitlines()) >= n:
        print(f"accounts {PREFIX}0..{PREFIX}{n - 1} already in {data_dir}")
        return
    accounts.write_text("".join(f"{PREFIX}{i} {password(i)}\n" for i in range(n)))
    t0 = time.monotonic()
    print(f"creating {n} accounts with benchmarks/xv_accounts.py ...", flush=True)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "xv_accounts.py"),
        str(accounts),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        preexec_fn=_child_setup,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    if proc.returncode:
        accounts.unlink()
        raise RuntimeError(f"xv_accounts.py failed ({proc.returncode})")
    print(f"   {out.decode().strip()} in {time.monotonic() - t0:.0f} s", flush=True)


async def start_server(
    children: Children, data_dir: Path, ports: dict[str, int], log_path: Path
) -> asyncio.subprocess.Process:
    with open(log_path, "ab") as out:
        server = await children.start(
            _server_command(), env=_server_env(data_dir, ports), stdout=out
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.returncode is not None:
            break
        with contextlib.suppress(OSError, ValueError, IndexError, TimeoutError):
            status, _ = await http_get(ports["http"], "/health")
            if status == 200:
                return server
        await asyncio.sleep(0.3)
    tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
    await children.stop(server, term_first=True)
    raise RuntimeError(f"xmpp-video serve did not become ready; its log ends with:\n{tail}")


async def xmpp_case(
    transport: str, n: int, children: Children, args: argparse.Namespace, data_dir: Path
) -> dict[str, Any]:
    ports = {"http": free_port(), "https": 0, "c2s": free_port()}
    if transport == "wss":
        ports["https"] = free_port()
    port = {"ws": ports["http"], "wss": ports["https"], "tcp": ports["c2s"]}[transport]
    log_path = data_dir / "server.log"
    server = await start_server(children, data_dir, ports, log_path)
    pid = server.pid
    try:
        warm = Fleet(children, args)
        await warm.connect(transport, port, args.warmup, login=True)
        if warm.failed:
            log(f"  warm-up: {warm.describe()}")
        await warm.close()
        await settle(pid, args.settle)
        rss0, fds0 = rss_kb(pid), fds(pid)
        fleet = Fleet(children, args)
        await fleet.connect(transport, port, n, login=True)
        rss_login = rss_kb(pid)
        log(f"  {transport} N={n}: {fleet.describe()}")
        await settle(pid, args.settle)
        rss1, fds1 = rss_kb(pid), fds(pid)
        gauges = await server_gauges(ports["http"])
        still = await fleet.still_open()
        await fleet.close()
        await settle(pid, args.settle)
        rss2 = rss_kb(pid)
        ok = fleet.ok
        return {
            "transport": transport,
            "clients": n,
            "logged_in": ok,
            "failed": fleet.failed,
            "login_seconds": fleet.seconds,
            "still_open": still,
            "gauges": gauges,
            "fds_delta": fds1 - fds0,
            "rss_before_mib": rss0 / 1024,
            "rss_with_clients_mib": rss1 / 1024,
            "kb_just_after_login": per_client(rss0, rss_login, ok),
            "kb_per_client": per_client(rss0, rss1, ok),
            "kb_left_after_close": per_client(rss0, rss2, ok),
        }
    finally:
        await children.stop(server, term_first=True)
        if server.returncode not in (0, None) and log_path.exists():
            log(f"xmpp-video serve exited with {server.returncode}; see {log_path}")


LABELS = {
    "ws": "WebSocket ws:// (RFC 7395)",
    "wss": "WebSocket wss:// (TLS)",
    "tcp": "TCP + STARTTLS",
}


async def run_xmpp(args: argparse.Namespace, children: Children, data_dir: Path) -> None:
    sizes = [args.clients] + ([10000] if args.also_10000 and args.clients != 10000 else [])
    transports = [t.strip() for t in args.transports.split(",") if t.strip()]
    bad = [t for t in transports if t not in LABELS]
    if bad:
        raise SystemExit(f"unknown transport(s) {bad}; choose from {', '.join(LABELS)}")
    ports = {"http": 0, "https": 0, "c2s": 0}
    env = _server_env(data_dir, ports)
    await create_accounts(data_dir, max(*sizes, args.warmup), env, args.timeout)
    print(
        f"== xmpp: xmpp-video serve, idle authenticated clients, N={','.join(map(str, sizes))}, "
        f"transports {','.join(transports)}; a fresh server per case; settle {args.settle:g} s =="
    )
    rows = []
    for n in sizes:
        for transport in transports:
            row = await xmpp_case(transport, n, children, args, data_dir)
            rows.append(row)
            print(
                f"{transport:4} N={n}: logged in {row['logged_in']} (failed {row['failed']}, "
                f"{row['login_seconds']:.0f} s), still open {row['still_open']}, server fds "
                f"+{row['fds_delta']}, /metrics: {row['gauges']}; RSS "
                f"{row['rss_before_mib']:.1f} -> {row['rss_with_clients_mib']:.1f} MiB = "
                f"{row['kb_per_client']:.2f} KB per idle client (just after the logins "
                f"{row['kb_just_after_login']:.2f}); left after close "
                f"{row['kb_left_after_close']:.2f} KB per former client",
                flush=True,
            )
    print()
    print(
        "| transport | N | KB server RSS per idle authenticated client | just after the logins | RSS before → with N (MiB) | logged in / failed | KB/client left after close |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {LABELS[row['transport']]} | {row['clients']} | **{row['kb_per_client']:.1f}** | "
            f"{row['kb_just_after_login']:.1f} | {row['rss_before_mib']:.1f} → "
            f"{row['rss_with_clients_mib']:.1f} | {row['logged_in']}/{row['failed']} | "
            f"{row['kb_left_after_close']:.1f} |"
        )


# --------------------------------------------------------------------------------------------


async def amain(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    children = Children()
    own_dir = args.data_dir is None
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="ws-idle-mem-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"open-files limit {raise_fd_limit()}; --timeout {args.timeout:g} s",
        flush=True,
    )
    rc = 0
    try:
        async with asyncio.timeout(args.timeout):
            if args.mode == "stack":
                await run_stack(args, children)
            else:
                await run_xmpp(args, children, data_dir)
    except TimeoutError:
        print(f"overall timeout ({args.timeout:g} s) reached: stopping", flush=True)
        rc = 1
    except (RuntimeError, OSError) as exc:
        print(f"failed: {exc}", flush=True)
        rc = 1
    except asyncio.CancelledError:  # SIGTERM or Ctrl-C: stop everything, then exit
        print("interrupted: stopping", flush=True)
        rc = 130
    finally:
        await children.stop_all()
        if own_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
    return rc


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        kind = sys.argv[1]
        if kind == "_clients":
            run_loop(_client_worker(json.loads(sys.argv[2])))
        elif kind == "_server_aiohttp":
            run_loop(_aiohttp_server(float(sys.argv[2])))
        elif kind == "_server_wsproto":
            run_loop(_wsproto_server(float(sys.argv[2])))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("mode", choices=("stack", "xmpp"))
    ap.add_argument("--clients", type=int, help="N (default: stack 2000, xmpp 1000)")
    ap.add_argument(
        "--also-10000", action="store_true", help="xmpp: also measure N=10000 (takes minutes)"
    )
    ap.add_argument(
        "--transports",
        default="ws",
        help="xmpp: comma list of ws (ws://), wss (wss://, TLS), tcp (c2s + STARTTLS)",
    )
    ap.add_argument(
        "--warmup",
        type=int,
        default=50,
        help="clients connected (xmpp: logged in) and closed before the baseline reading",
    )
    ap.add_argument("--per-process", type=int, default=2500, help="clients per client process")
    ap.add_argument("--concurrency", type=int, default=100, help="handshakes in flight per process")
    ap.add_argument(
        "--settle",
        type=float,
        default=3.0,
        help="seconds to wait after the server is quiet, before each RSS reading (>= 2: the "
        "compactor releases an idle stream's parser after 1-2 s)",
    )
    ap.add_argument("--data-dir", help="xmpp: DATA_DIR to use and keep (accounts are reused)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="overall limit, seconds")
    args = ap.parse_args()
    if args.clients is None:
        args.clients = 2000 if args.mode == "stack" else 1000
    sys.exit(asyncio.run(amain(args)))


if __name__ == "__main__":
    main()
