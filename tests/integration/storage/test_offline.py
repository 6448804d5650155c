"""OfflineRepository on both backends: order, cap, atomic pop."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import select

from xmpp_video.storage.engine import session_factory
from xmpp_video.storage.models import OfflineMessage
from xmpp_video.storage.sql import Storage

from .factories import DOMAIN

pytestmark = pytest.mark.asyncio

ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"


def message(number: int) -> str:
    return f"<message to='{ALICE}' id='m{number}'><body>n°{number} &amp; ✓</body></message>"


async def test_pop_all_returns_messages_in_arrival_order_and_deletes_them(
    storage: Storage,
) -> None:
    expected = [message(n) for n in range(30)]
    for xml in expected:
        assert await storage.offline.store(ALICE, xml, limit=100)
    assert await storage.offline.count(ALICE) == 30

    assert await storage.offline.pop_all(ALICE) == expected

    assert await storage.offline.count(ALICE) == 0
    assert await storage.offline.pop_all(ALICE) == []


async def test_created_at_is_aware_utc(storage: Storage) -> None:
    before = dt.datetime.now(dt.UTC)
    await storage.offline.store(ALICE, message(1), limit=10)
    async with session_factory(storage.engine)() as session:
        row = (await session.scalars(select(OfflineMessage))).one()
    assert row.created_at.tzinfo is dt.UTC
    assert before <= row.created_at <= dt.datetime.now(dt.UTC)


async def test_owners_are_separate(storage: Storage) -> None:
    await storage.offline.store(ALICE, message(1), limit=10)
    await storage.offline.store(BOB, message(2), limit=10)
    await storage.offline.store(ALICE, message(3), limit=10)

    assert await storage.offline.pop_all(ALICE) == [message(1), message(3)]
    assert await storage.offline.count(BOB) == 1
    assert await storage.offline.pop_all(BOB) == [message(2)]


async def test_order_continues_after_a_pop(storage: Storage) -> None:
    await storage.offline.store(ALICE, message(1), limit=10)
    await storage.offline.pop_all(ALICE)
    for n in (2, 3, 4):
        await storage.offline.store(ALICE, message(n), limit=10)
    assert await storage.offline.pop_all(ALICE) == [message(2), message(3), message(4)]


async def test_store_refuses_at_the_limit(storage: Storage) -> None:
    assert await storage.offline.store(ALICE, message(1), limit=3)
    assert await storage.offline.store(ALICE, message(2), limit=3)
    assert await storage.offline.store(ALICE, message(3), limit=3)

    assert not await storage.offline.store(ALICE, message(4), limit=3)

    assert await storage.offline.count(ALICE) == 3
    assert await storage.offline.store(BOB, message(5), limit=3)  # the cap is per user
    assert await storage.offline.pop_all(ALICE) == [message(1), message(2), message(3)]
    assert await storage.offline.store(ALICE, message(6), limit=3)


async def test_a_lower_limit_applies_to_what_is_already_stored(storage: Storage) -> None:
    for n in range(3):
        await storage.offline.store(ALICE, message(n), limit=10)
    assert not await storage.offline.store(ALICE, message(9), limit=2)
    assert await storage.offline.count(ALICE) == 3


async def test_limit_zero_stores_nothing(storage: Storage) -> None:
    assert not await storage.offline.store(ALICE, message(1), limit=0)
    assert await storage.offline.count(ALICE) == 0


async def test_concurrent_stores_never_exceed_the_limit(storage: Storage) -> None:
    results = await asyncio.gather(
        *(storage.offline.store(ALICE, message(n), limit=5) for n in range(20))
    )
    assert results.count(True) == 5
    assert await storage.offline.count(ALICE) == 5


async def test_concurrent_pops_return_each_message_once(storage: Storage) -> None:
    expected = [message(n) for n in range(20)]
    for xml in expected:
        await storage.offline.store(ALICE, xml, limit=100)

    batches = await asyncio.gather(*(storage.offline.pop_all(ALICE) for _ in range(4)))

    delivered = [xml for batch in batches for xml in batch]
    assert sorted(delivered) == sorted(expected)
    for batch in batches:
        assert batch == [xml for xml in expected if xml in batch]  # each batch in order
