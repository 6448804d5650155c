"""Throughput of the XML stream layer: parse and serialize a stream of 100k small <message>s.

Run: python benchmarks/xml_parse.py [count]

Prints stanzas/s for parsing one stanza per feed (one socket read each), parsing 64 KiB reads,
and serializing. Each is timed in batches of 5000 stanzas (CPU time of this process): "overall"
is the whole stream, "best batch" the fastest batch, the better figure on a shared, noisy machine.
"""

import sys
import time
from collections.abc import Callable, Iterable

from xmpp_video.xml import ElementReceived, StreamParser, serialize, stream_header

HEADER = stream_header(from_="romeo@example.net", id_=None, to="example.com")
STANZA = (
    b"<message from='juliet@example.com/balcony' to='romeo@example.net/orchard' type='chat'"
    b" id='ktx72v49'><body>Art thou not Romeo, and a Montague?</body></message>"
)
BATCH = 5000


def report(name: str, batches: Iterable[tuple[int, float]]) -> None:
    total_count = 0
    total_time = 0.0
    best = 0.0
    for count, seconds in batches:
        total_count += count
        total_time += seconds
        best = max(best, count / seconds)
    overall = total_count / total_time
    print(
        f"{name:28} overall {overall:10,.0f} stanzas/s ({1e6 / overall:5.2f} µs)"
        f"   best batch {best:10,.0f} stanzas/s ({1e6 / best:5.2f} µs)"
    )


def timed(work: Callable[[], int]) -> tuple[int, float]:
    started = time.process_time()
    count = work()
    return count, time.process_time() - started


def parse_per_stanza(count: int) -> Iterable[tuple[int, float]]:
    parser = StreamParser()
    parser.feed(HEADER)
    feed = parser.feed

    def batch() -> int:
        for _ in range(BATCH):
            feed(STANZA)
        return BATCH

    for _ in range(count // BATCH):
        yield timed(batch)


def parse_64k(count: int) -> Iterable[tuple[int, float]]:
    stream = STANZA * count
    chunks = [stream[offset : offset + 65536] for offset in range(0, len(stream), 65536)]
    parser = StreamParser()
    parser.feed(HEADER)
    per_batch = max(1, BATCH * len(STANZA) // 65536)
    for first in range(0, len(chunks), per_batch):

        def batch(part: list[bytes] = chunks[first : first + per_batch]) -> int:
            return sum(len(parser.feed(chunk)) for chunk in part)

        yield timed(batch)


def serialize_stanza(count: int) -> Iterable[tuple[int, float]]:
    parser = StreamParser()
    parser.feed(HEADER)
    (event,) = parser.feed(STANZA)
    assert isinstance(event, ElementReceived)
    element = event.element
    assert serialize(element) == STANZA

    def batch() -> int:
        for _ in range(BATCH):
            serialize(element)
        return BATCH

    for _ in range(count // BATCH):
        yield timed(batch)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(f"{count} stanzas of {len(STANZA)} bytes")
    report("parse, one stanza per feed", parse_per_stanza(count))
    report("parse, 64 KiB feeds", parse_64k(count))
    report("serialize", serialize_stanza(count))


if __name__ == "__main__":
    main()
