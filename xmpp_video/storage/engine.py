"""Async engines for the two supported backends.

* ``sqlite+aiosqlite:///path/to/file.db``: the file's parent directories are created; every
  connection gets ``journal_mode=WAL`` (readers do not block the writer), ``foreign_keys=ON``,
  ``synchronous=NORMAL`` (durable at checkpoints, safe with WAL) and a busy timeout so that
  concurrent writers wait instead of failing with "database is locked".
* ``postgresql+asyncpg://user@host/db``: a bounded pool with pre-ping, so that connections killed
  by a database restart are replaced instead of failing the next request.

The caller owns the engine and must ``await engine.dispose()`` (``Storage.close`` does).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 10_000
POSTGRES_POOL_SIZE = 10
POSTGRES_MAX_OVERFLOW = 20
POSTGRES_POOL_RECYCLE_S = 1800

SQLITE_POOL_TIMEOUT_S = 60

SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An :class:`AsyncEngine` for ``url``, configured for its backend.

    Raises ``ValueError`` for any other driver than ``sqlite+aiosqlite`` or
    ``postgresql+asyncpg`` (e.g. a plain ``postgresql://`` URL, which would pick a sync driver).
    """
    parsed = make_url(url)
    driver = parsed.drivername
    if driver == "sqlite+aiosqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # SQLite has one writer at a time: one pooled connection makes writers queue here, in
        # asyncio, instead of spinning in SQLite's busy handler and failing with "locked".
        engine = _create_async_engine(
            parsed,
            echo=echo,
            hide_parameters=True,
            pool_size=1,
            max_overflow=0,
            pool_timeout=SQLITE_POOL_TIMEOUT_S,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        return engine
    if driver == "postgresql+asyncpg":
        return _create_async_engine(
            parsed,
            echo=echo,
            hide_parameters=True,  # parameters carry SCRAM keys: never in logs or errors
            pool_size=POSTGRES_POOL_SIZE,
            max_overflow=POSTGRES_MAX_OVERFLOW,
            pool_pre_ping=True,
            pool_recycle=POSTGRES_POOL_RECYCLE_S,
        )
    raise ValueError(
        f"unsupported database URL driver {driver!r}: use one of {', '.join(SUPPORTED_DRIVERS)}"
    )


def _sqlite_on_connect(dbapi_connection: Any, _connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS:d}")
    finally:
        cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded attributes after commit (rows are converted to dataclasses)."""
    return async_sessionmaker(engine, expire_on_commit=False)
