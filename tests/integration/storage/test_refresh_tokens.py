"""RefreshTokenRepository on both backends: one use per token, reuse detection, revocation."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from xmpp_video.storage.engine import session_factory
from xmpp_video.storage.models import RefreshTokenRow
from xmpp_video.storage.repositories import RefreshUse, UseResult
from xmpp_video.storage.sql import Storage

from .factories import T0

pytestmark = pytest.mark.asyncio

DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)


async def add(
    storage: Storage,
    jti: str,
    family: str = "fam-1",
    username: str = "alice",
    issued_at: dt.datetime = T0,
    ttl: dt.timedelta = DAY,
) -> None:
    await storage.refresh_tokens.add(jti, family, username, issued_at, issued_at + ttl)


async def row(storage: Storage, jti: str) -> RefreshTokenRow | None:
    async with session_factory(storage.engine)() as session:
        return (
            await session.scalars(select(RefreshTokenRow).where(RefreshTokenRow.jti == jti))
        ).one_or_none()


async def test_add_then_use_once(storage: Storage) -> None:
    await add(storage, "j1")

    result = await storage.refresh_tokens.use("j1", T0 + SECOND)

    assert result == UseResult(RefreshUse.OK, "alice", "fam-1")
    assert result.ok
    stored = await row(storage, "j1")
    assert stored is not None
    assert stored.used_at == T0 + SECOND
    assert stored.used_at.tzinfo is dt.UTC
    assert stored.issued_at == T0
    assert stored.expires_at == T0 + DAY
    assert stored.revoked is False


async def test_second_use_is_a_reuse(storage: Storage) -> None:
    await add(storage, "j1")
    assert (await storage.refresh_tokens.use("j1", T0)).ok

    again = await storage.refresh_tokens.use("j1", T0 + SECOND)

    assert again == UseResult(RefreshUse.REUSED, "alice", "fam-1")
    assert not again.ok
    stored = await row(storage, "j1")
    assert stored is not None
    assert stored.used_at == T0  # the first use is kept


async def test_unknown_token(storage: Storage) -> None:
    assert await storage.refresh_tokens.use("nope", T0) == UseResult(RefreshUse.UNKNOWN)


async def test_expired_token(storage: Storage) -> None:
    await add(storage, "j1", ttl=DAY)

    assert await storage.refresh_tokens.use("j1", T0 + DAY) == UseResult(
        RefreshUse.EXPIRED, "alice", "fam-1"
    )
    assert (await storage.refresh_tokens.use("j1", T0 + DAY - SECOND)).ok


async def test_expired_and_used_is_a_reuse(storage: Storage) -> None:
    await add(storage, "j1", ttl=DAY)
    assert (await storage.refresh_tokens.use("j1", T0)).ok
    assert (await storage.refresh_tokens.use("j1", T0 + 2 * DAY)).status is RefreshUse.REUSED


async def test_rotation_then_reuse_revokes_the_family(storage: Storage) -> None:
    """The refresh flow: use j1 → issue j2 in the same family; a replay of j1 kills j2."""
    tokens = storage.refresh_tokens
    await add(storage, "j1", family="login-1")
    await add(storage, "other", family="login-2")
    assert (await tokens.use("j1", T0)).ok
    await add(storage, "j2", family="login-1")

    replay = await tokens.use("j1", T0 + SECOND)
    assert replay.status is RefreshUse.REUSED
    assert replay.family is not None
    assert await tokens.revoke_family(replay.family) == 2

    assert await tokens.use("j2", T0 + 2 * SECOND) == UseResult(
        RefreshUse.REUSED, "alice", "login-1"
    )
    assert (await tokens.use("other", T0)).ok  # another login of the same user is untouched
    assert await tokens.revoke_family("login-1") == 0  # already revoked


async def test_revoke_family_of_unknown_family(storage: Storage) -> None:
    assert await storage.refresh_tokens.revoke_family("nope") == 0


async def test_revoke_user(storage: Storage) -> None:
    tokens = storage.refresh_tokens
    await add(storage, "a1", family="fa1", username="alice")
    await add(storage, "a2", family="fa2", username="alice")
    await add(storage, "b1", family="fb1", username="bob")

    assert await tokens.revoke_user("alice") == 2
    assert await tokens.revoke_user("alice") == 0

    assert (await tokens.use("a1", T0)).status is RefreshUse.REUSED
    assert (await tokens.use("a2", T0)).status is RefreshUse.REUSED
    assert (await tokens.use("b1", T0)).ok


async def test_purge_expired(storage: Storage) -> None:
    tokens = storage.refresh_tokens
    await add(storage, "short", ttl=SECOND)
    await add(storage, "used-short", ttl=SECOND)
    await add(storage, "long", ttl=DAY)
    assert (await tokens.use("used-short", T0)).ok

    assert await tokens.purge_expired(T0 + SECOND) == 2

    assert await tokens.use("short", T0) == UseResult(RefreshUse.UNKNOWN)
    assert await tokens.use("used-short", T0) == UseResult(RefreshUse.UNKNOWN)
    assert (await tokens.use("long", T0 + SECOND)).ok
    assert await tokens.purge_expired(T0 + SECOND) == 0


async def test_duplicate_jti_is_refused(storage: Storage) -> None:
    await add(storage, "j1")
    with pytest.raises(IntegrityError):
        await add(storage, "j1", family="fam-2")


async def test_naive_datetimes_are_refused(storage: Storage) -> None:
    naive = dt.datetime(2025, 1, 1)  # naive: the point of the test
    with pytest.raises(ValueError, match="timezone-aware"):
        await storage.refresh_tokens.add("j1", "f", "alice", naive, naive + DAY)
    with pytest.raises(ValueError, match="timezone-aware"):
        await storage.refresh_tokens.use("j1", naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        await storage.refresh_tokens.purge_expired(naive)


async def test_other_time_zones_compare_as_instants(storage: Storage) -> None:
    plus2 = dt.timezone(dt.timedelta(hours=2))
    await add(storage, "j1", ttl=DAY)
    # the same instant as T0 + DAY, written in UTC+2: expired
    assert (await storage.refresh_tokens.use("j1", (T0 + DAY).astimezone(plus2))).status is (
        RefreshUse.EXPIRED
    )
    assert (await storage.refresh_tokens.use("j1", (T0 + DAY - SECOND).astimezone(plus2))).ok


async def test_long_username(storage: Storage) -> None:
    username = "ü" * 511  # 1022 bytes, within a JID localpart
    await add(storage, "j1", username=username)
    assert await storage.refresh_tokens.use("j1", T0) == UseResult(RefreshUse.OK, username, "fam-1")


async def test_concurrent_uses_of_one_token_have_exactly_one_winner(storage: Storage) -> None:
    await add(storage, "j1")

    results = await asyncio.gather(*(storage.refresh_tokens.use("j1", T0) for _ in range(12)))

    assert [r.status for r in results].count(RefreshUse.OK) == 1
    assert [r.status for r in results].count(RefreshUse.REUSED) == 11
    assert {(r.username, r.family) for r in results} == {("alice", "fam-1")}


async def test_concurrent_uses_of_many_tokens(storage: Storage) -> None:
    jtis = [f"j{n}" for n in range(10)]
    for jti in jtis:
        await add(storage, jti)

    results = await asyncio.gather(
        *(storage.refresh_tokens.use(jti, T0) for jti in jtis for _ in range(3))
    )

    for index in range(len(jtis)):
        statuses = [r.status for r in results[3 * index : 3 * index + 3]]
        assert statuses.count(RefreshUse.OK) == 1
        assert statuses.count(RefreshUse.REUSED) == 2


async def test_concurrent_use_and_revoke(storage: Storage) -> None:
    """A use racing a family revocation: either it won before, or it sees the revocation."""
    for n in range(20):
        await add(storage, f"j{n}", family=f"fam{n}")

    outcomes = await asyncio.gather(
        *(storage.refresh_tokens.use(f"j{n}", T0) for n in range(20)),
        *(storage.refresh_tokens.revoke_family(f"fam{n}") for n in range(20)),
    )

    for n in range(20):
        use = outcomes[n]
        assert isinstance(use, UseResult)
        assert use.status in (RefreshUse.OK, RefreshUse.REUSED)
        stored = await row(storage, f"j{n}")
        assert stored is not None
        assert stored.revoked
        assert (stored.used_at is not None) == use.ok
