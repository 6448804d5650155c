"""Engine configuration and portable datetimes."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.exc import StatementError

from xmpp_video.storage.engine import create_engine
from xmpp_video.storage.migrate import upgrade
from xmpp_video.storage.models import User
from xmpp_video.storage.repositories import SessionRow, Transport
from xmpp_video.storage.sql import Storage, open_storage

from .factories import DOMAIN, both_creds


@pytest.mark.asyncio
async def test_sqlite_pragmas_on_every_connection(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'new' / 'dir' / 'xv.db'}")
    try:
        for _ in range(2):  # the pool holds one connection: the second round is a new one
            async with engine.connect() as connection:
                pragma = connection.exec_driver_sql
                assert (await pragma("PRAGMA journal_mode")).scalar() == "wal"
                assert (await pragma("PRAGMA foreign_keys")).scalar() == 1
                assert (await pragma("PRAGMA busy_timeout")).scalar() == 10_000
            await engine.dispose()
    finally:
        await engine.dispose()
    assert (tmp_path / "new" / "dir" / "xv.db").is_file()


@pytest.mark.parametrize(
    "url",
    ["postgresql://postgres@localhost/db", "sqlite:///x.db", "mysql+aiomysql://u@h/db"],
)
def test_other_drivers_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="unsupported database URL driver"):
        create_engine(url)


def test_postgresql_pool_settings() -> None:
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    try:
        pool = engine.sync_engine.pool
        assert pool.size() == 10  # type: ignore[attr-defined]
    finally:
        engine.sync_engine.dispose()


@pytest.mark.asyncio
async def test_naive_datetimes_are_refused_at_bind_time(storage: Storage) -> None:
    await storage.users.add("alice", DOMAIN, both_creds(1))
    naive = dt.datetime(2025, 1, 1)
    async with storage.engine.begin() as connection:
        with pytest.raises(StatementError, match="naive datetime"):
            await connection.execute(update(User).values(last_login=naive))


def test_naive_connected_since_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SessionRow("alice@example.org", "phone", "node-a", Transport.TCP, dt.datetime(2025, 1, 1))


@pytest.mark.asyncio
async def test_open_storage_fails_fast_when_the_database_is_unreachable() -> None:
    with pytest.raises(ConnectionRefusedError):
        await open_storage("postgresql+asyncpg://postgres@127.0.0.1:1/nothing")


@pytest.mark.asyncio
async def test_sqlite_concurrent_writers_queue_instead_of_failing(tmp_path: Path) -> None:
    """Hundreds of simultaneous writes (a burst of offline messages) all land: none gets
    'database is locked'."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'xv.db'}"
    await asyncio.to_thread(upgrade, url)
    storage = await open_storage(url)
    try:
        results = await asyncio.gather(
            *(
                storage.offline.store(f"u{i % 7}@localhost", f"<message id='{i}'/>", limit=10_000)
                for i in range(500)
            )
        )
        assert all(results)
        counts = [await storage.offline.count(f"u{i}@localhost") for i in range(7)]
        assert sum(counts) == 500
    finally:
        await storage.close()
