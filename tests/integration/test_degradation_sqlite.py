"""``beholder serve``'s embedded SQLite refusing writes (issue 14 item 8): another process
holds the write lock longer than the busy timeout (a backup tool, a stuck ``sqlite3``
shell), so storing an alert fails with "database is locked". The alerts that arrive
meanwhile on the in-memory bus (as the in-process worker publishes them) are pushed live
on the hub, kept in memory, and stored once each, in order, when the lock is released."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import sqlite3
from pathlib import Path

import websockets

from beholder.contracts.bus import DetectedFace, FaceDetectionAlert
from beholder.contracts.subjects import Subjects
from support.api import live_api
from support.polling import eventually
from support.settings import make_settings

# A valid 1x1 JPEG (as in test_events).
TINY_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGCQgKCgkICQkKDA8MCgsOCwkJDRENDg8QEBEQCgwSExIQEw8QEBD/yQALCAABAAEBAREA/8wABgAQEAX/2gAIAQEAAD8A0s8g/9k="
)


def _alert(camera_id: str) -> FaceDetectionAlert:
    jpeg = base64.b64encode(TINY_JPEG).decode()
    return FaceDetectionAlert(
        camera_id=camera_id,
        faces=[DetectedFace(box=(10, 20, 40, 48), confidence=0.9, track_id=1)],
        thumbnail=jpeg,
        snapshot=jpeg,
    )


async def test_alerts_wait_for_a_locked_sqlite_and_are_stored_once(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with live_api(settings) as api:
        op = await api.headers("operator")
        r = await api.client.post(
            "/api/cameras", json={"name": "Porch", "rtspUrl": "rtsp://10.0.0.9/s"}, headers=op
        )
        camera_id = r.json()["id"]
        ws = await websockets.connect(api.ws_url)
        await ws.send(json.dumps({"type": "auth", "token": await api.token("viewer")}))
        await ws.send(json.dumps({"type": "subscribe", "topics": ["alerts"]}))
        seen: list[str] = []

        async def read() -> None:
            async for raw in ws:
                msg = json.loads(raw)
                if msg.get("type") == "face-detection-alert":
                    seen.append(msg["id"])

        reader = asyncio.create_task(read())
        lock = sqlite3.connect(settings.data_dir / "beholder.db", isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")  # the write lock, held past the 5 s busy timeout
        alerts = [_alert(camera_id) for _ in range(5)]
        ids = [a.id for a in alerts]
        try:
            for alert in alerts:
                await api.state.bus.publish(Subjects.CAMERA_EVENTS, alert.to_bytes())

            await eventually(
                lambda: set(ids) <= set(seen), 30, "every alert pushed live while SQLite is locked"
            )
            pending = api.state.pending_alerts
            assert pending is not None and pending.stats()["queued"] == 5
            for alert_id in ids:  # snapshots are files: written meanwhile
                assert (settings.snapshot_dir / f"{alert_id}.jpg").exists()
        finally:
            lock.execute("ROLLBACK")
            lock.close()

        async def stored() -> list[str]:
            r = await api.client.get(f"/api/alerts?cameraId={camera_id}", headers=op)
            return [a["id"] for a in r.json()["items"]]

        async def all_stored() -> bool:
            return set(ids) <= set(await stored())

        await eventually(all_stored, 60, "the alerts stored once the lock is gone")
        listed = await stored()
        assert sorted(listed) == sorted(ids)  # once each
        assert list(reversed(listed)) == ids  # newest first: stored in the order received
        assert sorted(seen) == sorted(ids)  # shown once each (no second push)
        await ws.close()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
