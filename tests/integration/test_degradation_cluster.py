"""Graceful degradation of a running distributed Beholder (issue 14 item 8): a real
``beholder api`` and ``beholder worker`` (processes) over a private PostgreSQL and a private
``nats-server -js``, a camera on the real RTSP fixture (the two-faces clip).

* PostgreSQL stopped: the camera keeps PROCESSING, an MJPEG stream opened before keeps
  delivering frames, every alert raised meanwhile (by the worker and by a second publisher
  on ``camera.events``) is pushed live on the hub, health says the database is UNHEALTHY
  with the reason; PostgreSQL back: every one of those alerts is stored exactly once and
  none is pushed twice.
* NATS stopped: health DEGRADED with the reason and the affected features, reads (cameras,
  alerts, sign-in) answer 200, a camera command answers 503 in the error shape at once;
  NATS back: health HEALTHY again and a camera command goes through (the api's and the
  worker's subscriptions resumed without a restart).

Figures (alerts queued and written, time to write them back, time from NATS back to
HEALTHY) are printed (``-s``), not asserted.

``beholder serve`` (SQLite, in-memory bus) has no bus to lose; its database failing is
``tests/integration/test_degradation_sqlite.py`` (the SQLite write lock held by another
process).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import websockets

from beholder.bus.nats import NatsBus
from beholder.contracts.bus import DetectedFace, FaceDetectionAlert
from beholder.contracts.subjects import Subjects
from support.cluster import Cluster, destroy_cluster, start_cluster
from support.polling import eventually
from support.settings import ADMIN_PASSWORD

pytestmark = [pytest.mark.rtsp, pytest.mark.slow]

INJECTED = 20
"""Alerts a second publisher raises during the database outage (the worker's own come on
top, as many as the clip gives)."""

# A valid 1x1 JPEG (as in test_events).
TINY_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGCQgKCgkICQkKDA8MCgsOCwkJDRENDg8QEBEQCgwSExIQEw8QEBD/yQALCAABAAEBAREA/8wABgAQEAX/2gAIAQEAAD8A0s8g/9k="
)


class Hub:
    """A dashboard connection to ``/ws`` recording every message (``messages``)."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None

    async def open(self, base_url: str, token: str) -> None:
        ws = await websockets.connect(base_url.replace("http", "ws", 1) + "/ws")
        await ws.send(json.dumps({"type": "auth", "token": token}))
        await ws.send(json.dumps({"type": "subscribe", "topics": ["cameras", "alerts", "health"]}))

        async def read() -> None:
            async with ws:
                async for raw in ws:
                    self.messages.append(json.loads(raw))

        self._task = asyncio.create_task(read())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def alerts(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == "face-detection-alert"]

    def health(self) -> dict[str, Any] | None:
        pushed = [m for m in self.messages if m.get("type") == "health-update"]
        return pushed[-1] if pushed else None


class Mjpeg:
    """An MJPEG stream read in the background; ``parts`` counts the JPEG parts."""

    def __init__(self) -> None:
        self.parts = 0
        self.status: int | str | None = None
        self._task: asyncio.Task[None] | None = None

    def open(self, client: httpx.AsyncClient, camera_id: str, headers: dict[str, str]) -> None:
        async def read() -> None:
            url = f"/api/cameras/{camera_id}/mjpeg"
            while True:  # 503 until the worker's egress has the camera's first frames
                async with client.stream("GET", url, headers=headers, timeout=None) as r:
                    if r.status_code != 200:
                        self.status = f"{r.status_code} {(await r.aread())[:300]!r}"
                        await asyncio.sleep(0.2)
                        continue
                    self.status = r.status_code
                    tail = b""
                    async for chunk in r.aiter_bytes():
                        data = tail + chunk  # a part header may straddle two chunks
                        self.parts += data.count(b"Content-Type: image/jpeg")
                        tail = data[-40:].replace(b"Content-Type: image/jpeg", b"")
                    return

        self._task = asyncio.create_task(read())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    c = await asyncio.to_thread(start_cluster, tmp_path, BEHOLDER_WORKER_ALERT_COOLDOWN="0")
    try:
        yield c
    finally:
        await asyncio.to_thread(destroy_cluster, c)


async def _ready(client: httpx.AsyncClient, c: Cluster) -> None:
    async def ok() -> bool:
        for role in c.roles:
            assert role.alive(), f"beholder {role.name} exited: {role.log.read_text()[-3000:]}"
        try:
            r = await client.get("/api/system/health")
        except httpx.TransportError:
            return False
        body = r.json()
        return bool(body.get("overall") == "HEALTHY")

    await eventually(ok, 90, "the api and the worker to be HEALTHY")


async def _login(client: httpx.AsyncClient) -> str:
    r = await client.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert r.status_code == 200, r.text
    return str(r.json()["accessToken"])


async def _running_camera(client: httpx.AsyncClient, headers: dict[str, str], url: str) -> str:
    r = await client.post(
        "/api/cameras",
        json={"name": "Entrance", "rtspUrl": url, "faceDetectionEnabled": True},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    camera_id = str(r.json()["id"])
    r = await client.post(f"/api/cameras/{camera_id}/start", headers=headers)
    assert r.status_code == 202, r.text

    async def processing() -> bool:
        got = await client.get(f"/api/cameras/{camera_id}", headers=headers)
        return bool(got.json()["status"] == "PROCESSING")

    await eventually(processing, 30, "the camera to be PROCESSING")
    return camera_id


def _alert(camera_id: str) -> FaceDetectionAlert:
    jpeg = base64.b64encode(TINY_JPEG).decode()
    return FaceDetectionAlert(
        camera_id=camera_id,
        faces=[DetectedFace(box=(10, 20, 40, 48), confidence=0.9, track_id=1)],
        thumbnail=jpeg,
        snapshot=jpeg,
        frame_width=480,
        frame_height=270,
        worker_id="second-publisher",
    )


def _metric(text: str, name: str) -> float:
    """The value of the unlabelled sample ``name`` in a Prometheus text page."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


async def _stored(pg_url: str, ids: set[str]) -> dict[str, int]:
    """``{alert id: rows}`` for ``ids`` straight from PostgreSQL."""
    conn = await asyncpg.connect(pg_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        rows = await conn.fetch(
            "SELECT id, count(*) AS n FROM alerts WHERE id = ANY($1::text[]) GROUP BY id",
            list(ids),
        )
    finally:
        await conn.close()
    return {r["id"]: r["n"] for r in rows}


async def test_database_outage_keeps_cameras_live_and_loses_no_alert(
    cluster: Cluster, rtsp_private_camera: Any
) -> None:
    c = cluster
    async with httpx.AsyncClient(base_url=c.base_url, timeout=30) as client:
        await _ready(client, c)
        token = await _login(client)
        headers = {"Authorization": f"Bearer {token}"}
        camera_id = await _running_camera(client, headers, rtsp_private_camera.url("two"))
        hub, mjpeg = Hub(), Mjpeg()
        await hub.open(c.base_url, token)
        mjpeg.open(client, camera_id, headers)
        publisher = NatsBus(c.nats.url)
        await publisher.start()
        try:
            await eventually(lambda: hub.alerts(), 30, "a first face alert from the worker")
            await eventually(lambda: mjpeg.parts > 0, 15, lambda: f"MJPEG frames ({mjpeg.status})")
            before_outage = {a["id"] for a in hub.alerts()}

            await asyncio.to_thread(c.pg.stop)
            outage_started = len(hub.messages)
            frames_at_stop = mjpeg.parts

            def database_down() -> bool:
                h = hub.health()
                return h is not None and h["services"]["database"]["status"] == "UNHEALTHY"

            await eventually(database_down, 20, "health to say the database is UNHEALTHY")
            database = hub.health()["services"]["database"]  # type: ignore[index]
            assert "alerts are kept in memory" in database["details"]["reason"]
            assert (await client.get("/api/system/health")).json()["services"]["database"][
                "status"
            ] == "UNHEALTHY"

            # What needs the database says so at once, in the error shape; the instance stays
            # in the load balancer (ready), or live view and the hub would go with it.
            r = await client.get("/api/cameras", headers=headers)
            assert r.status_code == 503 and r.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
            assert (await client.get("/api/system/ready")).status_code == 200

            injected = [_alert(camera_id) for _ in range(INJECTED)]
            for alert in injected:
                await publisher.publish(Subjects.CAMERA_EVENTS, alert.to_bytes())
            injected_ids = {a.id for a in injected}

            def outage_alerts() -> set[str]:
                return {a["id"] for a in hub.alerts()[len(before_outage) :]} - before_outage

            await eventually(
                lambda: injected_ids <= outage_alerts(), 20, "the outage's alerts on the hub"
            )
            # The camera drops and comes back: the worker reconnects (its status is pushed
            # live) and, its tracks forgotten, raises the two faces again.
            await asyncio.to_thread(rtsp_private_camera.restart)
            await eventually(
                lambda: outage_alerts() - injected_ids, 60, "a worker alert during the outage"
            )
            # Live view and the session go on without the database.
            await eventually(lambda: mjpeg.parts > frames_at_stop + 10, 20, "MJPEG frames")

            def processing_pushed() -> bool:
                return any(
                    m.get("type") == "camera-status-update"
                    and m.get("cameraId") == camera_id
                    and m.get("status") == "PROCESSING"
                    for m in hub.messages[outage_started:]
                )

            await eventually(processing_pushed, 20, "a PROCESSING status during the outage")
            queued = outage_alerts()
            for alert_id in injected_ids:  # snapshots are files: written during the outage
                assert (c.data_dir / "snapshots" / f"{alert_id}.jpg").exists()

            await asyncio.to_thread(c.pg.start)
            back = time.perf_counter()

            async def all_stored() -> bool:
                with contextlib.suppress(OSError, asyncpg.PostgresError):
                    return set(await _stored(c.pg.url, queued)) == queued
                return False

            await eventually(all_stored, 60, "every alert of the outage to be stored")
            flush_s = time.perf_counter() - back
            counts = await _stored(c.pg.url, queued)
            assert set(counts.values()) == {1}
            r = await client.get(f"/api/cameras/{camera_id}", headers=headers)
            assert r.json()["status"] == "PROCESSING"
            r = await client.get(f"/api/alerts?cameraId={camera_id}&limit=200", headers=headers)
            listed = [a["id"] for a in r.json()["items"]]
            assert queued <= set(listed) and len(listed) == len(set(listed))
            # Shown once: written back without a second push.
            shown = [a["id"] for a in hub.alerts() if a["id"] in queued]
            assert len(shown) == len(set(shown))
            metrics = (await client.get("/metrics")).text
            written = _metric(metrics, "beholder_alert_queue_written_total")
            assert written == len(queued) and _metric(metrics, "beholder_alert_queue_size") == 0
            api = c.roles[0]
            drained = api.events("queued alerts written")
            assert drained, "the api logs the write-back"
            worker_alerts = len(queued) - INJECTED
            print(
                f"\nFIGURES database outage: {len(queued)} alerts queued "
                f"({INJECTED} injected + {worker_alerts} from the worker), all written "
                f"{flush_s:.2f} s after PostgreSQL was back (writer: {drained[-1]})"
            )
        finally:
            await publisher.close()
            await mjpeg.close()
            await hub.close()


async def test_bus_outage_serves_reads_and_refuses_commands_at_once(
    cluster: Cluster, rtsp_camera: Any
) -> None:
    c = cluster
    async with httpx.AsyncClient(base_url=c.base_url, timeout=30) as client:
        await _ready(client, c)
        token = await _login(client)
        headers = {"Authorization": f"Bearer {token}"}
        camera_id = await _running_camera(client, headers, rtsp_camera.url("two"))

        await asyncio.to_thread(c.nats.stop)

        async def bus_degraded() -> dict[str, Any] | None:
            body = (await client.get("/api/system/health", headers=headers)).json()
            ok = body["overall"] == "DEGRADED" and body["services"]["bus"]["status"] == "DEGRADED"
            return body if ok else None

        body = await eventually(bus_degraded, 20, "health DEGRADED because of the bus")
        details = body["services"]["bus"]["details"]
        assert "camera commands" in details["affected"] and "live view" in details["affected"]
        assert "message bus is unreachable" in details["reason"]
        assert (await client.get("/api/system/ready")).status_code == 200

        # Reads and sign-in only need the database.
        assert (await client.get("/api/cameras", headers=headers)).status_code == 200
        assert (await client.get("/api/alerts", headers=headers)).status_code == 200
        await _login(client)

        t0 = time.perf_counter()
        r = await client.post(f"/api/cameras/{camera_id}/stop", headers=headers, timeout=10)
        refused_s = time.perf_counter() - t0
        assert r.status_code == 503
        error = r.json()["error"]
        assert error["code"] == "SERVICE_UNAVAILABLE"
        assert "message bus is unreachable" in error["message"]
        assert set(error) >= {"code", "message", "severity", "correlationId"}
        assert r.headers["retry-after"]
        cam = (await client.get(f"/api/cameras/{camera_id}", headers=headers)).json()
        assert cam["status"] == "PROCESSING"  # the refused command changed nothing
        snap = await client.get(f"/api/cameras/{camera_id}/snapshot.jpg", headers=headers)
        assert snap.status_code == 503

        await asyncio.to_thread(c.nats.start)
        back = time.perf_counter()

        async def healthy() -> bool:
            b = (await client.get("/api/system/health", headers=headers)).json()
            return bool(b["overall"] == "HEALTHY")

        await eventually(healthy, 30, "health HEALTHY once NATS is back")
        healthy_s = time.perf_counter() - back

        async def worker_heard_since_back() -> bool:
            # HEALTHY can still rest on a heartbeat from before the outage (3 intervals of
            # grace); a heartbeat younger than the outage's end proves the worker is back on
            # the bus, and nats-py re-subscribes before it flushes publishes on reconnect.
            age = _metric(
                (await client.get("/metrics")).text, "beholder_worker_heartbeat_age_seconds"
            )
            return age < time.perf_counter() - back

        await eventually(worker_heard_since_back, 30, "a worker heartbeat after NATS is back")
        r = await client.post(f"/api/cameras/{camera_id}/stop", headers=headers)
        assert r.status_code == 202, r.text

        async def stopped() -> bool:
            got = await client.get(f"/api/cameras/{camera_id}", headers=headers)
            return bool(got.json()["status"] == "STOPPED")

        # STOPPED comes from the worker over the bus: both sides resubscribed.
        await eventually(stopped, 20, "the worker to stop the camera")
        print(
            f"\nFIGURES bus outage: command refused in {refused_s * 1000:.0f} ms; "
            f"HEALTHY {healthy_s:.2f} s after NATS was back"
        )
