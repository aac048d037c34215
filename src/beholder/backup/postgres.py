"""PostgreSQL: ``pg_dump --format=custom`` and ``pg_restore --clean --if-exists``.

Connection parameters go to the client tools through ``PG*`` environment variables (never on
the command line, where ``ps`` shows them); URLs are only ever shown masked."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from beholder.errors import BackupFailed, BackupRefused

_SSL_QUERY = {"ssl": "PGSSLMODE", "sslmode": "PGSSLMODE"}


def mask_url(database_url: str) -> str:
    """``database_url`` with its password replaced by ``***``."""
    return make_url(database_url).render_as_string(hide_password=True)


def libpq_env(database_url: str) -> dict[str, str]:
    """The process environment plus ``PGHOST``/``PGPORT``/``PGUSER``/``PGPASSWORD``/
    ``PGDATABASE`` (and ``PGSSLMODE``) for ``database_url`` (any ``postgresql+driver`` URL)."""
    url = make_url(database_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    pairs = {
        "PGHOST": url.host,
        "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
        "PGDATABASE": url.database,
    }
    env.update({k: v for k, v in pairs.items() if v})
    for key, var in _SSL_QUERY.items():
        value = url.query.get(key)
        if isinstance(value, str):
            env[var] = {"true": "require", "false": "disable"}.get(value, value)
    env["PGAPPNAME"] = "beholder-backup"
    return env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupFailed(
            f"{name} is not installed (Debian package postgresql-client; `make deps`)."
        )
    return path


def _run(args: list[str], database_url: str) -> None:
    # args: a tool found on PATH and paths we chose; credentials only in the environment
    proc = subprocess.run(  # noqa: S603
        args, env=libpq_env(database_url), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        tool = Path(args[0]).name
        raise BackupFailed(
            f"{tool} failed on {mask_url(database_url)}: {proc.stderr.strip()[-500:]}"
        )


def dump(database_url: str, target: Path) -> None:
    """``pg_dump --format=custom`` of the whole database into ``target`` (one repeatable-read
    transaction: a consistent snapshot while the server writes)."""
    _run([_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={target}"], database_url)


def restore(database_url: str, source: Path) -> None:
    """``pg_restore --clean --if-exists --no-owner`` of ``source`` into ``database_url``."""
    _run(
        [
            _tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--exit-on-error",
            f"--dbname={libpq_env(database_url).get('PGDATABASE', '')}",
            str(source),
        ],
        database_url,
    )


async def _query(database_url: str, sql: str) -> list[tuple[object, ...]]:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return [tuple(r) for r in (await conn.execute(text(sql))).all()]
    finally:
        await engine.dispose()


def alembic_revision(database_url: str) -> str | None:
    """The database's ``alembic_version`` (``None`` if the table is missing)."""
    try:
        rows = asyncio.run(_query(database_url, "SELECT version_num FROM alembic_version"))
    except Exception as exc:  # a missing table, or a connection error
        if "alembic_version" in str(exc) and "does not exist" in str(exc):
            return None
        raise BackupFailed(f"Cannot read {mask_url(database_url)}.", detail=repr(exc)) from exc
    return str(rows[0][0]) if rows else None


def ensure_empty(database_url: str) -> None:
    """Raise :class:`BackupRefused` when the database already holds tables (a live or used
    Beholder database) or cannot be reached."""
    try:
        rows = asyncio.run(
            _query(
                database_url,
                "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN "
                "('pg_catalog', 'information_schema')",
            )
        )
    except Exception as exc:
        raise BackupFailed(f"Cannot reach {mask_url(database_url)}.", detail=repr(exc)) from exc
    if int(str(rows[0][0])) > 0:
        raise BackupRefused(
            f"The database {mask_url(database_url)} is not empty; restore into a new database."
        )
