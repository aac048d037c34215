"""A worker's status event and face alert, published on the bus, are persisted by the api
and pushed to a connected dashboard; alert history filters, pages and acknowledges."""

import asyncio
import base64
import json
from datetime import UTC, datetime
from typing import Any

import websockets

from beholder.messages import (
    CameraStatus,
    DetectedFace,
    FaceDetectionAlert,
    StreamStats,
    StreamStatusEvent,
    Subjects,
)
from support.api import LiveApi
from support.polling import eventually

# A valid 1x1 JPEG.
TINY_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGCQgKCgkICQkKDA8MCgsOCwkJDRENDg8QEBEQCgwSExIQEw8QEBD/yQALCAABAAEBAREA/8wABgAQEAX/2gAIAQEAAD8A0s8g/9k="
)


async def _camera(api: LiveApi, name: str = "Lobby") -> str:
    r = await api.client.post(
        "/api/cameras",
        json={"name": name, "rtspUrl": "rtsp://10.0.0.7/live"},
        headers=await api.headers("operator"),
    )
    return str(r.json()["id"])


async def _dashboard(api: LiveApi, topics: list[str], **auth_extra: Any) -> Any:
    ws = await websockets.connect(api.ws_url)
    await ws.send(json.dumps({"type": "auth", "token": await api.token("viewer"), **auth_extra}))
    assert json.loads(await ws.recv())["type"] == "auth-ok"
    await ws.send(json.dumps({"type": "subscribe", "topics": topics}))
    while json.loads(await ws.recv())["type"] != "subscribed":
        pass
    return ws


async def _next(ws: Any, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            msg = json.loads(await ws.recv())
            if msg["type"] == kind:
                return msg


async def _stored_alerts(api: LiveApi, headers: dict[str, str], n: int) -> bool:
    """True once the alert history holds exactly ``n`` alerts."""
    r = await api.client.get("/api/alerts?limit=50", headers=headers)
    return len(r.json()["items"]) == n


def _alert(camera_id: str, n: int = 2, at: datetime | None = None) -> FaceDetectionAlert:
    return FaceDetectionAlert(
        camera_id=camera_id,
        detected_at=at or datetime.now(UTC),
        faces=[
            DetectedFace(box=(10 + 50 * i, 20, 40, 48), confidence=0.93, track_id=i + 1)
            for i in range(n)
        ],
        thumbnail=base64.b64encode(TINY_JPEG).decode(),
        snapshot=base64.b64encode(TINY_JPEG).decode(),
        frame_width=480,
        frame_height=270,
    )


async def test_worker_events_are_persisted_and_pushed(api: LiveApi) -> None:
    cam_id = await _camera(api)
    ws = await _dashboard(api, ["cameras", "alerts"])
    try:
        bus = api.state.bus
        status = StreamStatusEvent(
            camera_id=cam_id,
            status=CameraStatus.PROCESSING,
            stats=StreamStats(input_fps=12.0, decoded_fps=2.0, connection_quality="excellent"),
        )
        await bus.publish(Subjects.STREAM_STATUS, status.to_bytes())
        pushed = await _next(ws, "camera-status-update")
        assert pushed["cameraId"] == cam_id and pushed["status"] == "PROCESSING"
        assert pushed["stats"]["inputFps"] == 12.0

        alert = _alert(cam_id)
        await bus.publish(Subjects.CAMERA_EVENTS, alert.to_bytes())
        got = await _next(ws, "face-detection-alert")
        assert got["id"] == alert.id and got["cameraId"] == cam_id
        assert [f["box"] for f in got["metadata"]["faces"]] == [[10, 20, 40, 48], [60, 20, 40, 48]]
        assert got["thumbnail"] and "snapshot" not in got
    finally:
        await ws.close()

    viewer = await api.headers("viewer")
    cam = (await api.client.get(f"/api/cameras/{cam_id}", headers=viewer)).json()
    assert cam["status"] == "PROCESSING" and cam["stats"]["inputFps"] == 12.0
    alerts = (
        await api.client.get(f"/api/alerts?cameraId={cam_id}&limit=10", headers=viewer)
    ).json()
    assert [a["id"] for a in alerts["items"]] == [alert.id]
    assert alerts["items"][0]["message"] == "2 faces detected on Lobby"
    snap = await api.client.get(f"/api/alerts/{alert.id}/snapshot.jpg", headers=viewer)
    assert snap.status_code == 200 and snap.headers["content-type"] == "image/jpeg"
    assert snap.content == TINY_JPEG
    # <img> tags cannot send headers: the media endpoints take a signed URL
    signed = await api.client.post(
        "/api/media/sign", json={"path": f"/api/alerts/{alert.id}/snapshot.jpg"}, headers=viewer
    )
    assert (await api.client.get(signed.json()["url"])).status_code == 200
    assert (await api.client.get(f"/api/alerts/{alert.id}/snapshot.jpg")).status_code == 401


async def test_malformed_bus_payloads_are_dropped_not_fatal(api: LiveApi) -> None:
    cam_id = await _camera(api)
    bus = api.state.bus
    await bus.publish(Subjects.STREAM_STATUS, b"{not json")
    await bus.publish(Subjects.CAMERA_EVENTS, b'{"cameraId": 5}')
    await bus.publish(
        Subjects.STREAM_STATUS,
        StreamStatusEvent(
            camera_id=cam_id,
            status=CameraStatus.ERROR,
            error_code="NETWORK_ERROR",
            details="The camera could not be reached.",
        ).to_bytes(),
    )
    viewer = await api.headers("viewer")

    async def errored() -> dict | None:
        cam = (await api.client.get(f"/api/cameras/{cam_id}", headers=viewer)).json()
        return cam if cam["status"] == "ERROR" else None

    cam = await eventually(errored, 5, "the camera in ERROR")
    # Viewers see one generic reason for every connection failure (issue 9, finding 3).
    assert cam["status"] == "ERROR" and cam["errorCode"] == "STREAM_UNAVAILABLE"
    op = await api.headers("operator")
    precise = (await api.client.get(f"/api/cameras/{cam_id}", headers=op)).json()
    assert precise["errorCode"] == "NETWORK_ERROR"
    assert precise["statusDetail"] == "The camera could not be reached."


async def test_alert_history_filters_pages_and_acknowledges(api: LiveApi) -> None:
    a, b = await _camera(api, "A"), await _camera(api, "B")
    sent = []
    viewer = await api.headers("viewer")
    for i in range(7):
        alert = _alert(a if i % 2 == 0 else b, n=1)
        sent.append(alert)
        await api.state.bus.publish(Subjects.CAMERA_EVENTS, alert.to_bytes())
        await eventually(lambda n=i + 1: _stored_alerts(api, viewer, n), 5, f"{i + 1} alerts")
        if i == 4:
            since = datetime.now(UTC)
    # newest first, 3 per page, cursor until exhausted
    ids, cursor = [], None
    while True:
        q = "/api/alerts?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = (await api.client.get(q, headers=viewer)).json()
        ids += [x["id"] for x in page["items"]]
        cursor = page.get("nextCursor")
        if not cursor:
            break
    assert ids == [x.id for x in reversed(sent)]
    only_a = (await api.client.get(f"/api/alerts?cameraId={a}", headers=viewer)).json()["items"]
    assert len(only_a) == 4 and {x["cameraId"] for x in only_a} == {a}
    recent = (
        await api.client.get("/api/alerts", params={"since": since.isoformat()}, headers=viewer)
    ).json()["items"]
    assert [x["id"] for x in recent] == [sent[6].id, sent[5].id]
    # viewers read, operators acknowledge
    target = sent[0].id
    assert (
        await api.client.post(f"/api/alerts/{target}/acknowledge", headers=viewer)
    ).status_code == 403
    ack = await api.client.post(
        f"/api/alerts/{target}/acknowledge", headers=await api.headers("operator")
    )
    assert ack.status_code == 200 and ack.json()["acknowledgedBy"] == "operator1"
    unacked = (
        await api.client.get("/api/alerts?acknowledged=false&limit=50", headers=viewer)
    ).json()["items"]
    assert target not in {x["id"] for x in unacked} and len(unacked) == 6
    bad = await api.client.get("/api/alerts?cursor=!!!notacursor", headers=viewer)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_INPUT"


async def test_reconnecting_dashboard_gets_missed_alerts(api: LiveApi) -> None:
    cam_id = await _camera(api)
    bus = api.state.bus
    ws = await _dashboard(api, ["alerts"])
    first = _alert(cam_id)
    await bus.publish(Subjects.CAMERA_EVENTS, first.to_bytes())
    assert (await _next(ws, "face-detection-alert"))["id"] == first.id
    await ws.close()
    missed = [_alert(cam_id) for _ in range(3)]
    for m in missed:
        await bus.publish(Subjects.CAMERA_EVENTS, m.to_bytes())
    viewer = await api.headers("viewer")
    await eventually(lambda: _stored_alerts(api, viewer, 4), 5, "4 alerts stored")
    ws2 = await _dashboard(api, ["alerts"], lastAlertId=first.id)
    try:
        got = [(await _next(ws2, "face-detection-alert"))["id"] for _ in range(3)]
        assert got == [m.id for m in missed], (got, [m.id for m in missed], first.id)
    finally:
        await ws2.close()
