"""SQLAlchemy 2 declarative models: the one schema for SQLite and PostgreSQL.

These classes are the storage layer's private row shapes. Nothing outside ``xmpp_video.storage``
should import them: the repositories (``repositories.py``) hand out frozen dataclasses instead.

Portability choices:

* Datetimes are timezone-aware UTC in Python. PostgreSQL stores ``timestamptz``; SQLite stores the
  UTC wall-clock time as text (see :class:`UTCDateTime`).
* Bare JIDs are plain strings prepared by the caller (``xmpp_video.jid``); the database compares
  them byte for byte. There are no foreign keys between users and roster rows: a roster owner is a
  bare JID, so a user's rows are removed explicitly by ``UserRepository.delete``.
* Every constraint and index is named through :data:`NAMING_CONVENTION`, so that Alembic
  migrations (``migrations/``) can refer to them by a stable name on both backends.

Any change here needs a new Alembic revision; ``tests/integration/storage/test_migrations.py``
fails while the migrated schema and these models differ.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# RFC 7622 §3: each JID part is at most 1023 octets; a bare JID is localpart@domainpart.
PART_LENGTH = 1023
BARE_JID_LENGTH = 2 * PART_LENGTH + 1
# Random ids of refresh tokens and their families (``secrets.token_urlsafe(16)``: 22 chars).
TOKEN_ID_LENGTH = 64
# Archive ids (XEP-0313 UIDs) handed out by the archiving module; ULID-like, 26 chars today.
ARCHIVE_ID_LENGTH = 64
# JMI ids = Jingle sids = call ids, chosen by clients (xmpp_video.calls.signals.MAX_CALL_ID)
CALL_ID_LENGTH = 128
# A full JID: bare JID, "/", resource (blocklist items may be any JID, XEP-0191 §3.3).
FULL_JID_LENGTH = BARE_JID_LENGTH + 1 + PART_LENGTH

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SUBSCRIPTION_STATES = ("none", "to", "from", "both")
TRANSPORTS = ("tcp", "websocket", "json")


def utcnow() -> dt.datetime:
    """The current time, timezone-aware, in UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend.

    Binding a naive datetime is a programming error (``ValueError``). PostgreSQL receives the
    aware value (``timestamptz``); other dialects receive the naive UTC wall-clock time. Results
    are always aware and in UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: storage needs timezone-aware datetimes")
        value = value.astimezone(dt.UTC)
        if dialect.name == "postgresql":
            return value
        return value.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):  # pragma: no cover - drivers return datetimes
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


# A 64-bit key on PostgreSQL; plain INTEGER on SQLite, where only "INTEGER PRIMARY KEY" is an
# alias of the (already 64-bit) rowid and therefore autoincrements.
BigIntKey = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    """An account of a local domain, with SCRAM keys only (never a password).

    Each hash's four columns are either all set or all NULL (an account may have only one hash).
    """

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("username", "domain"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(PART_LENGTH))
    domain: Mapped[str] = mapped_column(String(PART_LENGTH))

    scram_sha1_salt: Mapped[bytes | None] = mapped_column(LargeBinary)
    scram_sha1_iterations: Mapped[int | None] = mapped_column(Integer)
    scram_sha1_stored_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    scram_sha1_server_key: Mapped[bytes | None] = mapped_column(LargeBinary)

    scram_sha256_salt: Mapped[bytes | None] = mapped_column(LargeBinary)
    scram_sha256_iterations: Mapped[int | None] = mapped_column(Integer)
    scram_sha256_stored_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    scram_sha256_server_key: Mapped[bytes | None] = mapped_column(LargeBinary)

    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class RosterItemRow(Base):
    """One contact in one user's roster (RFC 6121 §2.1.2)."""

    __tablename__ = "roster_items"
    # The unique index (owner, contact) also serves lookups by owner: no separate owner index.
    __table_args__ = (
        UniqueConstraint("owner", "contact"),
        Index(None, "contact"),
        CheckConstraint(
            "subscription IN ('none', 'to', 'from', 'both')",
            name="subscription",
        ),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(BARE_JID_LENGTH))
    contact: Mapped[str] = mapped_column(String(BARE_JID_LENGTH))
    name: Mapped[str | None] = mapped_column(String(PART_LENGTH))
    subscription: Mapped[str] = mapped_column(String(4))
    ask_out: Mapped[bool] = mapped_column(Boolean)
    pending_in: Mapped[bool] = mapped_column(Boolean)
    approved: Mapped[bool] = mapped_column(Boolean)
    listed: Mapped[bool] = mapped_column(Boolean, server_default=true())
    groups: Mapped[list[str]] = mapped_column(JSON)


class OfflineMessage(Base):
    """A message stored for a user who had no available resource; ``id`` orders delivery."""

    __tablename__ = "offline_messages"
    __table_args__ = (Index(None, "owner", "id"),)

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(BARE_JID_LENGTH))
    stanza: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class UserSessionRow(Base):
    """A bound resource on some node of the cluster (the design's ``user_session``).

    The primary key (bare_jid, resource) also serves lookups by bare JID.
    """

    __tablename__ = "user_session"
    __table_args__ = (
        Index(None, "node_id"),
        CheckConstraint("transport IN ('tcp', 'websocket', 'json')", name="transport"),
    )

    bare_jid: Mapped[str] = mapped_column(String(BARE_JID_LENGTH), primary_key=True)
    resource: Mapped[str] = mapped_column(String(PART_LENGTH), primary_key=True)
    node_id: Mapped[str] = mapped_column(String(255))
    transport: Mapped[str] = mapped_column(String(16))
    connected_since: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    priority: Mapped[int] = mapped_column(Integer)


class RefreshTokenRow(Base):
    """A refresh token handed out (``xmpp_video.auth.tokens``), kept until it expires.

    ``used_at`` is set by its one allowed use; ``revoked`` when its family (the chain rotated
    from one login) or its user's tokens are revoked. ``username`` is the prepared local part.
    """

    __tablename__ = "refresh_token"
    __table_args__ = (
        Index(None, "family"),
        Index(None, "username"),
        Index(None, "expires_at"),
    )

    jti: Mapped[str] = mapped_column(String(TOKEN_ID_LENGTH), primary_key=True)
    family: Mapped[str] = mapped_column(String(TOKEN_ID_LENGTH))
    username: Mapped[str] = mapped_column(String(PART_LENGTH))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, server_default=false())


class CallSessionRow(Base):
    """One call (the design's ``call_session``), written by its call process as it goes.

    ``devices`` are the callee's devices that rang, as a JSON list of full JIDs; ``media`` is
    e.g. ``"audio,video"``. A live call has ``ended_at`` null (index for the restart scan).
    """

    __tablename__ = "call_session"
    __table_args__ = (
        Index(None, "proposed_at"),
        Index(None, "caller"),
        Index(None, "callee"),
        Index(None, "ended_at"),
    )

    call_id: Mapped[str] = mapped_column(String(CALL_ID_LENGTH), primary_key=True)
    caller: Mapped[str] = mapped_column(String(BARE_JID_LENGTH))
    caller_device: Mapped[str] = mapped_column(Text)
    callee: Mapped[str] = mapped_column(String(BARE_JID_LENGTH))
    devices: Mapped[list[str]] = mapped_column(JSON)
    answered_by: Mapped[str | None] = mapped_column(Text)
    media: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    node_id: Mapped[str] = mapped_column(String(255))
    proposed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ringing_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    active_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(32))
    ended_by: Mapped[str | None] = mapped_column(Text)


class ArchiveMessageRow(Base):
    """A message in one user's archive (XEP-0313): each party's archive has its own row.

    ``id`` is the archive's order (the order messages were routed); ``archive_id`` is the
    opaque, unpredictable UID clients see (MAM result id, RSM cursors). ``with_jid`` is the
    other party's bare JID (the owner's own for a message to oneself), ``with_resource`` the
    resource it was sent from or addressed to, if any. ``stanza`` is the message as routed,
    serialized with ``xmlns='jabber:client'`` on its root.
    """

    __tablename__ = "archive_message"
    __table_args__ = (
        UniqueConstraint("archive_id"),
        Index(None, "owner", "id"),
        Index(None, "owner", "stamp"),
        Index(None, "owner", "with_jid", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    archive_id: Mapped[str] = mapped_column(String(ARCHIVE_ID_LENGTH))
    owner: Mapped[str] = mapped_column(String(BARE_JID_LENGTH))
    with_jid: Mapped[str] = mapped_column(String(BARE_JID_LENGTH))
    with_resource: Mapped[str | None] = mapped_column(String(PART_LENGTH))
    stamp: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    outgoing: Mapped[bool] = mapped_column(Boolean)
    stanza: Mapped[str] = mapped_column(Text)


class BlocklistItemRow(Base):
    """One JID blocked by one user (XEP-0191): a full JID, a bare JID, ``domain/resource`` or a
    domain, as prepared by ``xmpp_video.jid``. The unique index serves lookups by owner."""

    __tablename__ = "blocklist"
    __table_args__ = (UniqueConstraint("owner", "jid"),)

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(BARE_JID_LENGTH))
    jid: Mapped[str] = mapped_column(String(FULL_JID_LENGTH))


class VCardRow(Base):
    """A user's vCard-temp (XEP-0054), serialized with ``xmlns='vcard-temp'`` on its root."""

    __tablename__ = "vcard"

    owner: Mapped[str] = mapped_column(String(BARE_JID_LENGTH), primary_key=True)
    vcard: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


# PEP (XEP-0163) node names and item ids are chosen by clients; the PEP module refuses longer
# ones (xmpp_video.modules.pep.model), so that the unique indexes stay small on PostgreSQL.
PEP_NODE_LENGTH = 255
PEP_ITEM_ID_LENGTH = 255


class PepNodeRow(Base):
    """One node of one account's PEP service (XEP-0163). ``config``: the node configuration as
    XEP-0060 form field values (``pubsub#access_model`` → ``presence``, …), strings only."""

    __tablename__ = "pep_node"
    __table_args__ = (UniqueConstraint("owner", "node"),)

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(BARE_JID_LENGTH))
    node: Mapped[str] = mapped_column(String(PEP_NODE_LENGTH))
    config: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class PepItemRow(Base):
    """One item published to a PEP node: ``payload`` is its single payload element as XML text
    (with its own ``xmlns``). ``id`` orders items by publication: a republished item id gets a
    new row (it becomes the newest)."""

    __tablename__ = "pep_item"
    __table_args__ = (
        UniqueConstraint("owner", "node", "item_id"),
        Index(None, "owner", "node", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(BARE_JID_LENGTH))
    node: Mapped[str] = mapped_column(String(PEP_NODE_LENGTH))
    item_id: Mapped[str] = mapped_column(String(PEP_ITEM_ID_LENGTH))
    payload: Mapped[str] = mapped_column(Text)
    published_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


# XEP-0484 FAST: a client is named by its SASL2 <user-agent id> (a UUID in practice); longer
# ids are refused by xmpp_video.auth.fast.
FAST_CLIENT_ID_LENGTH = 256
FAST_SLOTS = ("current", "new")


class FastTokenRow(Base):
    """A FAST token (XEP-0484) of one client (``client_id``: its SASL2 user-agent id) of one
    account (``owner``, bare JID), kept as hashes only: ``verifier`` is SHA-256 of the token's
    HT initiator hash and ``responder`` the HT responder hash (xmpp_video.auth.ht); the token
    itself is never stored. ``slot``: ``new`` until the client first uses it, then ``current``
    (two slots per client, XEP-0484 §6). ``last_count``: the highest ``count`` accepted."""

    __tablename__ = "fast_token"
    __table_args__ = (
        UniqueConstraint("owner", "client_id", "slot"),
        CheckConstraint("slot IN ('current', 'new')", name="slot"),
        Index(None, "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(BARE_JID_LENGTH))
    client_id: Mapped[str] = mapped_column(String(FAST_CLIENT_ID_LENGTH))
    slot: Mapped[str] = mapped_column(String(8))
    mechanism: Mapped[str] = mapped_column(String(32))
    verifier: Mapped[bytes] = mapped_column(LargeBinary)
    responder: Mapped[bytes] = mapped_column(LargeBinary)
    last_count: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


# XEP-0357 pubsub node names are chosen by app servers (a token or a UUID in practice); the
# push module refuses longer ones.
PUSH_NODE_LENGTH = 1023


class PushRegistrationRow(Base):
    """One push registration (XEP-0357) of one account: the app server ``service`` (any JID)
    and its ``node``, the client ``resource`` that enabled it, and the publish-options form
    fields to send back in every publish (``options``: ``[[var, [values…]], …]``, FORM_TYPE
    left out; may hold a secret). The unique index serves lookups by owner."""

    __tablename__ = "push_registration"
    __table_args__ = (UniqueConstraint("owner", "service", "node"),)

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(BARE_JID_LENGTH))
    resource: Mapped[str] = mapped_column(String(PART_LENGTH))
    service: Mapped[str] = mapped_column(String(FULL_JID_LENGTH))
    node: Mapped[str] = mapped_column(String(PUSH_NODE_LENGTH))
    options: Mapped[list[Any]] = mapped_column(JSON)
    enabled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
