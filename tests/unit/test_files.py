"""Files under the data dir (issue 9, findings 5 and 9): a name from data never leaves its
folder (:func:`safe_child`), retention deletes only regular snapshot files, and what Beholder
creates is private (0700/0600) whatever the umask."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from beholder.errors import NotFound, UnsafePath
from beholder.files import (
    create_private_file,
    ensure_private_dir,
    mode_of,
    prune_snapshots,
    safe_child,
    write_private_file,
)


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize(
    "name",
    ["", ".", "..", "../x", "../../x", "/etc/passwd", "a/b", "a\\..\\b", "x\x00y", "/", "./x"],
)
def test_a_name_that_leaves_its_folder_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnsafePath) as err:
        safe_child(tmp_path / "snaps", name)
    assert isinstance(err.value, NotFound), "answered like a missing file"
    assert str(tmp_path) not in err.value.message


def test_a_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "snaps"
    folder.mkdir()
    (tmp_path / "secret").write_text("x")
    (folder / "link.jpg").symlink_to(tmp_path / "secret")
    with pytest.raises(UnsafePath):
        safe_child(folder, "link.jpg")
    assert safe_child(folder, "ok.jpg") == folder.resolve() / "ok.jpg"
    assert safe_child(folder, "..%2fx.jpg").parent == folder.resolve()  # a plain name


def test_written_files_are_private_and_inside(tmp_path: Path, umask_022: None) -> None:
    folder = tmp_path / "data" / "snapshots"
    path = write_private_file(folder, "a.jpg", b"\xff\xd8x")
    assert path == folder.resolve() / "a.jpg" and path.read_bytes() == b"\xff\xd8x"
    assert mode_of(folder) == 0o700 and mode_of(path) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == ["a.jpg"], "no temporary file left"
    with pytest.raises(UnsafePath):
        write_private_file(folder, "../b.jpg", b"x")
    assert not (tmp_path / "data" / "b.jpg").exists()


def test_created_dirs_and_files_are_private_whatever_the_umask(
    tmp_path: Path, umask_022: None
) -> None:
    d = ensure_private_dir(tmp_path / "data")
    assert mode_of(d) == 0o700
    assert create_private_file(d / "beholder.db") is True
    assert mode_of(d / "beholder.db") == 0o600
    assert create_private_file(d / "beholder.db") is False, "an existing file is left alone"


def test_a_wider_existing_dir_is_reported_once_and_kept(tmp_path: Path) -> None:
    d = tmp_path / "data"
    d.mkdir()
    d.chmod(0o755)
    with structlog.testing.capture_logs() as logs:
        ensure_private_dir(d)
        ensure_private_dir(d, warn=False)
    assert [(e["log_level"], e["path"], e["mode"]) for e in logs] == [
        ("warning", str(d.resolve()), "0755")
    ]
    assert mode_of(d) == 0o755
    d.chmod(0o700)
    with structlog.testing.capture_logs() as logs:
        ensure_private_dir(d)
    assert logs == []


def test_retention_deletes_only_regular_snapshot_files(tmp_path: Path) -> None:
    folder = tmp_path / "snapshots"
    folder.mkdir()
    victim = tmp_path / "victim.jpg"
    victim.write_bytes(b"keep me")
    (folder / "evil.jpg").symlink_to(victim)
    (folder / "dir.jpg").mkdir()
    for i in range(3):
        p = folder / f"{i}.jpg"
        p.write_bytes(b"x")
        os.utime(p, (1000 + i, 1000 + i))
    assert prune_snapshots(folder, max_count=1, max_age_days=365000) == 2
    assert victim.read_bytes() == b"keep me"
    assert sorted(p.name for p in folder.iterdir()) == ["2.jpg", "dir.jpg", "evil.jpg"]
