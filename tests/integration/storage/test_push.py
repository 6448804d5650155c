"""PushRepository (XEP-0357 registrations) on both backends, and its migration."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.storage.test_migrations import table_names
from xmpp_video.storage import migrate
from xmpp_video.storage.push import PushRegistration
from xmpp_video.storage.sql import Storage

from .factories import DOMAIN, both_creds

pytestmark = pytest.mark.asyncio

ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"
APP = "push.app.example"
SECRET = (("secret", ("s3cr3t",)), ("endpoint", ("a", "b")))


async def test_save_list_replace_and_remove(storage: Storage) -> None:
    push = storage.push
    assert await push.list(ALICE) == []
    assert await push.owners() == []

    await push.save(PushRegistration(ALICE, "phone", APP, "node-1", SECRET))
    await push.save(PushRegistration(ALICE, "tablet", APP, "node-2"))
    await push.save(PushRegistration(ALICE, "phone", "other@app.example/x", "node-1"))
    await push.save(PushRegistration(BOB, "phone", APP, "node-1"))

    listed = await push.list(ALICE)
    assert [(r.resource, r.service, r.node, r.options) for r in listed] == [
        ("phone", APP, "node-1", SECRET),
        ("tablet", APP, "node-2", ()),
        ("phone", "other@app.example/x", "node-1", ()),
    ]
    assert all(r.enabled_at is not None and r.enabled_at.tzinfo is not None for r in listed)
    assert listed[0].device == f"{ALICE}/phone"
    assert await push.owners() == [ALICE, BOB]

    # the same (service, node) again: resource and options replaced, no second row
    await push.save(PushRegistration(ALICE, "phone2", APP, "node-1", (("secret", ("new",)),)))
    first = (await push.list(ALICE))[0]
    assert (first.resource, first.options) == ("phone2", (("secret", ("new",)),))
    assert len(await push.list(ALICE)) == 3

    assert await push.remove(ALICE, APP, "node-1") == 1
    assert await push.remove(ALICE, APP, "nope") == 0
    assert [r.node for r in await push.list(ALICE)] == ["node-2", "node-1"]
    assert await push.remove(ALICE, APP) == 1  # every node of that service
    assert await push.remove(ALICE) == 1  # everything left
    assert await push.list(ALICE) == []
    assert await push.owners() == [BOB]


async def test_concurrent_enables_of_one_registration_never_fail(storage: Storage) -> None:
    await asyncio.gather(
        *(
            storage.push.save(PushRegistration(ALICE, f"r{i}", APP, "node", (("n", (str(i),)),)))
            for i in range(8)
        )
    )
    assert len(await storage.push.list(ALICE)) == 1


async def test_rows_go_with_the_account(storage: Storage) -> None:
    await storage.users.add("alice", DOMAIN, both_creds(1))
    await storage.users.add("bob", DOMAIN, both_creds(2))
    await storage.push.save(PushRegistration(ALICE, "phone", APP, "node"))
    await storage.push.save(PushRegistration(BOB, "phone", APP, "node"))

    assert await storage.users.delete("alice", DOMAIN)

    assert await storage.push.list(ALICE) == []
    assert len(await storage.push.list(BOB)) == 1


async def test_0006_adds_and_removes_only_push_registration(database_url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, database_url, "0005")
    before = await table_names(database_url)
    assert "push_registration" not in before

    await asyncio.to_thread(migrate.upgrade, database_url, "0006")
    assert await table_names(database_url) == before | {"push_registration"}

    await asyncio.to_thread(migrate.downgrade, database_url, "0005")
    assert await table_names(database_url) == before
    assert await asyncio.to_thread(migrate.current, database_url) == "0005"
