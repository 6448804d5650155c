"""Repository interfaces and the values they exchange.

The rest of the server depends on these protocols only; ``sql.py`` implements them over
SQLAlchemy (SQLite and PostgreSQL), and tests or a future backend may provide others. All values
crossing this boundary are frozen dataclasses or StrEnums; datetimes are timezone-aware UTC.

JIDs are passed already prepared (casefolded, normalized) by the caller: storage compares strings
exactly and never prepares them itself.
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class ScramHash(StrEnum):
    """Keys of SCRAM credential mappings: the IANA SASL mechanism names minus ``SCRAM-``."""

    SHA1 = "SHA-1"
    SHA256 = "SHA-256"


@dataclass(frozen=True, slots=True)
class StoredScram:
    """Salted SCRAM keys for one hash (RFC 5802 §3): what the server keeps instead of a password."""

    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes


class Subscription(StrEnum):
    """RFC 6121 §2.1.2.5 subscription states."""

    NONE = "none"
    TO = "to"
    FROM = "from"
    BOTH = "both"


@dataclass(frozen=True, slots=True)
class RosterItem:
    """One roster entry of ``owner`` about ``contact`` (both prepared bare JIDs).

    ``ask_out``: ``owner`` sent a subscription request that is still pending ("ask='subscribe'").
    ``pending_in``: ``contact`` asked to subscribe to ``owner``, not answered yet (must be
    re-delivered on login, RFC 6121 §3.1.3). ``approved``: ``owner`` pre-approved a future
    request of ``contact`` (RFC 6121 §3.4). ``listed``: the item is in
    the owner's roster; False for a row that only keeps a pending request or a pre-approval.
    """

    owner: str
    contact: str
    name: str | None = None
    subscription: Subscription = Subscription.NONE
    ask_out: bool = False
    pending_in: bool = False
    approved: bool = False
    listed: bool = True
    groups: tuple[str, ...] = ()


class Transport(StrEnum):
    """How a session is connected."""

    TCP = "tcp"
    WEBSOCKET = "websocket"
    JSON = "json"


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A bound resource registered in the shared session table (cluster-wide view)."""

    bare_jid: str
    resource: str
    node_id: str
    transport: Transport
    connected_since: dt.datetime
    priority: int = 0

    def __post_init__(self) -> None:
        if self.connected_since.utcoffset() is None:
            raise ValueError("SessionRow.connected_since must be a timezone-aware datetime")

    @property
    def full_jid(self) -> str:
        return f"{self.bare_jid}/{self.resource}"


class UserRepository(Protocol):
    """Accounts of the local domains. ``username`` is the prepared local part."""

    async def add(self, username: str, domain: str, creds: Mapping[str, StoredScram]) -> bool:
        """Create an account; ``creds`` maps :class:`ScramHash` names to keys (one or both).

        Returns False (and changes nothing) when the account already exists. An unknown hash
        name raises ``ValueError``.
        """
        ...

    async def get_scram(self, username: str, domain: str, hash_name: str) -> StoredScram | None:
        """The keys for ``hash_name`` ("SHA-1" / "SHA-256"), or None: no such user or no keys
        for that hash. An unknown hash name raises ``ValueError``."""
        ...

    async def set_password_creds(
        self, username: str, domain: str, creds: Mapping[str, StoredScram]
    ) -> bool:
        """Replace the account's keys by ``creds``; a hash absent from ``creds`` is cleared.

        Returns False when the account does not exist.
        """
        ...

    async def delete(self, username: str, domain: str) -> bool:
        """Delete the account, its own roster rows, its offline messages, its message
        archive, its blocklist, its vCard and its PEP nodes and items (one transaction).

        Other users' roster items about this JID are left alone: removing or answering them
        (RFC 6121 unsubscribed/unavailable) is the caller's business, as is ending the user's
        live sessions. Returns False when the account did not exist.
        """
        ...

    async def list(self, domain: str | None = None) -> builtins.list[str]:
        """Bare JIDs of all accounts (of ``domain`` only, if given), sorted by code point."""
        ...

    async def exists(self, username: str, domain: str) -> bool: ...

    async def count(self, domain: str | None = None) -> int: ...

    async def touch_last_login(
        self, username: str, domain: str, when: dt.datetime | None = None
    ) -> None:
        """Record a successful login at ``when`` (aware; default: now). No-op for an unknown
        user."""
        ...

    async def touch_last_logins(
        self, usernames: Sequence[str], domain: str, when: dt.datetime
    ) -> None:
        """``touch_last_login`` for many users of one domain in one statement."""
        ...

    async def last_login(self, username: str, domain: str) -> dt.datetime | None:
        """When the user last logged in (UTC); None if never, or no such user."""
        ...


class RosterRepository(Protocol):
    """Rosters (RFC 6121 §2). ``owner`` and ``contact`` are prepared bare JIDs."""

    async def get_roster(self, owner: str) -> list[RosterItem]:
        """All items of ``owner``'s roster, sorted by contact."""
        ...

    async def get_item(self, owner: str, contact: str) -> RosterItem | None: ...

    async def upsert(self, item: RosterItem) -> None:
        """Insert the item, or replace every field of the existing (owner, contact) item."""
        ...

    async def remove(self, owner: str, contact: str) -> bool:
        """Returns False when there was no such item."""
        ...


class OfflineRepository(Protocol):
    """Messages kept for a user without an available resource, delivered in arrival order."""

    async def store(self, owner: str, stanza_xml: str, *, limit: int) -> bool:
        """Append a serialized stanza for ``owner`` unless they already have ``limit`` stored.

        Returns False (nothing stored) at the limit: the caller answers the sender with
        ``<service-unavailable/>`` (or drops, per its policy).
        """
        ...

    async def pop_all(self, owner: str) -> list[str]:
        """Remove and return ``owner``'s messages, oldest first.

        Atomic: each message is returned by exactly one concurrent call, and a message stored
        while this runs is either returned now or kept for the next call.
        """
        ...

    async def count(self, owner: str) -> int: ...


class SessionRepository(Protocol):
    """The shared table of bound resources, one row per full JID, used across the cluster."""

    async def add(self, row: SessionRow) -> None:
        """Register a bound resource, replacing any row for the same full JID (the new binding
        wins a resource conflict; the caller has already dealt with the old session)."""
        ...

    async def remove(self, bare_jid: str, resource: str) -> bool:
        """Returns False when there was no such row."""
        ...

    async def apply(self, adds: Sequence[SessionRow], removes: Sequence[tuple[str, str]]) -> None:
        """In one transaction: delete the (bare JID, resource) rows of ``removes`` and of
        ``adds``, then insert ``adds`` (a batch of bindings and unbindings, already coalesced
        per full JID by the caller)."""
        ...

    async def remove_node(self, node_id: str) -> int:
        """Delete every row of ``node_id`` (after that node died or at its start-up, to clear
        what a crash left behind). Returns how many rows were deleted."""
        ...

    async def list_node(self, node_id: str) -> list[SessionRow]:
        """Rows of ``node_id``, sorted by full JID."""
        ...

    async def list_user(self, bare_jid: str) -> list[SessionRow]:
        """Rows of one user on all nodes, sorted by resource."""
        ...

    async def set_priority(self, bare_jid: str, resource: str, priority: int) -> bool:
        """Record a new presence priority. Returns False when there is no such row."""
        ...


@dataclass(frozen=True, slots=True)
class ArchivedMessage:
    """One message in ``owner``'s archive (XEP-0313).

    ``archive_id``: the archive's UID for it (unique across all archives, never reused).
    ``with_jid``: the other party's bare JID (``owner`` for a message to oneself);
    ``with_resource``: the resource it came from (incoming) or was addressed to (outgoing), if
    any. ``stamp``: when the server routed it (aware, UTC). ``stanza_xml``: the message as
    routed, serialized with ``xmlns='jabber:client'`` on its root.
    """

    archive_id: str
    owner: str
    with_jid: str
    with_resource: str | None
    stamp: dt.datetime
    outgoing: bool
    stanza_xml: str

    def __post_init__(self) -> None:
        if self.stamp.utcoffset() is None:
            raise ValueError("ArchivedMessage.stamp must be a timezone-aware datetime")


@dataclass(frozen=True, slots=True)
class ArchivePage:
    """One page of an archive query, oldest first.

    ``complete``: no further matching message lies beyond this page in the paging direction
    (after it when paging forward, before it when paging backward). ``count``: how many
    messages match the query's filters, whatever the page; ``first_index``: the position of
    the page's first message among them (XEP-0059 ``<first index>``). Both are None when not
    asked for; ``first_index`` also when the page is empty.
    """

    items: tuple[ArchivedMessage, ...]
    complete: bool
    count: int | None = None
    first_index: int | None = None

    @property
    def first(self) -> str | None:
        return self.items[0].archive_id if self.items else None

    @property
    def last(self) -> str | None:
        return self.items[-1].archive_id if self.items else None


class ArchiveIdNotFound(LookupError):
    """An archive id given to :meth:`ArchiveRepository.query` is not in that archive."""

    def __init__(self, archive_id: str) -> None:
        super().__init__(f"no message {archive_id!r} in this archive")
        self.archive_id = archive_id


class ArchiveRepository(Protocol):
    """Per-user message archives (XEP-0313). ``owner`` and JIDs are prepared strings."""

    async def append(self, messages: Sequence[ArchivedMessage]) -> None:
        """Store a batch in one transaction; the archive order is the order of ``messages``.

        Idempotent: a message whose ``archive_id`` is already stored is skipped (a batch
        retried after a lost commit acknowledgement is not duplicated).
        """
        ...

    async def query(
        self,
        owner: str,
        *,
        with_: str | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        after_id: str | None = None,
        before_id: str | None = None,
        ids: Sequence[str] | None = None,
        page_after: str | None = None,
        page_before: str | None = None,
        limit: int,
        last: bool = False,
        count: bool = True,
    ) -> ArchivePage:
        """A page of ``owner``'s messages, oldest first.

        Filters (they define the result set, and so ``count``): ``with_`` a bare JID (its
        messages from any resource) or a full JID (that resource only), ``start``/``end``
        inclusive bounds on ``stamp`` (aware), ``after_id``/``before_id`` exclusive bounds in
        archive order, ``ids`` only these messages.

        Paging: ``page_after``/``page_before`` are exclusive cursors (XEP-0059 ``<after>`` /
        ``<before>``); at most ``limit`` (>= 0) messages are returned, the first ones of the
        selection, or its last ones when ``last`` is true (paging backwards).

        Raises :class:`ArchiveIdNotFound` when an id given in ``after_id``, ``before_id``,
        ``ids``, ``page_after`` or ``page_before`` is not in ``owner``'s archive.
        """
        ...

    async def bounds(self, owner: str) -> tuple[ArchivedMessage, ArchivedMessage] | None:
        """The first and the last message of ``owner``'s archive; None when it is empty."""
        ...

    async def purge(self, owner: str) -> int:
        """Delete ``owner``'s whole archive; returns how many messages were deleted."""
        ...


class RefreshUse(StrEnum):
    """What :meth:`RefreshTokenRepository.use` found."""

    OK = "ok"
    """The token was unused, unrevoked and unexpired; it is now marked used."""
    REUSED = "reused"
    """The token was already used, or revoked: it leaked. The caller revokes its family."""
    EXPIRED = "expired"
    """The token is known but expired (and was neither used nor revoked)."""
    UNKNOWN = "unknown"
    """No such token (never issued here, or purged after it expired)."""


@dataclass(frozen=True, slots=True)
class UseResult:
    """The outcome of one use of a refresh token; ``username`` and ``family`` are those of the
    token's row, None when ``status`` is UNKNOWN."""

    status: RefreshUse
    username: str | None = None
    family: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is RefreshUse.OK


class RefreshTokenRepository(Protocol):
    """Refresh tokens handed out, so that each works once (rotation with reuse detection).

    ``jti`` and ``family`` are the token's claims (``xmpp_video.auth.tokens.Claims``);
    ``username`` is the prepared local part. Datetimes are timezone-aware.
    """

    async def add(
        self,
        jti: str,
        family: str,
        username: str,
        issued_at: dt.datetime,
        expires_at: dt.datetime,
    ) -> None:
        """Record a new, unused refresh token (before handing it out). A ``jti`` already
        recorded is a programming error (``sqlalchemy.exc.IntegrityError``)."""
        ...

    async def use(self, jti: str, now: dt.datetime) -> UseResult:
        """Mark the token used if it is unused, unrevoked and ``expires_at > now``: OK.

        Atomic: of concurrent uses of one token, exactly one is OK and the others are REUSED.
        On REUSED the caller revokes the family (``revoke_family(result.family)``).
        """
        ...

    async def revoke_family(self, family: str) -> int:
        """Revoke every token of ``family``; returns how many were not revoked before."""
        ...

    async def revoke_user(self, username: str) -> int:
        """Revoke every token of ``username`` (password change, account deletion); returns
        how many were not revoked before."""
        ...

    async def purge_expired(self, now: dt.datetime) -> int:
        """Delete the tokens with ``expires_at <= now`` (used, revoked or not); returns how many.

        Their JWTs are refused as expired anyway, so nothing is lost."""
        ...


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call as persisted in ``call_session`` (SPEC §6). JIDs: ``caller``/``callee`` bare,
    devices full; ``media`` e.g. ``("audio", "video")``; ``state`` and ``end_reason`` are the
    values of ``xmpp_video.calls.machine.CallState`` / ``EndReason``; ``node_id`` is the node
    whose call process follows the call."""

    call_id: str
    caller: str
    caller_device: str
    callee: str
    media: tuple[str, ...]
    state: str
    node_id: str
    proposed_at: dt.datetime
    devices: tuple[str, ...] = ()
    answered_by: str | None = None
    ringing_at: dt.datetime | None = None
    answered_at: dt.datetime | None = None
    active_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    end_reason: str | None = None
    ended_by: str | None = None


class CallRepository(Protocol):
    """The ``call_session`` table: every call the server saw, live or ended."""

    async def save(self, record: CallRecord) -> None:
        """Insert or replace the row of ``record.call_id``."""
        ...

    async def get(self, call_id: str) -> CallRecord | None: ...

    async def live(self) -> Sequence[CallRecord]:
        """Calls not ended (``ended_at`` is null), oldest first: what a restart rebuilds."""
        ...

    async def between(
        self, start: dt.datetime, end: dt.datetime, *, user: str | None = None
    ) -> Sequence[CallRecord]:
        """Calls proposed in ``[start, end)``, oldest first; only those of ``user`` (caller
        or callee bare JID) when given."""
        ...


class BlocklistRepository(Protocol):
    """Per-user blocklists (XEP-0191). ``owner`` is a prepared bare JID; items are prepared JIDs
    of any form (full, bare, ``domain/resource``, domain), compared exactly."""

    async def get(self, owner: str) -> list[str]:
        """``owner``'s blocked JIDs, sorted by code point (empty when none)."""
        ...

    async def add(self, owner: str, jids: Sequence[str]) -> None:
        """Block ``jids``; those already blocked are skipped (idempotent, one transaction)."""
        ...

    async def remove(self, owner: str, jids: Sequence[str] | None) -> None:
        """Unblock ``jids`` (those not blocked are ignored), or every JID when None."""
        ...

    async def owners(self) -> list[str]:
        """Every user with at least one blocked JID, sorted (what a node loads at start-up)."""
        ...


class VCardRepository(Protocol):
    """vCard-temp (XEP-0054), one per user, kept as serialized XML. ``owner``: prepared bare JID."""

    async def get(self, owner: str) -> str | None:
        """The stored vCard element as XML text, None when the user never set one."""
        ...

    async def set(self, owner: str, vcard_xml: str) -> None:
        """Store (insert or replace) ``owner``'s vCard."""
        ...


@dataclass(frozen=True, slots=True)
class StoredFastToken:
    """A FAST token (XEP-0484) as stored: hashes only (see `xmpp_video.auth.fast`).

    ``slot`` is ``"new"`` until the client first authenticates with it, then ``"current"``;
    ``last_count``: the highest replay counter accepted for it (None: none given yet)."""

    id: int
    owner: str
    client_id: str
    slot: str
    mechanism: str
    verifier: bytes
    responder: bytes
    last_count: int | None
    created_at: dt.datetime
    expires_at: dt.datetime


class FastTokenRepository(Protocol):
    """FAST tokens: at most one ``current`` and one ``new`` token per (``owner``, ``client_id``);
    ``owner`` is a prepared bare JID, ``client_id`` the client's SASL2 user-agent id."""

    async def put_new(
        self,
        owner: str,
        client_id: str,
        mechanism: str,
        verifier: bytes,
        responder: bytes,
        created_at: dt.datetime,
        expires_at: dt.datetime,
    ) -> None:
        """Store a token in the client's ``new`` slot, replacing the one there (never used);
        the owner's expired tokens are deleted on the way."""
        ...

    async def get(self, owner: str, client_id: str) -> builtins.list[StoredFastToken]:
        """The client's tokens, the ``new`` one first (at most two)."""
        ...

    async def use(self, token_id: int, count: int | None, now: dt.datetime) -> bool:
        """Record one authentication with token ``token_id``, atomically: False (and no change)
        when it is gone, expired, or ``count`` does not exceed its ``last_count`` (None: only
        while no count was ever given). A ``new`` token becomes ``current``, replacing the one
        there (XEP-0484 §6: using a later token invalidates the earlier one)."""
        ...

    async def delete(self, token_id: int) -> bool:
        """Forget one token."""
        ...

    async def delete_client(self, owner: str, client_id: str) -> int:
        """Forget the client's tokens; how many there were."""
        ...

    async def delete_owner(self, owner: str) -> int:
        """Forget every token of the account (password changed, account deleted, admin)."""
        ...

    async def list_owner(self, owner: str) -> builtins.list[StoredFastToken]:
        """Every token of the account, by client id then slot."""
        ...

    async def purge_expired(self, now: dt.datetime) -> int:
        """Delete the tokens expired at ``now``; how many."""
        ...
