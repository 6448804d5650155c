"""XEP-0191 blocking through slixmpp's ``xep_0191`` plugin, on SQLite and PostgreSQL.

Juliet blocks Romeo: his messages and iqs bounce as if she were offline, nothing of his reaches
her, each sees the other go unavailable, and her own stanzas to him are refused with
``<blocked/>``; unblocking brings presence back. Pushes reach her other resource.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from slixmpp.exceptions import IqError

from tests.interop.slix import TIMEOUT, Client, connected
from tests.server_fixtures import RunningServer, make_settings, running_server
from xmpp_video.config import Settings
from xmpp_video.storage.repositories import RosterItem, Subscription

pytestmark = pytest.mark.asyncio

BLOCKED_NS = "urn:xmpp:blocking:errors"


@asynccontextmanager
async def blocking_client(
    server: RunningServer, jid: str, *, presence: bool = True
) -> AsyncIterator[Client]:
    """A logged-in client with the blocking (and vCard) plugins and queues for what they see."""
    async with connected(server, jid, presence=presence) as client:
        client.register_plugin("xep_0191")
        client.register_plugin("xep_0054")
        errors: asyncio.Queue[Any] = asyncio.Queue()
        pushes: asyncio.Queue[tuple[str, list[str]]] = asyncio.Queue()
        client.add_event_handler("message_error", errors.put_nowait)
        client.add_event_handler(
            "blocked", lambda iq: pushes.put_nowait(("block", _items(iq["block"])))
        )
        client.add_event_handler(
            "unblocked", lambda iq: pushes.put_nowait(("unblock", _items(iq["unblock"])))
        )
        client.errors = errors  # type: ignore[attr-defined]
        client.pushes = pushes  # type: ignore[attr-defined]
        yield client


def _items(element: Any) -> list[str]:
    return sorted(str(item["jid"]) for item in element["items"])


async def _blocklist(client: Client) -> set[str]:
    return {str(jid) for jid in await client.plugin["xep_0191"].get_blocked_jids(timeout=TIMEOUT)}


async def _unblock_all(client: Client) -> None:
    iq = client.make_iq_set()
    iq.enable("unblock")
    await iq.send(timeout=TIMEOUT)


async def _next(queue: asyncio.Queue[Any]) -> Any:
    return await asyncio.wait_for(queue.get(), TIMEOUT)


async def _next_chat(client: Client) -> Any:
    """The next message that is not an error (slixmpp also queues errors that carry a body)."""
    while True:
        message = await client.next_message()
        if message["type"] != "error":
            return message


async def _befriend(server: RunningServer, a: str, b: str) -> None:
    """Mutual presence subscriptions, written straight into the rosters."""
    for owner, contact in ((a, b), (b, a)):
        await server.server.storage.roster.upsert(
            RosterItem(owner, contact, subscription=Subscription.BOTH)
        )


def _condition(stanza: Any) -> str:
    return str(stanza["error"]["condition"])


def _is_blocked_error(stanza: Any) -> bool:
    return stanza["error"].xml.find(f"{{{BLOCKED_NS}}}blocked") is not None


async def test_block_list_unblock_and_unblock_all(xmpp_server: RunningServer) -> None:
    juliet_jid = await xmpp_server.add_user("juliet")
    async with blocking_client(xmpp_server, juliet_jid, presence=False) as juliet:
        blocking = juliet.plugin["xep_0191"]
        assert await _blocklist(juliet) == set()

        await blocking.block(
            ["romeo@localhost", "Tybalt@Localhost/Sword", "montague.example"], timeout=TIMEOUT
        )
        await blocking.block("romeo@localhost", timeout=TIMEOUT)  # again: nothing changes
        assert await _blocklist(juliet) == {
            "romeo@localhost",
            "tybalt@localhost/Sword",  # prepared: local part case-folded, resource kept
            "montague.example",
        }

        await blocking.unblock("montague.example", timeout=TIMEOUT)
        await blocking.unblock("nobody@localhost", timeout=TIMEOUT)  # not blocked: ignored
        assert await _blocklist(juliet) == {"romeo@localhost", "tybalt@localhost/Sword"}

        await _unblock_all(juliet)
        assert await _blocklist(juliet) == set()


async def test_bad_block_commands(tmp_path: Any, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, blocklist_limit=2)
    async with running_server(settings) as server:
        juliet_jid = await server.add_user("juliet")
        async with blocking_client(server, juliet_jid, presence=False) as juliet:
            blocking = juliet.plugin["xep_0191"]
            empty = juliet.make_iq_set()
            empty.enable("block")
            for request, condition in (
                (empty.send(timeout=TIMEOUT), "bad-request"),
                (blocking.block("juliet@localhost", timeout=TIMEOUT), "not-acceptable"),
                (blocking.block("a@b@c", timeout=TIMEOUT), "jid-malformed"),
                (blocking.block(["a@x", "b@x", "c@x"], timeout=TIMEOUT), "not-acceptable"),
            ):
                with pytest.raises(IqError) as refused:
                    await request
                assert _condition(refused.value.iq) == condition
            await blocking.block(["a@x", "b@x"], timeout=TIMEOUT)  # at the limit: fine
            assert await _blocklist(juliet) == {"a@x", "b@x"}


async def test_pushes_reach_resources_that_asked_for_the_list(xmpp_server: RunningServer) -> None:
    await xmpp_server.add_user("juliet")
    async with (
        blocking_client(xmpp_server, "juliet@localhost/balcony") as balcony,
        blocking_client(xmpp_server, "juliet@localhost/chamber") as chamber,
    ):
        await _blocklist(chamber)  # the chamber asks for the list: it gets pushes from now on

        await balcony.plugin["xep_0191"].block(["romeo@localhost", "paris@localhost"])
        assert await _next(chamber.pushes) == ("block", ["paris@localhost", "romeo@localhost"])  # type: ignore[attr-defined]

        await _blocklist(balcony)
        await chamber.plugin["xep_0191"].unblock("paris@localhost", timeout=TIMEOUT)
        for resource in (balcony, chamber):
            assert await _next(resource.pushes) == ("unblock", ["paris@localhost"])  # type: ignore[attr-defined]

        await _unblock_all(balcony)
        for resource in (balcony, chamber):
            assert await _next(resource.pushes) == ("unblock", [])  # type: ignore[attr-defined]
        assert balcony.pushes.empty()  # type: ignore[attr-defined]  # no push before it asked


async def test_a_blocked_contact_disappears_both_ways(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    await _befriend(xmpp_server, romeo_jid, juliet_jid)
    async with (
        blocking_client(xmpp_server, romeo_jid) as romeo,
        blocking_client(xmpp_server, juliet_jid) as juliet,
    ):
        romeo_full, juliet_full = romeo.boundjid.full, juliet.boundjid.full
        await juliet.next_presence(from_=romeo_full, type_="available")
        await romeo.next_presence(from_=juliet_full, type_="available")

        await juliet.plugin["xep_0191"].block(romeo_jid, timeout=TIMEOUT)

        # each now sees the other offline
        await juliet.next_presence(from_=romeo_full, type_="unavailable")
        await romeo.next_presence(from_=juliet_full, type_="unavailable")

        # Romeo's message bounces as if Juliet were away; nothing reaches her
        romeo.send_message(mto=juliet_jid, mbody="Wherefore art thou?", mtype="chat")
        bounced = await _next(romeo.errors)  # type: ignore[attr-defined]
        assert _condition(bounced) == "service-unavailable"
        assert not _is_blocked_error(bounced)  # he is not told he is blocked
        romeo.send_message(mto=juliet_full, mbody="to your resource", mtype="chat")
        assert _condition(await _next(romeo.errors)) == "service-unavailable"  # type: ignore[attr-defined]
        with pytest.raises(IqError) as refused:
            await romeo.plugin["xep_0054"].get_vcard(juliet_jid, timeout=TIMEOUT)
        assert _condition(refused.value.iq) == "service-unavailable"
        romeo.send_presence(pstatus="under the balcony")

        # what Juliet sends him is refused with <blocked/>
        juliet.send_message(mto=romeo_jid, mbody="Deny thy father", mtype="chat")
        refused_message = await _next(juliet.errors)  # type: ignore[attr-defined]
        assert _condition(refused_message) == "not-acceptable"
        assert _is_blocked_error(refused_message)
        with pytest.raises(IqError) as refused:
            await juliet.plugin["xep_0054"].get_vcard(romeo_jid, timeout=TIMEOUT)
        assert _condition(refused.value.iq) == "not-acceptable"
        assert _is_blocked_error(refused.value.iq)

        # unblocking brings each one's presence back to the other
        await juliet.plugin["xep_0191"].unblock(romeo_jid, timeout=TIMEOUT)
        back = await juliet.next_presence(from_=romeo_full, type_="available")
        assert back["status"] == "under the balcony"
        await romeo.next_presence(from_=juliet_full, type_="available")

        romeo.send_message(mto=juliet_jid, mbody="I am here", mtype="chat")
        first = await _next_chat(juliet)
        assert first["body"] == "I am here", "a message sent while blocked arrived"
        leftover = [juliet.messages.get_nowait() for _ in range(juliet.messages.qsize())]
        assert all(m["type"] == "error" for m in leftover)


async def test_blocking_holds_while_the_blocker_is_offline_and_across_restarts(
    server_settings: Settings,
) -> None:
    async with running_server(server_settings) as server:
        romeo_jid = await server.add_user("romeo")
        juliet_jid = await server.add_user("juliet")
        async with blocking_client(server, juliet_jid, presence=False) as juliet:
            await juliet.plugin["xep_0191"].block(romeo_jid, timeout=TIMEOUT)
        async with blocking_client(server, romeo_jid) as romeo:
            romeo.send_message(mto=juliet_jid, mbody="are you there?", mtype="chat")
            assert _condition(await _next(romeo.errors)) == "service-unavailable"  # type: ignore[attr-defined]
            romeo.send_presence_subscription(pto=juliet_jid)
        assert await server.server.storage.offline.count(juliet_jid) == 0
        juliet_roster = await server.server.storage.roster.get_roster(juliet_jid)
        assert juliet_roster == [], "the blocked subscription request was kept"

    async with running_server(server_settings) as restarted:
        async with blocking_client(restarted, romeo_jid) as romeo:
            romeo.send_message(mto=juliet_jid, mbody="and now?", mtype="chat")
            assert _condition(await _next(romeo.errors)) == "service-unavailable"  # type: ignore[attr-defined]
        async with blocking_client(restarted, juliet_jid) as juliet:
            assert await _blocklist(juliet) == {romeo_jid}
            assert juliet.messages.empty()  # no offline message either
        assert await restarted.server.storage.offline.count(juliet_jid) == 0


async def test_a_domain_item_blocks_everyone_there(xmpp_server: RunningServer) -> None:
    romeo_jid = await xmpp_server.add_user("romeo")
    juliet_jid = await xmpp_server.add_user("juliet")
    async with (
        blocking_client(xmpp_server, romeo_jid) as romeo,
        blocking_client(xmpp_server, juliet_jid) as juliet,
    ):
        await juliet.plugin["xep_0191"].block(xmpp_server.domain, timeout=TIMEOUT)
        romeo.send_message(mto=juliet_jid, mbody="hello", mtype="chat")
        assert _condition(await _next(romeo.errors)) == "service-unavailable"  # type: ignore[attr-defined]
        # the server itself still answers her (she can unblock)
        await juliet.plugin["xep_0030"].get_info(jid=xmpp_server.domain, timeout=TIMEOUT)
        await juliet.plugin["xep_0191"].unblock(xmpp_server.domain, timeout=TIMEOUT)
        romeo.send_message(mto=juliet_jid, mbody="hello again", mtype="chat")
        assert (await _next_chat(juliet))["body"] == "hello again"


async def test_server_announces_blocking_vcard_and_register(xmpp_server: RunningServer) -> None:
    jid = await xmpp_server.add_user("romeo")
    async with connected(xmpp_server, jid, presence=False) as romeo:
        info = await romeo.plugin["xep_0030"].get_info(jid=xmpp_server.domain, timeout=TIMEOUT)
        features = set(info["disco_info"]["features"])
        assert {"urn:xmpp:blocking", "vcard-temp", "jabber:iq:register"} <= features
