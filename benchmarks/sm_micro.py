"""What stream management (XEP-0198) and CSI (XEP-0352) cost on the hot path, in process.

The `route_micro.py` setup (bytes of <message/> from one bound stream → parse → route →
serialize → the other stream's channel), with the receiving stream in each mode:

* ``off``: neither enabled (every client that does not ask for them; the baseline);
* ``sm``: stream management enabled on both streams, the receiver acknowledging every 50
  messages (``<a h/>``, as a client answering the server's ``<r/>``), the sender's stanzas
  counted;
* ``csi``: the receiver inactive (every message has a body, so it goes at once, after the
  holding check).

    python benchmarks/sm_micro.py [--messages 200000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from benchmarks.route_micro import NullChannel, bound_stream
from xmpp_video.config import Settings
from xmpp_video.core.c2s import C2SStream
from xmpp_video.core.hooks import Hooks
from xmpp_video.core.iq import IqDispatcher
from xmpp_video.core.registry import LocalRegistry
from xmpp_video.core.router import Router
from xmpp_video.core.server import Server
from xmpp_video.core.tasks import TaskSet

BATCH = 50


def _server() -> Server:
    registry, hooks, iq = LocalRegistry(), Hooks(), IqDispatcher()

    async def exists(_bare: str) -> bool:
        return True

    return Server(
        settings=Settings(),
        node_id="bench",
        storage=None,  # type: ignore[arg-type]
        accounts=None,  # type: ignore[arg-type]
        hooks=hooks,
        iq=iq,
        registry=registry,
        router=Router("localhost", registry, iq, hooks, exists),
        tasks=TaskSet(),
        ssl_context=None,
    )


def _run(mode: str, messages: int) -> float:
    server = _server()
    sender, _ = bound_stream(server, "romeo@localhost/a")
    receiver, channel = bound_stream(server, "juliet@localhost/b")
    if mode == "sm":
        for stream in (sender, receiver):
            stream.data_received(b"<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
    elif mode == "csi":
        receiver.data_received(b"<inactive xmlns='urn:xmpp:csi:0'/>")
    stanza = (
        b"<message to='juliet@localhost/b' type='chat' id='m1'><body>"
        + b"x" * 64
        + b"</body></message>"
    )
    chunk = stanza * BATCH
    rounds = messages // BATCH
    started = time.process_time()
    for i in range(1, rounds + 1):
        sender.data_received(chunk)
        if mode == "sm":
            receiver.data_received(b"<a xmlns='urn:xmpp:sm:3' h='%d'/>" % (i * BATCH))
    cpu = time.process_time() - started
    assert isinstance(receiver, C2SStream)
    assert isinstance(channel, NullChannel)
    if mode == "sm":
        assert receiver.sm is not None
        assert not receiver.sm.unacked, len(receiver.sm.unacked)
        assert sender.sm is not None
        assert sender.sm.handled == rounds * BATCH
    return cpu / (rounds * BATCH) * 1e6


async def main(messages: int, repeat: int) -> None:
    results: dict[str, list[float]] = {"off": [], "sm": [], "csi": []}
    for _ in range(repeat):
        for mode in results:
            results[mode].append(_run(mode, messages))
    base = statistics.median(results["off"])
    for mode, runs in results.items():
        median = statistics.median(runs)
        print(
            f"{mode:>4}: {median:5.2f} µs per message (median of {repeat}),"
            f" {1e6 / median:,.0f} per CPU-second, {median - base:+.2f} µs vs off"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.rounds))
