"""Files under the data dir: private modes and names that stay inside their folder.

The data dir holds the SQLite database (camera credentials, password hashes), the JWT
signing secret and alert snapshots, so everything Beholder creates there is readable by its
owner only (directories 0700, files 0600), whatever the process umask. A directory that
already exists is not changed (the operator may have widened it on purpose) but a wider mode
is reported with one warning line.

A file name that comes from data (a bus message, a DB row) is joined to its folder only
through :func:`safe_child`, which refuses any name that would leave it.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import structlog

from beholder.errors import UnsafePath

log = structlog.get_logger(__name__)

PRIVATE_DIR_MODE = 0o700
"""Mode of every directory Beholder creates under the data dir."""
PRIVATE_FILE_MODE = 0o600
"""Mode of every file Beholder creates under the data dir."""

_FORBIDDEN = frozenset({"", ".", ".."})


def safe_child(folder: Path, name: str) -> Path:
    """The path of the file ``name`` directly inside ``folder`` (resolved, absolute).

    ``name`` must be one plain path component: no ``/`` or ``\\``, no NUL, not ``.``/``..``
    or empty; and the resolved path (symlinks followed) must still be a direct child of the
    resolved ``folder``. Raises :class:`~beholder.errors.UnsafePath` (a ``NotFound``: a client
    is told the file does not exist) otherwise; the folder need not exist."""
    if name in _FORBIDDEN or "/" in name or "\\" in name or "\x00" in name:
        raise UnsafePath(detail=f"unsafe file name {name!r} for {folder}")
    base = folder.resolve()
    path = (base / name).resolve()
    if path.parent != base:
        raise UnsafePath(detail=f"file name {name!r} resolves outside {base}")
    return path


def mode_of(path: Path) -> int:
    """Permission bits of ``path`` (e.g. ``0o700``)."""
    return stat.S_IMODE(path.stat().st_mode)


def ensure_private_dir(path: Path, *, warn: bool = True) -> Path:
    """Create directory ``path`` with mode 0700 (parents as needed) and return it.

    An existing directory keeps its mode; when ``warn`` and its mode grants anything to the
    group or others, one warning names the path and the mode. Raises ``OSError`` when the
    directory cannot be created."""
    if path.is_dir():
        mode = mode_of(path)
        if warn and mode & 0o077:
            log.warning(
                "data directory is readable by other users; chmod 700 it",
                path=str(path.resolve()),
                mode=f"{mode:04o}",
            )
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=PRIVATE_DIR_MODE)
    except FileExistsError:  # created concurrently (another role of the same data dir)
        return path
    os.chmod(path, PRIVATE_DIR_MODE)  # mkdir's mode is filtered by the umask
    return path


def create_private_file(path: Path) -> bool:
    """Create the empty file ``path`` with mode 0600 unless it exists (then leave it alone).

    Used before a library (SQLite) creates a file with its own, umask-derived mode. Returns
    True when the file was created."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)
    return True


def write_private_file(folder: Path, name: str, data: bytes) -> Path:
    """Write ``data`` to ``folder/name`` atomically (a reader never sees half a file), mode
    0600, creating ``folder`` (0700) if needed. ``name`` goes through :func:`safe_child`
    (raises ``UnsafePath``). Returns the path written."""
    ensure_private_dir(folder, warn=False)
    target = safe_child(folder, name)
    tmp = safe_child(folder, f".{name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        with os.fdopen(fd, "wb", closefd=False) as fh:
            fh.write(data)
    finally:
        os.close(fd)
    os.replace(tmp, target)
    return target


def prune_snapshots(directory: Path, max_count: int, max_age_days: float) -> int:
    """Delete snapshots beyond ``max_count`` (oldest first) or older than ``max_age_days``.

    Only regular ``*.jpg`` files directly in ``directory`` are considered (a symlink is never
    followed: it could point anywhere). Returns how many were deleted. The alert rows stay;
    their snapshot answers 404."""
    if not directory.is_dir():
        return 0
    found: list[tuple[float, Path]] = []
    for entry in directory.glob("*.jpg"):
        try:
            path = safe_child(directory, entry.name)
            info = entry.lstat()
        except (UnsafePath, OSError):
            continue
        if entry.is_symlink() or not entry.is_file():
            continue
        found.append((info.st_mtime, path))
    found.sort(reverse=True)
    horizon = time.time() - max_age_days * 86400
    removed = 0
    for i, (mtime, path) in enumerate(found):
        if i >= max_count or mtime < horizon:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
