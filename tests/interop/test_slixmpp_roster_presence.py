"""Roster and presence subscriptions (RFC 6121) as slixmpp users live them."""

from __future__ import annotations

import asyncio

import pytest

from tests.interop.slix import Client, connected
from tests.server_fixtures import RunningServer

pytestmark = pytest.mark.asyncio


async def _wait_for(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


async def _fetch_roster(client: Client) -> dict[str, dict[str, object]]:
    result = await client.get_roster(timeout=5)
    items = result["roster"]["items"]
    return {str(jid): dict(item) for jid, item in items.items()}


async def test_subscription_handshake_ends_in_both(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    async with (
        connected(xmpp_server, romeo_jid) as romeo,
        connected(xmpp_server, juliet_jid) as juliet,
    ):
        juliet.auto_authorize = True  # accepts romeo's request...
        juliet.auto_subscribe = True  # ...and asks back, as most clients offer
        romeo.auto_authorize = True
        romeo.send_presence_subscription(pto=juliet_jid)
        await _wait_for(
            lambda: (
                romeo.client_roster[juliet_jid]["subscription"] == "both"
                and juliet.client_roster[romeo_jid]["subscription"] == "both"
            )
        )
        # the server's roster agrees with what the clients were pushed
        assert (await _fetch_roster(romeo))[juliet_jid]["subscription"] == "both"
        assert (await _fetch_roster(juliet))[romeo_jid]["subscription"] == "both"
        # and each now sees the other's presence
        await _wait_for(lambda: bool(romeo.client_roster[juliet_jid].resources))
        await _wait_for(lambda: bool(juliet.client_roster[romeo_jid].resources))


async def test_presence_unavailable_when_contact_disconnects(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    async with connected(xmpp_server, romeo_jid) as romeo:
        romeo.auto_authorize = True
        async with connected(xmpp_server, juliet_jid) as juliet:
            juliet.auto_authorize = True
            romeo.send_presence_subscription(pto=juliet_jid)
            await _wait_for(
                lambda: romeo.client_roster[juliet_jid]["subscription"] in ("to", "both")
            )
            await romeo.next_presence(from_=juliet_jid, type_="available")
            juliet_full = juliet.boundjid.full
        gone = await romeo.next_presence(from_=juliet_full, type_="unavailable")
        assert str(gone["from"]) == juliet_full


async def test_subscription_request_waits_for_an_offline_user(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    async with connected(xmpp_server, romeo_jid) as romeo:
        romeo.send_presence_subscription(pto=juliet_jid)
        await _wait_for(lambda: romeo.client_roster[juliet_jid]["pending_out"])
    async with connected(xmpp_server, juliet_jid) as juliet:
        request = await juliet.next_presence(type_="subscribe")
        assert str(request["from"]) == romeo_jid
        roster = await _fetch_roster(juliet)
        assert romeo_jid not in roster, "a request alone does not put anyone in my roster"


async def test_roster_set_push_and_remove(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    async with (
        connected(xmpp_server, romeo_jid) as phone,
        connected(xmpp_server, romeo_jid) as laptop,
    ):
        await laptop.get_roster(timeout=5)  # laptop is now interested in pushes
        await phone.update_roster("nurse@localhost", name="Nurse", groups=["Family", "Verona"])
        await _wait_for(
            lambda: (
                "nurse@localhost" in laptop.client_roster
                and laptop.client_roster["nurse@localhost"]["name"] == "Nurse"
            )
        )
        roster = await _fetch_roster(phone)
        assert roster["nurse@localhost"]["name"] == "Nurse"
        assert sorted(roster["nurse@localhost"]["groups"]) == ["Family", "Verona"]
        assert roster["nurse@localhost"]["subscription"] == "none"
        await phone.del_roster_item("nurse@localhost")
        await _wait_for(
            lambda: (
                "nurse@localhost" not in laptop.client_roster
                or laptop.client_roster["nurse@localhost"]["subscription"] == "remove"
            )
        )
        assert "nurse@localhost" not in await _fetch_roster(phone)


async def test_message_to_unknown_user_bounces(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    async with connected(xmpp_server, romeo_jid) as romeo:
        romeo.send_message(mto="nobody@localhost", mbody="hello?", mtype="chat")
        reply = await romeo.next_message()
        assert reply["type"] == "error"
        assert reply["error"]["condition"] == "service-unavailable"


async def test_bare_jid_message_goes_to_highest_priority(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    async with (
        connected(xmpp_server, romeo_jid) as romeo,
        connected(xmpp_server, juliet_jid, presence=False) as high,
        connected(xmpp_server, juliet_jid, presence=False) as low,
    ):
        high.send_presence(ppriority=10)
        low.send_presence(ppriority=1)
        await high.next_presence(from_=high.boundjid.full)
        await low.next_presence(from_=low.boundjid.full)
        await asyncio.sleep(0.2)
        romeo.send_message(mto=juliet_jid, mbody="for the best one", mtype="chat")
        assert (await high.next_message())["body"] == "for the best one"
        with pytest.raises(TimeoutError):
            await low.next_message(timeout=0.5)


async def test_disco_info_of_the_server(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    async with connected(xmpp_server, romeo_jid) as romeo:
        info = await romeo.plugin["xep_0030"].get_info(jid=xmpp_server.domain, timeout=5)
        features = info["disco_info"]["features"]
        assert "urn:xmpp:ping" in features
        assert "jabber:iq:version" in features
        identities = info["disco_info"]["identities"]
        assert any(cat == "server" and typ == "im" for cat, typ, *_ in identities)
