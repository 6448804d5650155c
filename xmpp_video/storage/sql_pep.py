"""The PEP (XEP-0163) repository over SQLAlchemy, for SQLite and PostgreSQL.

Node creation is an ``INSERT … ON CONFLICT DO NOTHING``, so that two publishes auto-creating
the same node at once never fail on the unique constraint; a publish replaces an item of the
same id by deleting it and inserting the new one (which thereby becomes the newest), then trims
the node to its newest items, all in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, Result, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from .models import PepItemRow, PepNodeRow, utcnow
from .pep import PepItem, PepNode


def _rowcount(result: Result[Any]) -> int:
    return cast(CursorResult[Any], result).rowcount


async def _create(session: AsyncSession, owner: str, node: str, config: Mapping[str, str]) -> bool:
    values = {"owner": owner, "node": node, "config": dict(config), "created_at": utcnow()}
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        pg_stmt = postgresql.insert(PepNodeRow).values(values)
        result = await session.execute(
            pg_stmt.on_conflict_do_nothing(index_elements=["owner", "node"])
        )
    else:
        lite_stmt = sqlite.insert(PepNodeRow).values(values)
        result = await session.execute(
            lite_stmt.on_conflict_do_nothing(index_elements=["owner", "node"])
        )
    return _rowcount(result) == 1


class SqlPepRepository:
    """:class:`~.pep.PepRepository` over SQLAlchemy."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._engine: AsyncEngine = sessions.kw["bind"]

    async def nodes(self, owner: str) -> list[PepNode]:
        stmt = select(PepNodeRow.node, PepNodeRow.config).where(PepNodeRow.owner == owner)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(stmt)).all()
        # sorted here, not by ORDER BY: collations differ between backends
        return sorted(
            (PepNode(owner, node, dict(config)) for node, config in rows), key=lambda n: n.node
        )

    async def create(self, owner: str, node: str, config: Mapping[str, str]) -> bool:
        async with self._sessions.begin() as session:
            return await _create(session, owner, node, config)

    async def configure(self, owner: str, node: str, config: Mapping[str, str]) -> bool:
        stmt = (
            update(PepNodeRow)
            .where(PepNodeRow.owner == owner, PepNodeRow.node == node)
            .values(config=dict(config))
        )
        async with self._sessions.begin() as session:
            return _rowcount(await session.execute(stmt)) > 0

    async def delete(self, owner: str, node: str) -> bool:
        async with self._sessions.begin() as session:
            await session.execute(
                delete(PepItemRow).where(PepItemRow.owner == owner, PepItemRow.node == node)
            )
            result = await session.execute(
                delete(PepNodeRow).where(PepNodeRow.owner == owner, PepNodeRow.node == node)
            )
        return _rowcount(result) > 0

    async def publish(
        self,
        owner: str,
        node: str,
        item: PepItem,
        *,
        keep: int,
        create: Mapping[str, str] | None = None,
    ) -> None:
        of_node = (PepItemRow.owner == owner, PepItemRow.node == node)
        async with self._sessions.begin() as session:
            if create is not None:
                await _create(session, owner, node, create)
            await session.execute(
                delete(PepItemRow).where(*of_node, PepItemRow.item_id == item.item_id)
            )
            if keep <= 0:
                await session.execute(delete(PepItemRow).where(*of_node))
                return
            session.add(
                PepItemRow(
                    owner=owner,
                    node=node,
                    item_id=item.item_id,
                    payload=item.payload,
                    published_at=item.published_at,
                )
            )
            await session.flush()
            newest = (
                select(PepItemRow.id).where(*of_node).order_by(PepItemRow.id.desc()).limit(keep)
            )
            await session.execute(
                delete(PepItemRow).where(*of_node, PepItemRow.id.not_in(newest.scalar_subquery()))
            )

    async def items(
        self,
        owner: str,
        node: str,
        *,
        last: int | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[PepItem]:
        stmt = select(PepItemRow.item_id, PepItemRow.payload, PepItemRow.published_at).where(
            PepItemRow.owner == owner, PepItemRow.node == node
        )
        if ids is not None:
            if not ids:
                return []
            stmt = stmt.where(PepItemRow.item_id.in_(list(ids)))
        stmt = stmt.order_by(PepItemRow.id.desc())
        if last is not None:
            stmt = stmt.limit(last)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(stmt)).all()
        return [PepItem(item_id, payload, published_at) for item_id, payload, published_at in rows][
            ::-1
        ]

    async def retract(self, owner: str, node: str, item_id: str) -> bool:
        stmt = delete(PepItemRow).where(
            PepItemRow.owner == owner, PepItemRow.node == node, PepItemRow.item_id == item_id
        )
        async with self._sessions.begin() as session:
            return _rowcount(await session.execute(stmt)) > 0

    async def purge(self, owner: str, node: str) -> int:
        stmt = delete(PepItemRow).where(PepItemRow.owner == owner, PepItemRow.node == node)
        async with self._sessions.begin() as session:
            return _rowcount(await session.execute(stmt))

    async def delete_owner(self, owner: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(delete(PepItemRow).where(PepItemRow.owner == owner))
            await session.execute(delete(PepNodeRow).where(PepNodeRow.owner == owner))
