"""Where the memory of an idle c2s connection goes: per-connection bytes by component.

Run: python benchmarks/idle_memory.py [parser | tls | stack | all] [options]

parser  in this process: one StreamParser per "connection" (stream header + a few stanzas fed),
        RSS and tracemalloc bytes per parser for several expat text buffer sizes, and whether the
        parser left behind by reset() is freed without the cyclic GC.
tls     a bare TLS echo-less server in a child process (no XMPP): RSS per idle TLS connection,
        uvloop vs asyncio, STARTTLS (loop.start_tls) vs direct TLS, TLS 1.3 tickets on/off.
stack   the real xmpp-video App (uvloop, SQLite) in a child process; N clients go through the
        stages plain stream → STARTTLS → PLAIN auth, bind, presence, ping; the server's RSS, heap
        in use (glibc mallinfo2) and, with --tracemalloc, Python bytes by source file are printed
        per connection after each stage, then again after gc.collect() and malloc_trim(0).

Everything listens on 127.0.0.1, ephemeral ports, and stops by itself; the children are ended by
closing their stdin. Figures are per connection: (after - before) / N. Accounts for `stack` are
created by benchmarks/xv_accounts.py in a throwaway DATA_DIR (or --data-dir, reused).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import ctypes.util
import gc
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
)

# --------------------------------------------------------------------------------------------
# process figures
# --------------------------------------------------------------------------------------------


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")


def heap() -> dict[str, int]:
    """glibc's view: bytes in use (malloc'd, not freed) and free but kept, main arena + mmaps."""
    try:
        mallinfo2 = _libc.mallinfo2
    except AttributeError:
        return {}
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return {
        "in_use": info.uordblks + info.hblkhd,
        "free_kept": info.fordblks,
        "mmapped": info.hblkhd,
    }


def malloc_trim() -> None:
    _libc.malloc_trim(0)


def rss_parts() -> dict[str, int]:
    """RSS (KiB) by kind of mapping: glibc's main heap, CPython's 1 MiB object arenas, other
    anonymous memory (thread malloc arenas, large mmapped blocks, stacks), files."""
    parts = {"rss_heap": 0, "rss_pyarenas": 0, "rss_anon": 0, "rss_files": 0}
    kind = "rss_files"
    with open("/proc/self/smaps") as f:
        for line in f:
            first = line.split(None, 6)
            if "-" in first[0] and len(first) >= 5 and not first[0].endswith(":"):
                start, end = (int(x, 16) for x in first[0].split("-"))
                path = first[5].strip() if len(first) > 5 else ""
                if path == "[heap]":
                    kind = "rss_heap"
                elif path:
                    kind = "rss_files"
                elif end - start == 1 << 20:
                    kind = "rss_pyarenas"
                else:
                    kind = "rss_anon"
            elif first[0] == "Rss:":
                parts[kind] += int(first[1])
    return parts


def pymalloc() -> dict[str, int]:
    """CPython's object allocator: bytes in its arenas, and in live blocks (sys._debugmallocstats)."""
    import re

    with tempfile.TemporaryFile() as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read().decode()
    out = {}
    for key, pattern in (
        ("py_arenas", r"# arenas allocated current\s*=\s*([\d,]+)"),
        ("py_blocks", r"# bytes in allocated blocks\s*=\s*([\d,]+)"),
    ):
        match = re.search(pattern, text)
        if match:
            out[key] = int(match.group(1).replace(",", ""))
    if "py_arenas" in out:
        out["py_arenas_kb"] = out.pop("py_arenas") * 1024  # 1 MiB arenas (CPython 3.10+)
    return out


def figures(trace: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"rss_kb": rss_kb(), **heap(), **rss_parts(), **pymalloc()}
    if trace:
        out["traced"] = tracemalloc.get_traced_memory()[0]
    return out


# --------------------------------------------------------------------------------------------
# parser
# --------------------------------------------------------------------------------------------

STANZAS = (
    b"<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
    b"<resource>load1</resource></bind></iq><presence/>"
    b"<iq type='get' id='ping1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
)


def _parsers(n: int, buffer_size: int | None, reset: bool) -> None:
    """Child: print RSS and traced bytes per parser (each figure in a fresh process)."""
    import xmpp_video.xml.parser as parser_module

    if buffer_size is not None:
        parser_module._TEXT_BUFFER_SIZE = buffer_size  # type: ignore[attr-defined,misc]
    warm = parser_module.StreamParser()  # fills the shared name caches: not per parser
    warm.feed(HEADER)
    warm.feed(STANZAS)
    parsers = []
    result: dict[str, Any] = {"buffer_size": getattr(parser_module, "_TEXT_BUFFER_SIZE", None)}
    for trace in (False, True):
        if trace:
            tracemalloc.start()
        gc.collect()
        before = start = figures(trace)
        parsers = []
        for _ in range(n):
            p = parser_module.StreamParser()
            p.feed(HEADER)
            p.feed(STANZAS)
            parsers.append(p)
        gc.collect()
        after = figures(trace)
        key = "traced" if trace else "rss"
        result[key] = (
            (after["traced"] - before["traced"]) / n
            if trace
            else (after["rss_kb"] - before["rss_kb"]) * 1024 / n
        )
        if not trace:
            result["heap_in_use"] = (after["in_use"] - before["in_use"]) / n
        if trace and reset:
            gc.disable()
            before = figures(True)
            for p in parsers:
                p.reset()
                p.feed(HEADER)
            mid = figures(True)
            gc.collect()
            after = figures(True)
            result["reset_kept_until_gc"] = (mid["traced"] - before["traced"]) / n
            result["reset_after_gc"] = (after["traced"] - before["traced"]) / n
            gc.enable()
        if trace and hasattr(parser_module.StreamParser, "compact"):
            before = figures(True)
            for p in parsers:
                p.compact()
            after = figures(True)
            result["compact_frees"] = (before["traced"] - after["traced"]) / n
            result["compacted"] = (after["traced"] - start["traced"]) / n
        parsers.clear()
        del parsers[:]
    print(json.dumps(result))


def run_parser(args: argparse.Namespace) -> None:
    print(f"== parser: bytes per StreamParser (header + 3 stanzas fed), N={args.n} ==")
    print("   (each row in a fresh process; tracemalloc sees expat's memory through PyMem)")
    sizes: list[int | None] = [None, 65536, 16384, 8192, 4096, 1024]
    for size in sizes:
        cmd = [sys.executable, __file__, "_parsers", str(args.n), str(size or 0)]
        if size is None:
            cmd.append("--reset")
        out = json.loads(subprocess.check_output(cmd, text=True))
        label = "as configured" if size is None else f"buffer_size={size}"
        line = (
            f"{label:20} ({out['buffer_size']:>6}): RSS {out['rss'] / 1024:6.1f} KB   "
            f"heap in use {out['heap_in_use'] / 1024:6.1f} KB   traced {out['traced'] / 1024:6.1f} KB"
        )
        print(line)
        if "compact_frees" in out and size is None:
            print(
                f"   compact(): frees {out['compact_frees'] / 1024:.1f} KB of the traced bytes,"
                f" keeps {out['compacted'] / 1024:.1f} KB"
            )
        if "reset_kept_until_gc" in out:
            print(
                f"   reset(): old parser still held until gc.collect(): "
                f"{out['reset_kept_until_gc'] / 1024:.1f} KB per reset "
                f"(after collect: {out['reset_after_gc'] / 1024:+.1f} KB)"
            )


# --------------------------------------------------------------------------------------------
# bare TLS
# --------------------------------------------------------------------------------------------


def _server_context(data_dir: Path, num_tickets: int | None) -> ssl.SSLContext:
    from xmpp_video.transport.tls import ensure_self_signed

    cert, key = ensure_self_signed(data_dir, "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if num_tickets is not None:
        context.num_tickets = num_tickets
    return context


async def _control(handlers: dict[str, Callable[[], Any]]) -> None:
    """Child side of the control pipe: one JSON line answered per command line on stdin."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command = line.decode().strip()
        result = handlers[command]()
        if asyncio.iscoroutine(result):
            result = await result
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


def _common_handlers(trace: bool) -> dict[str, Callable[[], Any]]:
    def collect() -> dict[str, Any]:
        gc.collect()
        return figures(trace)

    def trim() -> dict[str, Any]:
        malloc_trim()
        return figures(trace)

    def snapshot() -> dict[str, Any]:
        if not trace:
            return {}
        snap = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        by_file: dict[str, int] = {}
        for stat in snap.statistics("filename"):
            by_file[stat.traceback[0].filename] = stat.size
        by_line = {
            f"{s.traceback[0].filename}:{s.traceback[0].lineno}": s.size
            for s in snap.statistics("lineno")[:400]
        }
        return {"by_file": by_file, "by_line": by_line}

    return {
        "figures": lambda: figures(trace),
        "collect": collect,
        "trim": trim,
        "snapshot": snapshot,
    }


class _IdleMemoryTls(asyncio.Protocol):
    """Bare server protocol doing TLS itself (ssl.SSLObject over the plain TCP transport)."""

    def __init__(self, context: ssl.SSLContext, conns: set[Any]) -> None:
        self.context = context
        self.conns = conns
        self.transport: asyncio.Transport | None = None
        self.sslobj: ssl.SSLObject | None = None
        self.incoming = self.outgoing = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.conns.add(self)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if self.sslobj is None:
            if data == b"STARTTLS\n":
                self.transport.write(b"OK\n")
                incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
                self.incoming, self.outgoing = incoming, outgoing  # type: ignore[assignment]
                self.sslobj = self.context.wrap_bio(incoming, outgoing, server_side=True)
            return
        self.incoming.write(data)  # type: ignore[attr-defined]
        try:
            self.sslobj.do_handshake()
            while self.sslobj.read(16384):
                pass
        except ssl.SSLWantReadError:
            pass
        out = self.outgoing.read()  # type: ignore[attr-defined]
        if out:
            self.transport.write(out)

    def connection_lost(self, exc: Exception | None) -> None:
        self.conns.discard(self)


class _Idle(asyncio.Protocol):
    """Bare server protocol: answers "STARTTLS\\n" with "OK\\n" and upgrades; otherwise idle."""

    def __init__(self, context: ssl.SSLContext, conns: set[_Idle]) -> None:
        self.context = context
        self.conns = conns
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.conns.add(self)

    def data_received(self, data: bytes) -> None:
        if data == b"STARTTLS\n":
            asyncio.get_running_loop().create_task(self._upgrade())

    async def _upgrade(self) -> None:
        assert self.transport is not None
        self.transport.write(b"OK\n")
        loop = asyncio.get_running_loop()
        self.transport = await loop.start_tls(  # type: ignore[assignment]
            self.transport, self, self.context, server_side=True
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self.conns.discard(self)


async def _tls_server(data_dir: Path, num_tickets: int | None, trace: bool) -> None:
    if trace:
        tracemalloc.start()
    context = _server_context(data_dir, num_tickets)
    loop = asyncio.get_running_loop()
    conns: set[_Idle] = set()
    factory = _IdleMemoryTls if os.environ.get("IDLE_MEMORY_OWN_TLS") else _Idle
    plain = await loop.create_server(lambda: factory(context, conns), "127.0.0.1", 0)
    direct = await loop.create_server(lambda: _Idle(context, conns), "127.0.0.1", 0, ssl=context)
    ports = {
        "plain": plain.sockets[0].getsockname()[1],
        "direct": direct.sockets[0].getsockname()[1],
    }
    sys.stdout.write(json.dumps(ports) + "\n")
    sys.stdout.flush()
    await _control(_common_handlers(trace))


class Child:
    """A measured server process driven over stdin/stdout."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.hello = self._read()

    def _read(self) -> Any:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"child {self.proc.args} exited: {self.proc.wait()}")
        return json.loads(line)

    def ask(self, command: str) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(5)


def _client_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def _bare_clients(n: int, port: int, mode: str, concurrency: int) -> list[Any]:
    loop = asyncio.get_running_loop()
    context = _client_context()
    conns: list[Any] = []
    sem = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with sem:
            if mode == "direct":
                tr, _ = await loop.create_connection(
                    asyncio.Protocol, "127.0.0.1", port, ssl=context
                )
                await asyncio.sleep(0.05)  # let the server send its tickets
            elif mode == "starttls":
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"STARTTLS\n")
                await reader.readline()
                await writer.start_tls(context)
                tr = writer
                await asyncio.sleep(0.05)
            else:
                tr, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
            conns.append(tr)

    await asyncio.gather(*(one() for _ in range(n)))
    return conns


def _settle(seconds: float = 1.0) -> None:
    time.sleep(seconds)


def _per(before: dict[str, Any], after: dict[str, Any], n: int, key: str) -> float:
    if key not in before or key not in after:
        return float("nan")
    scale = 1024 if key.startswith("rss") or key.endswith("_kb") else 1
    return float((after[key] - before[key]) * scale / n / 1024)


def run_tls(args: argparse.Namespace) -> None:
    print(f"== tls: bare idle connections, no XMPP, N={args.n} (KB per connection) ==")
    print(
        f"{'server loop':12} {'mode':9} {'tickets':8} {'MALLOC_MMAP_THRESHOLD_':23}"
        f"{'RSS':>7} {'heap in use':>12} {'after trim':>11}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        cases = []
        for loop_name in ("uvloop", "asyncio"):
            for mode in ("plain", "starttls", "direct"):
                cases.append((loop_name, mode, None, None))
        cases += [
            ("uvloop", "own-tls", None, None),
            ("uvloop", "starttls", 0, None),
            ("uvloop", "starttls", None, "131072"),
            ("uvloop", "direct", None, "131072"),
        ]
        for loop_name, mode, tickets, threshold in cases:
            env = {"MALLOC_MMAP_THRESHOLD_": threshold} if threshold else {}
            shown = mode
            if mode == "own-tls":
                env["IDLE_MEMORY_OWN_TLS"] = "1"
                mode = "starttls"
            argv = ["_tls", tmp, loop_name, str(-1 if tickets is None else tickets)]
            child = Child(argv, env)
            port = child.hello["direct" if mode == "direct" else "plain"]

            async def hold(port: int = port, mode: str = mode, child: Child = child) -> Any:
                # warm-up: one round of connections, closed, so that lazily allocated
                # per-process state (and glibc's dynamic mmap threshold) is what a running
                # server has
                for c in await _bare_clients(50, port, mode, args.concurrency):
                    c.close()
                await asyncio.sleep(1)
                before = await asyncio.to_thread(child.ask, "figures")
                conns = await _bare_clients(args.n, port, mode, args.concurrency)
                await asyncio.sleep(1)
                after = await asyncio.to_thread(child.ask, "figures")
                trimmed = await asyncio.to_thread(child.ask, "trim")
                for c in conns:
                    c.close()
                await asyncio.sleep(0.2)
                return before, after, trimmed

            before, after, trimmed = _run_client(hold())
            child.close()
            print(
                f"{loop_name:12} {shown:9} {'default' if tickets is None else tickets!s:8} "
                f"{threshold or 'dynamic':23}"
                f"{_per(before, after, args.n, 'rss_kb'):7.1f} "
                f"{_per(before, after, args.n, 'in_use'):12.1f} "
                f"{_per(before, trimmed, args.n, 'rss_kb'):11.1f}"
            )


def _run_client(coro: Any) -> Any:
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


# --------------------------------------------------------------------------------------------
# the whole stack
# --------------------------------------------------------------------------------------------


async def _app_server(trace: bool) -> None:
    from xmpp_video.app import App
    from xmpp_video.config import load_settings

    if trace:
        tracemalloc.start()
    period = os.environ.get("IDLE_MEMORY_COMPACT_PERIOD")
    if period:
        from xmpp_video.core import compactor

        compactor.PERIOD_SECONDS = float(period)
    app = App(load_settings(), ephemeral_ports=True)
    await app.start()
    tickets = os.environ.get("IDLE_MEMORY_NUM_TICKETS")
    if tickets and app.server is not None and app.server.ssl_context is not None:
        app.server.ssl_context.num_tickets = int(tickets)
    sys.stdout.write(json.dumps(app.listeners.ports) + "\n")
    sys.stdout.flush()
    try:
        await _control(_common_handlers(trace))
    finally:
        await app.stop()


class XmppClient(asyncio.Protocol):
    """Just enough of a client: waits for byte markers, PLAIN auth (the server hashes)."""

    def __init__(self) -> None:
        self.buffer = b""
        self.waiter: tuple[bytes, asyncio.Future[None]] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._check()

    def _check(self) -> None:
        if self.waiter is not None and self.waiter[0] in self.buffer:
            marker, future = self.waiter
            self.waiter = None
            self.buffer = self.buffer.split(marker, 1)[1]
            if not future.done():
                future.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter[1].done():
            self.waiter[1].set_exception(ConnectionError("closed by server"))

    async def send_and_wait(self, data: bytes, marker: bytes) -> None:
        assert self.transport is not None
        future = asyncio.get_running_loop().create_future()
        self.waiter = (marker, future)
        if data:
            self.transport.write(data)
        self._check()
        async with asyncio.timeout(30):
            await future


async def _stage(
    clients: list[XmppClient], concurrency: int, step: Callable[[int, XmppClient], Any]
) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int, c: XmppClient) -> None:
        async with sem:
            await step(i, c)

    await asyncio.gather(*(one(i, c) for i, c in enumerate(clients)))


def run_stack(args: argparse.Namespace) -> None:
    import base64

    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="xv-mem-"))
    env = {
        "DATA_DIR": str(data_dir),
        "XMPP_DOMAIN": "localhost",
        "BIND_HOST": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "AUTH_TIMEOUT": "600",
    }
    accounts = data_dir / "accounts.txt"
    if not accounts.exists() or len(accounts.read_text().splitlines()) < args.n:
        print(f"creating {args.n} accounts in {data_dir} ...", flush=True)
        data_dir.mkdir(parents=True, exist_ok=True)
        accounts.write_text("".join(f"mem{i} pw{i}\n" for i in range(args.n)))
        subprocess.run(
            [sys.executable, str(HERE / "xv_accounts.py"), str(accounts)],
            env={**os.environ, **env},
            check=True,
            stdout=subprocess.DEVNULL,
        )
    extra_env = {}
    if args.malloc_mmap_threshold:
        extra_env["MALLOC_MMAP_THRESHOLD_"] = str(args.malloc_mmap_threshold)
    child = Child(["_app"] + (["--tracemalloc"] if args.tracemalloc else []), {**env, **extra_env})
    direct = args.direct
    port = child.hello["c2s_tls" if direct else "c2s"]
    n = args.n
    print(
        f"== stack: the real App, N={n}, {'direct TLS' if direct else 'STARTTLS'}, "
        f"concurrency {args.concurrency}{', tracemalloc' if args.tracemalloc else ''}"
        f"{', MALLOC_MMAP_THRESHOLD_=' + str(args.malloc_mmap_threshold) if args.malloc_mmap_threshold else ''} =="
    )
    print("   KB per connection since the start (cumulative)")
    print(
        f"{'stage':34} {'RSS':>7} {'heap in use':>12} {'heap RSS':>8} {'pyarenas':>8} "
        f"{'pyblocks':>8} {'anon RSS':>8}{'   traced' if args.tracemalloc else ''}"
    )

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        context = _client_context()
        clients = [XmppClient() for _ in range(n)]
        rows: list[tuple[str, dict[str, Any]]] = []
        snaps: list[tuple[str, dict[str, Any]]] = []

        async def measure(label: str) -> None:
            await asyncio.sleep(1.0)
            rows.append((label, await asyncio.to_thread(child.ask, "figures")))
            if args.tracemalloc:
                snaps.append((label, await asyncio.to_thread(child.ask, "snapshot")))
            base = rows[0][1]
            after = rows[-1][1]
            line = (
                f"{label:34} {_per(base, after, n, 'rss_kb'):7.1f} "
                f"{_per(base, after, n, 'in_use'):12.1f}"
                + "".join(
                    f" {_per(base, after, n, key):8.1f}"
                    for key in ("rss_heap", "py_arenas_kb", "py_blocks", "rss_anon")
                )
            )
            if args.tracemalloc:
                line += f" {_per(base, after, n, 'traced'):8.1f}"
            print(line, flush=True)

        async def connect(i: int, c: XmppClient) -> None:
            if direct:
                await loop.create_connection(lambda: c, "127.0.0.1", port, ssl=context)
            else:
                await loop.create_connection(lambda: c, "127.0.0.1", port)
            await c.send_and_wait(HEADER, b"</stream:features>")

        async def starttls(i: int, c: XmppClient) -> None:
            await c.send_and_wait(
                b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", b"<proceed"
            )
            assert c.transport is not None
            new = await loop.start_tls(c.transport, c, context, server_hostname="localhost")
            assert new is not None
            c.transport = new  # type: ignore[assignment]
            c.buffer = b""
            await c.send_and_wait(HEADER, b"</stream:features>")

        async def login(i: int, c: XmppClient) -> None:
            token = base64.b64encode(f"\0mem{i}\0pw{i}".encode()).decode()
            await c.send_and_wait(
                f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}"
                "</auth>".encode(),
                b"<success",
            )
            await c.send_and_wait(HEADER, b"</stream:features>")
            await c.send_and_wait(
                b"<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                b"<resource>mem</resource></bind></iq>",
                b"bind1",
            )
            await c.send_and_wait(
                b"<presence/><iq type='get' id='ping1' to='localhost'>"
                b"<ping xmlns='urn:xmpp:ping'/></iq>",
                b"ping1",
            )

        async def everything(i: int, c: XmppClient) -> None:
            await connect(i, c)
            if not direct:
                await starttls(i, c)
            await login(i, c)

        if args.warmup:
            # log some clients in and out first: one-time costs (lazy imports, statement
            # caches, the database's page cache) then land before the baseline
            warm = [XmppClient() for _ in range(args.warmup)]
            await _stage(warm, args.concurrency, everything)
            for c in warm:
                assert c.transport is not None
                c.transport.close()
            await asyncio.sleep(1)
        await measure("start")

        if args.one_go:
            await _stage(clients, args.concurrency, everything)
        else:
            await _stage(clients, args.concurrency, connect)
            await measure("connected, features" + (" (TLS)" if direct else " (plain)"))
            if not direct:
                await _stage(clients, args.concurrency, starttls)
                await measure("STARTTLS, features")
            await _stage(clients, args.concurrency, login)
        await measure("authenticated, bound, presence")
        if args.idle_wait:
            await asyncio.sleep(args.idle_wait - 1)
            await measure(f"  then idle {args.idle_wait:g} s")
        for label, command in (
            ("  after gc.collect()", "collect"),
            ("  after malloc_trim(0)", "trim"),
        ):
            rows.append((label, await asyncio.to_thread(child.ask, command)))
            base, after = rows[0][1], rows[-1][1]
            line = (
                f"{label:34} {_per(base, after, n, 'rss_kb'):7.1f} "
                f"{_per(base, after, n, 'in_use'):12.1f}"
            )
            if args.tracemalloc:
                line += f" {_per(base, after, n, 'traced'):8.1f}"
            print(line, flush=True)
        if args.tracemalloc:
            snaps.append(("final, after gc", await asyncio.to_thread(child.ask, "snapshot")))
            _print_snapshots(snaps, n)
        for c in clients:
            if c.transport is not None:
                c.transport.close()
        await asyncio.sleep(0.5)

    try:
        _run_client(scenario())
    finally:
        child.close()


def _print_snapshots(snaps: list[tuple[str, dict[str, Any]]], n: int) -> None:
    base = snaps[0][1]
    final_label, final = snaps[-1]
    print(f"\n   traced Python bytes per connection by file ({final_label}; start → end)")
    files = final["by_file"]
    diffs = sorted(
        ((size - base["by_file"].get(name, 0), name) for name, size in files.items()),
        reverse=True,
    )
    root = str(Path(__file__).resolve().parent.parent) + "/"
    for diff, name in diffs[:15]:
        if abs(diff) / n < 32:
            break
        print(f"   {diff / n:9.0f} B  {name.replace(root, '')}")
    print("\n   top lines")
    lines = final["by_line"]
    ldiffs = sorted(
        ((size - base["by_line"].get(name, 0), name) for name, size in lines.items()),
        reverse=True,
    )
    for diff, name in ldiffs[:20]:
        if diff / n < 32:
            break
        print(f"   {diff / n:9.0f} B  {name.replace(root, '')}")


# --------------------------------------------------------------------------------------------


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        _child(sys.argv[1:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("what", nargs="?", default="all", choices=("parser", "tls", "stack", "all"))
    ap.add_argument("-n", type=int, default=1000, help="connections (parsers) per measurement")
    ap.add_argument("--concurrency", type=int, default=50, help="client handshakes in flight")
    ap.add_argument("--direct", action="store_true", help="stack: direct TLS instead of STARTTLS")
    ap.add_argument(
        "--one-go",
        action="store_true",
        help="stack: each client logs in all the way at once (like xmpp_load.py), no stages",
    )
    ap.add_argument("--warmup", type=int, default=0, help="stack: clients logged in and out first")
    ap.add_argument("--tracemalloc", action="store_true", help="stack: Python bytes by file")
    ap.add_argument("--data-dir", help="stack: DATA_DIR to use (accounts kept for the next run)")
    ap.add_argument(
        "--idle-wait",
        type=float,
        default=12.0,
        help="stack: measure again after this many idle seconds (parser compaction sweeps)",
    )
    ap.add_argument("--malloc-mmap-threshold", type=int, help="stack: MALLOC_MMAP_THRESHOLD_")
    args = ap.parse_args()
    if args.what in ("parser", "all"):
        run_parser(args)
    if args.what in ("tls", "all"):
        run_tls(args)
    if args.what in ("stack", "all"):
        run_stack(args)


def _child(argv: list[str]) -> None:
    kind = argv[0]
    if kind == "_parsers":
        _parsers(int(argv[1]), int(argv[2]) or None, "--reset" in argv)
    elif kind == "_tls":
        data_dir, loop_name, tickets = Path(argv[1]), argv[2], int(argv[3])
        coro = _tls_server(data_dir, None if tickets < 0 else tickets, trace=False)
        if loop_name == "uvloop":
            import uvloop

            uvloop.run(coro)
        else:
            asyncio.run(coro)
    elif kind == "_app":
        _run_client(_app_server("--tracemalloc" in argv))


if __name__ == "__main__":
    main()
