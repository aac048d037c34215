"""SQLite: a consistent copy through the online backup API, and its placement on restore."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from beholder.errors import BackupFailed


def sqlite_path(database_url: str) -> Path:
    """The database file of a ``sqlite[+driver]:///path`` URL."""
    name = make_url(database_url).database
    if not name or name == ":memory:":
        raise BackupFailed("An in-memory SQLite database cannot be backed up.")
    return Path(name)


def snapshot_sqlite(source: Path, target: Path) -> str | None:
    """Copy the live database ``source`` to the new file ``target`` with
    ``sqlite3.Connection.backup`` in one step (one read transaction: a consistent snapshot
    even while the server writes) and return its alembic revision (``None`` if the
    table is missing). The server's database is in WAL mode: this read transaction does not
    block its writers. Raises :class:`BackupFailed` when ``source`` is missing or unreadable."""
    if not source.is_file():
        raise BackupFailed(f"No SQLite database at {source}.")
    try:
        # read-write open (only read): a read-only one cannot open a WAL database whose
        # -shm file is absent (the server stopped); ``mode=rw`` never creates the file
        src = sqlite3.connect(f"file:{source}?mode=rw", uri=True, timeout=30)
        try:
            dst = sqlite3.connect(target)
            try:
                src.backup(dst)  # all pages in one step: the copy is one point in time
                return alembic_revision(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise BackupFailed("The SQLite backup failed.", detail=repr(exc)) from exc


def alembic_revision(conn: sqlite3.Connection) -> str | None:
    """The ``alembic_version`` of an open SQLite database, or ``None``."""
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None
    return None if row is None else str(row[0])
