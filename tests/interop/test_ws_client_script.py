"""The @xmpp/client WebSocket script and its Python driver work without any server.

They were checked against a real Prosody by hand (log in over ws://, exchange messages); the
tests that speak to our own server over WebSocket use `tests.interop.node` the same way. These
only prove that `npm ci` installed the client and that failures come back as JSON and exit codes.
"""

from __future__ import annotations

import socket

import pytest

from tests.interop.node import require_node_client, run_ws_client

pytestmark = pytest.mark.asyncio


@pytest.fixture(autouse=True)
def _node_client() -> None:
    require_node_client()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_usage_error_exits_2() -> None:
    result = await run_ws_client("ws://127.0.0.1:1/ws", "localhost", "alice", "pw", "send")
    assert result.returncode == 2, result
    [error] = result.named("error")
    assert error["kind"] == "usage"
    assert "--to" in error["message"]


async def test_refused_connection_is_an_error_event() -> None:
    url = f"ws://127.0.0.1:{_closed_port()}/ws"
    result = await run_ws_client(url, "localhost", "alice", "pw", run_timeout=5)
    assert result.returncode == 1, result
    [error] = result.named("error")
    assert error["kind"] == "socket"
    assert not result.named("online")
