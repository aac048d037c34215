"""The relay ``/api/streams/ws`` in the real app (SQLite and PostgreSQL): streams registered
over REST, real JWTs and API keys, the dashboard hub ``/ws``, the database; and two api
instances (two apps, one database) on a private ``nats-server``.

The socket protocol's details (every bad input, heartbeat, backpressure) are in
test_relay_socket.py against the relay alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from beholder.bus.base import BusMessage
from beholder.bus.nats import NatsBus
from beholder.config import BusSettings
from beholder.contracts.bus import DetectedFace, FaceDetectionAlert
from beholder.contracts.relay_frame import decode_frame, encode_frame
from beholder.contracts.subjects import Subjects, relay_frames_subject
from beholder.db.models import ApiKey
from support.api import LiveApi, live_api
from support.nats import NatsServer
from support.polling import eventually
from support.relay import closed_with, jpeg, next_frame, next_of, recv
from support.settings import make_settings

pytestmark = pytest.mark.timeout(120)


def relay_url(api: LiveApi) -> str:
    return f"ws://127.0.0.1:{api.settings.port}/api/streams/ws"


async def user(api: LiveApi, name: str, role: str = "viewer") -> tuple[str, str]:
    """``(user id, access token)`` of a new user."""
    password = f"{name}-long-password-1"
    r = await api.client.post(
        "/api/users",
        json={"username": name, "password": password, "role": role},
        headers=await api.headers("admin"),
    )
    assert r.status_code == 201, r.text
    return r.json()["id"], await api.login(name, password)


async def key_of(api: LiveApi, scope: str, owner_id: str | None) -> tuple[str, str]:
    """``(key id, key)`` with ``scope``, acting for user ``owner_id``."""
    r = await api.client.post(
        "/api/api-keys",
        json={"name": f"{scope}-{(owner_id or 'none')[:6]}", "scope": scope},
        headers=await api.headers("admin"),
    )
    assert r.status_code == 201, r.text
    async with api.state.db.session() as s:
        row = await s.get(ApiKey, r.json()["id"])
        assert row is not None
        row.owner_id = owner_id
    return r.json()["id"], r.json()["key"]


async def new_stream(api: LiveApi, token: str, name: str = "phone") -> str:
    r = await api.client.post(
        "/api/streams/register",
        json={"deviceName": name, "deviceType": "android"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["streamId"])


async def relay(api: LiveApi, token: str) -> ClientConnection:
    ws = await websockets.connect(relay_url(api), max_size=None)
    await ws.send(json.dumps({"type": "auth", "token": token}))
    ok = await recv(ws)
    assert ok["type"] == "auth-ok", ok
    return ws


async def produce(api: LiveApi, token: str, sid: str) -> ClientConnection:
    ws = await relay(api, token)
    await ws.send(json.dumps({"type": "register", "clientType": "mobile", "streamId": sid}))
    assert await next_of(ws, "registered") == {"type": "registered", "streamId": sid}
    return ws


async def consume(
    api: LiveApi, token: str, sid: str, client_type: str = "dashboard", **extra: Any
) -> ClientConnection:
    ws = await relay(api, token)
    await ws.send(
        json.dumps({"type": "subscribe", "clientType": client_type, "streamId": sid, **extra})
    )
    reply = await recv(ws)
    assert reply["type"] == "subscribed", reply
    return ws


async def hub(api: LiveApi, token: str) -> ClientConnection:
    ws = await websockets.connect(api.ws_url)
    await ws.send(json.dumps({"type": "auth", "token": token}))
    assert (await recv(ws, relay=False))["type"] == "auth-ok"
    await ws.send(json.dumps({"type": "subscribe", "topics": ["alerts", "streams"]}))
    assert (await recv(ws, relay=False))["type"] == "subscribed"
    return ws


async def hub_until(ws: ClientConnection, pred: Any, timeout: float = 10.0) -> dict[str, Any]:
    """The next hub message ``pred`` accepts (others skipped)."""
    while True:
        msg = await recv(ws, timeout, relay=False)
        if pred(msg):
            return dict(msg)


ALERT = {
    "type": "alert",
    "severity": "high",
    "message": "person at the door",
    "metadata": {"confidence": 0.87, "box": [10, 20, 30, 40], "objectType": "person"},
    "timestamp": 1_700_000_000_000,
}


async def test_full_loop_with_the_database_and_the_hub(api: LiveApi) -> None:
    alice_id, alice = await user(api, "alice")
    _, bob = await user(api, "bob")
    ml_key_id, ml_key = await key_of(api, "ml-service", alice_id)
    sid = await new_stream(api, alice)
    alice_hub, bob_hub = await hub(api, alice), await hub(api, bob)

    phone = await produce(api, alice, sid)
    dash = await consume(api, alice, sid, binary=True)
    ml = await consume(api, ml_key, sid, "ml-service", produces=["alerts"])
    await phone.send(encode_frame(sid, 42, jpeg(1)))
    assert bytes(decode_frame(await next_frame(dash)).jpeg) == jpeg(1)
    assert (await next_frame(ml))["timestamp"] == 42

    # status persisted and pushed on the hub to the owner
    update = await hub_until(
        alice_hub, lambda m: m["type"] == "stream-status-update" and m["status"] == "streaming"
    )
    assert update["streamId"] == sid and update["deviceName"] == "phone"
    r = await api.client.get(f"/api/streams/{sid}", headers=await_headers(alice))
    body = r.json()
    assert body["status"] == "streaming" and body["lastSeen"] is not None
    assert (body["viewers"], body["mlConsumers"]) == (2, 1)
    assert {c["clientType"] for c in body["consumers"]} == {"dashboard", "ml-service"}
    assert sum(c["framesSent"] for c in body["consumers"]) >= 1

    # the relay's figures in /metrics
    text = (await api.client.get("/metrics", headers=await api.headers("admin"))).text
    assert 'beholder_relay_frames_in_total{client_type="mobile"}' in text
    assert 'beholder_relay_frames_out_total{client_type="dashboard"}' in text
    assert "beholder_relay_frames_dropped_total" in text
    assert 'beholder_relay_connections{client_type="ml-service"}' in text
    await api.state.health.check_now()
    r = await api.client.get("/api/system/health/websocket", headers=await api.headers("admin"))
    assert r.json()["details"]["relay"]["authenticated"] >= 3, r.text

    # an ML alert: stored (source = the key), to the phone, the relay dashboard and the hub
    await ml.send(json.dumps({**ALERT, "streamId": sid}))
    for ws in (phone, dash, ml):
        alert = await next_of(ws, "alert")
        assert alert["message"] == "person at the door" and alert["streamId"] == sid
        assert alert["source"] == f"api_key:{ml_key_id}" and alert["alertType"] == "ml-alert"
    on_hub = await hub_until(alice_hub, lambda m: m.get("id") == alert["id"])
    assert on_hub["streamId"] == sid
    r = await api.client.get(f"/api/alerts?streamId={sid}", headers=await_headers(alice))
    items = r.json()["items"]
    assert [a["id"] for a in items] == [alert["id"]]
    assert items[0]["source"] == f"api_key:{ml_key_id}"
    assert items[0]["metadata"]["box"] == [10, 20, 30, 40]
    assert items[0]["metadata"]["deviceName"] == "phone"

    # the producer leaves: offline + lastSeen, persisted, consumers told
    await phone.close()
    status = await next_of(dash, "stream-status")
    while status["status"] != "offline":
        status = await next_of(dash, "stream-status")
    assert status["lastSeen"] is not None
    body = (await api.client.get(f"/api/streams/{sid}", headers=await_headers(alice))).json()
    assert body["status"] == "offline" and body["lastSeen"] is not None

    # bob's dashboard saw none of it
    await bob_hub.send(json.dumps({"type": "ping"}))
    assert (await recv(bob_hub, relay=False))["type"] == "pong"

    # deleting the stream closes its sockets with 4404
    r = await api.client.delete(f"/api/streams/{sid}", headers=await_headers(alice))
    assert r.status_code == 204, r.text
    for ws in (dash, ml):
        code, seen = await closed_with(ws)
        assert code == 4404 and {"type": "stream-deleted", "streamId": sid} in seen
    for ws in (alice_hub, bob_hub):
        await ws.close()


def await_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_ownership_matrix(api: LiveApi) -> None:
    alice_id, alice = await user(api, "alice")
    _, bob = await user(api, "bob")
    admin = await api.token("admin")
    sid = await new_stream(api, alice)
    _, mobile = await key_of(api, "mobile", alice_id)
    _, ml = await key_of(api, "ml-service", alice_id)
    _, bobs_ml = await key_of(api, "ml-service", None)

    async def refused(token: str, message: dict[str, Any]) -> str:
        ws = await relay(api, token)
        await ws.send(json.dumps(message))
        reply = await next_of(ws, "error")
        await ws.close()
        return str(reply["error"]["code"])

    sub = {"type": "subscribe", "clientType": "dashboard", "streamId": sid}
    reg = {"type": "register", "clientType": "mobile", "streamId": sid}
    assert await refused(bob, sub) == "NOT_FOUND"  # another user: as if it did not exist
    assert await refused(bob, reg) == "NOT_FOUND"
    assert await refused(bobs_ml, {**sub, "clientType": "ml-service"}) == "NOT_FOUND"
    assert await refused(ml, reg) == "PERMISSION_DENIED"  # ml-service keys do not produce
    assert await refused(mobile, {**sub, "clientType": "ml-service"}) == "PERMISSION_DENIED"
    for scope in ("worker", "nvr"):  # keys of other scopes are not let in at all
        _, key = await key_of(api, scope, alice_id)
        ws = await websockets.connect(relay_url(api))
        await ws.send(json.dumps({"type": "auth", "token": key}))
        code, _ = await closed_with(ws)
        assert code == 1008 and ws.close_reason == "Unauthorized"
    # allowed: the owner (a viewer), its mobile key as producer, its ml key, an admin
    await (await consume(api, alice, sid)).close()
    await (await consume(api, ml, sid, "ml-service", produces=["alerts"])).close()
    await (await consume(api, admin, sid)).close()
    await (await produce(api, mobile, sid)).close()


async def test_detector_alert_reaches_the_producer(api: LiveApi) -> None:
    """A ``FaceDetectionAlert`` with ``streamId`` from the worker (camera.events) is stored
    as ``face-detection`` and routed like an ML service's alert."""
    _, alice = await user(api, "alice")
    sid = await new_stream(api, alice)
    phone = await produce(api, alice, sid)
    dash = await consume(api, alice, sid)
    event = FaceDetectionAlert(
        stream_id=sid,
        faces=[DetectedFace(box=(1, 2, 30, 40), confidence=0.9)],
        worker_id="w1",
    )
    await api.state.bus.publish(Subjects.CAMERA_EVENTS, event.to_bytes())
    for ws in (phone, dash):
        alert = await next_of(ws, "alert", timeout=10)
        assert alert["alertType"] == "face-detection" and alert["source"] == "worker:w1"
    for ws in (phone, dash):
        await ws.close()


async def test_two_api_instances_on_nats(
    tmp_path: Path, database_url: str | None, nats_server: Any
) -> None:
    server: NatsServer = nats_server("")
    bus = BusSettings(url=server.url)
    # one database and data dir (the JWT secret), two instances, two NATS connections
    first = make_settings(tmp_path, database_url, bus=bus)
    second = make_settings(tmp_path, database_url, bus=bus)
    async with (
        live_api(first, bus=NatsBus(server.url)) as a,
        live_api(second, bus=NatsBus(server.url)) as b,
    ):
        alice_id, alice = await user(a, "alice")
        _, ml_key = await key_of(a, "ml-service", alice_id)
        sid = await new_stream(a, alice)
        phone = await produce(a, alice, sid)
        dash = await consume(b, alice, sid, binary=True)
        ml = await consume(b, ml_key, sid, "ml-service", produces=["alerts"])
        await eventually(lambda: a.state.relay.counts(sid).viewers == 2, 10, "counts on a")
        for ts in range(3):
            await phone.send(encode_frame(sid, ts, jpeg(ts)))
            assert decode_frame(await next_frame(dash)).timestamp_ms == ts
            assert (await next_frame(ml))["timestamp"] == ts
        r = await b.client.get(f"/api/streams/{sid}", headers=await_headers(alice))
        assert r.json()["viewers"] == 2
        await ml.send(json.dumps({**ALERT, "streamId": sid}))
        alert = await next_of(phone, "alert", timeout=10)
        assert alert["streamId"] == sid
        r = await a.client.get(f"/api/alerts?streamId={sid}", headers=await_headers(alice))
        assert [x["id"] for x in r.json()["items"]] == [alert["id"]]  # stored once
        await phone.close()
        status = await next_of(dash, "stream-status")
        while status["status"] != "offline":
            status = await next_of(dash, "stream-status")
        for ws in (dash, ml):
            await ws.close()


async def test_face_detection_switched_over_rest_feeds_the_detector(api: LiveApi) -> None:
    """PATCH ``faceDetectionEnabled`` → ``stream.detection`` → the relay publishes the
    stream's frames on ``relay.frames.<id>`` for the worker's detector (and stops)."""
    _, alice = await user(api, "alice")
    sid = await new_stream(api, alice)
    frames: list[bytes] = []

    async def seen(msg: BusMessage) -> None:
        frames.append(msg.data)

    sub = await api.state.bus.subscribe(relay_frames_subject(sid), seen)
    phone = await produce(api, alice, sid)
    r = await api.client.patch(
        f"/api/streams/{sid}", json={"faceDetectionEnabled": True}, headers=await_headers(alice)
    )
    assert r.status_code == 200, r.text
    await eventually(lambda: sid in api.state.relay.detector.streams, 10, "detection on")
    await phone.send(encode_frame(sid, 5, jpeg(5)))
    await eventually(lambda: frames, 10, "a frame for the detector")
    assert decode_frame(frames[0]).timestamp_ms == 5
    r = await api.client.patch(
        f"/api/streams/{sid}", json={"faceDetectionEnabled": False}, headers=await_headers(alice)
    )
    assert r.status_code == 200, r.text
    await eventually(lambda: sid not in api.state.relay.detector.streams, 10, "detection off")
    await sub.unsubscribe()
    await phone.close()


async def test_shutdown_takes_the_streams_offline(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with live_api(settings) as a:
        _, alice = await user(a, "alice")
        sid = await new_stream(a, alice)
        phone = await produce(a, alice, sid)
        await phone.send(encode_frame(sid, 1, jpeg()))
        await eventually(
            lambda: a.state.relay.status.applied >= 2, 10, "online and streaming stored"
        )
    code, _ = await closed_with(phone)
    assert code in (1001, 1012)  # the relay, or uvicorn first (1012 service restart)
    async with live_api(settings) as b:
        r = await b.client.get(f"/api/streams/{sid}", headers=await_headers(alice))
        assert r.json()["status"] == "offline"
