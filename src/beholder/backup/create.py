"""``beholder backup PATH``: write a consistent archive while the server runs."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from beholder import __version__
from beholder.backup import postgres, sqlite
from beholder.backup.manifest import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    PG_MEMBER,
    SECRET_MEMBER,
    SNAPSHOT_PREFIX,
    SQLITE_MEMBER,
    Backend,
    FileEntry,
    Manifest,
    digest,
)
from beholder.config import Settings
from beholder.errors import BackupFailed

ARCHIVE_MODE = 0o600


@dataclass(frozen=True, slots=True)
class BackupResult:
    """What was written: the archive, its size (bytes) and manifest."""

    path: Path
    size: int
    manifest: Manifest


def backend_of(database_url: str) -> Backend:
    """``"sqlite"`` or ``"postgresql"`` for a SQLAlchemy URL; raises :class:`BackupFailed`."""
    scheme = database_url.split(":", 1)[0].split("+", 1)[0]
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgresql", "postgres"):
        return "postgresql"
    raise BackupFailed(f"Backups of {scheme} databases are not supported.")


def _file_digest(path: Path) -> FileEntry:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return FileEntry(sha256=h.hexdigest(), size=path.stat().st_size)


def _info(name: str, size: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o600, int(mtime)
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, manifest: Manifest) -> None:
    tar.addfile(_info(name, len(data), datetime.now(UTC).timestamp()), io.BytesIO(data))
    manifest.files[name] = digest(data)


def _dump_database(settings: Settings, backend: Backend, work: Path) -> tuple[Path, str | None]:
    url = settings.resolved_database_url
    if backend == "sqlite":
        target = work / "beholder.db"
        return target, sqlite.snapshot_sqlite(sqlite.sqlite_path(url), target)
    target = work / "beholder.pgdump"
    revision = postgres.alembic_revision(url)
    postgres.dump(url, target)
    return target, revision


def create_backup(settings: Settings, path: Path) -> BackupResult:
    """Write the archive of ``settings``' data dir and database to ``path`` (gzip tar, mode
    0600), through a temporary name in the same folder renamed when complete: ``path`` is
    either absent or a whole archive. Raises :class:`BackupFailed` (database tool, I/O)."""
    backend = backend_of(settings.resolved_database_url)
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, ARCHIVE_MODE)
        with tempfile.TemporaryDirectory(prefix="beholder-backup-") as work:
            db_file, revision = _dump_database(settings, backend, Path(work))
            manifest = Manifest(
                format_version=FORMAT_VERSION,
                beholder_version=__version__,
                alembic_revision=revision,
                database_backend=backend,
                created_at=datetime.now(UTC).isoformat(),
            )
            with (
                os.fdopen(fd, "wb") as raw,
                tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar,
            ):
                member = SQLITE_MEMBER if backend == "sqlite" else PG_MEMBER
                with db_file.open("rb") as f:
                    stat = os.fstat(f.fileno())
                    tar.addfile(_info(member, stat.st_size, stat.st_mtime), f)
                manifest.files[member] = _file_digest(db_file)
                db_file.unlink()
                if settings.secret_file.is_file():
                    _add_bytes(tar, SECRET_MEMBER, settings.secret_file.read_bytes(), manifest)
                _add_snapshots(tar, settings.snapshot_dir, manifest)
                body = manifest.to_json()
                tar.addfile(_info(MANIFEST_NAME, len(body), time.time()), io.BytesIO(body))
                raw.flush()
                os.fsync(raw.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return BackupResult(path=path, size=path.stat().st_size, manifest=manifest)


def _add_snapshots(tar: tarfile.TarFile, directory: Path, manifest: Manifest) -> None:
    if not directory.is_dir():
        return
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        if not entry.name.endswith(".jpg") or not entry.is_file(follow_symlinks=False):
            continue
        try:
            data = Path(entry.path).read_bytes()
        except FileNotFoundError:  # pruned by retention since the listing
            continue
        _add_bytes(tar, SNAPSHOT_PREFIX + entry.name, data, manifest)
