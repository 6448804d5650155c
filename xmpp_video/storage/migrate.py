"""Schema migrations (Alembic) driven from code: ``xmpp-video db upgrade``, tests, start-up.

The functions are synchronous and block until done. From a coroutine, call them in a worker
thread so that the event loop keeps running::

    await asyncio.to_thread(upgrade, url)

(Called directly on an event loop thread they still work, by running the migration's own event
loop in a private thread, but they block that loop meanwhile.)

The revisions live in the top-level ``migrations/`` folder of the source tree, next to
``alembic.ini`` (which only the ``alembic`` command line reads); an installed (non-editable)
copy of the package finds them where the wheel put them, ``<prefix>/share/xmpp-video/migrations``
(``[options.data_files]`` in setup.cfg).
"""

from __future__ import annotations

import asyncio
import sysconfig
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import pool
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine


def _migrations_dir() -> Path:
    """The source tree's ``migrations/`` when running from it (editable install, tests), else
    the installed copy under the data prefix of this interpreter (or of the user scheme)."""
    source_tree = Path(__file__).resolve().parents[2] / "migrations"
    candidates = [source_tree]
    for scheme in (sysconfig.get_default_scheme(), sysconfig.get_preferred_scheme("user")):
        data = Path(sysconfig.get_path("data", scheme))
        candidates.append(data / "share" / "xmpp-video" / "migrations")
    for candidate in candidates:
        if (candidate / "env.py").is_file():
            return candidate
    return source_tree  # alembic_config() names it in its error


MIGRATIONS_DIR = _migrations_dir()

_T = TypeVar("_T")

# Alembic keeps the running migration context in module globals (``alembic.context``): one
# command at a time per process.
_alembic_lock = threading.Lock()


def run_coroutine(factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run ``factory()`` to completion in a fresh event loop and return its result.

    Uses this thread when it runs no event loop (e.g. an ``asyncio.to_thread`` worker or a
    CLI), else a private thread, because ``asyncio.run`` cannot nest.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="xv-migrate") as executor:
        return executor.submit(lambda: asyncio.run(factory())).result()


def alembic_config(url: str) -> Config:
    """An Alembic configuration for ``url`` with the project's ``migrations/`` folder."""
    if not (MIGRATIONS_DIR / "env.py").is_file():
        raise RuntimeError(f"Alembic migrations not found in {MIGRATIONS_DIR}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Config values go through ConfigParser interpolation: a literal % must be doubled
    # (percent-encoded passwords contain them).
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision``; a no-op when it is already there.

    A SQLite file (and its directory) is created if missing.
    """
    with _alembic_lock:
        command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at ``url`` down to ``revision`` (``"base"``: drop everything)."""
    with _alembic_lock:
        command.downgrade(alembic_config(url), revision)


def head() -> str:
    """The newest revision of the migration scripts."""
    revision = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    if revision is None:  # pragma: no cover - the repository always has revisions
        raise RuntimeError(f"no Alembic revisions in {MIGRATIONS_DIR}")
    return revision


def current(url: str) -> str | None:
    """The revision the database at ``url`` is at; None when it was never migrated.

    A missing SQLite file is reported as None without being created.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not Path(database).expanduser().exists():
            return None

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async def query() -> str | None:
        engine = create_async_engine(parsed, poolclass=pool.NullPool)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        finally:
            await engine.dispose()

    return run_coroutine(query)
