"""The shared database fixtures keep their promise: every test sees a just-migrated database."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from tests.db_fixtures import PostgresPool, PostgresServer
from xmpp_video.storage import migrate


async def _query(pool: PostgresPool, database: str, sql: str) -> Any:
    connection = await pool.server.connect(database)
    try:
        return await connection.fetch(sql)
    finally:
        await connection.close()


def query(pool: PostgresPool, database: str, sql: str) -> Any:
    """Rows of one SQL statement run on ``database``."""
    return asyncio.run(_query(pool, database, sql))


def test_recycled_postgres_database_is_like_new(xv_postgres_pool: PostgresPool) -> None:
    pool = xv_postgres_pool
    name = pool.acquire()
    try:
        query(
            pool,
            name,
            "INSERT INTO offline_messages (owner, stanza, created_at) "
            "VALUES ('a', 'x', now()), ('a', 'y', now())",
        )
    finally:
        pool.release(name)

    again = pool.acquire()
    try:
        assert again == name
        assert query(pool, again, "SELECT count(*) AS n FROM offline_messages")[0]["n"] == 0
        rows = query(
            pool,
            again,
            "INSERT INTO offline_messages (owner, stanza, created_at) "
            "VALUES ('a', 'z', now()) RETURNING id",
        )
        assert rows[0]["id"] == 1  # sequences start over
        assert migrate.current(pool.server.url_for(again)) == migrate.head()
    finally:
        pool.release(again)


def test_postgres_database_with_changed_schema_is_dropped(xv_postgres_pool: PostgresPool) -> None:
    pool = xv_postgres_pool
    name = pool.acquire()
    try:
        query(pool, name, "ALTER TABLE users ADD COLUMN nickname text")
    finally:
        pool.release(name)

    assert name not in pool.idle
    with pytest.raises(asyncpg.InvalidCatalogNameError):
        query(pool, name, "SELECT 1")


def test_leftover_connections_do_not_block_recycling(xv_postgres_pool: PostgresPool) -> None:
    pool = xv_postgres_pool
    name = pool.acquire()

    async def leak_and_release() -> None:
        leaked = await pool.server.connect(name)
        await leaked.execute("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        await asyncio.to_thread(pool.release, name)
        assert leaked.is_closed() or not await _alive(leaked)

    asyncio.run(leak_and_release())
    assert name in pool.idle


def test_unreleased_databases_are_dropped_with_the_pool(xv_postgres: PostgresServer) -> None:
    template = xv_postgres.create_database()
    try:
        pool = PostgresPool(xv_postgres, template, "unused")
        names = [pool.acquire(), pool.acquire()]
        pool.release(names[0])  # fingerprint mismatch: dropped now
        pool.close()
        for name in names:
            with pytest.raises(asyncpg.InvalidCatalogNameError):
                query(pool, name, "SELECT 1")
    finally:
        xv_postgres.drop_database(template)


async def _alive(connection: asyncpg.Connection) -> bool:
    try:
        await connection.fetchval("SELECT 1")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        return False
    return True


@pytest.mark.asyncio
async def test_migrated_database_url_is_at_head(migrated_database_url: str) -> None:
    assert await asyncio.to_thread(migrate.current, migrated_database_url) == migrate.head()
