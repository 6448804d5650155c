"""Accounts: password storage as SCRAM keys, and the checks SASL needs.

Unknown users get dummy credentials that look like a real user's, and PLAIN checks for unknown
users still run the key derivation, so neither timing nor answers tell who exists.
"""

from __future__ import annotations

import asyncio

from xmpp_video.auth.passwords import (
    ScramCredentials,
    ScramHash,
    derive_all,
    dummy_credentials,
    verify_password,
)
from xmpp_video.jid import JID, InvalidJID
from xmpp_video.storage.repositories import StoredScram, UserRepository


class AccountError(Exception):
    """A user-management request cannot be done; the message says why, in one line."""


class AccountExists(AccountError):
    """`Accounts.add` of a JID that is taken (XEP-0077 answers ``conflict``)."""


def _to_creds(hash_: ScramHash, stored: StoredScram) -> ScramCredentials:
    return ScramCredentials(
        hash_, stored.salt, stored.iterations, stored.stored_key, stored.server_key
    )


def _to_stored(creds: ScramCredentials) -> StoredScram:
    return StoredScram(
        salt=creds.salt,
        iterations=creds.iterations,
        stored_key=creds.stored_key,
        server_key=creds.server_key,
    )


def parse_account_jid(text: str, default_domain: str) -> JID:
    """`alice` or `alice@domain` → the bare JID; AccountError when it is not one."""
    try:
        jid = JID.parse(text if "@" in text else f"{text}@{default_domain}")
    except InvalidJID as exc:
        raise AccountError(f"invalid JID {text!r}: {exc}") from None
    if jid.local is None or jid.resource is not None:
        raise AccountError(f"{text!r} is not a bare user JID (user@domain)")
    return jid


class Accounts:
    def __init__(self, users: UserRepository, domain: str, iterations: int) -> None:
        self.users = users
        self.domain = domain
        self.iterations = iterations

    async def scram_credentials(self, username: str, hash_: ScramHash) -> ScramCredentials:
        stored = await self.users.get_scram(username, self.domain, str(hash_))
        if stored is None:
            return dummy_credentials(username, hash_, self.iterations)
        return _to_creds(hash_, stored)

    async def exists(self, username: str) -> bool:
        return await self.users.exists(username, self.domain)

    async def check_password(self, username: str, password: str) -> bool:
        stored = await self.users.get_scram(username, self.domain, str(ScramHash.SHA256))
        creds = (
            _to_creds(ScramHash.SHA256, stored)
            if stored is not None
            else dummy_credentials(username, ScramHash.SHA256, self.iterations)
        )
        ok = await asyncio.to_thread(verify_password, password, creds)
        return ok and stored is not None

    async def _derive(self, password: str) -> dict[str, StoredScram]:
        if not password:
            raise AccountError("the password must not be empty")
        try:
            creds = await asyncio.to_thread(derive_all, password, iterations=self.iterations)
        except ValueError as exc:  # SASLprep refused it; the message never quotes the password
            raise AccountError(f"unusable password: {exc}") from None
        return {str(h): _to_stored(c) for h, c in creds.items()}

    async def add(self, jid: JID, password: str) -> None:
        assert jid.local is not None
        if await self.users.exists(jid.local, jid.domain):
            raise AccountExists(f"user {jid} already exists")
        if not await self.users.add(jid.local, jid.domain, await self._derive(password)):
            raise AccountExists(f"user {jid} already exists")  # created meanwhile

    async def set_password(self, jid: JID, password: str) -> None:
        assert jid.local is not None
        if not await self.users.exists(jid.local, jid.domain):
            raise AccountError(f"no such user {jid}")
        await self.users.set_password_creds(jid.local, jid.domain, await self._derive(password))

    async def delete(self, jid: JID) -> None:
        assert jid.local is not None
        if not await self.users.delete(jid.local, jid.domain):
            raise AccountError(f"no such user {jid}")
