"""ArchiveRepository on both backends: order, filters, paging, counts, unknown ids, purge."""

from __future__ import annotations

import datetime as dt

import pytest

from xmpp_video.storage.repositories import ArchivedMessage, ArchiveIdNotFound
from xmpp_video.storage.sql import Storage

from .factories import DOMAIN, T0, both_creds

pytestmark = pytest.mark.asyncio

ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"
CAROL = f"carol@{DOMAIN}"


def entry(
    number: int,
    owner: str = ALICE,
    with_: str = BOB,
    resource: str | None = "phone",
    *,
    outgoing: bool = False,
    minutes: int | None = None,
) -> ArchivedMessage:
    return ArchivedMessage(
        archive_id=f"{owner.partition('@')[0]}-{number:04d}",
        owner=owner,
        with_jid=with_,
        with_resource=resource,
        stamp=T0 + dt.timedelta(minutes=number if minutes is None else minutes),
        outgoing=outgoing,
        stanza_xml=f"<message xmlns='jabber:client'><body>n°{number} &amp; ✓</body></message>",
    )


def ids(messages: tuple[ArchivedMessage, ...]) -> list[str]:
    return [message.archive_id for message in messages]


async def test_messages_come_back_whole_in_archive_order(storage: Storage) -> None:
    # archive order is insertion order, not the stamp or the id's spelling
    batch = [entry(3, minutes=1), entry(1, minutes=1), entry(2, outgoing=True, resource=None)]
    await storage.archive.append(batch)

    page = await storage.archive.query(ALICE, limit=10)

    assert page.items == tuple(batch)
    assert page.complete
    assert (page.count, page.first_index) == (3, 0)
    assert (page.first, page.last) == ("alice-0003", "alice-0002")
    assert page.items[0].stamp.tzinfo is dt.UTC


async def test_append_is_idempotent_and_batches_keep_their_order(storage: Storage) -> None:
    await storage.archive.append([entry(1), entry(2)])
    await storage.archive.append([entry(2), entry(3)])  # a retried batch: 2 is not duplicated
    await storage.archive.append([])

    page = await storage.archive.query(ALICE, limit=10)

    assert ids(page.items) == ["alice-0001", "alice-0002", "alice-0003"]


async def test_archives_are_separate(storage: Storage) -> None:
    await storage.archive.append([entry(1), entry(1, owner=BOB, with_=ALICE, outgoing=True)])

    alice = await storage.archive.query(ALICE, limit=10)
    bob = await storage.archive.query(BOB, limit=10)
    carol = await storage.archive.query(CAROL, limit=10)

    assert ids(alice.items) == ["alice-0001"]
    assert ids(bob.items) == ["bob-0001"]
    assert carol.items == ()
    assert (carol.complete, carol.count, carol.first_index) == (True, 0, None)
    assert (carol.first, carol.last) == (None, None)
    with pytest.raises(ArchiveIdNotFound) as raised:  # another archive's id is unknown here
        await storage.archive.query(ALICE, page_after="bob-0001", limit=10)
    assert raised.value.archive_id == "bob-0001"


async def test_with_filters_by_bare_or_full_jid(storage: Storage) -> None:
    await storage.archive.append(
        [
            entry(1, resource="phone"),
            entry(2, with_=CAROL, resource="laptop"),
            entry(3, resource="laptop"),
            entry(4, resource=None, outgoing=True),
            entry(5, with_=ALICE, resource=None, outgoing=True),  # a note to self
        ]
    )
    archive = storage.archive

    assert ids((await archive.query(ALICE, with_=BOB, limit=10)).items) == [
        "alice-0001",
        "alice-0003",
        "alice-0004",
    ]
    only_laptop = await archive.query(ALICE, with_=f"{BOB}/laptop", limit=10)
    assert ids(only_laptop.items) == ["alice-0003"]
    assert only_laptop.count == 1
    assert ids((await archive.query(ALICE, with_=ALICE, limit=10)).items) == ["alice-0005"]
    assert (await archive.query(ALICE, with_=f"dave@{DOMAIN}", limit=10)).items == ()


async def test_start_and_end_are_inclusive(storage: Storage) -> None:
    await storage.archive.append([entry(n) for n in range(1, 6)])

    page = await storage.archive.query(
        ALICE, start=T0 + dt.timedelta(minutes=2), end=T0 + dt.timedelta(minutes=4), limit=10
    )

    assert ids(page.items) == ["alice-0002", "alice-0003", "alice-0004"]
    assert page.count == 3
    # an aware bound in another time zone means the same instant
    east = dt.timezone(dt.timedelta(hours=2))
    later = await storage.archive.query(
        ALICE, start=(T0 + dt.timedelta(minutes=5)).astimezone(east), limit=10
    )
    assert ids(later.items) == ["alice-0005"]
    with pytest.raises(ValueError, match="timezone-aware"):
        await storage.archive.query(ALICE, end=dt.datetime(2025, 1, 1), limit=10)


async def test_paging_forward_with_after(storage: Storage) -> None:
    await storage.archive.append([entry(n) for n in range(1, 8)])
    archive = storage.archive

    first = await archive.query(ALICE, limit=3)
    second = await archive.query(ALICE, page_after=first.last, limit=3)
    third = await archive.query(ALICE, page_after=second.last, limit=3)

    assert ids(first.items) == ["alice-0001", "alice-0002", "alice-0003"]
    assert (first.complete, first.count, first.first_index) == (False, 7, 0)
    assert ids(second.items) == ["alice-0004", "alice-0005", "alice-0006"]
    assert (second.complete, second.first_index) == (False, 3)
    assert ids(third.items) == ["alice-0007"]
    assert (third.complete, third.count, third.first_index) == (True, 7, 6)
    # exactly at the end: a full page that is also the last one is complete
    exact = await archive.query(ALICE, page_after="alice-0004", limit=3)
    assert exact.complete


async def test_paging_backward_from_the_end(storage: Storage) -> None:
    await storage.archive.append([entry(n) for n in range(1, 8)])
    archive = storage.archive

    last = await archive.query(ALICE, limit=3, last=True)
    before = await archive.query(ALICE, page_before=last.first, limit=3, last=True)
    oldest = await archive.query(ALICE, page_before=before.first, limit=3, last=True)

    # pages go backwards; inside each page, oldest first
    assert ids(last.items) == ["alice-0005", "alice-0006", "alice-0007"]
    assert (last.complete, last.count, last.first_index) == (False, 7, 4)
    assert ids(before.items) == ["alice-0002", "alice-0003", "alice-0004"]
    assert (before.complete, before.first_index) == (False, 1)
    assert ids(oldest.items) == ["alice-0001"]
    assert (oldest.complete, oldest.first_index) == (True, 0)


async def test_id_bounds_restrict_the_set_and_the_count(storage: Storage) -> None:
    await storage.archive.append([entry(n) for n in range(1, 8)])

    page = await storage.archive.query(
        ALICE, after_id="alice-0002", before_id="alice-0007", limit=2
    )
    rest = await storage.archive.query(
        ALICE, after_id="alice-0002", before_id="alice-0007", page_after=page.last, limit=2
    )

    assert ids(page.items) == ["alice-0003", "alice-0004"]
    assert (page.complete, page.count, page.first_index) == (False, 4, 0)
    assert ids(rest.items) == ["alice-0005", "alice-0006"]
    assert (rest.complete, rest.count, rest.first_index) == (True, 4, 2)


async def test_ids_fetch_those_messages_in_archive_order(storage: Storage) -> None:
    await storage.archive.append([entry(n) for n in range(1, 6)])

    page = await storage.archive.query(ALICE, ids=["alice-0004", "alice-0002"], limit=10)

    assert ids(page.items) == ["alice-0002", "alice-0004"]
    assert page.count == 2
    with pytest.raises(ArchiveIdNotFound) as raised:
        await storage.archive.query(ALICE, ids=["alice-0001", "nope"], limit=10)
    assert raised.value.archive_id == "nope"


@pytest.mark.parametrize(
    "field", ["after_id", "before_id", "page_after", "page_before"], ids=lambda f: f
)
async def test_unknown_ids_are_refused(storage: Storage, field: str) -> None:
    await storage.archive.append([entry(1)])
    with pytest.raises(ArchiveIdNotFound):
        await storage.archive.query(ALICE, limit=10, **{field: "missing"})  # type: ignore[arg-type]


async def test_limit_zero_counts_only_and_counts_can_be_skipped(storage: Storage) -> None:
    await storage.archive.append([entry(n) for n in range(1, 4)])

    counted = await storage.archive.query(ALICE, limit=0)
    uncounted = await storage.archive.query(ALICE, limit=2, count=False)

    assert (counted.items, counted.complete, counted.count) == ((), False, 3)
    assert ids(uncounted.items) == ["alice-0001", "alice-0002"]
    assert (uncounted.count, uncounted.first_index) == (None, None)
    assert (await storage.archive.query(CAROL, limit=0)).complete


async def test_bounds(storage: Storage) -> None:
    assert await storage.archive.bounds(ALICE) is None
    await storage.archive.append([entry(n) for n in range(1, 4)])

    bounds = await storage.archive.bounds(ALICE)

    assert bounds is not None
    assert (bounds[0].archive_id, bounds[1].archive_id) == ("alice-0001", "alice-0003")


async def test_purge_and_account_deletion_remove_only_that_archive(storage: Storage) -> None:
    await storage.archive.append(
        [entry(1), entry(2), entry(1, owner=BOB, with_=ALICE), entry(1, owner=CAROL)]
    )

    assert await storage.archive.purge(ALICE) == 2
    assert await storage.archive.purge(ALICE) == 0
    assert (await storage.archive.query(ALICE, limit=10)).items == ()

    await storage.users.add("bob", DOMAIN, both_creds())
    assert await storage.users.delete("bob", DOMAIN)
    assert (await storage.archive.query(BOB, limit=10)).items == ()
    assert ids((await storage.archive.query(CAROL, limit=10)).items) == ["carol-0001"]


async def test_a_naive_stamp_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ArchivedMessage("x", ALICE, BOB, None, dt.datetime(2025, 1, 1), False, "<m/>")
