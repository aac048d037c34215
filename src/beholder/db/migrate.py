"""Alembic migrations driven from code (no alembic.ini needed).

On PostgreSQL the upgrade runs under the session advisory lock :data:`MIGRATION_LOCK`
(``pg_advisory_lock``, taken by ``migrations/env.py`` on the migration's own connection):
several api instances starting at once against one database migrate it once; the others
wait for the lock and then find it at head. SQLite has one writer and one process.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

MIGRATION_LOCK = 0x6265686F6C646572
"""The PostgreSQL advisory lock key of migrations (``b"beholder"`` as a 64-bit integer)."""


def alembic_config(database_url: str) -> Config:
    """Alembic config pointing at the packaged migrations and ``database_url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (blocking; runs its own event loop)."""
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    """Apply migrations from inside a running event loop (in a worker thread)."""
    await asyncio.to_thread(upgrade, database_url, revision)
