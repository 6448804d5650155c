"""Database fixtures for every test suite (loaded by the root conftest as a pytest plugin).

Fixtures (each test function gets its own database, so tests never see each other's rows):

``db_backend``
    ``"sqlite"`` or ``"postgresql"``; parametrized, so a test using any fixture below runs once
    per backend (ids ``[sqlite]`` / ``[postgresql]``). Restrict a test to one backend with
    ``@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)``.
``database_url``
    URL of a brand-new, EMPTY database (never migrated): for migration tests. PostgreSQL:
    ``CREATE DATABASE xv_test_<hex>`` per test, dropped ``WITH (FORCE)`` afterwards.
``migrated_database_url``
    URL of a database at the head revision whose tables are empty and whose sequences start
    over, exactly as if just migrated. Cheap, because ``CREATE DATABASE`` costs around a second
    on a busy server:

    * SQLite: a copy of a file migrated once per session with ``migrate.upgrade``.
    * PostgreSQL: databases are cloned (``CREATE DATABASE … TEMPLATE``) from one migrated once
      per session, and recycled: after the test its leftover connections are terminated and,
      if its schema still matches the template's fingerprint, its rows are deleted and its
      sequences restarted (milliseconds); a test that changed the schema gets its database
      dropped instead. At most one clone per concurrently running test exists.

    A test using both URL fixtures gets two different databases.
``storage``
    ``open_storage(migrated_database_url)``, closed after the test (async fixture).

PostgreSQL is the server at ``TEST_POSTGRES_DSN`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``: a maintenance database of a role allowed to
create databases). When it cannot be reached, PostgreSQL cases are skipped, or fail when
``CI=true``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from xmpp_video.storage.migrate import upgrade
from xmpp_video.storage.sql import Storage, open_storage

__all__ = [
    "BACKENDS",
    "PostgresServer",
    "database_url",
    "db_backend",
    "migrated_database_url",
    "storage",
    "xv_postgres",
    "xv_postgres_pool",
    "xv_postgres_probe",
    "xv_sqlite_template",
]

BACKENDS = ("sqlite", "postgresql")
DEFAULT_POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
CONNECT_TIMEOUT_S = 5.0

_T = TypeVar("_T")

_USER_NAMESPACES = """
    n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
"""

# Everything a test could change about a database's schema, by name (never by OID), so that
# the fingerprint of a clone equals its template's while the schema is untouched.
SCHEMA_FINGERPRINT_SQL = """
SELECT md5(coalesce(string_agg(item, E'\n' ORDER BY item), '')) FROM (
    SELECT 'rel ' || n.nspname || '.' || c.relname || ' ' || c.relkind::text AS item
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE $USER_NAMESPACES
    UNION ALL
    SELECT 'col ' || n.nspname || '.' || c.relname || '.' || a.attname || ' '
           || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull::text || ' '
           || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
      FROM pg_attribute a
      JOIN pg_class c ON c.oid = a.attrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attnum > 0 AND NOT a.attisdropped AND $USER_NAMESPACES
    UNION ALL
    SELECT 'con ' || n.nspname || ' ' || con.conname || ' ' || pg_get_constraintdef(con.oid)
      FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace
     WHERE $USER_NAMESPACES
    UNION ALL
    SELECT 'idx ' || pg_get_indexdef(i.indexrelid)
      FROM pg_index i
      JOIN pg_class c ON c.oid = i.indexrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE $USER_NAMESPACES
    UNION ALL
    SELECT 'fn ' || p.oid::regprocedure::text
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE $USER_NAMESPACES
    UNION ALL
    SELECT 'type ' || t.oid::regtype::text
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE $USER_NAMESPACES
    UNION ALL
    SELECT 'trigger ' || tgrelid::regclass::text || ' ' || tgname
      FROM pg_trigger WHERE NOT tgisinternal
    UNION ALL
    SELECT 'ns ' || n.nspname FROM pg_namespace n WHERE $USER_NAMESPACES
    UNION ALL
    SELECT 'ext ' || extname || ' ' || extversion FROM pg_extension
    UNION ALL
    SELECT 'alembic ' || version_num FROM public.alembic_version
) AS items
""".replace("$USER_NAMESPACES", _USER_NAMESPACES)

# Back to "just migrated": no rows (but alembic_version's), sequences at their start.
RESET_SQL = r"""
DO $reset$
DECLARE
    tables text;
    item record;
BEGIN
    SELECT string_agg(format('%I.%I', schemaname, tablename), ', ') INTO tables
      FROM pg_tables
     WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
       AND NOT (schemaname = 'public' AND tablename = 'alembic_version');
    IF tables IS NULL THEN
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_constraint WHERE contype = 'f') THEN
        -- Deleting in the wrong order would violate foreign keys; TRUNCATE is slower but safe.
        EXECUTE 'TRUNCATE ' || tables || ' RESTART IDENTITY CASCADE';
        RETURN;
    END IF;
    FOR item IN
        SELECT format('%I.%I', schemaname, tablename) AS name
          FROM pg_tables
         WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
           AND NOT (schemaname = 'public' AND tablename = 'alembic_version')
    LOOP
        EXECUTE 'DELETE FROM ' || item.name;
    END LOOP;
    FOR item IN
        SELECT format('%I.%I', schemaname, sequencename) AS name
          FROM pg_sequences
         WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
    LOOP
        EXECUTE 'ALTER SEQUENCE ' || item.name || ' RESTART';
    END LOOP;
END
$reset$
"""

TERMINATE_OTHERS_SQL = """
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


def _in_thread(function: Callable[..., _T], *args: Any) -> _T:
    """Call ``function(*args)`` in a private thread and return its result.

    Sync fixtures run their event loops (asyncpg, Alembic's env.py) there, so that they never
    touch the loop pytest-asyncio manages for the test (``asyncio.run`` in the main thread would
    reset the thread's current loop).
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="xv-db-fixture") as executor:
        return executor.submit(function, *args).result()


def _run(factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine to completion in a private thread and event loop."""
    return _in_thread(lambda: asyncio.run(factory()))


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


@dataclass(frozen=True)
class PostgresServer:
    """The reachable test server: creates and drops throw-away databases."""

    admin_dsn: str

    def dsn_for(self, database: str) -> str:
        """The asyncpg DSN of ``database`` on this server."""
        url = make_url(self.admin_dsn).set(drivername="postgresql", database=database)
        return url.render_as_string(hide_password=False)

    def url_for(self, database: str) -> str:
        """The SQLAlchemy (asyncpg) URL of ``database`` on this server."""
        url = make_url(self.admin_dsn).set(drivername="postgresql+asyncpg", database=database)
        return url.render_as_string(hide_password=False)

    async def connect(self, database: str | None = None) -> asyncpg.Connection:
        dsn = self.admin_dsn if database is None else self.dsn_for(database)
        return await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_S)

    def execute(self, *statements: str) -> None:
        """Run statements on the maintenance database."""

        async def run() -> None:
            connection = await self.connect()
            try:
                for statement in statements:
                    await connection.execute(statement)
            finally:
                await connection.close()

        _run(run)

    def fingerprint(self, database: str) -> str:
        async def run() -> str:
            connection = await self.connect(database)
            try:
                value: str = await connection.fetchval(SCHEMA_FINGERPRINT_SQL)
                return value
            finally:
                await connection.close()

        return _run(run)

    def create_database(self, *, template: str | None = None) -> str:
        name = f"xv_test_{secrets.token_hex(8)}"
        clause = f' TEMPLATE "{template}"' if template else ""
        self.execute(f'CREATE DATABASE "{name}"{clause}')
        return name

    def drop_database(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class PostgresPool:
    """Migrated databases cloned from one template and recycled between tests."""

    server: PostgresServer
    template: str
    template_fingerprint: str
    idle: list[str] = field(default_factory=list)
    leased: set[str] = field(default_factory=set)

    def acquire(self) -> str:
        name = self.idle.pop() if self.idle else self.server.create_database(template=self.template)
        self.leased.add(name)
        return name

    def release(self, name: str) -> None:
        """Reset ``name`` for the next test, or drop it if the test changed its schema."""
        self.leased.discard(name)
        try:
            reusable = _run(lambda: self._reset(name))
        except (OSError, TimeoutError, asyncpg.PostgresError):
            reusable = False
        if reusable:
            self.idle.append(name)
        else:
            self.server.drop_database(name)

    async def _reset(self, name: str) -> bool:
        connection = await self.server.connect(name)
        try:
            await connection.execute(TERMINATE_OTHERS_SQL)
            try:
                fingerprint = await connection.fetchval(SCHEMA_FINGERPRINT_SQL)
            except asyncpg.PostgresError:  # e.g. alembic_version was dropped
                return False
            if fingerprint != self.template_fingerprint:
                return False
            async with connection.transaction():
                await connection.execute("SET LOCAL synchronous_commit = off")
                await connection.execute(RESET_SQL)
            return True
        finally:
            await connection.close()

    def close(self) -> None:
        """Drop every database of the pool, also those a test never released."""
        names = [*self.idle, *self.leased]
        self.idle, self.leased = [], set()
        for name in names:
            self.server.drop_database(name)


@dataclass(frozen=True)
class _Unreachable:
    reason: str


@pytest.fixture(scope="session")
def xv_postgres_probe() -> PostgresServer | _Unreachable:
    """Connect once per session; the outcome is shared by every PostgreSQL case."""
    dsn = os.environ.get("TEST_POSTGRES_DSN", DEFAULT_POSTGRES_DSN)
    server = PostgresServer(dsn)
    try:
        server.execute("SELECT 1")
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        safe_dsn = make_url(dsn).render_as_string(hide_password=True)
        return _Unreachable(f"PostgreSQL at {safe_dsn} unreachable: {exc!r}")
    return server


@pytest.fixture(scope="session")
def xv_postgres(xv_postgres_probe: PostgresServer | _Unreachable) -> PostgresServer:
    """The PostgreSQL test server; skips the test (fails it when ``CI=true``) if unreachable."""
    if isinstance(xv_postgres_probe, _Unreachable):
        if _in_ci():
            pytest.fail(f"{xv_postgres_probe.reason} (CI=true: PostgreSQL is required)")
        pytest.skip(xv_postgres_probe.reason)
    return xv_postgres_probe


@pytest.fixture(scope="session")
def xv_postgres_pool(xv_postgres: PostgresServer) -> Iterator[PostgresPool]:
    """A template migrated to head once per session, and the pool of its clones."""
    template = xv_postgres.create_database()
    try:
        _in_thread(upgrade, xv_postgres.url_for(template))
        pool = PostgresPool(xv_postgres, template, xv_postgres.fingerprint(template))
        try:
            yield pool
        finally:
            pool.close()
    finally:
        xv_postgres.drop_database(template)


@pytest.fixture(scope="session")
def xv_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head, once per session, to copy from."""
    path = tmp_path_factory.mktemp("xv-db-template") / "template.db"
    _in_thread(upgrade, f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(params=BACKENDS, ids=BACKENDS)
def db_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


@pytest.fixture
def database_url(db_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A brand-new, empty database of ``db_backend``."""
    if db_backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    server: PostgresServer = request.getfixturevalue("xv_postgres")
    name = server.create_database()
    try:
        yield server.url_for(name)
    finally:
        server.drop_database(name)


@pytest.fixture
def migrated_database_url(
    db_backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[str]:
    """A database of ``db_backend`` at the head revision, with empty tables."""
    if db_backend == "sqlite":
        template: Path = request.getfixturevalue("xv_sqlite_template")
        path = tmp_path / "migrated.db"
        shutil.copyfile(template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    pool: PostgresPool = request.getfixturevalue("xv_postgres_pool")
    name = pool.acquire()
    try:
        yield pool.server.url_for(name)
    finally:
        pool.release(name)


@pytest_asyncio.fixture
async def storage(migrated_database_url: str) -> AsyncIterator[Storage]:
    """A :class:`Storage` over a fresh migrated database; closed after the test."""
    opened = await open_storage(migrated_database_url)
    try:
        yield opened
    finally:
        await opened.close()
