"""FAST tokens (XEP-0484): issue, verify, rotate and revoke them over a `FastTokenRepository`.

A token is 32 random bytes, URL-safe base64, handed to the client once in the SASL2
``<success/>`` (``<token xmlns='urn:xmpp:fast:0' token expiry/>``) and never stored: the row
keeps the HT hashes of `xmpp_video.auth.ht` (``verifier``, ``responder``). Each token belongs to
one account, one client (its SASL2 ``<user-agent id>``) and the mechanism it was requested for.

Slots (XEP-0484 §6): a new token goes to the client's ``new`` slot (replacing an unused one
there); its first use moves it to ``current``, replacing the older token. Authentication tries
both, ``new`` first; every comparison is constant-time and both slots are always checked.

Replay counter: the server does not offer TLS 0-RTT, so ``count`` is optional; when given it
must exceed the last count accepted for that token, and once a token was used with a count it
is refused without one.

Rotation: a successful FAST authentication with a token past half of its lifetime also hands
out a new one (unless the client invalidates it). Revocation: ``<fast invalidate='true'>``
(`invalidate`), a password change and an account deletion (the storage layer deletes the rows
with the keys or the account), and `revoke` (admin: CLI ``xmpp-video user fast-revoke``).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from xmpp_video.auth import ht
from xmpp_video.storage.repositories import FastTokenRepository

__all__ = ["MAX_CLIENT_ID", "FastTokens", "FastUse", "IssuedToken"]

MAX_CLIENT_ID: Final = 256  # models.FAST_CLIENT_ID_LENGTH
MAX_COUNT: Final = (1 << 63) - 1  # a signed 64-bit column


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token for the client: ``token`` is the secret (sent once, never stored or logged)."""

    token: str
    mechanism: str
    expiry: dt.datetime

    def __repr__(self) -> str:  # the secret stays out of logs and tracebacks
        return f"IssuedToken(mechanism={self.mechanism!r}, expiry={self.expiry.isoformat()})"


@dataclass(frozen=True, slots=True)
class FastUse:
    """A successful FAST authentication: ``responder`` is the success's additional data."""

    token_id: int
    responder: bytes
    expires_at: dt.datetime
    rotate: bool  # past half its lifetime: hand out a new token with the success


class FastTokens:
    """FAST tokens of every account over one repository; ``ttl`` in seconds."""

    def __init__(
        self,
        repository: FastTokenRepository,
        ttl: float,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.repository = repository
        self.ttl = dt.timedelta(seconds=ttl)
        self.clock = clock

    async def issue(self, owner: str, client_id: str, mechanism: str) -> IssuedToken:
        """A new token for (``owner``, ``client_id``), valid ``ttl`` from now."""
        if mechanism not in ht.MECHANISMS:
            raise ValueError(f"not a FAST mechanism: {mechanism}")
        token = secrets.token_urlsafe(32)
        now = self.clock()
        expiry = now + self.ttl
        await self.repository.put_new(
            owner,
            client_id,
            mechanism,
            ht.verifier(ht.initiator(token)),
            ht.responder(token),
            now,
            expiry,
        )
        return IssuedToken(token, mechanism, expiry)

    async def authenticate(
        self,
        owner: str,
        client_id: str,
        mechanism: str,
        initiator_hash: bytes,
        count: int | None,
    ) -> FastUse | None:
        """The use of the client's token whose HT initiator hash is ``initiator_hash``, or None
        (no such token, another mechanism, expired, or a replayed ``count``)."""
        now = self.clock()
        match = None
        for stored in await self.repository.get(owner, client_id):
            # no early exit: the time taken does not tell which slot matched
            if ht.verify(stored.verifier, initiator_hash) and stored.mechanism == mechanism:
                match = stored
        if match is None or match.expires_at <= now:
            return None
        if not await self.repository.use(match.id, count, now):
            return None
        remaining = match.expires_at - now
        return FastUse(match.id, match.responder, match.expires_at, remaining < self.ttl / 2)

    async def invalidate(self, owner: str, client_id: str) -> None:
        """The client logs out (``<fast invalidate='true'>``): its tokens stop working."""
        await self.repository.delete_client(owner, client_id)

    async def revoke(self, owner: str) -> int:
        """Every token of ``owner`` stops working (admin); how many there were."""
        return await self.repository.delete_owner(owner)
