"""The archive's ``manifest.json``: what it holds and the checksums that prove it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from beholder.errors import ArchiveInvalid

FORMAT_VERSION = 1
"""Version of the archive layout; ``restore`` refuses any other."""
MANIFEST_NAME = "manifest.json"
SQLITE_MEMBER = "database/beholder.db"
PG_MEMBER = "database/beholder.pgdump"
SECRET_MEMBER = "secret.key"
SNAPSHOT_PREFIX = "snapshots/"

Backend = Literal["sqlite", "postgresql"]


@dataclass(slots=True)
class FileEntry:
    """One archive member: ``sha256`` (hex) and ``size`` (bytes) of its content."""

    sha256: str
    size: int


@dataclass(slots=True)
class Manifest:
    """``manifest.json``; ``created_at`` is ISO 8601 UTC, ``files`` maps member name to entry."""

    format_version: int
    beholder_version: str
    alembic_revision: str | None
    database_backend: Backend
    created_at: str
    files: dict[str, FileEntry] = field(default_factory=dict)

    def to_json(self) -> bytes:
        """The manifest as indented UTF-8 JSON."""
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        """Parse and check ``manifest.json``; raises :class:`ArchiveInvalid` when it is not
        valid JSON of this shape or of another format version."""
        try:
            data: dict[str, Any] = json.loads(raw)
            version = data["format_version"]
            if version != FORMAT_VERSION:
                raise ArchiveInvalid(
                    f"Archive format version {version!r} is not supported "
                    f"(this Beholder reads version {FORMAT_VERSION})."
                )
            backend = data["database_backend"]
            if backend not in ("sqlite", "postgresql"):
                raise ArchiveInvalid(f"Unknown database backend {backend!r} in the manifest.")
            files = {
                str(name): FileEntry(sha256=str(e["sha256"]), size=int(e["size"]))
                for name, e in data["files"].items()
            }
            return cls(
                format_version=version,
                beholder_version=str(data["beholder_version"]),
                alembic_revision=data.get("alembic_revision"),
                database_backend=backend,
                created_at=str(data["created_at"]),
                files=files,
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ArchiveInvalid("The archive's manifest.json is not valid.") from exc


def digest(data: bytes) -> FileEntry:
    """The manifest entry of ``data``."""
    return FileEntry(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
