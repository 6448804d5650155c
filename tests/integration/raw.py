"""A raw TCP peer for stream-level tests: write bytes, read what the server answers."""

from __future__ import annotations

import asyncio

HEADER = (
    b"<?xml version='1.0'?><stream:stream to='localhost' version='1.0' "
    b"xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
)


class RawPeer:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> RawPeer:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def read_until_closed(self, timeout: float = 10.0) -> bytes:
        """Everything the server writes until it closes the connection (fails on a hang)."""
        chunks = []
        async with asyncio.timeout(timeout):
            while chunk := await self.reader.read(65536):
                chunks.append(chunk)
        return b"".join(chunks)

    async def read_until(self, marker: bytes, timeout: float = 10.0) -> bytes:
        data = b""
        async with asyncio.timeout(timeout):
            while marker not in data:
                chunk = await self.reader.read(65536)
                if not chunk:
                    break
                data += chunk
        return data

    def close(self) -> None:
        self.writer.close()
