"""Issue 9, finding 5: a bus message cannot write files outside the snapshot folder.

The attack runs against the real app (uvicorn, SQLite and PostgreSQL) on a real, private,
authenticated ``nats-server``: alerts whose id is a path (``/../../x``, ``..%2f``, absolute
paths, anything not a UUID) are refused and logged, nothing is written anywhere, and the
consumer goes on with the next good message. An alert for an unknown camera writes nothing.
A snapshot name from the database that leaves the folder answers 404 in the error shape."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from beholder.bus.nats import NatsBus
from beholder.config import BusSettings
from beholder.db.models import Alert
from beholder.messages import DetectedFace, FaceDetectionAlert, Subjects, new_id, utcnow
from beholder.observability import BUS_REFUSED
from support.api import LiveApi, live_api
from support.nats import NatsServer
from support.polling import eventually
from support.settings import make_settings

# A valid 1x1 JPEG.
TINY_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGCQgKCgkICQkKDA8MCgsOCwkJDRENDg8QEBEQCgwSExIQEw8QEBD/yQALCAABAAEBAREA/8wABgAQEAX/2gAIAQEAAD8A0s8g/9k="
)
SNAPSHOT = base64.b64encode(TINY_JPEG).decode()
FACE = {"box": [1, 1, 1, 1], "confidence": 0.9}
BUS_USER, BUS_PASSWORD = "beholder", "bus-password-for-tests"

# {m}: a marker unique to the run, so that a file written anywhere can be found.
BAD_IDS = [
    "/../../{m}",
    "../../{m}",
    "..%2f..%2f{m}",
    "..\\..\\{m}",
    "/tmp/{m}",
    "{m}",
    "00000000-0000-4000-8000-000000000000/../../{m}",
    "",
]


def _refused(subject: str, reason: str) -> float:
    return float(BUS_REFUSED.labels(subject, reason)._value.get())


def _files_named(marker: str, *roots: Path) -> list[Path]:
    found: list[Path] = []
    for root in roots:
        found += [p for p in root.rglob("*") if marker in p.name]
    for shallow in (Path("/"), Path("/tmp"), Path.cwd()):
        found += [p for p in shallow.glob(f"*{marker}*")]
    return found


async def _camera(api: LiveApi, name: str = "Lobby") -> str:
    r = await api.client.post(
        "/api/cameras",
        json={"name": name, "rtspUrl": "rtsp://10.0.0.7/live"},
        headers=await api.headers("operator"),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _alert_ids(api: LiveApi, camera_id: str) -> list[str]:
    r = await api.client.get(
        f"/api/alerts?cameraId={camera_id}&limit=50", headers=await api.headers("viewer")
    )
    return [a["id"] for a in r.json()["items"]]


def _bus_settings(server: NatsServer) -> BusSettings:
    return BusSettings(url=server.url, user=BUS_USER, password=BUS_PASSWORD)  # type: ignore[arg-type]


def _authenticated_server(nats_server: Callable[[str], NatsServer]) -> NatsServer:
    return nats_server(f'authorization {{ user: "{BUS_USER}", password: "{BUS_PASSWORD}" }}')


async def test_alert_ids_that_are_paths_write_nothing_and_the_consumer_goes_on(
    tmp_path: Path, database_url: str | None, nats_server: Callable[[str], NatsServer]
) -> None:
    server = _authenticated_server(nats_server)
    bus_settings = _bus_settings(server)
    settings = make_settings(tmp_path, database_url, bus=bus_settings)
    marker = f"pwned-{uuid.uuid4().hex}"
    async with live_api(settings) as api:
        cam = await _camera(api)
        attacker = NatsBus(bus_settings)  # a compromised worker: it has the bus credentials
        await attacker.start()
        refused_before = _refused(Subjects.CAMERA_EVENTS, "malformed")
        try:
            with structlog.testing.capture_logs() as logs:
                for template in BAD_IDS:
                    payload = {
                        "id": template.format(m=marker),
                        "cameraId": cam,
                        "faces": [FACE],
                        "snapshot": SNAPSHOT,
                    }
                    await attacker.publish(Subjects.CAMERA_EVENTS, json.dumps(payload).encode())
                good = FaceDetectionAlert(
                    camera_id=cam,
                    faces=[DetectedFace(box=(1, 1, 1, 1), confidence=0.9)],
                    snapshot=SNAPSHOT,
                )
                await attacker.publish(Subjects.CAMERA_EVENTS, good.to_bytes())
                # One subscription handles its messages in order: the good one comes last.
                await eventually(
                    lambda: _alert_ids(api, cam), 15, "the good alert after the bad ones"
                )
        finally:
            await attacker.close()

        assert await _alert_ids(api, cam) == [good.id]
        refused = [e for e in logs if e["event"] == "malformed camera.events dropped"]
        assert len(refused) == len(BAD_IDS), logs
        assert all(e["fields"] == ["id"] and e["log_level"] == "warning" for e in refused)
        assert marker not in repr(logs), "a refused value is never logged"
        assert _refused(Subjects.CAMERA_EVENTS, "malformed") - refused_before == len(BAD_IDS)

        assert _files_named(marker, tmp_path) == []
        snapshots = settings.snapshot_dir
        assert sorted(p.name for p in snapshots.iterdir()) == [f"{good.id}.jpg"]
        snap = await api.client.get(
            f"/api/alerts/{good.id}/snapshot.jpg", headers=await api.headers("viewer")
        )
        assert snap.status_code == 200 and snap.content == TINY_JPEG


async def test_an_alert_for_an_unknown_camera_writes_nothing(
    tmp_path: Path, database_url: str | None, nats_server: Callable[[str], NatsServer]
) -> None:
    server = _authenticated_server(nats_server)
    bus_settings = _bus_settings(server)
    settings = make_settings(tmp_path, database_url, bus=bus_settings)
    async with live_api(settings) as api:
        cam = await _camera(api)
        worker = NatsBus(bus_settings)
        await worker.start()
        try:
            stranger = FaceDetectionAlert(
                camera_id=new_id(),
                faces=[DetectedFace(box=(1, 1, 1, 1), confidence=0.9)],
                snapshot=SNAPSHOT,
            )
            good = FaceDetectionAlert(
                camera_id=cam, faces=[DetectedFace(box=(1, 1, 1, 1), confidence=0.9)]
            )
            with structlog.testing.capture_logs() as logs:
                await worker.publish(Subjects.CAMERA_EVENTS, stranger.to_bytes())
                await worker.publish(Subjects.CAMERA_EVENTS, good.to_bytes())
                await eventually(lambda: _alert_ids(api, cam), 15, "the alert of a known camera")
        finally:
            await worker.close()
        ignored = [e for e in logs if e["event"] == "alert for unknown camera ignored"]
        assert [e["camera_id"] for e in ignored] == [stranger.camera_id]
        snapshots = settings.snapshot_dir
        assert not snapshots.exists() or list(snapshots.iterdir()) == []
        r = await api.client.get(f"/api/alerts/{stranger.id}", headers=await api.headers("viewer"))
        assert r.status_code == 404


async def test_a_snapshot_name_leaving_its_folder_answers_404(
    tmp_path: Path, database_url: str | None
) -> None:
    settings = make_settings(tmp_path, database_url)
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(TINY_JPEG)
    async with live_api(settings) as api:
        cam = await _camera(api)
        settings.snapshot_dir.mkdir(mode=0o700)
        (settings.snapshot_dir / "link.jpg").symlink_to(outside)
        names = {
            "dotdot": "../outside.jpg",
            "deeper": "../../outside.jpg",
            "absolute": str(outside),
            "secret": "../secret.key",
            "symlink": "link.jpg",
        }
        ids = {}
        async with api.state.db.session() as s:
            for label, name in names.items():
                ids[label] = new_id()
                s.add(
                    Alert(
                        id=ids[label],
                        camera_id=cam,
                        type="face-detection",
                        severity="medium",
                        message=label,
                        alert_metadata={},
                        snapshot_path=name,
                        created_at=utcnow(),
                    )
                )
        viewer = await api.headers("viewer")
        for label, alert_id in ids.items():
            r = await api.client.get(f"/api/alerts/{alert_id}/snapshot.jpg", headers=viewer)
            assert r.status_code == 404, (label, r.status_code)
            body: dict[str, Any] = r.json()
            assert body["error"]["code"] == "NOT_FOUND", (label, body)
            assert str(tmp_path) not in r.text and "secret" not in r.text
