"""``beholder backup`` (the real CLI, a child process) during alert traffic on the real app,
``beholder restore`` into a new data dir (and a new PostgreSQL database), then a real
``beholder serve`` on the restored data finds every alert and snapshot stored before the
backup began; a live/non-empty target and a tampered archive are refused before anything is
written. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import sys
import tarfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx

from beholder.messages import DetectedFace, FaceDetectionAlert, Subjects
from support.api import ADMIN_PASSWORD, LiveApi, live_api
from support.command import beholder_argv
from support.database import PG_ADMIN_URL
from support.polling import eventually
from support.settings import free_port, make_settings

# A valid 1x1 JPEG (as in test_events).
TINY_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGCQgKCgkICQkKDA8MCgsOCwkJDRENDg8QEBEQCgwSExIQEw8QEBD/yQALCAABAAEBAREA/8wABgAQEAX/2gAIAQEAAD8A0s8g/9k="
)


def _alert(camera_id: str) -> FaceDetectionAlert:
    return FaceDetectionAlert(
        camera_id=camera_id,
        detected_at=datetime.now(UTC),
        faces=[DetectedFace(box=(10, 20, 40, 48), confidence=0.9, track_id=1)],
        thumbnail=base64.b64encode(TINY_JPEG).decode(),
        snapshot=base64.b64encode(TINY_JPEG).decode(),
        frame_width=480,
        frame_height=270,
    )


async def _cli(*args: str, data_dir: Path, database_url: str | None) -> tuple[int, str]:
    """Run ``python -m beholder *args`` (without blocking the app in this loop)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEHOLDER_")}
    env["BEHOLDER_DATA_DIR"] = str(data_dir)
    env["BEHOLDER_LOG_LEVEL"] = "WARNING"
    if database_url:
        env["BEHOLDER_DATABASE_URL"] = database_url
    proc = await asyncio.create_subprocess_exec(
        *beholder_argv(*args),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode() + err.decode()


@asynccontextmanager
async def _fresh_pg(wanted: bool) -> AsyncIterator[str | None]:
    """The URL of a new, empty PostgreSQL database (dropped afterwards), or ``None``."""
    if not wanted:
        yield None
        return
    name = "beholder_restore_" + uuid.uuid4().hex[:10]
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
        finally:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def _stored(api: LiveApi, ids: list[str]) -> bool:
    headers = await api.headers("admin")
    for alert_id in ids[-1:]:
        r = await api.client.get(f"/api/alerts/{alert_id}/snapshot.jpg", headers=headers)
        if r.status_code != 200:
            return False
    return True


def _tamper(archive: Path, out: Path) -> None:
    """Copy ``archive`` with one byte of one snapshot changed (manifest kept)."""
    with tarfile.open(archive, "r:gz") as src, tarfile.open(out, "w:gz") as dst:
        done = False
        for info in src:
            f = src.extractfile(info)
            assert f is not None
            data = f.read()
            if not done and info.name.startswith("snapshots/"):
                data = data[:-1] + bytes([data[-1] ^ 0xFF])
                done = True
            dst.addfile(info, io.BytesIO(data))
        assert done


async def test_backup_under_traffic_restores_every_alert_and_snapshot(
    tmp_path: Path, database_url: str | None
) -> None:
    settings = make_settings(tmp_path, database_url)
    archive = tmp_path / "backups" / "beholder.tar.gz"
    async with live_api(settings) as api:
        r = await api.client.post(
            "/api/cameras",
            json={"name": "Lobby", "rtspUrl": "rtsp://10.0.0.7/live"},
            headers=await api.headers("operator"),
        )
        cam_id = r.json()["id"]
        before: list[str] = []
        for _ in range(30):
            alert = _alert(cam_id)
            await api.state.bus.publish(Subjects.CAMERA_EVENTS, alert.to_bytes())
            before.append(alert.id)
        await eventually(lambda: _stored(api, before), 15, "the first alerts to be stored")

        stop = asyncio.Event()
        during: list[str] = []

        async def traffic() -> None:
            while not stop.is_set():
                alert = _alert(cam_id)
                await api.state.bus.publish(Subjects.CAMERA_EVENTS, alert.to_bytes())
                during.append(alert.id)
                await asyncio.sleep(0)  # yield: the app persists while we publish

        task = asyncio.create_task(traffic())
        try:
            rc, out = await _cli(
                "backup", str(archive), data_dir=settings.data_dir, database_url=database_url
            )
        finally:
            stop.set()
            await task
        assert rc == 0, out
        assert during, "no alert traffic during the backup"
        assert archive.stat().st_mode & 0o777 == 0o600
        assert not [p for p in archive.parent.iterdir() if p != archive]  # no temp file left

        # The live data dir (and its database) is refused, before anything is written.
        rc, out = await _cli(
            "restore", str(archive), data_dir=settings.data_dir, database_url=database_url
        )
        assert rc == 2 and "not empty" in out, out

    async with _fresh_pg(database_url is not None) as restore_url:
        # A tampered archive is refused before anything is written.
        tampered = tmp_path / "tampered.tar.gz"
        _tamper(archive, tampered)
        target = tmp_path / "restored" / "data"
        rc, out = await _cli("restore", str(tampered), data_dir=target, database_url=restore_url)
        assert rc == 2 and "Checksum mismatch" in out, out
        assert not target.exists()
        if restore_url:
            conn = await asyncpg.connect(restore_url.replace("+asyncpg", ""))
            try:
                assert (
                    await conn.fetchval(
                        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                    )
                    == 0
                )
            finally:
                await conn.close()

        rc, out = await _cli("restore", str(archive), data_dir=target, database_url=restore_url)
        assert rc == 0, out
        assert "postgresql://" not in out or "***" in out or "@" not in out

        await _serve_and_check(target, restore_url, before)


async def _serve_and_check(data_dir: Path, database_url: str | None, before: list[str]) -> None:
    """A real ``beholder serve`` on the restored data: the restored admin signs in (its
    password hash and the restored secret key) and every alert of ``before`` has its snapshot."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEHOLDER_")}
    env.update(
        BEHOLDER_DATA_DIR=str(data_dir),
        BEHOLDER_PORT=str(port),
        BEHOLDER_RUN_WORKER="false",
        BEHOLDER_LOG_LEVEL="WARNING",
        BEHOLDER_ADMIN_PASSWORD="not-the-restored-one-1",  # ignored: the admin exists already
    )
    if database_url:
        env["BEHOLDER_DATABASE_URL"] = database_url
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "beholder",
        "serve",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=15) as client:

            async def ready() -> bool:
                assert proc.returncode is None, "serve exited"
                try:
                    return (await client.get("/api/system/ready")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(ready, 60, "the restored serve to be ready")
            r = await client.post(
                "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
            )
            assert r.status_code == 200, r.text
            headers = {"Authorization": f"Bearer {r.json()['accessToken']}"}
            for alert_id in before:
                r = await client.get(f"/api/alerts/{alert_id}/snapshot.jpg", headers=headers)
                assert r.status_code == 200 and r.content == TINY_JPEG, (alert_id, r.status_code)
            r = await client.get("/api/alerts?limit=200", headers=headers)
            assert {a["id"] for a in r.json()["items"]} >= set(before)
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), timeout=30) == 0
