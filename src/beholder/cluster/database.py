"""The cluster's PostgreSQL database: created when missing (the server must run), so that
``beholder cluster up`` works on a machine with only a PostgreSQL server. Migrations are run
once by the caller (``beholder migrate``) before any api starts."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/beholder_cluster"


class DatabaseError(RuntimeError):
    """The URL is not PostgreSQL, or the server cannot be reached (message says which)."""


def parse_postgres_url(url: str) -> URL:
    """The SQLAlchemy URL of ``url``; :class:`DatabaseError` unless it is PostgreSQL with a
    database name (several apis cannot share SQLite)."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError, and ValueError on bad ports
        raise DatabaseError(f"not a database URL: {exc}") from None
    if not parsed.drivername.startswith("postgresql"):
        raise DatabaseError("the cluster needs PostgreSQL (postgresql+asyncpg://…)")
    if not parsed.database:
        raise DatabaseError("the database URL names no database")
    return parsed


def display_url(url: str) -> str:
    """``url`` with its password masked (for the console and cluster.json)."""
    return parse_postgres_url(url).render_as_string(hide_password=True)


_CREATED_CONCURRENTLY = frozenset({"42P04", "23505"})


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _ensure(url: URL, timeout: float) -> bool:
    # The maintenance database "postgres", autocommit: CREATE DATABASE refuses transactions.
    engine = create_async_engine(
        url.set(database="postgres"),
        isolation_level="AUTOCOMMIT",
        connect_args={"timeout": timeout},
    )
    try:
        async with engine.connect() as conn:
            found = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database}
            )
            if found:
                return False
            try:
                await conn.execute(text(f"CREATE DATABASE {_quote_ident(url.database or '')}"))
            except DBAPIError as exc:
                # Another `cluster up` created it just now: 42P04 (duplicate_database) when
                # it had committed, 23505 on pg_database's name index when both were inside
                # CREATE DATABASE at once.
                if getattr(exc.orig, "sqlstate", None) in _CREATED_CONCURRENTLY:
                    return False
                raise
            return True
    except (OSError, TimeoutError, DBAPIError) as exc:
        raise DatabaseError(
            f"PostgreSQL at {url.host}:{url.port or 5432} refused or did not answer: {exc}"
        ) from None
    finally:
        await engine.dispose()


def ensure_database(url: str, timeout: float = 10.0) -> bool:
    """Create the database of ``url`` when it does not exist; True when it was created (a
    first run). :class:`DatabaseError` when the server refuses or does not answer."""
    return asyncio.run(_ensure(parse_postgres_url(url), timeout))


async def _count_users(url: URL, timeout: float) -> int:
    engine = create_async_engine(url, connect_args={"timeout": timeout})
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(text("SELECT count(*) FROM users")) or 0)
    except (OSError, TimeoutError, DBAPIError) as exc:
        raise DatabaseError(f"cannot count the users: {exc}") from None
    finally:
        await engine.dispose()


def count_users(url: str, timeout: float = 10.0) -> int:
    """How many users the (migrated) database of ``url`` holds: 0 on a first run."""
    return asyncio.run(_count_users(parse_postgres_url(url), timeout))
