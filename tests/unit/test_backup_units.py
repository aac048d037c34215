"""Backup pieces without a database: URL masking, libpq environment, manifest checks."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from beholder.backup.manifest import FORMAT_VERSION, Manifest, digest
from beholder.backup.postgres import libpq_env, mask_url
from beholder.backup.restore import verify_archive
from beholder.errors import ArchiveInvalid

URL = "postgresql+asyncpg://beholder:s3cret-pw@db.example:6543/prod?ssl=require"


def test_url_is_masked_and_password_goes_to_the_environment_only() -> None:
    assert "s3cret-pw" not in mask_url(URL) and "***" in mask_url(URL)
    env = libpq_env(URL)
    assert env["PGPASSWORD"] == "s3cret-pw" and env["PGHOST"] == "db.example"
    assert env["PGPORT"] == "6543" and env["PGDATABASE"] == "prod"
    assert env["PGSSLMODE"] == "require"


def _manifest(**changes: object) -> bytes:
    m = Manifest(FORMAT_VERSION, "0.1.0", "0003", "sqlite", "2026-01-01T00:00:00+00:00")
    m.files["secret.key"] = digest(b"x" * 40)
    data = json.loads(m.to_json())
    data.update(changes)
    return json.dumps(data).encode()


def test_manifest_round_trips() -> None:
    m = Manifest.from_json(_manifest())
    assert m.files["secret.key"].size == 40 and m.alembic_revision == "0003"


@pytest.mark.parametrize(
    "changes",
    [{"format_version": FORMAT_VERSION + 1}, {"database_backend": "mysql"}, {"files": 3}],
)
def test_bad_manifests_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ArchiveInvalid):
        Manifest.from_json(_manifest(**changes))


@pytest.mark.parametrize(
    "name", ["../evil.jpg", "snapshots/../x.jpg", "/etc/passwd", "snapshots/a/b.jpg", "x.txt"]
)
def test_archive_members_outside_the_format_are_refused(tmp_path: Path, name: str) -> None:
    archive = tmp_path / "a.tar.gz"
    data = b"\xff\xd8x"
    m = Manifest(FORMAT_VERSION, "0.1.0", "0003", "sqlite", "2026-01-01T00:00:00+00:00")
    m.files[name] = digest(data)
    with tarfile.open(archive, "w:gz") as tar:
        for member, body in ((name, data), ("manifest.json", m.to_json())):
            info = tarfile.TarInfo(member)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    with pytest.raises(ArchiveInvalid, match="Unexpected archive member"):
        verify_archive(archive)


def test_a_sound_archive_verifies(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar.gz"
    data = b"\xff\xd8x"
    m = Manifest(FORMAT_VERSION, "0.1.0", "0003", "sqlite", "2026-01-01T00:00:00+00:00")
    m.files["snapshots/a.jpg"] = digest(data)
    with tarfile.open(archive, "w:gz") as tar:
        for member, body in (("snapshots/a.jpg", data), ("manifest.json", m.to_json())):
            info = tarfile.TarInfo(member)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    assert verify_archive(archive).files["snapshots/a.jpg"].size == 3
