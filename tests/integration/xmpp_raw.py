"""A hand-written client stream over direct TLS, read with the server's own stream parser: for
tests that need exact control of every element (stream management, CSI, keepalive)."""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from xml.etree.ElementTree import Element

from tests.server_fixtures import PASSWORD, RunningServer
from xmpp_video.xml import ElementReceived, StreamClosed, StreamParser

HEADER = (
    b"<stream:stream to='localhost' version='1.0' xmlns='jabber:client'"
    b" xmlns:stream='http://etherx.jabber.org/streams'>"
)
SM = "urn:xmpp:sm:3"
CSI = "urn:xmpp:csi:0"
STREAMS = "http://etherx.jabber.org/streams"
STREAM_ERRORS = "urn:ietf:params:xml:ns:xmpp-streams"
TIMEOUT = 5.0


class Closed(Exception):
    """The server closed the stream (and the connection)."""


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.parser = StreamParser()
        self.pending: list[Element] = []
        self.stream_closed = False
        self.full = ""

    @classmethod
    async def connect(cls, server: RunningServer) -> RawClient:
        context = ssl.create_default_context(cafile=str(server.cert_path))
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", server.tls_port, ssl=context, server_hostname="localhost"
        )
        return cls(reader, writer)

    def send(self, data: bytes | str) -> None:
        self.writer.write(data.encode() if isinstance(data, str) else data)

    async def next(self, timeout: float = TIMEOUT) -> Element:
        """The next top-level element the server sends; `Closed` when its stream ended."""
        async with asyncio.timeout(timeout):
            while not self.pending:
                if self.stream_closed:
                    raise Closed
                data = await self.reader.read(65536)
                if not data:
                    self.stream_closed = True
                    raise Closed
                for event in self.parser.feed(data):
                    if isinstance(event, ElementReceived):
                        self.pending.append(event.element)
                    elif isinstance(event, StreamClosed):
                        self.stream_closed = True
        return self.pending.pop(0)

    async def until(self, tag: str, timeout: float = TIMEOUT) -> tuple[Element, list[Element]]:
        """Read up to the first element with this (Clark) tag; returns it and what came first."""
        before: list[Element] = []
        while True:
            el = await self.next(timeout)
            if el.tag == tag:
                return el, before
            before.append(el)

    async def rest(self, timeout: float = TIMEOUT) -> list[Element]:
        """Everything until the server closes the stream."""
        elements = []
        try:
            while True:
                elements.append(await self.next(timeout))
        except Closed:
            return elements

    async def quiet(self, seconds: float) -> list[Element]:
        """What arrives within `seconds` (expected: nothing, or a known little)."""
        elements = []
        try:
            while True:
                elements.append(await self.next(seconds))
        except TimeoutError:
            return elements

    async def login(self, local: str, *, resource: str | None = "phone") -> Element:
        """SASL PLAIN, then the post-authentication features (returned); binds `resource`
        unless it is None."""
        self.send(HEADER)
        await self.until(f"{{{STREAMS}}}features")
        token = base64.b64encode(f"\0{local}\0{PASSWORD}".encode()).decode()
        self.send(
            f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>"
        )
        await self.until("{urn:ietf:params:xml:ns:xmpp-sasl}success")
        self.parser.reset()
        self.send(HEADER)
        features, _ = await self.until(f"{{{STREAMS}}}features")
        if resource is not None:
            await self.bind(resource)
        return features

    async def bind(self, resource: str) -> str:
        self.send(
            "<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
            f"<resource>{resource}</resource></bind></iq>"
        )
        result, _ = await self.until("{jabber:client}iq")
        assert result.get("type") == "result", result.attrib
        self.full = result.findtext(".//{urn:ietf:params:xml:ns:xmpp-bind}jid") or ""
        return self.full

    def abort(self) -> None:
        """Drop the connection without ending the stream (a phone losing its network)."""
        self.writer.transport.abort()

    def close(self) -> None:
        self.writer.close()


def stream_error(elements: list[Element]) -> str | None:
    """The condition of the stream error among `elements`, if any."""
    for el in elements:
        if el.tag == f"{{{STREAMS}}}error":
            for child in el:
                if child.tag.startswith(f"{{{STREAM_ERRORS}}}") and not child.tag.endswith("}text"):
                    return child.tag.partition("}")[2]
    return None


async def until(condition: Callable[[], object], timeout: float = TIMEOUT) -> None:
    """Wait until `condition()` is true (server state a test watches), at most `timeout` s."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


@asynccontextmanager
async def clients(server: RunningServer) -> AsyncIterator[Callable[[], Awaitable[RawClient]]]:
    """Opens raw clients with `await open_()`; closes them all at the end."""
    opened: list[RawClient] = []

    async def open_() -> RawClient:
        client = await RawClient.connect(server)
        opened.append(client)
        return client

    try:
        yield open_
    finally:
        for client in opened:
            client.close()
