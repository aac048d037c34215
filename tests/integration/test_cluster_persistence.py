"""Idempotent persistence of worker output (issue 12 item 2), on SQLite and PostgreSQL.

A redelivered alert is stored once, shown once and its snapshot written once; a status event
carrying a lease epoch is stored only when its ``(epoch, seq)`` is newer than the camera's
stored one (a redelivery, an older sequence number or an older owner's event is dropped,
counted, never broadcast); an alert of an epoch older than the camera's is not stored.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import websockets

from beholder.messages import (
    CameraStatus,
    DetectedFace,
    FaceDetectionAlert,
    StreamStatusEvent,
    Subjects,
)
from beholder.observability import BUS_REFUSED
from support.api import LiveApi
from support.polling import eventually

TINY_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGCQgKCgkICQkKDA8MCgsOCwkJDRENDg8QEBEQCgwSExIQEw8QEBD/yQALCAABAAEBAREA/8wABgAQEAX/2gAIAQEAAD8A0s8g/9k="
)


def _refused(subject: str, reason: str) -> float:
    return float(BUS_REFUSED.labels(subject, reason)._value.get())


async def _camera(api: LiveApi, name: str = "Gate") -> str:
    r = await api.client.post(
        "/api/cameras",
        json={"name": name, "rtspUrl": "rtsp://10.0.0.9/live"},
        headers=await api.headers("operator"),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


class Dashboard:
    """A hub connection subscribed to ``topics``; :meth:`until` reads messages up to one
    matching a predicate and returns every message of ``kind`` read meanwhile."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, api: LiveApi, topics: list[str]) -> Dashboard:
        ws = await websockets.connect(api.ws_url)
        await ws.send(json.dumps({"type": "auth", "token": await api.token("viewer")}))
        assert json.loads(await ws.recv())["type"] == "auth-ok"
        await ws.send(json.dumps({"type": "subscribe", "topics": topics}))
        while json.loads(await ws.recv())["type"] != "subscribed":
            pass
        return cls(ws)

    async def until(self, kind: str, last: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        async with asyncio.timeout(timeout):
            while True:
                msg = json.loads(await self.ws.recv())
                if msg["type"] != kind:
                    continue
                seen.append(msg)
                if last(msg):
                    return seen


def _alert(camera_id: str, epoch: int | None = None) -> FaceDetectionAlert:
    return FaceDetectionAlert(
        camera_id=camera_id,
        faces=[DetectedFace(box=(10, 20, 40, 48), confidence=0.9, track_id=1)],
        thumbnail=base64.b64encode(TINY_JPEG).decode(),
        snapshot=base64.b64encode(TINY_JPEG).decode(),
        frame_width=480,
        frame_height=270,
        epoch=epoch,
    )


def _status(
    camera_id: str, status: CameraStatus, epoch: int, seq: int, worker: str = "w1"
) -> StreamStatusEvent:
    return StreamStatusEvent(
        camera_id=camera_id, status=status, epoch=epoch, seq=seq, worker_id=worker
    )


async def _alert_ids(api: LiveApi, camera_id: str) -> list[str]:
    r = await api.client.get(
        f"/api/alerts?cameraId={camera_id}&limit=50", headers=await api.headers("viewer")
    )
    return sorted(a["id"] for a in r.json()["items"])


async def test_redelivered_alert_is_stored_shown_and_snapshotted_once(api: LiveApi) -> None:
    cam = await _camera(api)
    dash = await Dashboard.open(api, ["alerts"])
    try:
        first, marker = _alert(cam), _alert(cam)
        await api.state.bus.publish(Subjects.CAMERA_EVENTS, first.to_bytes())
        await dash.until("face-detection-alert", lambda m: m["id"] == first.id)
        snapshot = Path(api.settings.snapshot_dir) / f"{first.id}.jpg"
        written = snapshot.stat().st_mtime_ns
        await api.state.bus.publish(Subjects.CAMERA_EVENTS, first.to_bytes())  # redelivered
        await api.state.bus.publish(Subjects.CAMERA_EVENTS, marker.to_bytes())
        shown = await dash.until("face-detection-alert", lambda m: m["id"] == marker.id)
        assert [m["id"] for m in shown] == [marker.id]  # no second message for the first
        assert await _alert_ids(api, cam) == sorted([first.id, marker.id])
        assert snapshot.stat().st_mtime_ns == written
        r = await api.client.get(
            f"/api/alerts/{first.id}/snapshot.jpg", headers=await api.headers("viewer")
        )
        assert r.status_code == 200 and r.content == TINY_JPEG
    finally:
        await dash.ws.close()


async def test_status_is_fenced_by_epoch_and_sequence(api: LiveApi) -> None:
    cam = await _camera(api)
    dash = await Dashboard.open(api, ["cameras"])
    publish = api.state.bus.publish
    stale_seq = _refused(Subjects.STREAM_STATUS, "stale-seq")
    stale_epoch = _refused(Subjects.STREAM_STATUS, "stale-epoch")
    try:
        events = [
            _status(cam, CameraStatus.STARTING, 5, 1),
            _status(cam, CameraStatus.PROCESSING, 5, 3),
            _status(cam, CameraStatus.CONNECTING, 5, 2),  # older seq: dropped
            _status(cam, CameraStatus.PROCESSING, 5, 3),  # redelivered: dropped
            _status(cam, CameraStatus.ERROR, 4, 9, worker="w0"),  # older owner: dropped
            _status(cam, CameraStatus.STARTING, 6, 1, worker="w2"),  # new owner: applied
        ]
        for event in events:
            await publish(Subjects.STREAM_STATUS, event.to_bytes())
        shown = await dash.until(
            "camera-status-update",
            lambda m: m["cameraId"] == cam and m.get("workerId") == "w2",
        )
        mine = [(m["status"], m.get("workerId")) for m in shown if m["cameraId"] == cam]
        assert mine == [("STARTING", "w1"), ("PROCESSING", "w1"), ("STARTING", "w2")]
        assert _refused(Subjects.STREAM_STATUS, "stale-seq") == stale_seq + 2
        assert _refused(Subjects.STREAM_STATUS, "stale-epoch") == stale_epoch + 1
        # The older owner, still publishing, never overwrites the new one's state.
        late = _status(cam, CameraStatus.PROCESSING, 5, 4)
        await publish(Subjects.STREAM_STATUS, late.to_bytes())
        await eventually(
            lambda: _refused(Subjects.STREAM_STATUS, "stale-epoch") == stale_epoch + 2,
            10,
            "the late event refused",
        )
        r = await api.client.get(f"/api/cameras/{cam}", headers=await api.headers("viewer"))
        body = r.json()
        assert body["status"] == "STARTING" and body["workerId"] == "w2"
        stopped = _status(cam, CameraStatus.STOPPED, 6, 2, worker="w2")
        await publish(Subjects.STREAM_STATUS, stopped.to_bytes())
        await dash.until("camera-status-update", lambda m: m["status"] == "STOPPED")
        r = await api.client.get(f"/api/cameras/{cam}", headers=await api.headers("viewer"))
        assert r.json()["status"] == "STOPPED" and r.json()["workerId"] is None
    finally:
        await dash.ws.close()


async def test_alert_of_an_older_epoch_is_not_stored(api: LiveApi) -> None:
    cam = await _camera(api)
    dash = await Dashboard.open(api, ["alerts", "cameras"])
    publish = api.state.bus.publish
    stale = _refused(Subjects.CAMERA_EVENTS, "stale-epoch")
    try:
        await publish(
            Subjects.STREAM_STATUS, _status(cam, CameraStatus.PROCESSING, 7, 1).to_bytes()
        )
        await dash.until("camera-status-update", lambda m: m["status"] == "PROCESSING")
        old, current, unfenced = _alert(cam, epoch=6), _alert(cam, epoch=7), _alert(cam)
        for alert in (old, current, unfenced):
            await publish(Subjects.CAMERA_EVENTS, alert.to_bytes())
        shown = await dash.until("face-detection-alert", lambda m: m["id"] == unfenced.id)
        assert [m["id"] for m in shown] == [current.id, unfenced.id]
        assert await _alert_ids(api, cam) == sorted([current.id, unfenced.id])
        assert _refused(Subjects.CAMERA_EVENTS, "stale-epoch") == stale + 1
        assert not (Path(api.settings.snapshot_dir) / f"{old.id}.jpg").exists()
    finally:
        await dash.ws.close()


async def test_serve_status_without_epoch_keeps_its_behaviour(api: LiveApi) -> None:
    """Events of ``serve`` (no epoch): every one stored in order, the holder recorded."""
    cam = await _camera(api)
    dash = await Dashboard.open(api, ["cameras"])
    try:
        for status in (CameraStatus.CONNECTING, CameraStatus.PROCESSING):
            event = StreamStatusEvent(camera_id=cam, status=status, worker_id="local")
            await api.state.bus.publish(Subjects.STREAM_STATUS, event.to_bytes())
        await dash.until("camera-status-update", lambda m: m["status"] == "PROCESSING")
        r = await api.client.get(f"/api/cameras/{cam}", headers=await api.headers("viewer"))
        assert r.json()["status"] == "PROCESSING" and r.json()["workerId"] == "local"
    finally:
        await dash.ws.close()
