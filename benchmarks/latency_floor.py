"""The machine's floor for one-way latency through a relay process, with no XMPP in it.

`xmpp_load.py latency` measures sender → server → receiver over TLS at a paced rate. Part of that
time is not the server's at all: TLS in the generator, two loopback TCP hops, and waking the
server's and the generator's (v)CPUs between messages (at 2,000 messages/s both processes sleep
between messages). This script measures that part alone: a relay process that does nothing but
decrypt, find the receiver by a two-byte prefix and encrypt again, driven by the same pacing
loop and the same uvloop + TLS client as `xmpp_load.py`. What xmpp-video adds is the
difference between the two runs.

    python3 benchmarks/latency_floor.py [--rate 2000] [--seconds 15] [--pairs 20] [--plain]

Prints p50/p90/p99/max in ms and the counts sent/received (nothing may be lost).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import signal
import ssl
import subprocess
import tempfile
import time
from pathlib import Path
from typing import ClassVar

import uvloop

MESSAGE_BYTES = 160  # about what a routed <message/> with a short body weighs


def _tls_contexts(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context()
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    return server, client


class Relay(asyncio.Protocol):
    """Reads fixed-size records `<2-byte receiver><payload>` and writes the payload to the
    receiver. The first two bytes a connection sends are its own number."""

    peers: ClassVar[dict[int, asyncio.Transport]] = {}

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.me: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        if self.me is None:
            self.me = int.from_bytes(buffer[:2], "big")
            assert self.transport is not None
            self.peers[self.me] = self.transport
            buffer = buffer[2:]
        size = 2 + MESSAGE_BYTES
        while len(buffer) >= size:
            receiver = self.peers.get(int.from_bytes(buffer[:2], "big"))
            if receiver is not None:
                receiver.write(buffer[2:size])
            buffer = buffer[size:]
        self.buffer = buffer


def _serve(port: int, context: ssl.SSLContext | None, ready: multiprocessing.Event) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Relay, "127.0.0.1", port, ssl=context)
        ready.set()
        async with server:
            await server.serve_forever()

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    uvloop.run(main())


class Receiver(asyncio.Protocol):
    def __init__(self, latencies: list[float]) -> None:
        self.latencies = latencies
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        buffer = self.buffer + data
        while len(buffer) >= MESSAGE_BYTES:
            sent = int(buffer[:20])
            self.latencies.append((now - sent) / 1e6)
            buffer = buffer[MESSAGE_BYTES:]
        self.buffer = buffer


async def _drive(args: argparse.Namespace, context: ssl.SSLContext | None) -> None:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    senders: list[tuple[asyncio.Transport, bytes]] = []
    for k in range(args.pairs):
        receiver_id, sender_id = 2 * k + 1, 2 * k + 2
        receiver, _ = await loop.create_connection(
            lambda: Receiver(latencies), "127.0.0.1", args.port, ssl=context
        )
        receiver.write(receiver_id.to_bytes(2, "big"))
        sender, _ = await loop.create_connection(
            asyncio.Protocol, "127.0.0.1", args.port, ssl=context
        )
        sender.write(sender_id.to_bytes(2, "big"))
        senders.append((sender, receiver_id.to_bytes(2, "big")))  # type: ignore[arg-type]
    await asyncio.sleep(0.5)
    padding = b" " * (MESSAGE_BYTES - 20)
    sent = k = 0
    t0 = time.monotonic()
    end = t0 + args.seconds
    while (now := time.monotonic()) < end:  # the pacing loop of xmpp_load.py's latency phase
        due = int((now - t0) * args.rate)
        while sent < due:
            transport, to = senders[k]
            k = (k + 1) % len(senders)
            transport.write(to + b"%020d" % time.monotonic_ns() + padding)
            sent += 1
        await asyncio.sleep(0.001)
    t1 = time.monotonic()
    while len(latencies) < sent and time.monotonic() - t1 < 5:
        await asyncio.sleep(0.05)
    values = sorted(latencies)

    def pct(p: float) -> float:
        return values[min(len(values) - 1, int(len(values) * p / 100))]

    print(
        f"sent {sent} ({sent / (t1 - t0):.0f}/s), received {len(values)}, lost {sent - len(values)}"
    )
    print(
        f"one-way latency ms ({'plain TCP' if context is None else 'TLS'}): p50 {pct(50):.2f}  "
        f"p90 {pct(90):.2f}  p99 {pct(99):.2f}  max {values[-1]:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--port", type=int, default=25299)
    parser.add_argument("--plain", action="store_true", help="no TLS")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        server_context, client_context = _tls_contexts(Path(directory))
    if args.plain:
        server_context = client_context = None  # type: ignore[assignment]
    ready = multiprocessing.Event()
    relay = multiprocessing.Process(target=_serve, args=(args.port, server_context, ready))
    relay.start()
    try:
        ready.wait(10)
        uvloop.run(_drive(args, client_context))
    finally:
        relay.terminate()
        relay.join(5)


if __name__ == "__main__":
    main()
