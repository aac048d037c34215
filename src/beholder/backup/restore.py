"""``beholder restore PATH``: verify an archive, then restore it into an unused target.

Order: refuse a live or non-empty target (:class:`BackupRefused`), read the whole archive
and check its format version and every member's SHA-256 and size (:class:`ArchiveInvalid`)
— nothing is written before both pass — then write the database (the SQLite file, or
``pg_restore`` into the configured PostgreSQL URL), the secret key and the snapshots, and
run the migrations forward."""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from beholder.backup import postgres, sqlite
from beholder.backup.create import backend_of
from beholder.backup.manifest import (
    MANIFEST_NAME,
    PG_MEMBER,
    SECRET_MEMBER,
    SNAPSHOT_PREFIX,
    SQLITE_MEMBER,
    Manifest,
)
from beholder.config import Settings
from beholder.db.migrate import upgrade
from beholder.errors import ArchiveInvalid, BackupFailed, BackupRefused
from beholder.files import ensure_private_dir, safe_child, write_private_file


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """What was restored: the manifest, the snapshot count and the revision migrated to."""

    manifest: Manifest
    snapshots: int


def check_target(settings: Settings) -> None:
    """Raise :class:`BackupRefused` unless the data dir is absent or empty and, for
    PostgreSQL, the database has no table. The server keeps no lock file: any content (the
    SQLite database, ``secret.key``, snapshots) means the dir is, or was, in use."""
    data_dir = settings.data_dir
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise BackupRefused(
            f"The data dir {data_dir} is not empty (a live or used data dir); "
            "restore into a new, empty one."
        )
    url = settings.resolved_database_url
    if backend_of(url) == "postgresql":
        postgres.ensure_empty(url)
    elif sqlite.sqlite_path(url).exists():
        raise BackupRefused(f"The SQLite database {sqlite.sqlite_path(url)} already exists.")


def _check_name(name: str) -> None:
    """Only the members this format defines: anything else (``..``, absolute paths, nested
    snapshot folders) is refused before anything is written."""
    if name in (SQLITE_MEMBER, PG_MEMBER, SECRET_MEMBER, MANIFEST_NAME):
        return
    snap = name.removeprefix(SNAPSHOT_PREFIX)
    plain = "/" not in snap and "\\" not in snap and not snap.startswith(".")
    if snap != name and snap.endswith(".jpg") and plain:
        return
    raise ArchiveInvalid(f"Unexpected archive member {name!r}.")


def verify_archive(path: Path) -> Manifest:
    """Read the archive once: check the manifest's format version and that the members are
    exactly those it lists, each with its SHA-256 and size. Raises :class:`ArchiveInvalid`."""
    seen: dict[str, tuple[str, int]] = {}
    manifest_raw: bytes | None = None
    try:
        with tarfile.open(path, mode="r:*") as tar:
            for info in tar:
                if not info.isfile():
                    raise ArchiveInvalid(f"Unexpected archive member {info.name!r}.")
                _check_name(info.name)
                f = tar.extractfile(info)
                assert f is not None  # a regular file
                if info.name == MANIFEST_NAME:
                    manifest_raw = f.read()
                    continue
                h = hashlib.sha256()
                for block in iter(lambda: f.read(1 << 20), b""):  # noqa: B023
                    h.update(block)
                seen[info.name] = (h.hexdigest(), info.size)
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise ArchiveInvalid(f"{path} is not a readable backup archive: {exc}") from exc
    if manifest_raw is None:
        raise ArchiveInvalid(f"{path} has no manifest.json.")
    manifest = Manifest.from_json(manifest_raw)
    if set(seen) != set(manifest.files):
        odd = sorted(set(seen) ^ set(manifest.files))[:5]
        raise ArchiveInvalid(f"The archive's members differ from its manifest: {odd}.")
    for name, entry in manifest.files.items():
        if seen[name] != (entry.sha256, entry.size):
            raise ArchiveInvalid(f"Checksum mismatch for {name}: the archive is damaged.")
    return manifest


def restore_backup(settings: Settings, path: Path) -> RestoreResult:
    """Restore the archive ``path`` into ``settings``' data dir and database, then migrate
    forward. Raises :class:`BackupRefused`, :class:`ArchiveInvalid` (both before anything is
    written) or :class:`BackupFailed`."""
    url = settings.resolved_database_url
    check_target(settings)
    manifest = verify_archive(path)
    backend = backend_of(url)
    if manifest.database_backend != backend:
        raise BackupRefused(
            f"The archive holds a {manifest.database_backend} database but the target is "
            f"{backend}; set BEHOLDER_DATABASE_URL accordingly."
        )
    data_dir = ensure_private_dir(settings.data_dir)
    snapshots = 0
    with (
        tarfile.open(path, mode="r:*") as tar,
        tempfile.TemporaryDirectory(prefix="beholder-restore-") as work,
    ):
        for info in tar:
            f = tar.extractfile(info)
            assert f is not None
            if info.name == SQLITE_MEMBER:
                target = sqlite.sqlite_path(url)
                ensure_private_dir(target.parent, warn=False)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(f, out, 1 << 20)
            elif info.name == PG_MEMBER:
                dump = Path(work) / "beholder.pgdump"
                with dump.open("wb") as out:
                    shutil.copyfileobj(f, out, 1 << 20)
                postgres.restore(url, dump)
            elif info.name == SECRET_MEMBER:
                write_private_file(data_dir, settings.secret_file.name, f.read())
            elif info.name.startswith(SNAPSHOT_PREFIX):
                name = info.name.removeprefix(SNAPSHOT_PREFIX)
                safe_child(settings.snapshot_dir, name)  # raises on a name leaving the dir
                write_private_file(settings.snapshot_dir, name, f.read())
                snapshots += 1
    try:
        upgrade(url)
    except Exception as exc:
        raise BackupFailed("Migrating the restored database failed.", detail=repr(exc)) from exc
    return RestoreResult(manifest=manifest, snapshots=snapshots)
