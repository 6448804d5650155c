"""The push registration repository (XEP-0357) over SQLAlchemy, for SQLite and PostgreSQL.

``save`` is an ``INSERT … ON CONFLICT (owner, service, node) DO UPDATE``: two enables of one
registration at once never fail on the unique constraint. Publish options are kept as a JSON
list of ``[var, [values…]]`` pairs, in the client's order.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, Result, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from .models import PushRegistrationRow, utcnow
from .push import PublishOptions, PushRegistration

_KEYS = ("owner", "service", "node")


def _options_json(options: PublishOptions) -> list[list[Any]]:
    return [[var, list(values)] for var, values in options]


def _options(raw: Any) -> PublishOptions:
    if not isinstance(raw, list):
        return ()
    return tuple((str(var), tuple(str(v) for v in values)) for var, values in raw)


def _registration(row: PushRegistrationRow) -> PushRegistration:
    return PushRegistration(
        owner=row.owner,
        resource=row.resource,
        service=row.service,
        node=row.node,
        options=_options(row.options),
        enabled_at=row.enabled_at,
    )


class SqlPushRepository:
    """:class:`~.push.PushRepository` over SQLAlchemy."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._engine: AsyncEngine = sessions.kw["bind"]

    async def list(self, owner: str) -> builtins.list[PushRegistration]:
        stmt = (
            select(PushRegistrationRow)
            .where(PushRegistrationRow.owner == owner)
            .order_by(PushRegistrationRow.id)
        )
        async with self._sessions() as session:
            rows = (await session.execute(stmt)).scalars().all()
            return [_registration(row) for row in rows]

    async def save(self, registration: PushRegistration) -> None:
        values = {
            "owner": registration.owner,
            "resource": registration.resource,
            "service": registration.service,
            "node": registration.node,
            "options": _options_json(registration.options),
            "enabled_at": utcnow(),
        }
        updates = {key: values[key] for key in ("resource", "options", "enabled_at")}
        async with self._sessions.begin() as session:
            connection = await session.connection()
            if connection.dialect.name == "postgresql":
                pg_stmt = postgresql.insert(PushRegistrationRow).values(values)
                await session.execute(
                    pg_stmt.on_conflict_do_update(index_elements=list(_KEYS), set_=updates)
                )
            else:
                lite_stmt = sqlite.insert(PushRegistrationRow).values(values)
                await session.execute(
                    lite_stmt.on_conflict_do_update(index_elements=list(_KEYS), set_=updates)
                )

    async def remove(self, owner: str, service: str | None = None, node: str | None = None) -> int:
        stmt = delete(PushRegistrationRow).where(PushRegistrationRow.owner == owner)
        if service is not None:
            stmt = stmt.where(PushRegistrationRow.service == service)
            if node is not None:
                stmt = stmt.where(PushRegistrationRow.node == node)
        async with self._sessions.begin() as session:
            result: Result[Any] = await session.execute(stmt)
        return cast(CursorResult[Any], result).rowcount

    async def owners(self) -> Sequence[str]:
        stmt = select(PushRegistrationRow.owner).distinct()
        async with self._engine.connect() as connection:
            rows = (await connection.execute(stmt)).scalars().all()
        return sorted(rows)
