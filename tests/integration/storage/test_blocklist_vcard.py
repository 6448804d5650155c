"""BlocklistRepository and VCardRepository on both backends."""

from __future__ import annotations

import asyncio

import pytest

from xmpp_video.storage.sql import Storage

from .factories import DOMAIN, both_creds

pytestmark = pytest.mark.asyncio

ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"
LONG_FULL_JID = f"{'l' * 1023}@{'d' * 1023}/{'r' * 1023}"


async def test_block_list_unblock(storage: Storage) -> None:
    assert await storage.blocklist.get(ALICE) == []

    await storage.blocklist.add(ALICE, ["romeo@montague.net", "montague.net", "iago@x/res"])
    await storage.blocklist.add(ALICE, ["romeo@montague.net", "zed@x", "zed@x"])  # idempotent
    await storage.blocklist.add(BOB, ["romeo@montague.net"])

    assert await storage.blocklist.get(ALICE) == [
        "iago@x/res",
        "montague.net",
        "romeo@montague.net",
        "zed@x",
    ]
    assert await storage.blocklist.owners() == [ALICE, BOB]

    await storage.blocklist.remove(ALICE, ["montague.net", "not-blocked@x"])
    assert await storage.blocklist.get(ALICE) == ["iago@x/res", "romeo@montague.net", "zed@x"]
    await storage.blocklist.remove(ALICE, [])
    assert len(await storage.blocklist.get(ALICE)) == 3

    await storage.blocklist.remove(ALICE, None)
    assert await storage.blocklist.get(ALICE) == []
    assert await storage.blocklist.get(BOB) == ["romeo@montague.net"]
    assert await storage.blocklist.owners() == [BOB]


async def test_concurrent_blocks_of_the_same_jid_do_not_fail(storage: Storage) -> None:
    await asyncio.gather(*(storage.blocklist.add(ALICE, ["romeo@x", "iago@x"]) for _ in range(8)))
    assert await storage.blocklist.get(ALICE) == ["iago@x", "romeo@x"]


async def test_a_full_jid_of_maximal_length_is_stored(storage: Storage) -> None:
    await storage.blocklist.add(ALICE, [LONG_FULL_JID])
    assert await storage.blocklist.get(ALICE) == [LONG_FULL_JID]


async def test_vcard_set_replace_get(storage: Storage) -> None:
    assert await storage.vcards.get(ALICE) is None

    await storage.vcards.set(ALICE, "<vCard xmlns='vcard-temp'><FN>Alice</FN></vCard>")
    await storage.vcards.set(ALICE, "<vCard xmlns='vcard-temp'><FN>Alice B.</FN></vCard>")

    assert await storage.vcards.get(ALICE) == "<vCard xmlns='vcard-temp'><FN>Alice B.</FN></vCard>"
    assert await storage.vcards.get(BOB) is None


async def test_deleting_a_user_deletes_its_blocklist_and_vcard_only(storage: Storage) -> None:
    await storage.users.add("alice", DOMAIN, both_creds(1))
    await storage.users.add("bob", DOMAIN, both_creds(2))
    for owner in (ALICE, BOB):
        await storage.blocklist.add(owner, ["romeo@x"])
        await storage.vcards.set(owner, "<vCard xmlns='vcard-temp'/>")

    assert await storage.users.delete("alice", DOMAIN)

    assert await storage.blocklist.get(ALICE) == []
    assert await storage.vcards.get(ALICE) is None
    assert await storage.blocklist.get(BOB) == ["romeo@x"]
    assert await storage.vcards.get(BOB) == "<vCard xmlns='vcard-temp'/>"
