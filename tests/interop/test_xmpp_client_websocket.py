"""@xmpp/client (Node.js), an independent RFC 7395 implementation, against our /ws.

Juliet is a slixmpp client on TCP; Romeo is @xmpp/client over WebSocket. They exchange messages
both ways through the same router.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.interop.node import require_node_client, run_ws_client, ws_client
from tests.interop.slix import connected
from tests.server_fixtures import PASSWORD, RunningServer

pytestmark = pytest.mark.asyncio


async def test_websocket_client_and_tcp_client_talk(xmpp_server: RunningServer) -> None:
    require_node_client()
    await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    async with connected(xmpp_server, juliet_jid) as juliet:

        async def answer() -> None:
            got = await juliet.next_message(timeout=30)
            assert got["body"] == "over the websocket"
            assert str(got["from"]).startswith("romeo@localhost/")
            juliet.send_message(mto=got["from"], mbody="over tcp", mtype="chat")

        answering = asyncio.create_task(answer())
        result = await run_ws_client(
            xmpp_server.ws_url,
            "localhost",
            "romeo",
            PASSWORD,
            "send",
            to=juliet_jid,
            body="over the websocket",
        )
        await answering
    assert result.returncode == 0, result.stderr
    assert result.named("online")[0]["jid"].startswith("romeo@localhost/")
    (reply,) = result.named("received")
    assert reply["body"] == "over tcp"
    assert reply["from"] == str(juliet.boundjid)


async def test_two_websocket_clients_and_a_wrong_password(xmpp_server: RunningServer) -> None:
    require_node_client()
    await xmpp_server.add_user("romeo")
    await xmpp_server.add_user("juliet")
    async with ws_client(xmpp_server.ws_url, "localhost", "juliet", PASSWORD, "echo") as juliet:
        await juliet.wait_for("online")
        result = await run_ws_client(
            xmpp_server.ws_url,
            "localhost",
            "romeo",
            PASSWORD,
            "send",
            to="juliet@localhost",
            body="ping over ws",
        )
        assert result.returncode == 0, result.stderr
        assert result.named("received")[0]["body"] == "ping over ws"
        assert await juliet.finish() == 0
    wrong = await run_ws_client(xmpp_server.ws_url, "localhost", "romeo", "wrong password", "login")
    assert wrong.returncode == 1
    assert wrong.named("error")[0]["kind"] == "auth"
