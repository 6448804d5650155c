"""Database fixtures for every test suite (loaded by the root conftest as a pytest plugin).

Fixtures (each test function gets its own database, so tests never see each other's rows):

``db_backend``
    ``"sqlite"`` or ``"postgresql"``; parametrized, so a test using any fixture below runs once
    per backend (ids ``[sqlite]`` / ``[postgresql]``). Restrict a test to one backend with
    ``@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)``.
``database_url``
    URL of a fresh, EMPTY database (never migrated): for migration tests.
``migrated_database_url``
    URL of a fresh database at the head revision. Cheap: cloned from a template migrated once
    per test session with ``xmpp_video.storage.migrate.upgrade`` (a file copy for SQLite,
    ``CREATE DATABASE … TEMPLATE`` for PostgreSQL). A test using both URL fixtures gets two
    different databases.
``storage``
    ``open_storage(migrated_database_url)``, closed after the test (async fixture).

PostgreSQL: the server at ``TEST_POSTGRES_DSN`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``, a maintenance database of a role allowed to
create databases). Databases are named ``xv_test_<hex>`` and dropped ``WITH (FORCE)`` after the
test. When the server cannot be reached, PostgreSQL cases are skipped, or fail when ``CI=true``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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
    "xv_postgres_probe",
    "xv_postgres_template",
    "xv_sqlite_template",
]

BACKENDS = ("sqlite", "postgresql")
DEFAULT_POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
CONNECT_TIMEOUT_S = 5.0

_T = TypeVar("_T")


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

    def url_for(self, database: str) -> str:
        """The SQLAlchemy (asyncpg) URL of ``database`` on this server."""
        url = make_url(self.admin_dsn).set(drivername="postgresql+asyncpg", database=database)
        return url.render_as_string(hide_password=False)

    def execute(self, *statements: str) -> None:
        async def run() -> None:
            connection = await asyncpg.connect(self.admin_dsn, timeout=CONNECT_TIMEOUT_S)
            try:
                for statement in statements:
                    await connection.execute(statement)
            finally:
                await connection.close()

        _run(run)

    def create_database(self, *, template: str | None = None) -> str:
        name = f"xv_test_{secrets.token_hex(8)}"
        clause = f' TEMPLATE "{template}"' if template else ""
        self.execute(f'CREATE DATABASE "{name}"{clause}')
        return name

    def drop_database(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
def xv_postgres_template(xv_postgres: PostgresServer) -> Iterator[str]:
    """Name of a database migrated to head, once per session, to clone from."""
    name = xv_postgres.create_database()
    try:
        _in_thread(upgrade, xv_postgres.url_for(name))
        yield name
    finally:
        xv_postgres.drop_database(name)


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
    """A fresh, empty database of ``db_backend``."""
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
    """A fresh database of ``db_backend`` at the head revision."""
    if db_backend == "sqlite":
        template: Path = request.getfixturevalue("xv_sqlite_template")
        path = tmp_path / "migrated.db"
        shutil.copyfile(template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    server: PostgresServer = request.getfixturevalue("xv_postgres")
    template_name: str = request.getfixturevalue("xv_postgres_template")
    name = server.create_database(template=template_name)
    try:
        yield server.url_for(name)
    finally:
        server.drop_database(name)


@pytest_asyncio.fixture
async def storage(migrated_database_url: str) -> AsyncIterator[Storage]:
    """A :class:`Storage` over a fresh migrated database; closed after the test."""
    opened = await open_storage(migrated_database_url)
    try:
        yield opened
    finally:
        await opened.close()
