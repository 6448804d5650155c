"""The FAST token repository (XEP-0484) over SQLAlchemy, for SQLite and PostgreSQL.

Rows hold hashes of tokens, never tokens (``xmpp_video.auth.fast``). ``put_new`` is an upsert on
(owner, client_id, slot) and ``use`` one transaction whose first statement is a conditional
``UPDATE … RETURNING``: of two concurrent uses of one token with the same ``count``, one wins
(PostgreSQL re-checks the condition after the winner commits; SQLite runs one writer at a time).
"""

from __future__ import annotations

import builtins
import datetime as dt
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Result, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .models import FastTokenRow
from .repositories import StoredFastToken

_KEYS = ("owner", "client_id", "slot")


def _rowcount(result: Result[Any]) -> int:
    return cast(CursorResult[Any], result).rowcount


def _aware(when: dt.datetime, what: str) -> dt.datetime:
    if when.utcoffset() is None:
        raise ValueError(f"{what} needs a timezone-aware datetime")
    return when


def _stored(row: FastTokenRow) -> StoredFastToken:
    return StoredFastToken(
        id=row.id,
        owner=row.owner,
        client_id=row.client_id,
        slot=row.slot,
        mechanism=row.mechanism,
        verifier=bytes(row.verifier),
        responder=bytes(row.responder),
        last_count=row.last_count,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


class SqlFastTokenRepository:
    """:class:`~.repositories.FastTokenRepository` over SQLAlchemy."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

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
        values = {
            "owner": owner,
            "client_id": client_id,
            "slot": "new",
            "mechanism": mechanism,
            "verifier": verifier,
            "responder": responder,
            "last_count": None,
            "created_at": _aware(created_at, "put_new"),
            "expires_at": _aware(expires_at, "put_new"),
        }
        updates = {name: value for name, value in values.items() if name not in _KEYS}
        expired = delete(FastTokenRow).where(
            FastTokenRow.owner == owner, FastTokenRow.expires_at <= created_at
        )
        async with self._sessions.begin() as session:
            await session.execute(expired)
            connection = await session.connection()
            if connection.dialect.name == "postgresql":
                pg_stmt = postgresql.insert(FastTokenRow).values(**values)
                stmt: Any = pg_stmt.on_conflict_do_update(index_elements=_KEYS, set_=updates)
            else:
                lite_stmt = sqlite.insert(FastTokenRow).values(**values)
                stmt = lite_stmt.on_conflict_do_update(index_elements=_KEYS, set_=updates)
            await session.execute(stmt)

    async def get(self, owner: str, client_id: str) -> builtins.list[StoredFastToken]:
        stmt = select(FastTokenRow).where(
            FastTokenRow.owner == owner, FastTokenRow.client_id == client_id
        )
        async with self._sessions() as session:
            rows = (await session.scalars(stmt)).all()
        # "new" before "current": the order in which XEP-0484 §6 checks the slots
        return sorted((_stored(row) for row in rows), key=lambda token: token.slot != "new")

    async def use(self, token_id: int, count: int | None, now: dt.datetime) -> bool:
        row = FastTokenRow
        counted: ColumnElement[bool] = row.last_count.is_(None)
        if count is not None:
            counted = or_(counted, row.last_count < count)
        claim = (
            update(row)
            .where(row.id == token_id, row.expires_at > _aware(now, "use"), counted)
            .values(last_count=row.last_count if count is None else count)
            .returning(row.owner, row.client_id, row.slot)
        )
        async with self._sessions.begin() as session:
            won = (await session.execute(claim)).one_or_none()
            if won is None:
                return False
            if won.slot == "new":
                await session.execute(
                    delete(row).where(
                        row.owner == won.owner,
                        row.client_id == won.client_id,
                        row.slot == "current",
                    )
                )
                await session.execute(update(row).where(row.id == token_id).values(slot="current"))
        return True

    async def delete(self, token_id: int) -> bool:
        async with self._sessions.begin() as session:
            result = await session.execute(delete(FastTokenRow).where(FastTokenRow.id == token_id))
        return _rowcount(result) > 0

    async def delete_client(self, owner: str, client_id: str) -> int:
        stmt = delete(FastTokenRow).where(
            FastTokenRow.owner == owner, FastTokenRow.client_id == client_id
        )
        async with self._sessions.begin() as session:
            return _rowcount(await session.execute(stmt))

    async def delete_owner(self, owner: str) -> int:
        stmt = delete(FastTokenRow).where(FastTokenRow.owner == owner)
        async with self._sessions.begin() as session:
            return _rowcount(await session.execute(stmt))

    async def list_owner(self, owner: str) -> builtins.list[StoredFastToken]:
        stmt = select(FastTokenRow).where(FastTokenRow.owner == owner)
        async with self._sessions() as session:
            rows = (await session.scalars(stmt)).all()
        return sorted((_stored(r) for r in rows), key=lambda t: (t.client_id, t.slot))

    async def purge_expired(self, now: dt.datetime) -> int:
        stmt = delete(FastTokenRow).where(FastTokenRow.expires_at <= _aware(now, "purge_expired"))
        async with self._sessions.begin() as session:
            return _rowcount(await session.execute(stmt))
