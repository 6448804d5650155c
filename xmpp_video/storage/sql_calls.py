"""The ``call_session`` repository over SQLAlchemy (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .models import CallSessionRow
from .repositories import CallRecord


def _values(record: CallRecord) -> dict[str, Any]:
    return {
        "call_id": record.call_id,
        "caller": record.caller,
        "caller_device": record.caller_device,
        "callee": record.callee,
        "devices": list(record.devices),
        "answered_by": record.answered_by,
        "media": ",".join(record.media),
        "state": record.state,
        "node_id": record.node_id,
        "proposed_at": record.proposed_at,
        "ringing_at": record.ringing_at,
        "answered_at": record.answered_at,
        "active_at": record.active_at,
        "ended_at": record.ended_at,
        "end_reason": record.end_reason,
        "ended_by": record.ended_by,
    }


def _record(row: CallSessionRow) -> CallRecord:
    return CallRecord(
        call_id=row.call_id,
        caller=row.caller,
        caller_device=row.caller_device,
        callee=row.callee,
        media=tuple(m for m in row.media.split(",") if m),
        state=row.state,
        node_id=row.node_id,
        proposed_at=row.proposed_at,
        devices=tuple(row.devices),
        answered_by=row.answered_by,
        ringing_at=row.ringing_at,
        answered_at=row.answered_at,
        active_at=row.active_at,
        ended_at=row.ended_at,
        end_reason=row.end_reason,
        ended_by=row.ended_by,
    )


class SqlCallRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def save(self, record: CallRecord) -> None:
        # merge: a SELECT then an INSERT or UPDATE, the same on both backends (calls are rare
        # next to stanzas; one process writes one call's row at a time)
        async with self._sessions.begin() as session:
            await session.merge(CallSessionRow(**_values(record)))

    async def get(self, call_id: str) -> CallRecord | None:
        async with self._sessions() as session:
            row = await session.get(CallSessionRow, call_id)
            return None if row is None else _record(row)

    async def live(self) -> Sequence[CallRecord]:
        stmt = (
            select(CallSessionRow)
            .where(CallSessionRow.ended_at.is_(None))
            .order_by(CallSessionRow.proposed_at)
        )
        async with self._sessions() as session:
            return [_record(row) for row in (await session.scalars(stmt)).all()]

    async def between(
        self, start: dt.datetime, end: dt.datetime, *, user: str | None = None
    ) -> Sequence[CallRecord]:
        stmt = select(CallSessionRow).where(
            CallSessionRow.proposed_at >= start, CallSessionRow.proposed_at < end
        )
        if user is not None:
            stmt = stmt.where(or_(CallSessionRow.caller == user, CallSessionRow.callee == user))
        async with self._sessions() as session:
            rows = (await session.scalars(stmt.order_by(CallSessionRow.proposed_at))).all()
            return [_record(row) for row in rows]
