"""The message archive repository (XEP-0313 user archives) over SQLAlchemy, both backends.

Reads run on one Core connection: the archive ids a query names are resolved to row keys first
(``ArchiveIdNotFound`` when one is missing), then one page is read with one row more than asked
(to know whether the selection goes on beyond the page), then the optional counts. Row keys
(``id``) give the archive order; archive ids are opaque.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from .models import ArchiveMessageRow
from .repositories import ArchivedMessage, ArchiveIdNotFound, ArchivePage

_COLUMNS = (
    ArchiveMessageRow.id,
    ArchiveMessageRow.archive_id,
    ArchiveMessageRow.owner,
    ArchiveMessageRow.with_jid,
    ArchiveMessageRow.with_resource,
    ArchiveMessageRow.stamp,
    ArchiveMessageRow.outgoing,
    ArchiveMessageRow.stanza,
)


def _archived(row: Sequence[Any]) -> ArchivedMessage:
    """The value of a row selected as ``_COLUMNS``."""
    _key, archive_id, owner, with_jid, with_resource, stamp, outgoing, stanza = row
    return ArchivedMessage(
        archive_id=archive_id,
        owner=owner,
        with_jid=with_jid,
        with_resource=with_resource,
        stamp=stamp,
        outgoing=bool(outgoing),
        stanza_xml=stanza,
    )


def _aware(when: dt.datetime) -> dt.datetime:
    if when.utcoffset() is None:
        raise ValueError("archive queries need timezone-aware datetimes")
    return when


class SqlArchiveRepository:
    """:class:`~.repositories.ArchiveRepository` over SQLAlchemy."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        # every statement runs on a Core connection: no ORM session machinery per batch/query
        self._engine: AsyncEngine = sessions.kw["bind"]

    async def append(self, messages: Sequence[ArchivedMessage]) -> None:
        if not messages:
            return
        values = [
            {
                "archive_id": message.archive_id,
                "owner": message.owner,
                "with_jid": message.with_jid,
                "with_resource": message.with_resource,
                "stamp": message.stamp,
                "outgoing": message.outgoing,
                "stanza": message.stanza_xml,
            }
            for message in messages
        ]
        async with self._engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                pg_stmt = postgresql.insert(ArchiveMessageRow).on_conflict_do_nothing(
                    index_elements=["archive_id"]
                )
                await connection.execute(pg_stmt, values)
            else:
                lite_stmt = sqlite.insert(ArchiveMessageRow).on_conflict_do_nothing(
                    index_elements=["archive_id"]
                )
                await connection.execute(lite_stmt, values)

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
        if limit < 0:
            raise ValueError("limit must be >= 0")
        row = ArchiveMessageRow
        named = [i for i in (after_id, before_id, page_after, page_before) if i is not None]
        named.extend(ids or ())
        async with self._engine.connect() as connection:
            keys: dict[str, int] = {}
            if named:
                found = await connection.execute(
                    select(row.archive_id, row.id).where(
                        row.owner == owner, row.archive_id.in_(set(named))
                    )
                )
                keys = {archive_id: int(key) for archive_id, key in found.all()}
                for archive_id in named:
                    if archive_id not in keys:
                        raise ArchiveIdNotFound(archive_id)
            where: list[ColumnElement[bool]] = [row.owner == owner]
            if with_ is not None:
                bare, slash, resource = with_.partition("/")
                where.append(row.with_jid == bare)
                if slash:
                    where.append(row.with_resource == resource)
            if start is not None:
                where.append(row.stamp >= _aware(start))
            if end is not None:
                where.append(row.stamp <= _aware(end))
            if after_id is not None:
                where.append(row.id > keys[after_id])
            if before_id is not None:
                where.append(row.id < keys[before_id])
            if ids is not None:
                where.append(row.id.in_([keys[archive_id] for archive_id in ids]))
            page = list(where)
            if page_after is not None:
                page.append(row.id > keys[page_after])
            if page_before is not None:
                page.append(row.id < keys[page_before])
            stmt = (
                select(*_COLUMNS)
                .where(*page)
                .order_by(row.id.desc() if last else row.id)
                .limit(limit + 1)
            )
            rows = list((await connection.execute(stmt)).all())
            complete = len(rows) <= limit
            del rows[limit:]
            if last:
                rows.reverse()
            total = first_index = None
            if count:
                counting = select(func.count()).select_from(row)
                total = int((await connection.execute(counting.where(*where))).scalar_one())
                if rows:
                    before_first = counting.where(*where, row.id < rows[0].id)
                    first_index = int((await connection.execute(before_first)).scalar_one())
        return ArchivePage(
            items=tuple(_archived(found_row) for found_row in rows),
            complete=complete,
            count=total,
            first_index=first_index,
        )

    async def bounds(self, owner: str) -> tuple[ArchivedMessage, ArchivedMessage] | None:
        row = ArchiveMessageRow
        oldest_stmt = select(*_COLUMNS).where(row.owner == owner).order_by(row.id).limit(1)
        newest_stmt = select(*_COLUMNS).where(row.owner == owner).order_by(row.id.desc()).limit(1)
        async with self._engine.connect() as connection:
            oldest = (await connection.execute(oldest_stmt)).one_or_none()
            if oldest is None:
                return None
            newest = (await connection.execute(newest_stmt)).one()
        return _archived(oldest), _archived(newest)

    async def purge(self, owner: str) -> int:
        stmt = delete(ArchiveMessageRow).where(ArchiveMessageRow.owner == owner)
        async with self._engine.begin() as connection:
            result = await connection.execute(stmt)
        return cast(CursorResult[Any], result).rowcount
