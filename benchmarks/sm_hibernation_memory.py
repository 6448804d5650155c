"""Memory per hibernating session (XEP-0198), in process: N bound streams enable stream
management with resumption, receive a few stanzas, lose their connection and hibernate; the
traced memory that remains per session is what a phone costs the server while it sleeps (its
registry entry, the session object with its compacted parser, its resumption id, its expiry
timer, its queue). Queued stanzas are counted as well, with a typical chat message each.

    python benchmarks/sm_hibernation_memory.py [--sessions 2000] [--queued 0 10]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tracemalloc
from xml.etree.ElementTree import Element, SubElement

from benchmarks.route_micro import bound_stream
from benchmarks.sm_micro import _server
from xmpp_video.core.c2s import C2SStream


def _message(to: str, i: int) -> Element:
    el = Element(
        "{jabber:client}message",
        {"to": to, "from": "romeo@localhost/phone", "type": "chat", "id": f"m{i}"},
    )
    SubElement(el, "{jabber:client}body").text = f"message number {i}, of some typical length"
    return el


def _measure(sessions: int, queued: int) -> float:
    server = _server()
    streams: list[C2SStream] = []
    gc.collect()
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    for n in range(sessions):
        stream, _ = bound_stream(server, f"user{n}@localhost/phone")
        stream.data_received(b"<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
        stream.data_received(b"<presence/>")
        stream.connection_lost()
        for i in range(queued):
            stream.deliver(_message(stream.full, i))
        streams.append(stream)
    gc.collect()
    per_session = (tracemalloc.get_traced_memory()[0] - start) / sessions
    tracemalloc.stop()
    assert all(s.hibernating for s in streams)
    for stream in streams:
        stream.close()
    return per_session


async def main(sessions: int, queued: list[int]) -> None:
    for count in queued:
        per_session = _measure(sessions, count)
        print(
            f"{sessions} hibernating sessions with {count} queued messages each:"
            f" {per_session / 1024:.1f} KiB per session"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--queued", type=int, nargs="+", default=[0, 10])
    args = parser.parse_args()
    asyncio.run(main(args.sessions, args.queued))
