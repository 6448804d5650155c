"""Alembic migrations: parity with the models, idempotence, reversibility, thread safety."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, inspect
from sqlalchemy.engine import Connection

from xmpp_video.storage import migrate
from xmpp_video.storage.engine import create_engine
from xmpp_video.storage.models import NAMING_CONVENTION, Base
from xmpp_video.storage.sql import open_storage

from .factories import DOMAIN, both_creds

TABLES_0002 = {
    "alembic_version",
    "users",
    "roster_items",
    "offline_messages",
    "user_session",
    "refresh_token",
}
TABLES_0003 = TABLES_0002 | {"archive_message"}
TABLES_0004 = TABLES_0003 | {"call_session"}
TABLES_0005 = TABLES_0004 | {"blocklist", "vcard"}
TABLES_0006 = TABLES_0005 | {"push_registration"}
TABLES_0007 = TABLES_0006 | {"pep_node", "pep_item"}
TABLES_0008 = TABLES_0007 | {"fast_token"}
TABLES = TABLES_0008  # at head


async def schema_diff(url: str, metadata: MetaData) -> list[Any]:
    def diff(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, metadata))

    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(diff)
    finally:
        await engine.dispose()


async def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


@pytest.mark.asyncio
async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, database_url)

    assert await schema_diff(database_url, Base.metadata) == []
    assert await table_names(database_url) == TABLES


@pytest.mark.asyncio
async def test_schema_comparison_detects_drift(database_url: str) -> None:
    """The parity check above is not vacuous: a model change shows up as a difference."""
    await asyncio.to_thread(migrate.upgrade, database_url)
    drifted = MetaData(naming_convention=NAMING_CONVENTION)
    for table in Base.metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["users"].append_column(Column("nickname", Integer()))

    diffs = await schema_diff(database_url, drifted)

    assert [(diff[0], diff[3].name) for diff in diffs] == [("add_column", "nickname")]


def test_fresh_database_has_no_revision(database_url: str) -> None:
    assert migrate.current(database_url) is None


def test_current_of_a_missing_sqlite_file_does_not_create_it(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "db.sqlite"
    assert migrate.current(f"sqlite+aiosqlite:///{path}") is None
    assert not path.exists()


def test_upgrade_reaches_head(database_url: str) -> None:
    migrate.upgrade(database_url)
    assert migrate.current(database_url) == migrate.head() == "0008"


@pytest.mark.asyncio
async def test_upgrade_twice_is_a_no_op(database_url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, database_url)
    storage = await open_storage(database_url)
    try:
        await storage.users.add("alice", DOMAIN, both_creds(1))
        await storage.offline.store(f"alice@{DOMAIN}", "<message/>", limit=5)

        await asyncio.to_thread(migrate.upgrade, database_url)

        assert await asyncio.to_thread(migrate.current, database_url) == migrate.head()
        assert await storage.users.exists("alice", DOMAIN)
        assert await storage.offline.count(f"alice@{DOMAIN}") == 1
    finally:
        await storage.close()
    assert await schema_diff(database_url, Base.metadata) == []


def test_downgrade_to_base_then_upgrade_again(database_url: str) -> None:
    migrate.upgrade(database_url)
    migrate.downgrade(database_url, "base")
    assert migrate.current(database_url) is None

    migrate.upgrade(database_url)
    assert migrate.current(database_url) == migrate.head()


@pytest.mark.asyncio
async def test_upgrade_called_on_the_event_loop_thread_still_works(database_url: str) -> None:
    """Blocking, but it must not fail with "asyncio.run() cannot be called from a running loop"."""
    migrate.upgrade(database_url)
    assert migrate.current(database_url) == migrate.head()


def test_sqlite_upgrade_creates_parent_directories(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'a' / 'b' / 'xv.db'}"
    migrate.upgrade(url)
    assert (tmp_path / "a" / "b" / "xv.db").is_file()
    assert migrate.current(url) == migrate.head()


def test_percent_in_url_survives_the_config_parser(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / '100%db' / 'xv.db'}"
    migrate.upgrade(url)
    assert migrate.current(url) == migrate.head()


@pytest.mark.asyncio
async def test_0002_adds_and_removes_only_refresh_token(database_url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, database_url, "0001")
    assert await table_names(database_url) == TABLES_0002 - {"refresh_token"}

    await asyncio.to_thread(migrate.upgrade, database_url, "0002")
    assert await table_names(database_url) == TABLES_0002

    await asyncio.to_thread(migrate.downgrade, database_url, "0001")
    assert await table_names(database_url) == TABLES_0002 - {"refresh_token"}
    assert await asyncio.to_thread(migrate.current, database_url) == "0001"


@pytest.mark.asyncio
async def test_0003_adds_and_removes_only_archive_message(database_url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, database_url, "0002")
    await asyncio.to_thread(migrate.upgrade, database_url, "0003")
    assert await table_names(database_url) == TABLES_0003

    await asyncio.to_thread(migrate.downgrade, database_url, "0002")
    assert await table_names(database_url) == TABLES_0002
    assert await asyncio.to_thread(migrate.current, database_url) == "0002"


@pytest.mark.asyncio
async def test_0005_adds_and_removes_only_blocklist_and_vcard(database_url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, database_url, "0004")
    assert await table_names(database_url) == TABLES_0004

    await asyncio.to_thread(migrate.upgrade, database_url, "0005")
    assert await table_names(database_url) == TABLES_0005

    await asyncio.to_thread(migrate.downgrade, database_url, "0004")
    assert await table_names(database_url) == TABLES_0004
    assert await asyncio.to_thread(migrate.current, database_url) == "0004"


@pytest.mark.asyncio
async def test_0007_adds_and_removes_only_the_pep_tables(database_url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, database_url, "0006")
    before = await table_names(database_url)
    assert not before & {"pep_node", "pep_item"}

    await asyncio.to_thread(migrate.upgrade, database_url, "0007")
    assert await table_names(database_url) == before | {"pep_node", "pep_item"}

    await asyncio.to_thread(migrate.downgrade, database_url, "0006")
    assert await table_names(database_url) == before
    assert await asyncio.to_thread(migrate.current, database_url) == "0006"
