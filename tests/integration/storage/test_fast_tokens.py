"""FastTokenRepository (XEP-0484 FAST) on both backends: two slots per client, the replay
counter, promotion of the new token, and revocation by password change and account deletion."""

from __future__ import annotations

import datetime as dt

import pytest

from xmpp_video.auth import ht
from xmpp_video.auth.fast import FastTokens
from xmpp_video.storage.sql import Storage

from .factories import DOMAIN, T0, both_creds

pytestmark = pytest.mark.asyncio

ALICE = f"alice@{DOMAIN}"
PHONE = "9c2f6c1e-2b4f-4b7e-a2f5-3d5c8f4b1a10"
LAPTOP = "laptop-id"
HOUR = dt.timedelta(hours=1)
MECH = "HT-SHA-256-NONE"


def tokens(storage: Storage, now: dt.datetime = T0) -> FastTokens:
    return FastTokens(storage.fast_tokens, 3600 * 24, clock=lambda: now)


async def test_issue_stores_hashes_only_and_authenticates(storage: Storage) -> None:
    issued = await tokens(storage).issue(ALICE, PHONE, MECH)
    (row,) = await storage.fast_tokens.get(ALICE, PHONE)
    assert row.slot == "new"
    assert row.mechanism == MECH
    assert issued.token.encode() not in (row.verifier, row.responder)
    assert row.verifier == ht.verifier(ht.initiator(issued.token))
    assert issued.expiry == T0 + dt.timedelta(days=1)
    assert issued.token not in repr(issued)

    use = await tokens(storage, T0 + HOUR).authenticate(
        ALICE, PHONE, MECH, ht.initiator(issued.token), None
    )
    assert use is not None
    assert use.responder == ht.responder(issued.token)
    assert not use.rotate
    (row,) = await storage.fast_tokens.get(ALICE, PHONE)
    assert row.slot == "current"
    # another client, another mechanism, a wrong hash, an expired token: refused
    later = tokens(storage, T0 + HOUR)
    assert await later.authenticate(ALICE, LAPTOP, MECH, ht.initiator(issued.token), None) is None
    assert (
        await later.authenticate(ALICE, PHONE, "HT-SHA-256-ENDP", ht.initiator(issued.token), None)
        is None
    )
    assert await later.authenticate(ALICE, PHONE, MECH, ht.initiator("other"), None) is None
    expired = tokens(storage, T0 + dt.timedelta(days=2))
    assert await expired.authenticate(ALICE, PHONE, MECH, ht.initiator(issued.token), None) is None


async def test_count_must_increase(storage: Storage) -> None:
    issued = await tokens(storage).issue(ALICE, PHONE, MECH)
    proof = ht.initiator(issued.token)
    fast = tokens(storage, T0 + HOUR)
    assert await fast.authenticate(ALICE, PHONE, MECH, proof, 5) is not None
    assert await fast.authenticate(ALICE, PHONE, MECH, proof, 5) is None  # replayed
    assert await fast.authenticate(ALICE, PHONE, MECH, proof, 4) is None
    assert await fast.authenticate(ALICE, PHONE, MECH, proof, None) is None  # count dropped
    assert await fast.authenticate(ALICE, PHONE, MECH, proof, 6) is not None
    (row,) = await storage.fast_tokens.get(ALICE, PHONE)
    assert row.last_count == 6


async def test_new_token_replaces_current_on_first_use(storage: Storage) -> None:
    first = await tokens(storage).issue(ALICE, PHONE, MECH)
    fast = tokens(storage, T0 + HOUR)
    assert await fast.authenticate(ALICE, PHONE, MECH, ht.initiator(first.token), None)
    second = await fast.issue(ALICE, PHONE, MECH)
    third = await fast.issue(ALICE, PHONE, MECH)  # replaces the unused second one
    slots = {t.slot for t in await storage.fast_tokens.get(ALICE, PHONE)}
    assert slots == {"current", "new"}
    # until the new token is used, the current one still works (a lost <success/>)
    assert await fast.authenticate(ALICE, PHONE, MECH, ht.initiator(first.token), None)
    assert await fast.authenticate(ALICE, PHONE, MECH, ht.initiator(second.token), None) is None
    assert await fast.authenticate(ALICE, PHONE, MECH, ht.initiator(third.token), None)
    assert await fast.authenticate(ALICE, PHONE, MECH, ht.initiator(first.token), None) is None
    (row,) = await storage.fast_tokens.get(ALICE, PHONE)
    assert row.slot == "current"


async def test_rotation_is_due_after_half_the_lifetime(storage: Storage) -> None:
    issued = await tokens(storage).issue(ALICE, PHONE, MECH)
    late = tokens(storage, T0 + dt.timedelta(hours=13))
    use = await late.authenticate(ALICE, PHONE, MECH, ht.initiator(issued.token), None)
    assert use is not None
    assert use.rotate


async def test_revocation(storage: Storage) -> None:
    await storage.users.add("alice", DOMAIN, both_creds())
    fast = tokens(storage)
    await fast.issue(ALICE, PHONE, MECH)
    await fast.issue(ALICE, LAPTOP, MECH)
    await fast.issue(f"bob@{DOMAIN}", PHONE, MECH)
    await fast.invalidate(ALICE, LAPTOP)
    assert [t.client_id for t in await storage.fast_tokens.list_owner(ALICE)] == [PHONE]
    # a password change revokes the account's tokens
    assert await storage.users.set_password_creds("alice", DOMAIN, both_creds(7))
    assert await storage.fast_tokens.list_owner(ALICE) == []
    await fast.issue(ALICE, PHONE, MECH)
    # so does the account's deletion
    assert await storage.users.delete("alice", DOMAIN)
    assert await storage.fast_tokens.list_owner(ALICE) == []
    # and the admin's revoke
    assert await fast.revoke(f"bob@{DOMAIN}") == 1
    assert await storage.fast_tokens.purge_expired(T0 + dt.timedelta(days=9)) == 0
