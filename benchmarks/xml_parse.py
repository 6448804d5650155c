"""Throughput of the XML stream layer: parse and serialize 100k small <message> stanzas.

Run: python benchmarks/xml_parse.py [count]
Prints stanzas/s for parsing (one stanza per feed, as from one socket read each, and 64 KiB
reads) and for serializing the parsed elements.
"""

import sys
import time

from xmpp_video.xml import ElementReceived, StreamParser, serialize, stream_header

HEADER = stream_header(from_="romeo@example.net", id_=None, to="example.com")
STANZA = (
    b"<message from='juliet@example.com/balcony' to='romeo@example.net/orchard' type='chat'"
    b" id='ktx72v49'><body>Art thou not Romeo, and a Montague?</body></message>"
)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(f"stanza: {len(STANZA)} bytes, {count} stanzas")

    best = float("inf")
    elements = []
    for _ in range(3):
        parser = StreamParser()
        parser.feed(HEADER)
        feed = parser.feed
        started = time.perf_counter()
        for _ in range(count):
            feed(STANZA)
        best = min(best, time.perf_counter() - started)
    print(f"parse, one stanza per feed: {count / best:12,.0f} stanzas/s  {best / count * 1e6:.2f} µs")

    stream = STANZA * count
    best = float("inf")
    for _ in range(3):
        parser = StreamParser()
        parser.feed(HEADER)
        events = []
        started = time.perf_counter()
        for offset in range(0, len(stream), 65536):
            events += parser.feed(stream[offset : offset + 65536])
        best = min(best, time.perf_counter() - started)
        elements = [event.element for event in events if isinstance(event, ElementReceived)]
        assert len(elements) == count
    print(f"parse, 64 KiB feeds:        {count / best:12,.0f} stanzas/s  {best / count * 1e6:.2f} µs")

    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for element in elements:
            serialize(element)
        best = min(best, time.perf_counter() - started)
    assert serialize(elements[0]) == STANZA.replace(b"'", b"'")
    print(f"serialize:                  {count / best:12,.0f} stanzas/s  {best / count * 1e6:.2f} µs")


if __name__ == "__main__":
    main()
