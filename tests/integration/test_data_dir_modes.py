"""Issue 9, finding 9: the data dir holds camera credentials, password hashes and the signing
secret, so it is created 0700 and its files 0600 whatever the umask (the real ``beholder``
command under umask 022); an existing wider data dir is reported with one warning line."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from beholder.files import mode_of
from beholder.messages import DetectedFace, FaceDetectionAlert, Subjects
from support.api import live_api
from support.polling import eventually, wait_until
from support.settings import free_port, make_settings

TINY_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGCQgKCgkICQkKDA8MCgsOCwkJDRENDg8QEBEQCgwSExIQEw8QEBD/yQALCAABAAEBAREA/8wABgAQEAX/2gAIAQEAAD8A0s8g/9k="
)
WARNING = "data directory is readable by other users; chmod 700 it"


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEHOLDER_")}
    env.update(BEHOLDER_DATA_DIR=str(data_dir), BEHOLDER_LOG_FORMAT="json", **extra)
    return env


def _umask_022() -> None:
    os.umask(0o022)


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_first_run_under_umask_022_creates_a_private_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "beholder", "serve"],
        env=_env(data_dir, BEHOLDER_PORT=str(port), BEHOLDER_RUN_WORKER="false"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_umask_022,
    )
    try:

        def ready() -> bool:
            assert proc.poll() is None, "serve exited during start-up"
            try:
                url = f"http://127.0.0.1:{port}/api/system/ready"
                return httpx.get(url, timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, 60, "serve to be ready", every=0.1)
        # While the api runs, SQLite's WAL and shared-memory files exist next to the DB.
        modes = {p.name: mode_of(p) for p in data_dir.iterdir()}
        assert mode_of(data_dir) == 0o700
        assert modes == {
            "beholder.db": 0o600,
            "beholder.db-wal": 0o600,
            "beholder.db-shm": 0o600,
            "secret.key": 0o600,
        }, {k: oct(v) for k, v in modes.items()}
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr[-3000:]
    assert WARNING not in stderr, "a directory we created is never reported"


def test_an_existing_wider_data_dir_gets_one_warning_and_private_files(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    data_dir.chmod(0o755)
    proc = subprocess.run(
        [sys.executable, "-m", "beholder", "migrate"],
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_umask_022,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    warnings = [json.loads(line) for line in proc.stderr.splitlines() if WARNING in line]
    assert len(warnings) == 1, proc.stderr
    assert warnings[0]["level"] == "warning"
    assert warnings[0]["path"] == str(data_dir.resolve()) and warnings[0]["mode"] == "0755"
    assert mode_of(data_dir) == 0o755, "the operator's choice is reported, not changed"
    assert mode_of(data_dir / "beholder.db") == 0o600


async def test_snapshots_are_private_whatever_the_umask(tmp_path: Path, umask_022: None) -> None:
    settings = make_settings(tmp_path)
    async with live_api(settings) as api:
        r = await api.client.post(
            "/api/cameras",
            json={"name": "Hall", "rtspUrl": "rtsp://10.0.0.8/live"},
            headers=await api.headers("operator"),
        )
        cam = r.json()["id"]
        alert = FaceDetectionAlert(
            camera_id=cam,
            faces=[DetectedFace(box=(1, 1, 1, 1), confidence=0.9)],
            snapshot=base64.b64encode(TINY_JPEG).decode(),
        )
        await api.state.bus.publish(Subjects.CAMERA_EVENTS, alert.to_bytes())
        snapshot = settings.snapshot_dir / f"{alert.id}.jpg"
        await eventually(snapshot.exists, 10, "the snapshot file")
        assert mode_of(settings.data_dir) == 0o700
        assert mode_of(settings.snapshot_dir) == 0o700
        assert mode_of(snapshot) == 0o600
        assert mode_of(settings.data_dir / "beholder.db") == 0o600
        assert mode_of(settings.data_dir / "secret.key") == 0o600
