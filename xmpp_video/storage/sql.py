"""SQLAlchemy implementations of the repository protocols, for SQLite and PostgreSQL.

Every public method is one short transaction. Operations that must be atomic under concurrency
(create-if-absent, upsert, capped append, pop) are single statements (``ON CONFLICT``,
``INSERT … SELECT … WHERE``, ``DELETE … RETURNING``) so that they behave the same on both
backends without relying on isolation levels.

Typical use::

    storage = await open_storage("sqlite+aiosqlite:///var/xmpp-video.db")
    try:
        await storage.users.exists("alice", "example.org")
    finally:
        await storage.close()

``open_storage`` does not migrate: run ``xmpp_video.storage.migrate.upgrade(url)`` first.
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Integer,
    Result,
    Row,
    Select,
    String,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from .engine import create_engine, session_factory
from .models import (
    ArchiveMessageRow,
    BlocklistItemRow,
    FastTokenRow,
    OfflineMessage,
    PepItemRow,
    PepNodeRow,
    PushRegistrationRow,
    RefreshTokenRow,
    RosterItemRow,
    User,
    UserSessionRow,
    UTCDateTime,
    VCardRow,
    utcnow,
)
from .pep import PepRepository
from .push import PushRepository
from .repositories import (
    ArchiveRepository,
    BlocklistRepository,
    CallRepository,
    FastTokenRepository,
    OfflineRepository,
    RefreshTokenRepository,
    RefreshUse,
    RosterItem,
    RosterRepository,
    ScramHash,
    SessionRepository,
    SessionRow,
    StoredScram,
    Subscription,
    Transport,
    UseResult,
    UserRepository,
    VCardRepository,
)
from .sql_archive import SqlArchiveRepository
from .sql_blocklist import SqlBlocklistRepository, SqlVCardRepository
from .sql_calls import SqlCallRepository
from .sql_fast import SqlFastTokenRepository
from .sql_pep import SqlPepRepository
from .sql_push import SqlPushRepository

# First key of the PostgreSQL advisory lock that serializes capped appends per owner; the
# second key is hashtext(owner). An arbitrary constant to stay out of other lock users' way.
_OFFLINE_LOCK_CLASS = 0x78766F66  # "xvof"

_SCRAM_PREFIX: dict[ScramHash, str] = {
    ScramHash.SHA1: "scram_sha1_",
    ScramHash.SHA256: "scram_sha256_",
}
_SCRAM_FIELDS = ("salt", "iterations", "stored_key", "server_key")


# The reads every login makes, built once with bind parameters: building a select() costs
# about as much CPU as running it on SQLite (benchmarks/login_queries.py measures both).
_SCRAM_SELECT: dict[ScramHash, Select[Any]] = {
    hash_: select(*(getattr(User, prefix + field) for field in _SCRAM_FIELDS)).where(
        User.username == bindparam("username"), User.domain == bindparam("domain")
    )
    for hash_, prefix in _SCRAM_PREFIX.items()
}
_USER_EXISTS: Select[Any] = (
    select(User.id)
    .where(User.username == bindparam("username"), User.domain == bindparam("domain"))
    .limit(1)
)
_ROSTER_SELECT: Select[Any] = select(RosterItemRow.__table__).where(
    RosterItemRow.owner == bindparam("owner")
)
_OFFLINE_PROBE: Select[Any] = (
    select(OfflineMessage.id).where(OfflineMessage.owner == bindparam("owner")).limit(1)
)


def _scram_hash(name: str) -> ScramHash:
    try:
        return ScramHash(name)
    except ValueError:
        known = ", ".join(h.value for h in ScramHash)
        raise ValueError(f"unknown SCRAM hash {name!r}: expected one of {known}") from None


def _scram_columns(creds: Mapping[str, StoredScram]) -> dict[str, Any]:
    """Column values for every hash: the given keys, NULL for hashes absent from ``creds``."""
    given = {_scram_hash(name): keys for name, keys in creds.items()}
    values: dict[str, Any] = {}
    for hash_name, prefix in _SCRAM_PREFIX.items():
        keys = given.get(hash_name)
        for field in _SCRAM_FIELDS:
            values[prefix + field] = None if keys is None else getattr(keys, field)
    return values


def _rowcount(result: Result[Any]) -> int:
    """Rows matched by a DML statement (``session.execute`` is typed as returning ``Result``)."""
    return cast(CursorResult[Any], result).rowcount


def _bare(username: str, domain: str) -> str:
    return f"{username}@{domain}"


async def _dialect_name(session: AsyncSession) -> str:
    connection = await session.connection()
    return connection.dialect.name


async def _upsert(
    session: AsyncSession,
    table: Any,
    values: Mapping[str, Any],
    keys: Sequence[str],
) -> None:
    """INSERT, or UPDATE every non-key column of the row that has the same ``keys``."""
    updates = {name: value for name, value in values.items() if name not in keys}
    if await _dialect_name(session) == "postgresql":
        pg_stmt = postgresql.insert(table).values(**values)
        await session.execute(pg_stmt.on_conflict_do_update(index_elements=keys, set_=updates))
    else:
        lite_stmt = sqlite.insert(table).values(**values)
        await session.execute(lite_stmt.on_conflict_do_update(index_elements=keys, set_=updates))


async def _insert_if_absent(
    session: AsyncSession, table: Any, values: Mapping[str, Any], keys: Sequence[str]
) -> bool:
    if await _dialect_name(session) == "postgresql":
        pg_stmt = postgresql.insert(table).values(**values)
        result = await session.execute(pg_stmt.on_conflict_do_nothing(index_elements=keys))
    else:
        lite_stmt = sqlite.insert(table).values(**values)
        result = await session.execute(lite_stmt.on_conflict_do_nothing(index_elements=keys))
    return _rowcount(result) == 1


class SqlUserRepository:
    """:class:`~.repositories.UserRepository` over SQLAlchemy."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        # hot-path statements run on a Core connection: no ORM session machinery per query
        self._engine: AsyncEngine = sessions.kw["bind"]

    def _where(self, username: str, domain: str) -> tuple[ColumnElement[bool], ...]:
        return (User.username == username, User.domain == domain)

    async def add(self, username: str, domain: str, creds: Mapping[str, StoredScram]) -> bool:
        values = {
            "username": username,
            "domain": domain,
            "created_at": utcnow(),
            "last_login": None,
            **_scram_columns(creds),
        }
        async with self._sessions.begin() as session:
            return await _insert_if_absent(session, User, values, ("username", "domain"))

    async def get_scram(self, username: str, domain: str, hash_name: str) -> StoredScram | None:
        stmt = _SCRAM_SELECT[_scram_hash(hash_name)]
        async with self._engine.connect() as connection:
            row = await connection.execute(stmt, {"username": username, "domain": domain})
            found = row.one_or_none()
        if found is None or any(value is None for value in found):
            return None
        salt, iterations, stored_key, server_key = found
        return StoredScram(
            salt=bytes(salt),
            iterations=int(iterations),
            stored_key=bytes(stored_key),
            server_key=bytes(server_key),
        )

    async def set_password_creds(
        self, username: str, domain: str, creds: Mapping[str, StoredScram]
    ) -> bool:
        stmt = update(User).where(*self._where(username, domain)).values(**_scram_columns(creds))
        bare = _bare(username, domain)
        async with self._sessions.begin() as session:
            result = await session.execute(stmt)
            # a new password revokes the FAST tokens (XEP-0484) handed out under the old one
            await session.execute(delete(FastTokenRow).where(FastTokenRow.owner == bare))
        return _rowcount(result) > 0

    async def delete(self, username: str, domain: str) -> bool:
        bare = _bare(username, domain)
        async with self._sessions.begin() as session:
            result = await session.execute(delete(User).where(*self._where(username, domain)))
            if _rowcount(result) == 0:
                return False
            await session.execute(delete(RosterItemRow).where(RosterItemRow.owner == bare))
            await session.execute(delete(OfflineMessage).where(OfflineMessage.owner == bare))
            await session.execute(delete(ArchiveMessageRow).where(ArchiveMessageRow.owner == bare))
            await session.execute(delete(BlocklistItemRow).where(BlocklistItemRow.owner == bare))
            await session.execute(delete(VCardRow).where(VCardRow.owner == bare))
            await session.execute(delete(FastTokenRow).where(FastTokenRow.owner == bare))
            await session.execute(delete(PepItemRow).where(PepItemRow.owner == bare))
            await session.execute(delete(PepNodeRow).where(PepNodeRow.owner == bare))
            await session.execute(
                delete(PushRegistrationRow).where(PushRegistrationRow.owner == bare)
            )
        return True

    async def list(self, domain: str | None = None) -> builtins.list[str]:
        stmt = select(User.username, User.domain)
        if domain is not None:
            stmt = stmt.where(User.domain == domain)
        async with self._sessions() as session:
            rows = (await session.execute(stmt)).all()
        # Sorted here, not by ORDER BY: database collations differ between backends.
        return sorted(_bare(username, user_domain) for username, user_domain in rows)

    async def exists(self, username: str, domain: str) -> bool:
        params = {"username": username, "domain": domain}
        async with self._engine.connect() as connection:
            return (await connection.execute(_USER_EXISTS, params)).first() is not None

    async def count(self, domain: str | None = None) -> int:
        stmt = select(func.count()).select_from(User)
        if domain is not None:
            stmt = stmt.where(User.domain == domain)
        async with self._sessions() as session:
            return int((await session.execute(stmt)).scalar_one())

    async def touch_last_login(
        self, username: str, domain: str, when: dt.datetime | None = None
    ) -> None:
        if when is not None and when.utcoffset() is None:
            raise ValueError("touch_last_login needs a timezone-aware datetime")
        stmt = (
            update(User)
            .where(*self._where(username, domain))
            .values(last_login=when if when is not None else utcnow())
        )
        async with self._sessions.begin() as session:
            await session.execute(stmt)

    async def touch_last_logins(
        self, usernames: Sequence[str], domain: str, when: dt.datetime
    ) -> None:
        if when.utcoffset() is None:
            raise ValueError("touch_last_logins needs a timezone-aware datetime")
        if not usernames:
            return
        stmt = (
            update(User)
            .where(User.username.in_(list(usernames)), User.domain == domain)
            .values(last_login=when)
        )
        async with self._sessions.begin() as session:
            await session.execute(stmt)

    async def last_login(self, username: str, domain: str) -> dt.datetime | None:
        stmt = select(User.last_login).where(*self._where(username, domain))
        async with self._sessions() as session:
            return (await session.execute(stmt)).scalar_one_or_none()


def _roster_item(row: RosterItemRow | Row[Any]) -> RosterItem:
    return RosterItem(
        owner=row.owner,
        contact=row.contact,
        name=row.name,
        subscription=Subscription(row.subscription),
        ask_out=row.ask_out,
        pending_in=row.pending_in,
        approved=row.approved,
        listed=row.listed,
        groups=tuple(row.groups),
    )


class SqlRosterRepository:
    """:class:`~.repositories.RosterRepository` over SQLAlchemy."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        # hot-path statements run on a Core connection: no ORM session machinery per query
        self._engine: AsyncEngine = sessions.kw["bind"]

    async def get_roster(self, owner: str) -> list[RosterItem]:
        async with self._engine.connect() as connection:
            rows = (await connection.execute(_ROSTER_SELECT, {"owner": owner})).all()
        return sorted((_roster_item(row) for row in rows), key=lambda item: item.contact)

    async def get_item(self, owner: str, contact: str) -> RosterItem | None:
        stmt = select(RosterItemRow).where(
            RosterItemRow.owner == owner, RosterItemRow.contact == contact
        )
        async with self._sessions() as session:
            row = (await session.scalars(stmt)).one_or_none()
        return None if row is None else _roster_item(row)

    async def upsert(self, item: RosterItem) -> None:
        values = {
            "owner": item.owner,
            "contact": item.contact,
            "name": item.name,
            "subscription": Subscription(item.subscription).value,
            "ask_out": item.ask_out,
            "pending_in": item.pending_in,
            "approved": item.approved,
            "listed": item.listed,
            "groups": list(item.groups),
        }
        async with self._sessions.begin() as session:
            await _upsert(session, RosterItemRow, values, ("owner", "contact"))

    async def remove(self, owner: str, contact: str) -> bool:
        stmt = delete(RosterItemRow).where(
            RosterItemRow.owner == owner, RosterItemRow.contact == contact
        )
        async with self._sessions.begin() as session:
            result = await session.execute(stmt)
        return _rowcount(result) > 0


class SqlOfflineRepository:
    """:class:`~.repositories.OfflineRepository` over SQLAlchemy."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        # hot-path statements run on a Core connection: no ORM session machinery per query
        self._engine: AsyncEngine = sessions.kw["bind"]

    async def store(self, owner: str, stanza_xml: str, *, limit: int) -> bool:
        stored = (
            select(func.count())
            .select_from(OfflineMessage)
            .where(OfflineMessage.owner == owner)
            .scalar_subquery()
        )
        row = select(
            literal(owner, String()),
            literal(stanza_xml, String()),
            literal(utcnow(), UTCDateTime()),
        ).where(stored < literal(limit, Integer()))
        stmt = insert(OfflineMessage).from_select(["owner", "stanza", "created_at"], row)
        async with self._sessions.begin() as session:
            if await _dialect_name(session) == "postgresql":
                # Under READ COMMITTED two writers could both see limit-1 rows; serialize them
                # per owner until commit. (SQLite runs one write statement at a time anyway.)
                await session.execute(
                    select(
                        func.pg_advisory_xact_lock(
                            literal(_OFFLINE_LOCK_CLASS, Integer()), func.hashtext(owner)
                        )
                    )
                )
            result = await session.execute(stmt)
        return _rowcount(result) == 1

    async def pop_all(self, owner: str) -> list[str]:
        async with self._engine.connect() as connection:
            if (await connection.execute(_OFFLINE_PROBE, {"owner": owner})).first() is None:
                return []  # the usual case: a read, no write transaction
        stmt = (
            delete(OfflineMessage)
            .where(OfflineMessage.owner == owner)
            .returning(OfflineMessage.id, OfflineMessage.stanza)
        )
        async with self._sessions.begin() as session:
            rows = (await session.execute(stmt)).all()
        # RETURNING has no defined order; ids are allocated in arrival order.
        return [stanza for _id, stanza in sorted(rows, key=lambda row: int(row[0]))]

    async def count(self, owner: str) -> int:
        stmt = select(func.count()).select_from(OfflineMessage).where(OfflineMessage.owner == owner)
        async with self._sessions() as session:
            return int((await session.execute(stmt)).scalar_one())


def _session_values(row: SessionRow) -> dict[str, Any]:
    return {
        "bare_jid": row.bare_jid,
        "resource": row.resource,
        "node_id": row.node_id,
        "transport": Transport(row.transport).value,
        "connected_since": row.connected_since,
        "priority": row.priority,
    }


def _session_row(row: UserSessionRow) -> SessionRow:
    return SessionRow(
        bare_jid=row.bare_jid,
        resource=row.resource,
        node_id=row.node_id,
        transport=Transport(row.transport),
        connected_since=row.connected_since,
        priority=row.priority,
    )


class SqlSessionRepository:
    """:class:`~.repositories.SessionRepository` over SQLAlchemy."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        # hot-path statements run on a Core connection: no ORM session machinery per query
        self._engine: AsyncEngine = sessions.kw["bind"]

    async def add(self, row: SessionRow) -> None:
        async with self._sessions.begin() as session:
            await _upsert(session, UserSessionRow, _session_values(row), ("bare_jid", "resource"))

    async def remove(self, bare_jid: str, resource: str) -> bool:
        stmt = delete(UserSessionRow).where(
            UserSessionRow.bare_jid == bare_jid, UserSessionRow.resource == resource
        )
        async with self._sessions.begin() as session:
            result = await session.execute(stmt)
        return _rowcount(result) > 0

    async def apply(self, adds: Sequence[SessionRow], removes: Sequence[tuple[str, str]]) -> None:
        keys = [*removes, *((row.bare_jid, row.resource) for row in adds)]
        values = [_session_values(row) for row in adds]
        async with self._sessions.begin() as session:
            if keys:
                await session.execute(
                    delete(UserSessionRow).where(
                        tuple_(UserSessionRow.bare_jid, UserSessionRow.resource).in_(keys)
                    )
                )
            if values:
                await session.execute(insert(UserSessionRow), values)

    async def remove_node(self, node_id: str) -> int:
        stmt = delete(UserSessionRow).where(UserSessionRow.node_id == node_id)
        async with self._sessions.begin() as session:
            result = await session.execute(stmt)
        return _rowcount(result)

    async def list_node(self, node_id: str) -> list[SessionRow]:
        stmt = select(UserSessionRow).where(UserSessionRow.node_id == node_id)
        async with self._sessions() as session:
            rows = (await session.scalars(stmt)).all()
        return sorted((_session_row(row) for row in rows), key=lambda row: row.full_jid)

    async def list_user(self, bare_jid: str) -> list[SessionRow]:
        stmt = select(UserSessionRow).where(UserSessionRow.bare_jid == bare_jid)
        async with self._sessions() as session:
            rows = (await session.scalars(stmt)).all()
        return sorted((_session_row(row) for row in rows), key=lambda row: row.resource)

    async def set_priority(self, bare_jid: str, resource: str, priority: int) -> bool:
        stmt = (
            update(UserSessionRow)
            .where(UserSessionRow.bare_jid == bare_jid, UserSessionRow.resource == resource)
            .values(priority=priority)
        )
        async with self._sessions.begin() as session:
            result = await session.execute(stmt)
        return _rowcount(result) > 0


def _aware(when: dt.datetime, what: str) -> dt.datetime:
    if when.utcoffset() is None:
        raise ValueError(f"{what} needs a timezone-aware datetime")
    return when


class SqlRefreshTokenRepository:
    """:class:`~.repositories.RefreshTokenRepository` over SQLAlchemy.

    ``use`` is one conditional ``UPDATE … RETURNING``: a concurrent use of the same token
    either wins it or (PostgreSQL re-checks the condition after the winner commits; SQLite
    runs one writer at a time) matches no row and reads the winner's ``used_at``.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(
        self,
        jti: str,
        family: str,
        username: str,
        issued_at: dt.datetime,
        expires_at: dt.datetime,
    ) -> None:
        stmt = insert(RefreshTokenRow).values(
            jti=jti,
            family=family,
            username=username,
            issued_at=_aware(issued_at, "add"),
            expires_at=_aware(expires_at, "add"),
            used_at=None,
            revoked=False,
        )
        async with self._sessions.begin() as session:
            await session.execute(stmt)

    async def use(self, jti: str, now: dt.datetime) -> UseResult:
        _aware(now, "use")
        row = RefreshTokenRow
        claim = (
            update(row)
            .where(
                row.jti == jti,
                row.used_at.is_(None),
                row.revoked.is_(False),
                row.expires_at > now,
            )
            .values(used_at=now)
            .returning(row.username, row.family)
        )
        probe = select(row.username, row.family, row.used_at, row.revoked).where(row.jti == jti)
        async with self._sessions.begin() as session:
            won = (await session.execute(claim)).one_or_none()
            if won is not None:
                return UseResult(RefreshUse.OK, won.username, won.family)
            found = (await session.execute(probe)).one_or_none()
        if found is None:
            return UseResult(RefreshUse.UNKNOWN)
        # A used or revoked token is a reuse even once expired: its family is suspect.
        status = (
            RefreshUse.REUSED if found.used_at is not None or found.revoked else RefreshUse.EXPIRED
        )
        return UseResult(status, found.username, found.family)

    async def revoke_family(self, family: str) -> int:
        stmt = (
            update(RefreshTokenRow)
            .where(RefreshTokenRow.family == family, RefreshTokenRow.revoked.is_(False))
            .values(revoked=True)
        )
        async with self._sessions.begin() as session:
            return _rowcount(await session.execute(stmt))

    async def revoke_user(self, username: str) -> int:
        stmt = (
            update(RefreshTokenRow)
            .where(RefreshTokenRow.username == username, RefreshTokenRow.revoked.is_(False))
            .values(revoked=True)
        )
        async with self._sessions.begin() as session:
            return _rowcount(await session.execute(stmt))

    async def purge_expired(self, now: dt.datetime) -> int:
        stmt = delete(RefreshTokenRow).where(
            RefreshTokenRow.expires_at <= _aware(now, "purge_expired")
        )
        async with self._sessions.begin() as session:
            return _rowcount(await session.execute(stmt))


@dataclass(frozen=True, slots=True)
class Storage:
    """The repositories over one engine. Call :meth:`close` once, at shutdown."""

    engine: AsyncEngine
    users: UserRepository
    roster: RosterRepository
    offline: OfflineRepository
    sessions: SessionRepository
    refresh_tokens: RefreshTokenRepository
    calls: CallRepository
    archive: ArchiveRepository
    blocklist: BlocklistRepository
    vcards: VCardRepository
    fast_tokens: FastTokenRepository
    pep: PepRepository
    push: PushRepository

    async def ping(self) -> None:
        """Run ``SELECT 1`` (health checks); raises the driver's error when the database does
        not answer. Bound the wait with ``asyncio.timeout``: a pool at its limit queues this."""
        async with self.engine.connect() as connection:
            await connection.execute(select(literal(1, Integer())))

    async def close(self) -> None:
        """Close every pooled connection. The repositories must not be used afterwards."""
        await self.engine.dispose()


async def open_storage(url: str) -> Storage:
    """Storage over a (migrated) database at ``url``; see :func:`.engine.create_engine`.

    Connects once, so that an unreachable database fails here (with the driver's exception,
    wrapped by SQLAlchemy as ``sqlalchemy.exc.OperationalError`` / ``InterfaceError`` or an
    ``OSError``) rather than at the first stanza. It does not check the schema revision:
    compare ``migrate.current(url)`` with ``migrate.head()`` for that.
    """
    engine = create_engine(url)
    try:
        async with engine.connect():
            pass
    except BaseException:
        await engine.dispose()
        raise
    sessions = session_factory(engine)
    return Storage(
        engine=engine,
        users=SqlUserRepository(sessions),
        roster=SqlRosterRepository(sessions),
        offline=SqlOfflineRepository(sessions),
        sessions=SqlSessionRepository(sessions),
        refresh_tokens=SqlRefreshTokenRepository(sessions),
        calls=SqlCallRepository(sessions),
        archive=SqlArchiveRepository(sessions),
        blocklist=SqlBlocklistRepository(sessions),
        vcards=SqlVCardRepository(sessions),
        fast_tokens=SqlFastTokenRepository(sessions),
        pep=SqlPepRepository(sessions),
        push=SqlPushRepository(sessions),
    )
