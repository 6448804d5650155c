"""RosterRepository on both backends."""

from __future__ import annotations

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from xmpp_video.storage.engine import session_factory
from xmpp_video.storage.models import RosterItemRow
from xmpp_video.storage.repositories import RosterItem, Subscription
from xmpp_video.storage.sql import Storage

from .factories import DOMAIN

pytestmark = pytest.mark.asyncio

ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"
CAROL = "carol@elsewhere.example"


async def test_upsert_inserts_and_get_item_reads_every_field(storage: Storage) -> None:
    item = RosterItem(
        owner=ALICE,
        contact=BOB,
        name="Bob 🎥",
        subscription=Subscription.TO,
        ask_out=True,
        pending_in=True,
        approved=True,
        groups=("Friends", "Ünïcode", ""),
    )
    await storage.roster.upsert(item)

    got = await storage.roster.get_item(ALICE, BOB)
    assert got == item
    assert got is not None
    assert isinstance(got.subscription, Subscription)
    assert isinstance(got.groups, tuple)


async def test_get_item_missing(storage: Storage) -> None:
    await storage.roster.upsert(RosterItem(ALICE, BOB))
    assert await storage.roster.get_item(BOB, ALICE) is None
    assert await storage.roster.get_item(ALICE, CAROL) is None


async def test_upsert_replaces_every_field(storage: Storage) -> None:
    await storage.roster.upsert(
        RosterItem(ALICE, BOB, name="Bob", ask_out=True, approved=True, groups=("A", "B"))
    )
    replacement = RosterItem(ALICE, BOB, name=None, subscription=Subscription.BOTH, groups=())

    await storage.roster.upsert(replacement)

    assert await storage.roster.get_item(ALICE, BOB) == replacement
    assert await storage.roster.get_roster(ALICE) == [replacement]


async def test_upsert_accepts_plain_string_subscription(storage: Storage) -> None:
    await storage.roster.upsert(RosterItem(ALICE, BOB, subscription="from"))  # type: ignore[arg-type]
    got = await storage.roster.get_item(ALICE, BOB)
    assert got is not None
    assert got.subscription is Subscription.FROM


async def test_upsert_rejects_unknown_subscription(storage: Storage) -> None:
    with pytest.raises(ValueError, match="pending"):
        await storage.roster.upsert(RosterItem(ALICE, BOB, subscription="pending"))  # type: ignore[arg-type]
    assert await storage.roster.get_item(ALICE, BOB) is None


async def test_get_roster_is_per_owner_and_sorted(storage: Storage) -> None:
    for contact in (CAROL, BOB, f"aaron@{DOMAIN}"):
        await storage.roster.upsert(RosterItem(ALICE, contact))
    await storage.roster.upsert(RosterItem(BOB, ALICE))

    assert [item.contact for item in await storage.roster.get_roster(ALICE)] == [
        f"aaron@{DOMAIN}",
        BOB,
        CAROL,
    ]
    assert await storage.roster.get_roster(BOB) == [RosterItem(BOB, ALICE)]
    assert await storage.roster.get_roster(CAROL) == []


async def test_remove(storage: Storage) -> None:
    await storage.roster.upsert(RosterItem(ALICE, BOB))
    await storage.roster.upsert(RosterItem(ALICE, CAROL))

    assert await storage.roster.remove(ALICE, BOB)
    assert not await storage.roster.remove(ALICE, BOB)
    assert not await storage.roster.remove(BOB, ALICE)
    assert await storage.roster.get_roster(ALICE) == [RosterItem(ALICE, CAROL)]


def _row(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "owner": ALICE,
        "contact": BOB,
        "name": None,
        "subscription": "none",
        "ask_out": False,
        "pending_in": False,
        "approved": False,
        "groups": [],
    }
    values.update(overrides)
    return values


async def test_unique_owner_contact_is_enforced_by_the_schema(storage: Storage) -> None:
    sessions = session_factory(storage.engine)
    async with sessions.begin() as session:
        await session.execute(insert(RosterItemRow).values(**_row()))
    with pytest.raises(IntegrityError):
        async with sessions.begin() as session:
            await session.execute(insert(RosterItemRow).values(**_row(name="again")))


async def test_subscription_check_constraint(storage: Storage) -> None:
    with pytest.raises(IntegrityError):
        async with session_factory(storage.engine).begin() as session:
            await session.execute(insert(RosterItemRow).values(**_row(subscription="nope")))
