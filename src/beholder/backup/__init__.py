"""Backups with tested restores: ``beholder backup PATH`` and ``beholder restore PATH``.

An archive is a gzip-compressed tar written while the server runs:

- ``database/beholder.db`` (SQLite, a consistent snapshot through the online backup API) or
  ``database/beholder.pgdump`` (PostgreSQL, ``pg_dump --format=custom``, one transaction);
- ``secret.key`` (the generated JWT signing secret, when the data dir has one);
- ``snapshots/<alert id>.jpg`` (alert snapshots);
- ``manifest.json`` last: format version, Beholder version, alembic revision, backend,
  creation time (UTC) and the SHA-256 and size of every other member.

The database is copied before the snapshots: a snapshot is written before its alert row, so
every alert in the copy has its snapshot in the archive (unless retention pruned it first).
See :mod:`beholder.backup.create` and :mod:`beholder.backup.restore`; docs/OPERATIONS.md.
"""

from beholder.backup.create import create_backup
from beholder.backup.restore import restore_backup

__all__ = ["create_backup", "restore_backup"]
