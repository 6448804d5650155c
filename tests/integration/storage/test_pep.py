"""PepRepository (XEP-0163 nodes and items) on both backends."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from xmpp_video.storage.pep import PepItem
from xmpp_video.storage.sql import Storage

from .factories import DOMAIN, T0, both_creds

pytestmark = pytest.mark.asyncio

ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"
DEVICES = "eu.siacs.conversations.axolotl.devicelist"
OPEN = {"pubsub#access_model": "open"}


def item(item_id: str, n: int = 0) -> PepItem:
    return PepItem(item_id, f"<p xmlns='urn:x'>{n}</p>", T0 + dt.timedelta(seconds=n))


async def test_nodes_create_configure_delete(storage: Storage) -> None:
    pep = storage.pep
    assert await pep.nodes(ALICE) == []
    assert await pep.create(ALICE, "b", OPEN)
    assert not await pep.create(ALICE, "b", {"pubsub#access_model": "whitelist"})  # kept
    assert await pep.create(ALICE, "a", {})
    assert await pep.create(BOB, "a", {})
    assert [(n.node, dict(n.config)) for n in await pep.nodes(ALICE)] == [("a", {}), ("b", OPEN)]

    assert await pep.configure(ALICE, "a", {"pubsub#max_items": "max"})
    assert not await pep.configure(ALICE, "nope", {})
    assert (await pep.nodes(ALICE))[0].config == {"pubsub#max_items": "max"}

    await pep.publish(ALICE, "a", item("x"), keep=5)
    assert await pep.delete(ALICE, "a")
    assert not await pep.delete(ALICE, "a")
    assert await pep.items(ALICE, "a") == []  # items went with the node
    assert [n.node for n in await pep.nodes(ALICE)] == ["b"]
    assert [n.node for n in await pep.nodes(BOB)] == ["a"]


async def test_publish_replaces_orders_and_trims(storage: Storage) -> None:
    pep = storage.pep
    await pep.publish(ALICE, DEVICES, item("1", 1), keep=3, create=OPEN)
    await pep.publish(ALICE, DEVICES, item("2", 2), keep=3)
    await pep.publish(ALICE, DEVICES, item("3", 3), keep=3)
    await pep.publish(ALICE, DEVICES, item("1", 4), keep=3)  # same id: replaced, now newest
    stored = await pep.items(ALICE, DEVICES)
    assert [(i.item_id, i.payload) for i in stored] == [
        ("2", "<p xmlns='urn:x'>2</p>"),
        ("3", "<p xmlns='urn:x'>3</p>"),
        ("1", "<p xmlns='urn:x'>4</p>"),
    ]
    assert stored[-1].published_at == T0 + dt.timedelta(seconds=4)
    assert (await pep.nodes(ALICE))[0].config == OPEN

    await pep.publish(ALICE, DEVICES, item("4", 5), keep=2)  # trims to the newest two
    assert [i.item_id for i in await pep.items(ALICE, DEVICES)] == ["1", "4"]
    assert [i.item_id for i in await pep.items(ALICE, DEVICES, last=1)] == ["4"]
    assert [i.item_id for i in await pep.items(ALICE, DEVICES, ids=["4", "9", "1"])] == ["1", "4"]
    assert await pep.items(ALICE, DEVICES, ids=[]) == []

    await pep.publish(ALICE, DEVICES, item("5", 6), keep=0)  # not persisted: nothing kept
    assert await pep.items(ALICE, DEVICES) == []


async def test_retract_purge_and_account_deletion(storage: Storage) -> None:
    pep = storage.pep
    for n in range(3):
        await pep.publish(ALICE, "n", item(str(n), n), keep=10, create={})
    await pep.publish(BOB, "n", item("b"), keep=10, create={})
    assert await pep.retract(ALICE, "n", "1")
    assert not await pep.retract(ALICE, "n", "1")
    assert [i.item_id for i in await pep.items(ALICE, "n")] == ["0", "2"]
    assert await pep.purge(ALICE, "n") == 2
    assert await pep.items(ALICE, "n") == []
    assert [n.node for n in await pep.nodes(ALICE)] == ["n"]  # purge keeps the node

    await pep.publish(ALICE, "n", item("again"), keep=10)
    await storage.users.add("alice", DOMAIN, both_creds())
    assert await storage.users.delete("alice", DOMAIN)
    assert await pep.nodes(ALICE) == []
    assert await pep.items(ALICE, "n") == []
    assert [i.item_id for i in await pep.items(BOB, "n")] == ["b"]
    await pep.delete_owner(BOB)
    assert await pep.nodes(BOB) == []


async def test_concurrent_first_publishes_create_the_node_once(storage: Storage) -> None:
    await asyncio.gather(
        *(storage.pep.publish(ALICE, "x", item(f"i{n}", n), keep=20, create={}) for n in range(8))
    )
    assert len(await storage.pep.nodes(ALICE)) == 1
    assert len(await storage.pep.items(ALICE, "x")) == 8
