"""UserRepository on both backends."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from xmpp_video.storage.engine import session_factory
from xmpp_video.storage.models import User
from xmpp_video.storage.repositories import RosterItem, ScramHash, Subscription
from xmpp_video.storage.sql import Storage

from .factories import DOMAIN, T0, both_creds, scram

pytestmark = pytest.mark.asyncio

ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"


async def test_add_then_exists_and_get_scram(storage: Storage) -> None:
    creds = both_creds(1)
    assert await storage.users.add("alice", DOMAIN, creds)

    assert await storage.users.exists("alice", DOMAIN)
    assert not await storage.users.exists("alice", "other.example")
    assert not await storage.users.exists("bob", DOMAIN)
    assert await storage.users.get_scram("alice", DOMAIN, "SHA-1") == creds[ScramHash.SHA1]
    assert await storage.users.get_scram("alice", DOMAIN, "SHA-256") == creds[ScramHash.SHA256]
    assert await storage.users.get_scram("bob", DOMAIN, "SHA-256") is None


async def test_add_existing_user_returns_false_and_keeps_keys(storage: Storage) -> None:
    assert await storage.users.add("alice", DOMAIN, both_creds(1))
    assert not await storage.users.add("alice", DOMAIN, both_creds(50))

    assert await storage.users.count() == 1
    assert await storage.users.get_scram("alice", DOMAIN, "SHA-1") == scram(1)


async def test_same_username_in_two_domains(storage: Storage) -> None:
    assert await storage.users.add("alice", DOMAIN, both_creds(1))
    assert await storage.users.add("alice", "other.example", both_creds(2))
    assert await storage.users.count() == 2


async def test_unique_username_domain_is_enforced_by_the_schema(storage: Storage) -> None:
    values = {"username": "alice", "domain": DOMAIN, "created_at": T0}
    async with session_factory(storage.engine).begin() as session:
        await session.execute(insert(User).values(**values))
    with pytest.raises(IntegrityError):
        async with session_factory(storage.engine).begin() as session:
            await session.execute(insert(User).values(**values))


async def test_only_one_hash(storage: Storage) -> None:
    assert await storage.users.add("alice", DOMAIN, {"SHA-256": scram(7)})
    assert await storage.users.get_scram("alice", DOMAIN, "SHA-256") == scram(7)
    assert await storage.users.get_scram("alice", DOMAIN, "SHA-1") is None


async def test_unknown_hash_name_is_a_value_error(storage: Storage) -> None:
    with pytest.raises(ValueError, match="SHA-512"):
        await storage.users.add("alice", DOMAIN, {"SHA-512": scram(1)})
    assert not await storage.users.exists("alice", DOMAIN)
    with pytest.raises(ValueError, match="MD5"):
        await storage.users.get_scram("alice", DOMAIN, "MD5")


async def test_set_password_creds_replaces_all_keys(storage: Storage) -> None:
    await storage.users.add("alice", DOMAIN, both_creds(1))

    assert await storage.users.set_password_creds("alice", DOMAIN, {"SHA-1": scram(90)})

    assert await storage.users.get_scram("alice", DOMAIN, "SHA-1") == scram(90)
    assert await storage.users.get_scram("alice", DOMAIN, "SHA-256") is None
    assert await storage.users.set_password_creds("alice", DOMAIN, both_creds(3))
    assert await storage.users.get_scram("alice", DOMAIN, "SHA-256") == both_creds(3)["SHA-256"]


async def test_set_password_creds_of_unknown_user(storage: Storage) -> None:
    assert not await storage.users.set_password_creds("ghost", DOMAIN, both_creds(1))
    assert not await storage.users.exists("ghost", DOMAIN)


async def test_delete_removes_own_roster_and_offline_but_not_others_rosters(
    storage: Storage,
) -> None:
    await storage.users.add("alice", DOMAIN, both_creds(1))
    await storage.users.add("bob", DOMAIN, both_creds(2))
    await storage.roster.upsert(RosterItem(ALICE, BOB, subscription=Subscription.BOTH))
    await storage.roster.upsert(RosterItem(BOB, ALICE, subscription=Subscription.BOTH))
    await storage.offline.store(ALICE, "<message/>", limit=10)
    await storage.offline.store(BOB, "<message/>", limit=10)

    assert await storage.users.delete("alice", DOMAIN)

    assert not await storage.users.exists("alice", DOMAIN)
    assert await storage.users.get_scram("alice", DOMAIN, "SHA-1") is None
    assert await storage.roster.get_roster(ALICE) == []
    assert await storage.offline.count(ALICE) == 0
    # Documented: other users' items about the deleted JID are the caller's business.
    assert await storage.roster.get_roster(BOB) == [
        RosterItem(BOB, ALICE, subscription=Subscription.BOTH)
    ]
    assert await storage.offline.count(BOB) == 1
    assert await storage.users.exists("bob", DOMAIN)


async def test_delete_unknown_user(storage: Storage) -> None:
    await storage.roster.upsert(RosterItem(ALICE, BOB))
    assert not await storage.users.delete("alice", DOMAIN)
    assert await storage.roster.get_item(ALICE, BOB) is not None


async def test_list_and_count(storage: Storage) -> None:
    for username, domain in [
        ("zoe", DOMAIN),
        ("a.b", DOMAIN),
        ("a", DOMAIN),
        ("bob", "b.example"),
        ("éva", DOMAIN),
    ]:
        assert await storage.users.add(username, domain, both_creds(1))

    everyone = await storage.users.list()
    assert everyone == sorted(everyone)
    assert everyone == [
        "a.b@example.org",
        "a@example.org",
        "bob@b.example",
        "zoe@example.org",
        "éva@example.org",
    ]
    assert await storage.users.list(DOMAIN) == [
        "a.b@example.org",
        "a@example.org",
        "zoe@example.org",
        "éva@example.org",
    ]
    assert await storage.users.list("nowhere.example") == []
    assert await storage.users.count() == 5
    assert await storage.users.count(DOMAIN) == 4
    assert await storage.users.count("nowhere.example") == 0


async def test_created_at_is_aware_utc(storage: Storage) -> None:
    before = dt.datetime.now(dt.UTC)
    await storage.users.add("alice", DOMAIN, both_creds(1))
    async with session_factory(storage.engine)() as session:
        user = (await session.scalars(select(User).where(User.username == "alice"))).one()
    assert user.created_at.tzinfo is dt.UTC
    assert before <= user.created_at <= dt.datetime.now(dt.UTC)


async def test_last_login(storage: Storage) -> None:
    await storage.users.add("alice", DOMAIN, both_creds(1))
    assert await storage.users.last_login("alice", DOMAIN) is None

    paris = dt.timezone(dt.timedelta(hours=1))
    await storage.users.touch_last_login("alice", DOMAIN, T0.astimezone(paris))
    stored = await storage.users.last_login("alice", DOMAIN)
    assert stored == T0
    assert stored is not None
    assert stored.tzinfo is dt.UTC

    before = dt.datetime.now(dt.UTC)
    await storage.users.touch_last_login("alice", DOMAIN)
    now = await storage.users.last_login("alice", DOMAIN)
    assert now is not None
    assert before <= now <= dt.datetime.now(dt.UTC)


async def test_last_login_edge_cases(storage: Storage) -> None:
    await storage.users.touch_last_login("ghost", DOMAIN)  # no-op
    assert await storage.users.last_login("ghost", DOMAIN) is None
    await storage.users.add("alice", DOMAIN, both_creds(1))
    with pytest.raises(ValueError, match="timezone-aware"):
        await storage.users.touch_last_login("alice", DOMAIN, dt.datetime(2025, 1, 1))
