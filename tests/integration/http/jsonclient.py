"""A JSON-protocol client for tests (SPEC §5), over the `websockets` library."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from tests.server_fixtures import PASSWORD, RunningServer

TIMEOUT = 10.0


async def access_token(server: RunningServer, user: str, password: str = PASSWORD) -> str:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=TIMEOUT) as http:
        response = await http.post("/api/auth/login", json={"username": user, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


class JsonClient:
    """One reader task files every server message; `next()` picks them by type and fields, so
    several coroutines may wait for different messages at once."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.jid = ""
        self.backlog: list[dict[str, Any]] = []
        self._arrived = asyncio.Condition()
        self._done = False
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                assert isinstance(text, str), "the server sends JSON in text messages"
                async with self._arrived:
                    self.backlog.append(json.loads(text))
                    self._arrived.notify_all()
        except websockets.ConnectionClosed:
            pass
        finally:
            async with self._arrived:
                self._done = True
                self._arrived.notify_all()

    async def send(self, **message: Any) -> None:
        await self.ws.send(json.dumps(message))

    async def next(self, type_: str, timeout: float = TIMEOUT, **match: Any) -> dict[str, Any]:
        """The next message of this type (and fields); others stay for later calls."""
        async with asyncio.timeout(timeout), self._arrived:
            while True:
                for i, message in enumerate(self.backlog):
                    if message["type"] == type_ and all(
                        message.get(k) == v for k, v in match.items()
                    ):
                        return self.backlog.pop(i)
                if self._done:
                    raise AssertionError(f"closed before {type_} {match}: {self.backlog}")
                await self._arrived.wait()

    async def closed(self, timeout: float = TIMEOUT) -> int | None:
        """Wait until the server closes; the close code."""
        async with asyncio.timeout(timeout):
            await asyncio.shield(self._reader)
        return self.ws.close_code

    async def stop(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@asynccontextmanager
async def json_client(
    server: RunningServer, user: str | None = None, *, password: str = PASSWORD
) -> AsyncIterator[JsonClient]:
    """A JSON connection on /ws without subprotocol; authenticated when ``user`` is given."""
    async with websockets.connect(server.ws_url, open_timeout=TIMEOUT) as ws:
        client = JsonClient(ws)
        try:
            if user is not None:
                await client.send(type="auth", token=await access_token(server, user, password))
                ok = await client.next("auth_ok")
                assert ok["user"] == user
                client.jid = ok["jid"]
            yield client
        finally:
            await client.stop()
