"""SessionRepository on both backends."""

from __future__ import annotations

import datetime as dt

import pytest

from xmpp_video.storage.repositories import Transport
from xmpp_video.storage.sql import Storage

from .factories import DOMAIN, T0, session_row

pytestmark = pytest.mark.asyncio

ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"


async def test_add_and_list(storage: Storage) -> None:
    phone = session_row(ALICE, "phone", "node-a", Transport.TCP, 5)
    web = session_row(ALICE, "web", "node-b", Transport.WEBSOCKET, -1)
    app = session_row(BOB, "json-1", "node-a", Transport.JSON, 0)
    for row in (web, app, phone):
        await storage.sessions.add(row)

    assert await storage.sessions.list_node("node-a") == [phone, app]
    assert await storage.sessions.list_node("node-b") == [web]
    assert await storage.sessions.list_node("node-c") == []
    assert await storage.sessions.list_user(ALICE) == [phone, web]
    assert await storage.sessions.list_user(f"carol@{DOMAIN}") == []
    listed = (await storage.sessions.list_user(BOB))[0]
    assert listed.transport is Transport.JSON
    assert listed.full_jid == f"{BOB}/json-1"


async def test_connected_since_round_trips_as_aware_utc(storage: Storage) -> None:
    tokyo = dt.timezone(dt.timedelta(hours=9))
    await storage.sessions.add(session_row(connected_since=T0.astimezone(tokyo)))

    (row,) = await storage.sessions.list_user(ALICE)
    assert row.connected_since == T0
    assert row.connected_since.tzinfo is dt.UTC


async def test_add_replaces_the_same_full_jid(storage: Storage) -> None:
    await storage.sessions.add(session_row(ALICE, "phone", "node-a"))
    moved = session_row(ALICE, "phone", "node-b", Transport.WEBSOCKET, 3, T0 + dt.timedelta(1))

    await storage.sessions.add(moved)

    assert await storage.sessions.list_user(ALICE) == [moved]
    assert await storage.sessions.list_node("node-a") == []


async def test_remove(storage: Storage) -> None:
    await storage.sessions.add(session_row(ALICE, "phone"))
    await storage.sessions.add(session_row(ALICE, "web"))

    assert await storage.sessions.remove(ALICE, "phone")
    assert not await storage.sessions.remove(ALICE, "phone")
    assert not await storage.sessions.remove(BOB, "web")
    assert [row.resource for row in await storage.sessions.list_user(ALICE)] == ["web"]


async def test_remove_node_deletes_only_that_node(storage: Storage) -> None:
    for n in range(5):
        await storage.sessions.add(session_row(f"u{n}@{DOMAIN}", "r", "crashed"))
    survivor = session_row(BOB, "r", "alive")
    await storage.sessions.add(survivor)

    assert await storage.sessions.remove_node("crashed") == 5

    assert await storage.sessions.list_node("crashed") == []
    assert await storage.sessions.list_node("alive") == [survivor]
    assert await storage.sessions.remove_node("crashed") == 0


async def test_set_priority(storage: Storage) -> None:
    await storage.sessions.add(session_row(ALICE, "phone", priority=0))

    assert await storage.sessions.set_priority(ALICE, "phone", -5)
    assert not await storage.sessions.set_priority(ALICE, "tablet", 1)

    (row,) = await storage.sessions.list_user(ALICE)
    assert row.priority == -5
