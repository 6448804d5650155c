"""What keeps an idle connection small (benchmarks/idle_memory.py measures it): the XML parser
of a quiet stream is released and rebuilt unnoticed, a stream restart frees the old parser at
once, and TLS is done by the channel itself, without losing bytes that come with the handshake or
keeping a burst's worth of buffer."""

from __future__ import annotations

import asyncio
import base64
import gc
import random
import ssl
import tracemalloc
from collections.abc import Iterator

import pytest

from tests.integration.raw import HEADER
from tests.server_fixtures import PASSWORD, RunningServer
from tests.unit.xml.support import CLOSE, picture
from xmpp_video.core import compactor
from xmpp_video.core.c2s import C2SStream
from xmpp_video.xml import StreamParser, XmlStreamError

SQLITE_ONLY = pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
FEATURES_END = b"</stream:features>"


# -- the parser ---------------------------------------------------------------------------


def _expat_parsers() -> int:
    return sum(1 for o in gc.get_objects() if type(o).__name__ == "xmlparser")


def test_reset_and_compact_free_the_expat_parser_without_the_garbage_collector() -> None:
    gc.collect()
    before = _expat_parsers()
    gc.disable()
    try:
        parser = StreamParser()
        parser.feed(HEADER + b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        for _ in range(3):
            parser.reset()
            parser.feed(HEADER + b"<presence/> ")
        assert _expat_parsers() == before + 1
        assert parser.compact()
        assert _expat_parsers() == before
        assert not parser.compact()  # already done
        with pytest.raises(XmlStreamError):
            parser.feed(b"<!-- -->")
        assert _expat_parsers() == before  # a dead parser keeps none either
    finally:
        gc.enable()


def test_a_compacted_parser_keeps_little() -> None:
    parser = StreamParser()
    parser.feed(HEADER + b"<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>")
    parser.compact()
    tracemalloc.start()
    try:
        gc.collect()
        start = tracemalloc.get_traced_memory()[0]
        parsers = []
        for _ in range(200):
            p = StreamParser()
            p.feed(HEADER + b"<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>")
            assert p.compact()
            parsers.append(p)
        per_parser = (tracemalloc.get_traced_memory()[0] - start) / len(parsers)
    finally:
        tracemalloc.stop()
    assert per_parser < 1024, per_parser


@pytest.mark.parametrize(
    ("after", "compacts"),
    [
        (b"", True),
        (b" \r\n", True),  # whitespace keepalives
        (b"<presence", False),  # an unfinished tag
        (b"<message><body>", False),  # inside an element
        (b"\r", False),  # expat keeps a trailing CR for the next byte
        (CLOSE, False),
    ],
)
def test_compact_only_between_top_level_elements(after: bytes, compacts: bool) -> None:
    parser = StreamParser()
    parser.feed(HEADER + b"<presence/>" + after)
    assert parser.compact() is compacts


SNIPPETS = [
    b"<presence/>",
    b"<message to='a@b'><body>hi &amp; there\r\nline</body></message>",
    b" ",
    b"\r\n",
    b"<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>",
    b"<a xmlns:p='urn:p' p:x='1'><p:b/>t<c/>u</a>",
    b"<x>" + b"y" * 300 + b"</x>",
    b"<e a='&lt;&gt;'/>",
    b"<r>&#233;\xc3\xa9</r>",
    b"<deep>" + b"<d>" * 8 + b"</d>" * 8 + b"</deep>",
]
BROKEN = [
    b"<!-- c -->",
    b"<!DOCTYPE x>",
    b"<?pi x?>",
    b"&foo;",
    b"</wrong>",
    b"<a></b>",
    b"\xff",
    b"junk",
    HEADER,
    CLOSE,
]


def _run(chunks: list[bytes], compact: bool, **limits: int) -> list[object]:
    parser = StreamParser(**limits)
    out: list[object] = []
    for chunk in chunks:
        try:
            out.append(picture(parser.feed(chunk)))
        except XmlStreamError as exc:
            out.append((exc.condition, exc.text))
        if compact:
            parser.compact()
    return out


def _streams(count: int) -> Iterator[tuple[list[bytes], dict[str, int]]]:
    rnd = random.Random(20261126)
    for _ in range(count):
        parts = [rnd.choice(SNIPPETS) for _ in range(rnd.randint(1, 10))]
        if rnd.random() < 0.4:
            parts.insert(rnd.randrange(len(parts) + 1), rnd.choice(BROKEN))
        data = HEADER + b"".join(parts)
        cuts = sorted(rnd.sample(range(1, len(data)), min(len(data) - 1, rnd.randint(0, 12))))
        chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        limits = {"max_element_size": rnd.choice([262144, 1500, 400]), "max_depth": 5}
        yield chunks, limits


def test_compacting_after_every_read_changes_nothing() -> None:
    """Same events, same errors (byte offsets in their texts included), same limits."""
    for chunks, limits in _streams(600):
        assert _run(chunks, True, **limits) == _run(chunks, False, **limits), chunks


# -- the server ---------------------------------------------------------------------------


@pytest.fixture
def fast_compaction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compactor, "PERIOD_SECONDS", 0.05)


class TlsPeer:
    """A client doing TLS by hand, to choose what goes in which TCP segment."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")
        self.plain = b""

    @classmethod
    async def starttls(cls, port: int, *, header_with_finished: bool = False) -> TlsPeer:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        peer = cls(reader, writer)
        writer.write(HEADER)
        await peer._read_clear(FEATURES_END)
        writer.write(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        await peer._read_clear(b"/>")
        while True:
            try:
                peer.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                if peer.outgoing.pending:
                    writer.write(peer.outgoing.read())
                data = await asyncio.wait_for(reader.read(65536), 10)
                assert data, "closed during the handshake"
                peer.incoming.write(data)
        if header_with_finished:
            peer.tls.write(HEADER)  # after the client's Finished, in the same segment
        writer.write(peer.outgoing.read())
        if not header_with_finished:
            peer.send(HEADER)
        return peer

    async def _read_clear(self, marker: bytes) -> None:
        data = b""
        while marker not in data:
            chunk = await asyncio.wait_for(self.reader.read(65536), 10)
            assert chunk, data
            data += chunk

    def send(self, data: bytes) -> None:
        self.tls.write(data)
        self.writer.write(self.outgoing.read())

    async def read_until(self, marker: bytes) -> bytes:
        while marker not in self.plain:
            try:
                self.plain += self.tls.read(65536)
                continue
            except ssl.SSLWantReadError:
                pass
            chunk = await asyncio.wait_for(self.reader.read(65536), 10)
            assert chunk, self.plain
            self.incoming.write(chunk)
        before, _, self.plain = self.plain.partition(marker)
        return before + marker

    async def login(self, jid: str) -> None:
        await self.read_until(FEATURES_END)
        token = base64.b64encode(b"\0" + jid.split("@")[0].encode() + b"\0" + PASSWORD.encode())
        self.send(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>")
        self.send(token + b"</auth>")
        assert b"<success" in await self.read_until(b"/>")
        self.send(HEADER)
        await self.read_until(FEATURES_END)
        self.send(
            b"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
            b"<resource>r</resource></bind></iq>"
        )
        await self.read_until(b"</iq>")

    async def ping(self, id_: str) -> None:
        self.send(f"<iq type='get' id='{id_}'><ping xmlns='urn:xmpp:ping'/></iq>".encode())
        answer = await self.read_until(f"'{id_}'".encode())
        assert b"type='result'" in answer

    def close(self) -> None:
        self.writer.close()


@SQLITE_ONLY
@pytest.mark.asyncio
async def test_stream_header_in_the_segment_of_the_client_finished(
    xmpp_server: RunningServer,
) -> None:
    """TLS 1.3 lets the client send data with its Finished: it reaches the new stream's parser."""
    for _ in range(3):
        peer = await TlsPeer.starttls(xmpp_server.c2s_port, header_with_finished=True)
        try:
            features = await peer.read_until(FEATURES_END)
        finally:
            peer.close()
        assert b"<stream:error>" not in features
        assert b"PLAIN" in features


@SQLITE_ONLY
@pytest.mark.asyncio
async def test_idle_stream_is_compacted_and_still_works(
    fast_compaction: None, xmpp_server: RunningServer
) -> None:
    jid = await xmpp_server.add_user("idler")
    peer = await TlsPeer.starttls(xmpp_server.c2s_port)
    try:
        await peer.login(jid)
        streams = [s for s in xmpp_server.server.connections if isinstance(s, C2SStream)]
        assert len(streams) == 1
        parser = streams[0].parser
        for _ in range(100):
            if parser._feed is None:  # released by the transport's sweep
                break
            await asyncio.sleep(0.05)
        assert parser._feed is None, "the idle stream's parser was not released"
        for i in range(3):
            await peer.ping(f"p{i}")
            await asyncio.sleep(0.3)
    finally:
        peer.close()


@SQLITE_ONLY
@pytest.mark.asyncio
async def test_large_stanzas_both_ways_over_tls(xmpp_server: RunningServer) -> None:
    jid = await xmpp_server.add_user("big")
    peer = await TlsPeer.starttls(xmpp_server.c2s_port)
    try:
        await peer.login(jid)
        body = b"x" * 200_000
        peer.send(b"<message to='" + jid.encode() + b"/r' id='m1'><body>" + body + b"</body>")
        peer.send(b"</message>")
        echoed = await peer.read_until(b"</message>")
        assert body in echoed
        await peer.ping("after")
    finally:
        peer.close()
