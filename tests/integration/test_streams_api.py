"""``/api/streams`` (issue 10) against the real app on a socket, on SQLite and PostgreSQL:
register / list / legacy list / get with consumers / patch / delete, the ownership matrix,
metadata validation in the one error shape, stream alerts in ``/api/alerts?streamId=``, and
the dashboard hub: the owner's dashboards get ``stream-status-update`` and the stream's
alerts, another user's dashboard does not."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

from beholder.api.stream_events import (
    persist_stream_alert,
    stream_alert_source,
    update_stream_status,
)
from beholder.bus.base import BusMessage
from beholder.config import RelaySettings
from beholder.contracts.bus import (
    DetectedFace,
    FaceDetectionAlert,
    StreamDetectionCommand,
    StreamDetectionList,
)
from beholder.contracts.resources import AlertOut
from beholder.contracts.subjects import Subjects
from beholder.db.models import ApiKey
from beholder.db.repositories import streams as streams_repo
from beholder.realtime.relay.directory import NO_SOCKETS, ConsumerFigures, StreamCounts
from support.api import LiveApi, live_api
from support.polling import eventually
from support.settings import make_settings


def assert_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err: dict[str, Any] = r.json()["error"]
    assert err["code"] == code and err["message"] and err["severity"] and err["correlationId"]
    return err


@dataclass
class FakeSockets:
    """Stands in for the relay (``state.relay``): fixed live figures, records closes."""

    closed: list[str] = field(default_factory=list)

    def counts(self, stream_id: str) -> StreamCounts:
        return StreamCounts(viewers=2, ml_consumers=1, producer=True)

    def consumers(self, stream_id: str) -> list[ConsumerFigures]:
        return [ConsumerFigures("conn-1", "ml-service", "api_key:k", ("video", "alerts"), 9, 3, 77)]

    async def close_stream(self, stream_id: str) -> None:
        self.closed.append(stream_id)


async def _user(api: LiveApi, name: str, role: str = "viewer") -> tuple[str, dict[str, str]]:
    password = f"{name}-long-password-1"
    r = await api.client.post(
        "/api/users",
        json={"username": name, "password": password, "role": role},
        headers=await api.headers("admin"),
    )
    assert r.status_code == 201, r.text
    return r.json()["id"], {"Authorization": f"Bearer {await api.login(name, password)}"}


async def _key_of(api: LiveApi, scope: str, owner_id: str) -> dict[str, str]:
    """An API key with ``scope`` acting for user ``owner_id`` (set before its first use)."""
    r = await api.client.post(
        "/api/api-keys",
        json={"name": f"{scope}-of-{owner_id[:6]}", "scope": scope},
        headers=await api.headers("admin"),
    )
    assert r.status_code == 201, r.text
    async with api.state.db.session() as s:
        key = await s.get(ApiKey, r.json()["id"])
        assert key is not None
        key.owner_id = owner_id
    return {"X-API-Key": r.json()["key"]}


async def _register(api: LiveApi, headers: dict[str, str], name: str = "Pixel 8") -> str:
    r = await api.client.post(
        "/api/streams/register",
        json={"deviceName": name, "deviceType": "android", "metadata": {"fps": 30}},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["streamId"])


async def test_register_list_get_patch_delete(api: LiveApi) -> None:
    relay = FakeSockets()
    api.state.relay = relay
    commands: list[StreamDetectionCommand] = []

    async def on_command(msg: BusMessage) -> None:
        commands.append(StreamDetectionCommand.from_bytes(msg.data))

    sub = await api.state.bus.subscribe(Subjects.STREAM_DETECTION, on_command)
    alice_id, alice = await _user(api, "alice")
    r = await api.client.post(
        "/api/streams/register",
        json={
            "deviceName": "  Alice's iPhone ",
            "deviceType": "ios",
            "metadata": {"resolution": "1920x1080", "fps": 30, "os": "iOS 18"},
        },
        headers=alice,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["message"] == "Stream registered successfully"
    stream = body["stream"]
    sid = body["streamId"]
    assert stream["id"] == sid and stream["deviceName"] == "Alice's iPhone"
    assert stream["deviceType"] == "ios" and stream["status"] == "offline"
    assert stream["lastSeen"] is None and stream["faceDetectionEnabled"] is False
    assert stream["metadata"] == {"resolution": "1920x1080", "fps": 30, "os": "iOS 18"}
    assert stream["ownerId"] == alice_id
    assert (stream["viewers"], stream["mlConsumers"]) == (2, 1)
    assert stream["createdAt"].endswith("Z") and stream["updatedAt"].endswith("Z")
    other = await _register(api, alice, "Old phone")

    page = (await api.client.get("/api/streams?limit=1", headers=alice)).json()
    assert [s["id"] for s in page["items"]] == [other] and page["nextCursor"]
    rest = await api.client.get(f"/api/streams?limit=1&cursor={page['nextCursor']}", headers=alice)
    assert [s["id"] for s in rest.json()["items"]] == [sid] and rest.json()["nextCursor"] is None
    legacy = await api.client.get("/api/streams/list", headers=alice)
    assert {s["id"] for s in legacy.json()["streams"]} == {sid, other}
    await update_stream_status(api.state, sid, "online")
    online = (await api.client.get("/api/streams?status=online", headers=alice)).json()
    assert [s["id"] for s in online["items"]] == [sid]
    assert online["items"][0]["lastSeen"].endswith("Z")

    detail = (await api.client.get(f"/api/streams/{sid}", headers=alice)).json()
    assert detail["status"] == "online" and detail["consumers"] == [
        {
            "connectionId": "conn-1",
            "clientType": "ml-service",
            "principal": "api_key:k",
            "consumes": ["video", "alerts"],
            "framesSent": 9,
            "framesDropped": 3,
            "queuedBytes": 77,
        }
    ]
    r = await api.client.patch(
        f"/api/streams/{sid}",
        json={"deviceName": "Kitchen", "faceDetectionEnabled": True},
        headers=alice,
    )
    assert r.status_code == 200, r.text
    assert r.json()["deviceName"] == "Kitchen" and r.json()["faceDetectionEnabled"] is True
    await eventually(lambda: commands, 5, "the stream.detection command")
    assert commands[0].stream_id == sid and commands[0].enabled is True
    assert commands[0].device_name == "Kitchen"
    # a worker that starts later asks which streams to analyse
    reply = await api.state.bus.request(Subjects.STREAM_DETECTION_LIST, b"", timeout=5)
    listed = StreamDetectionList.from_bytes(reply).streams
    assert [(c.stream_id, c.enabled, c.device_name) for c in listed] == [(sid, True, "Kitchen")]
    r = await api.client.patch(f"/api/streams/{sid}", json={"deviceName": "K2"}, headers=alice)
    assert r.status_code == 200 and len(commands) == 1  # no toggle, no command

    assert (await api.client.delete(f"/api/streams/{sid}", headers=alice)).status_code == 204
    assert relay.closed == [sid]
    await eventually(lambda: len(commands) == 2, 5, "the detector to be told to stop")
    assert commands[1].enabled is False
    assert_error(await api.client.get(f"/api/streams/{sid}", headers=alice), 404, "NOT_FOUND")
    assert_error(await api.client.delete(f"/api/streams/{sid}", headers=alice), 404, "NOT_FOUND")
    await sub.unsubscribe()
    api.state.relay = NO_SOCKETS


async def test_ownership_matrix(api: LiveApi) -> None:
    alice_id, alice = await _user(api, "alice")
    bob_id, bob = await _user(api, "bob", "operator")
    admin = await api.headers("admin")
    alice_phone = await _key_of(api, "mobile", alice_id)
    alice_ml = await _key_of(api, "ml-service", alice_id)
    bob_ml = await _key_of(api, "ml-service", bob_id)
    worker = await _key_of(api, "worker", alice_id)

    a = await _register(api, alice)
    k = await _register(api, alice_phone, "kiosk")
    b = await _register(api, bob)

    async def listed(headers: dict[str, str]) -> set[str]:
        r = await api.client.get("/api/streams", headers=headers)
        assert r.status_code == 200, r.text
        return {s["id"] for s in r.json()["items"]}

    assert await listed(alice) == {a, k}  # her own, and her phone key's
    assert await listed(alice_phone) == {a, k}  # the key acts for its owner
    assert await listed(alice_ml) == {a, k}
    assert await listed(bob) == {b} and await listed(bob_ml) == {b}
    assert await listed(admin) >= {a, k, b}
    kiosk = (await api.client.get(f"/api/streams/{k}", headers=alice)).json()
    assert kiosk["ownerId"] == alice_id

    # Someone else's stream does not exist for you (404, never 403), whatever the verb.
    for headers, sid in [(bob, a), (alice, b), (bob_ml, k), (alice_phone, b)]:
        assert_error(await api.client.get(f"/api/streams/{sid}", headers=headers), 404, "NOT_FOUND")
        assert_error(
            await api.client.patch(
                f"/api/streams/{sid}", json={"deviceName": "x"}, headers=headers
            ),
            404,
            "NOT_FOUND",
        )
        assert_error(
            await api.client.delete(f"/api/streams/{sid}", headers=headers), 404, "NOT_FOUND"
        )
    assert_error(await api.client.get("/api/streams/not-a-uuid", headers=alice), 404, "NOT_FOUND")
    # ml-service keys read their owner's streams, change nothing and register nothing.
    assert (await api.client.get(f"/api/streams/{a}", headers=alice_ml)).status_code == 200
    assert_error(
        await api.client.patch(f"/api/streams/{a}", json={"deviceName": "x"}, headers=alice_ml),
        403,
        "PERMISSION_DENIED",
    )
    assert_error(
        await api.client.delete(f"/api/streams/{a}", headers=alice_ml), 403, "PERMISSION_DENIED"
    )
    reg = {"deviceName": "svc", "deviceType": "server"}
    for headers in (alice_ml, worker):
        assert_error(
            await api.client.post("/api/streams/register", json=reg, headers=headers),
            403,
            "PERMISSION_DENIED",
        )
    assert_error(await api.client.get("/api/streams", headers=worker), 403, "PERMISSION_DENIED")
    assert_error(await api.client.get("/api/streams"), 401, "UNAUTHORIZED")
    assert_error(await api.client.post("/api/streams/register", json=reg), 401, "UNAUTHORIZED")
    # The owner (user or its mobile key) and admins change and delete.
    r = await api.client.patch(f"/api/streams/{k}", json={"deviceName": "lobby"}, headers=alice)
    assert r.status_code == 200 and r.json()["deviceName"] == "lobby"
    r = await api.client.patch(
        f"/api/streams/{a}", json={"deviceName": "mine"}, headers=alice_phone
    )
    assert r.status_code == 200
    assert (await api.client.delete(f"/api/streams/{b}", headers=admin)).status_code == 204
    assert await listed(bob) == set()


async def test_metadata_and_body_validation(api: LiveApi) -> None:
    _, alice = await _user(api, "alice")
    bad = [
        ({"deviceName": "p", "deviceType": "ios", "metadata": {"resolution": "big"}}, "resolution"),
        ({"deviceName": "p", "deviceType": "ios", "metadata": {"fps": 1000}}, "fps"),
        ({"deviceName": "p", "deviceType": "ios", "metadata": {"x": "y" * 5000}}, "4096"),
        (
            {"deviceName": "p", "deviceType": "ios", "metadata": {str(i): i for i in range(40)}},
            "32",
        ),
        ({"deviceName": "p", "deviceType": "ios", "metadata": {"a": {"b": 1}}}, "metadata"),
        ({"deviceName": "p", "deviceType": "ios", "metadata": [1]}, "metadata"),
        ({"deviceName": "", "deviceType": "ios"}, "deviceName"),
        ({"deviceName": "   ", "deviceType": "ios"}, "deviceName"),
        ({"deviceName": "p" * 129, "deviceType": "ios"}, "deviceName"),
        ({"deviceName": "p"}, "deviceType"),
        ({"deviceName": "p", "deviceType": "ios", "ownerId": "x"}, "ownerId"),
    ]
    for body, words in bad:
        r = await api.client.post("/api/streams/register", json=body, headers=alice)
        err = assert_error(r, 400, "INVALID_INPUT")
        assert words in err["message"], (body, err)
    sid = await _register(api, alice)
    assert_error(
        await api.client.patch(f"/api/streams/{sid}", json={"status": "online"}, headers=alice),
        400,
        "INVALID_INPUT",
    )
    for query in ("status=flying", "limit=0", "limit=201", "cursor=@@@"):
        assert_error(
            await api.client.get(f"/api/streams?{query}", headers=alice), 400, "INVALID_INPUT"
        )


async def test_registration_limits(tmp_path: Path) -> None:
    relay = RelaySettings(max_streams_per_principal=2, max_metadata_bytes=256)
    settings = make_settings(tmp_path, relay=relay)
    async with live_api(settings) as api:
        _, alice = await _user(api, "alice")
        await _register(api, alice)
        await _register(api, alice)
        r = await api.client.post(
            "/api/streams/register", json={"deviceName": "3", "deviceType": "ios"}, headers=alice
        )
        assert_error(r, 409, "CONFLICT")
        _, bob = await _user(api, "bob")
        big = {"deviceName": "b", "deviceType": "ios", "metadata": {"note": "x" * 300}}
        r = await api.client.post("/api/streams/register", json=big, headers=bob)
        assert "256 bytes" in assert_error(r, 400, "INVALID_INPUT")["message"]
        await _register(api, bob)  # the limit is per principal


async def _dashboard(api: LiveApi, token: str) -> Any:
    ws = await websockets.connect(api.ws_url)
    await ws.send(json.dumps({"type": "auth", "token": token}))
    assert json.loads(await ws.recv())["type"] == "auth-ok"
    await ws.send(json.dumps({"type": "subscribe", "topics": ["alerts", "streams"]}))
    while json.loads(await ws.recv())["type"] != "subscribed":
        pass
    return ws


async def _next(ws: Any, timeout: float = 5.0) -> dict[str, Any]:
    """The next broadcast (pings skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            msg: dict[str, Any] = json.loads(await ws.recv())
            if msg["type"] not in ("ping", "pong"):
                return msg


async def test_stream_alerts_and_status_reach_only_the_owner(api: LiveApi) -> None:
    alice_id, alice = await _user(api, "alice", "operator")
    _, bob = await _user(api, "bob", "operator")
    alice_ml = await _key_of(api, "ml-service", alice_id)
    sid = await _register(api, alice, "Alice phone")
    delivered: list[AlertOut] = []

    async def relay_alerts(alert: AlertOut) -> None:
        delivered.append(alert)

    api.state.relay_alerts = relay_alerts
    alice_ws = await _dashboard(api, alice["Authorization"].split()[1])
    bob_ws = await _dashboard(api, bob["Authorization"].split()[1])
    admin_ws = await _dashboard(api, await api.token("admin"))
    key_ws = await _dashboard(api, alice_ml["X-API-Key"])  # a key acting for alice
    try:
        # the relay persists a status change → the owner's and the admin's dashboards
        await update_stream_status(api.state, sid, "streaming")
        for ws in (alice_ws, admin_ws, key_ws):
            msg = await _next(ws)
            assert msg["type"] == "stream-status-update" and msg["streamId"] == sid
            assert msg["status"] == "streaming" and msg["deviceName"] == "Alice phone"
            assert msg["lastSeen"].endswith("Z") and msg["timestamp"].endswith("Z")

        # an ML service's alert, through the function the relay calls
        async with api.state.db.session() as s:
            stream = await streams_repo.get(s, sid)
        key_principal = await api.state.auth.authenticate(alice_ml["X-API-Key"])
        ml = await persist_stream_alert(
            api.state,
            stream,
            stream_alert_source(key_principal),
            alert_type="ml-alert",
            severity="high",
            message="person at the door",
            metadata={"confidence": 0.93, "box": [1, 2, 3, 4], "objectType": "person"},
        )
        assert ml.source == f"api_key:{key_principal.id}" and ml.stream_id == sid
        got = await _next(alice_ws)
        assert got["type"] == "alert" and got["alertType"] == "ml-alert" and got["id"] == ml.id
        assert got["metadata"]["deviceName"] == "Alice phone" and got["source"] == ml.source

        # the built-in detector's alert, over the bus like a camera's
        face = FaceDetectionAlert(
            stream_id=sid,
            faces=[DetectedFace(box=(5, 6, 7, 8), confidence=0.8, track_id=1)],
            frame_width=640,
            frame_height=480,
            worker_id="w-1",
        )
        await api.state.bus.publish(Subjects.CAMERA_EVENTS, face.to_bytes())
        got = await _next(alice_ws)
        assert got["type"] == "face-detection-alert" and got["id"] == face.id
        assert got["streamId"] == sid and got["cameraId"] is None
        assert got["message"] == "1 face detected on Alice phone"
        assert got["metadata"]["deviceName"] == "Alice phone" and got["source"] == "worker:w-1"
        for expected in ("alert", "face-detection-alert"):
            assert (await _next(admin_ws))["type"] == expected
        await eventually(lambda: len(delivered) == 2, 5, "the relay hook for both alerts")
        assert [d.id for d in delivered] == [ml.id, face.id]

        # acknowledging a stream's alert: told to the owner's dashboards only
        ack = await api.client.post(f"/api/alerts/{ml.id}/acknowledge", headers=alice)
        assert ack.status_code == 200, ack.text
        got = await _next(alice_ws)
        assert got["type"] == "alert-acknowledged" and got["alertId"] == ml.id
        assert got["streamId"] == sid and got["acknowledgedBy"] == "alice"

        # Bob saw none of it: his next broadcast is a camera alert everyone gets.
        cam = await api.client.post(
            "/api/cameras",
            json={"name": "door", "rtspUrl": "rtsp://10.0.0.7/live"},
            headers=await api.headers("admin"),
        )
        marker = FaceDetectionAlert(
            camera_id=cam.json()["id"], faces=[DetectedFace(box=(1, 1, 2, 2), confidence=0.9)]
        )
        await api.state.bus.publish(Subjects.CAMERA_EVENTS, marker.to_bytes())
        first = await _next(bob_ws)
        assert first["type"] == "face-detection-alert" and first["id"] == marker.id
    finally:
        for ws in (alice_ws, bob_ws, admin_ws, key_ws):
            await ws.close()
        api.state.relay_alerts = None

    # History: stored with streamId, type and source; the owner sees them, bob does not.
    r = await api.client.get(f"/api/alerts?streamId={sid}", headers=alice)
    items = r.json()["items"]
    assert [(a["type"], a["source"]) for a in items] == [
        ("face-detection", "worker:w-1"),
        ("ml-alert", ml.source),
    ]
    ml_only = await api.client.get(f"/api/alerts?streamId={sid}&type=ml-alert", headers=alice)
    assert [a["id"] for a in ml_only.json()["items"]] == [ml.id]
    assert (await api.client.get(f"/api/alerts?streamId={sid}", headers=bob)).json()["items"] == []
