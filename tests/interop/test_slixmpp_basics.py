"""slixmpp (an independent client stack) logs in and talks through the server.

Romeo and Juliet dialogues over real sockets, real TLS (the server's generated certificate is
verified), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.interop.slix import connected, make_client
from tests.server_fixtures import RunningServer

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"])
async def test_login_with_each_mechanism(xmpp_server: RunningServer, mechanism: str) -> None:
    jid = await xmpp_server.add_user("romeo")
    async with connected(xmpp_server, jid, mechanism=mechanism, presence=False) as romeo:
        assert romeo.boundjid.bare == jid
        assert romeo.boundjid.resource


async def test_direct_tls_login(xmpp_server: RunningServer) -> None:
    jid = await xmpp_server.add_user("romeo")
    async with connected(xmpp_server, jid, direct_tls=True) as romeo:
        assert romeo.boundjid.bare == jid


async def test_wrong_password_is_not_authorized(xmpp_server: RunningServer) -> None:
    jid = await xmpp_server.add_user("romeo")
    client = make_client(xmpp_server, jid, "wrong password")
    client.connect("127.0.0.1", xmpp_server.c2s_port)
    try:
        await asyncio.wait_for(client.auth_failed.wait(), 10)
        assert not client.started.is_set()
    finally:
        client.abort()


async def test_message_to_full_and_bare_jid(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    async with (
        connected(xmpp_server, romeo_jid) as romeo,
        connected(xmpp_server, juliet_jid) as juliet,
    ):
        romeo.send_message(mto=juliet.boundjid.full, mbody="to your resource", mtype="chat")
        msg = await juliet.next_message()
        assert msg["body"] == "to your resource"
        assert msg["from"] == romeo.boundjid
        romeo.send_message(mto=juliet_jid, mbody="to you", mtype="chat")
        msg = await juliet.next_message()
        assert msg["body"] == "to you"


async def test_offline_message_delivered_on_next_login(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    async with connected(xmpp_server, romeo_jid) as romeo:
        romeo.send_message(mto=juliet_jid, mbody="while you were away", mtype="chat")
        await asyncio.sleep(0.3)
    async with connected(xmpp_server, juliet_jid) as juliet:
        msg = await juliet.next_message()
        assert msg["body"] == "while you were away"
        assert msg["delay"]["stamp"] is not None


async def test_ping_and_version(xmpp_server: RunningServer) -> None:
    jid = await xmpp_server.add_user("romeo")
    async with connected(xmpp_server, jid) as romeo:
        rtt = await romeo.plugin["xep_0199"].ping(jid=xmpp_server.domain, timeout=5)
        assert rtt is not None
        version = await romeo.plugin["xep_0092"].get_version(xmpp_server.domain)
        assert version["software_version"]["name"] == "xmpp-video"
