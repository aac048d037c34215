"""The wire contract as a dashboard and a monitoring check see it: every hub message is a
member of the published ``HubMessage`` union, ``camera-status-update`` has one shape whether
a REST change or a worker event caused it, and ``/api/system/health`` answers in the original
plan's field names as well as the web app's."""

import asyncio
import json
from typing import Any

import websockets

from beholder.contracts.bus import CameraStatus, StreamStats, StreamStatusEvent
from beholder.contracts.hub import HUB_MESSAGE
from beholder.contracts.subjects import Subjects
from support.api import LiveApi


async def _next(ws: Any, kind: str, seen: list[dict[str, Any]]) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while True:
            msg: dict[str, Any] = json.loads(await ws.recv())
            seen.append(msg)
            if msg["type"] == kind:
                return msg


async def test_camera_status_update_has_one_shape_and_every_message_is_in_the_union(
    sqlite_api: LiveApi,
) -> None:
    api = sqlite_api
    operator = await api.headers("operator")
    r = await api.client.post(
        "/api/cameras", json={"name": "Lobby", "rtspUrl": "rtsp://10.0.0.7/live"}, headers=operator
    )
    cam_id = r.json()["id"]
    seen: list[dict[str, Any]] = []
    async with websockets.connect(api.ws_url) as ws:
        await ws.send(json.dumps({"type": "auth", "token": await api.token("viewer")}))
        await _next(ws, "auth-ok", seen)
        await ws.send(json.dumps({"type": "subscribe", "topics": ["cameras", "stats", "bogus"]}))
        await _next(ws, "subscribed", seen)

        r = await api.client.post(f"/api/cameras/{cam_id}/start", headers=operator)
        assert r.status_code == 202
        from_rest = await _next(ws, "camera-status-update", seen)

        event = StreamStatusEvent(
            camera_id=cam_id,
            status=CameraStatus.CONNECTING,
            attempt=2,
            details="Connecting to the camera.",
            stats=StreamStats(input_fps=3.0),
        )
        await api.state.bus.publish(Subjects.STREAM_STATUS, event.to_bytes())
        from_worker = await _next(ws, "camera-status-update", seen)
        await _next(ws, "camera-stats-update", seen)
        await ws.send(json.dumps({"type": "ping"}))
        await _next(ws, "pong", seen)

    assert from_rest.keys() == from_worker.keys()
    assert from_rest["status"] == "STARTING" and from_rest["camera"]["id"] == cam_id
    assert from_rest["correlationId"] == r.json()["correlationId"]
    assert from_worker["status"] == "CONNECTING" and from_worker["attempt"] == 2
    assert from_worker["stats"]["inputFps"] == 3.0 and from_worker["camera"] is None
    kinds = {m["type"] for m in seen}
    expected = {"auth-ok", "error", "subscribed", "camera-status-update", "camera-stats-update"}
    assert expected <= kinds
    for message in seen:
        HUB_MESSAGE.validate_python(message)  # raises when a message left the contract


async def test_health_answers_in_the_original_plan_names_too(sqlite_api: LiveApi) -> None:
    viewer = await sqlite_api.headers("viewer")  # anonymous callers get statuses only
    body = (await sqlite_api.client.get("/api/system/health", headers=viewer)).json()
    assert body["overall"] == body["status"]
    assert body["overall"] in ("UNKNOWN", "STARTING", "HEALTHY", "DEGRADED", "UNHEALTHY")
    assert body["timestamp"].endswith("Z")
    for name, svc in body["services"].items():
        assert svc["name"] == name
        assert svc["status"] in ("UNKNOWN", "STARTING", "HEALTHY", "DEGRADED", "UNHEALTHY")
        assert isinstance(svc["responseTime"], float) and svc["responseTime"] >= 0
        assert svc["responseTime"] == svc["responseTimeMs"]  # ms, both names
        assert svc["lastCheck"].endswith("Z") and svc["lastCheck"] == svc["lastChecked"]
        assert isinstance(svc["details"], dict)
    one = (await sqlite_api.client.get("/api/system/health/database", headers=viewer)).json()
    assert one["name"] == "database" and one["status"] == "HEALTHY"
    assert {"responseTime", "lastCheck", "details"} <= one.keys()
