"""Async engine and session factory for SQLite (aiosqlite, WAL) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, make_url, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from beholder.config import Settings
from beholder.errors import DatabaseError
from beholder.files import create_private_file, ensure_private_dir


def _sqlite_pragmas(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
    # WAL lets readers run while the api writes; foreign keys are off by default in SQLite.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def sqlite_file(settings: Settings) -> Path | None:
    """The SQLite database file in use, or ``None`` (PostgreSQL, in-memory SQLite)."""
    url = make_url(settings.resolved_database_url)
    if not url.drivername.startswith("sqlite") or url.database in (None, "", ":memory:"):
        return None
    return Path(str(url.database))


def prepare_data_dir(settings: Settings, *, warn: bool = True) -> None:
    """Create the data dir (0700) and the SQLite file (0600) before anything writes there.

    SQLite creates its database with a umask-derived mode (0644 under umask 022) and its
    ``-wal``/``-shm`` files with the database file's mode, so the file is created first,
    private. An existing data dir wider than 0700 is reported once (``warn``); existing
    files are left as they are. Raises ``OSError`` when the directory cannot be created."""
    ensure_private_dir(settings.data_dir, warn=warn)
    db_file = sqlite_file(settings)
    if db_file is not None:
        if db_file.parent.resolve() != settings.data_dir.resolve():
            # A database placed elsewhere: its folder is the operator's; the file is private.
            ensure_private_dir(db_file.parent, warn=False)
        create_private_file(db_file)


def make_engine(settings: Settings) -> AsyncEngine:
    """Engine for the configured URL. PostgreSQL gets a bounded, pre-pinged pool."""
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        prepare_data_dir(settings, warn=False)
        engine = create_async_engine(url, connect_args={"timeout": 5})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"timeout": settings.db_pool_timeout, "command_timeout": 10},
    )


async def _end_session(session: AsyncSession, *, commit: bool) -> None:
    """Commit (``commit``) or roll back ``session``, then close it, in a task of its own that
    a cancellation of the caller does not interrupt; the caller's cancellation is re-raised
    once the session is closed. Both commit and close hand the connection back to the pool,
    which resets it with a ROLLBACK; a cancellation landing inside that await (a signal during
    start-up, a client gone mid-request) would leave SQLAlchemy to invalidate the connection
    and log "Exception during reset or similar" at ERROR for what is an orderly stop.
    Raises what ``commit`` raises."""

    async def end() -> None:
        try:
            if commit:
                await session.commit()
            else:
                with contextlib.suppress(SQLAlchemyError, OSError, TimeoutError):
                    await session.rollback()
        finally:
            await session.close()

    ending = asyncio.ensure_future(end())
    try:
        await asyncio.shield(ending)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await ending
        raise


class Database:
    """Owns the engine and hands out sessions. ``ping`` is used by the health checker."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session that commits on success and rolls back on error.

        Driver and connection failures (SQLAlchemy errors, refused sockets, timeouts)
        surface as ``DatabaseError`` so that callers answer 503, never a 500 with SQL."""
        try:
            session = self.sessionmaker()
            try:
                yield session
            except BaseException:
                await _end_session(session, commit=False)
                raise
            await _end_session(session, commit=True)
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise DatabaseError(detail=f"{type(exc).__name__}: {exc}"[:2000]) from exc

    async def ping(self) -> float:
        """Round trip of ``SELECT 1`` in seconds; raises on failure."""
        t0 = time.perf_counter()
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return time.perf_counter() - t0

    def pool_status(self) -> dict[str, int]:
        """Checked-out and idle connections (PostgreSQL pool; zeros for SQLite)."""
        pool: Any = self.engine.pool
        try:
            return {"checkedOut": int(pool.checkedout()), "idle": int(pool.checkedin())}
        except AttributeError:
            return {"checkedOut": 0, "idle": 0}

    async def dispose(self) -> None:
        await self.engine.dispose()
