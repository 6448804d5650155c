"""In-process hot-path benchmark: bytes of <message/> stanzas from one bound c2s stream →
parse → stamp → route → serialize → the other stream's channel. No sockets, no database: it
measures the server's own per-message CPU cost (what `xmpp_load.py throughput` adds syscalls,
TLS and the event loop to).

    python benchmarks/route_micro.py [--messages 200000] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
from typing import Any, cast

from xmpp_video.config import Settings
from xmpp_video.core.c2s import C2SStream
from xmpp_video.core.hooks import Hooks
from xmpp_video.core.iq import IqDispatcher
from xmpp_video.core.registry import LocalRegistry
from xmpp_video.core.router import Router
from xmpp_video.core.server import Server
from xmpp_video.core.tasks import TaskSet
from xmpp_video.jid import JID
from xmpp_video.stream.states import StreamState
from xmpp_video.xml.framing import TCP_FRAMING


class NullChannel:
    encrypted = True
    peer = "bench"
    framing = TCP_FRAMING

    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += 1

    def write_buffer_size(self) -> int:
        return 0

    def close(self) -> None: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def can_starttls(self) -> bool:
        return False

    async def starttls(self) -> None: ...


def bound_stream(server: Server, jid: str) -> tuple[C2SStream, NullChannel]:
    channel = NullChannel()
    stream = C2SStream(server, channel)
    stream.parser.feed(
        b"<?xml version='1.0'?><stream:stream to='localhost' version='1.0' "
        b"xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
    )
    stream.bind(JID.parse(jid))
    stream.state = StreamState.BOUND
    server.registry.add(stream)
    return stream, channel


async def run(messages: int, profile: bool) -> None:
    settings = Settings()
    registry, hooks, iq = LocalRegistry(), Hooks(), IqDispatcher()

    async def exists(_bare: str) -> bool:
        return True

    router = Router("localhost", registry, iq, hooks, exists)
    server = Server(
        settings=settings,
        node_id="bench",
        storage=cast(Any, None),
        accounts=cast(Any, None),
        hooks=hooks,
        iq=iq,
        registry=registry,
        router=router,
        tasks=TaskSet(),
        ssl_context=None,
    )
    sender, _ = bound_stream(server, "romeo@localhost/a")
    _, receiver = bound_stream(server, "juliet@localhost/b")
    stanza = (
        b"<message to='juliet@localhost/b' type='chat' id='m1'><body>"
        + b"x" * 64
        + b"</body></message>"
    )
    chunk = stanza * 50
    rounds = messages // 50
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    started = time.process_time()
    for _ in range(rounds):
        sender.data_received(chunk)
    cpu = time.process_time() - started
    if profiler:
        profiler.disable()
    assert receiver.written == rounds * 50, receiver.written
    print(
        f"{rounds * 50} messages in {cpu:.2f} CPU-s: {rounds * 50 / cpu:,.0f} messages per "
        f"CPU-second, {cpu / (rounds * 50) * 1e6:.1f} µs each"
    )
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    asyncio.run(run(args.messages, args.profile))


if __name__ == "__main__":
    main()
