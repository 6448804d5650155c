"""The blocklist (XEP-0191) and vCard-temp (XEP-0054) repositories over SQLAlchemy.

Both backends: inserts that may meet an existing row are ``ON CONFLICT`` statements, so that
concurrent writers of one user's rows never fail on the unique constraint.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from .models import BlocklistItemRow, VCardRow, utcnow


class SqlBlocklistRepository:
    """:class:`~.repositories.BlocklistRepository` over SQLAlchemy."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._engine: AsyncEngine = sessions.kw["bind"]

    async def get(self, owner: str) -> list[str]:
        stmt = select(BlocklistItemRow.jid).where(BlocklistItemRow.owner == owner)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(stmt)).scalars().all()
        # sorted here, not by ORDER BY: collations differ between backends
        return sorted(rows)

    async def add(self, owner: str, jids: Sequence[str]) -> None:
        if not jids:
            return
        values = [{"owner": owner, "jid": jid} for jid in dict.fromkeys(jids)]
        async with self._sessions.begin() as session:
            connection = await session.connection()
            if connection.dialect.name == "postgresql":
                pg_stmt = postgresql.insert(BlocklistItemRow).values(values)
                await session.execute(
                    pg_stmt.on_conflict_do_nothing(index_elements=["owner", "jid"])
                )
            else:
                lite_stmt = sqlite.insert(BlocklistItemRow).values(values)
                await session.execute(
                    lite_stmt.on_conflict_do_nothing(index_elements=["owner", "jid"])
                )

    async def remove(self, owner: str, jids: Sequence[str] | None) -> None:
        stmt = delete(BlocklistItemRow).where(BlocklistItemRow.owner == owner)
        if jids is not None:
            if not jids:
                return
            stmt = stmt.where(BlocklistItemRow.jid.in_(list(jids)))
        async with self._sessions.begin() as session:
            await session.execute(stmt)

    async def owners(self) -> list[str]:
        stmt = select(BlocklistItemRow.owner).distinct()
        async with self._engine.connect() as connection:
            rows = (await connection.execute(stmt)).scalars().all()
        return sorted(rows)


class SqlVCardRepository:
    """:class:`~.repositories.VCardRepository` over SQLAlchemy."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._engine: AsyncEngine = sessions.kw["bind"]

    async def get(self, owner: str) -> str | None:
        stmt = select(VCardRow.vcard).where(VCardRow.owner == owner)
        async with self._engine.connect() as connection:
            return (await connection.execute(stmt)).scalar_one_or_none()

    async def set(self, owner: str, vcard_xml: str) -> None:
        values = {"owner": owner, "vcard": vcard_xml, "updated_at": utcnow()}
        updates = {"vcard": vcard_xml, "updated_at": values["updated_at"]}
        async with self._sessions.begin() as session:
            connection = await session.connection()
            if connection.dialect.name == "postgresql":
                pg_stmt = postgresql.insert(VCardRow).values(values)
                await session.execute(
                    pg_stmt.on_conflict_do_update(index_elements=["owner"], set_=updates)
                )
            else:
                lite_stmt = sqlite.insert(VCardRow).values(values)
                await session.execute(
                    lite_stmt.on_conflict_do_update(index_elements=["owner"], set_=updates)
                )
