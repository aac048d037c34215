"""The relay ``/api/streams/ws`` over real sockets with a test store: uvicorn in-process, the
real :class:`Relay` on the memory bus, ``websockets`` clients.

The store holds streams in memory and records status changes and alerts, so that these
tests are about the socket protocol (auth, routing, bad input, replacement, heartbeat,
backpressure); the database, the hub and NATS are in test_relay_api.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
import uvicorn
import websockets
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from beholder._compat.uvicorn import HubWebSocketProtocol
from beholder.auth.roles import ApiKeyScope, Principal, Role
from beholder.bus.memory import MemoryBus
from beholder.config.relay import RelaySettings
from beholder.contracts.relay import RelayAlertIn
from beholder.contracts.relay_frame import decode_frame, encode_frame
from beholder.contracts.resources import AlertOut, StreamStatus
from beholder.contracts.wire import new_id
from beholder.db.models import VideoStream
from beholder.errors import NotFound, Unauthorized
from beholder.messages import utcnow
from beholder.realtime.relay.service import Relay
from support.polling import eventually

pytestmark = pytest.mark.timeout(60)

U1, U2 = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
PRINCIPALS = {
    "alice": Principal(kind="user", id=U1, name="alice", role=Role.VIEWER),
    "bob": Principal(kind="user", id=U2, name="bob", role=Role.VIEWER),
    "admin": Principal(kind="user", id=new_id(), name="admin", role=Role.ADMIN),
    "ml-alice": Principal(
        kind="api_key",
        id=new_id(),
        name="ml",
        role=Role.VIEWER,
        scope=ApiKeyScope.ML_SERVICE,
        owner_id=U1,
    ),
    "mobile-alice": Principal(
        kind="api_key",
        id=new_id(),
        name="phone",
        role=Role.VIEWER,
        scope=ApiKeyScope.MOBILE,
        owner_id=U1,
    ),
    "worker": Principal(
        kind="api_key", id=new_id(), name="w", role=Role.VIEWER, scope=ApiKeyScope.WORKER
    ),
}


def jpeg(n: int = 0, size: int = 2000) -> bytes:
    """A payload that passes the JPEG plausibility check (SOI ... EOI)."""
    body = n.to_bytes(4, "big") * (size // 4)
    return b"\xff\xd8" + body + b"\xff\xd9"


async def authenticate(token: str) -> Principal:
    if token in PRINCIPALS:
        return PRINCIPALS[token]
    raise Unauthorized("Invalid credentials.", detail="test: unknown token")


@dataclass
class MemoryStore:
    streams: dict[str, VideoStream] = field(default_factory=dict)
    statuses: list[tuple[str, str]] = field(default_factory=list)
    alerts: list[AlertOut] = field(default_factory=list)

    def add(self, owner: str = U1) -> str:
        sid = new_id()
        self.streams[sid] = VideoStream(
            id=sid,
            device_name=f"phone-{sid[:4]}",
            owner_id=owner,
            status="offline",
            face_detection_enabled=False,
        )
        return sid

    async def stream(self, stream_id: str) -> VideoStream | None:
        return self.streams.get(stream_id)

    async def save_status(self, stream_id: str, status: StreamStatus) -> datetime | bool | None:
        row = self.streams.get(stream_id)
        if row is None:
            return False
        row.status, row.last_seen_at = status, utcnow()
        self.statuses.append((stream_id, status))
        return row.last_seen_at

    async def save_alert(self, stream_id: str, source: str, alert: RelayAlertIn) -> AlertOut:
        if stream_id not in self.streams:
            raise NotFound("Stream not found.")
        out = AlertOut(
            id=new_id(),
            camera_id=None,
            stream_id=stream_id,
            type=alert.alert_type,
            severity=alert.severity,
            message=alert.message,
            metadata=alert.metadata.model_dump(mode="json", by_alias=True, exclude_none=True),
            has_snapshot=False,
            created_at=utcnow(),
            acknowledged_at=None,
            acknowledged_by=None,
            source=source,
        )
        self.alerts.append(out)
        return out


@dataclass
class RelayServer:
    relay: Relay
    store: MemoryStore
    url: str

    async def connect(self, token: str | None = "alice", **kw: Any) -> ClientConnection:
        kw.setdefault("max_size", None)
        ws = await websockets.connect(self.url, **kw)
        if token is not None:
            await ws.send(json.dumps({"type": "auth", "token": token}))
            ok = await recv(ws)
            assert ok["type"] == "auth-ok", ok
        return ws

    async def producer(self, sid: str, token: str = "alice") -> ClientConnection:
        ws = await self.connect(token)
        await ws.send(json.dumps({"type": "register", "clientType": "mobile", "streamId": sid}))
        reply = await recv(ws)
        assert reply == {"type": "registered", "streamId": sid}, reply
        return ws

    async def consumer(
        self, sid: str, token: str = "alice", client_type: str = "dashboard", **extra: Any
    ) -> ClientConnection:
        ws = await self.connect(token)
        await ws.send(
            json.dumps({"type": "subscribe", "clientType": client_type, "streamId": sid, **extra})
        )
        reply = await recv(ws)
        assert reply["type"] == "subscribed", reply
        status = await recv(ws)
        assert status["type"] == "stream-status", status
        return ws


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def relay_factory() -> AsyncIterator[Callable[..., Awaitable[RelayServer]]]:
    started: list[tuple[uvicorn.Server, asyncio.Task[None], Relay]] = []

    async def make(**overrides: Any) -> RelayServer:
        values: dict[str, Any] = {"auth_timeout": 0.5, "max_frame_bytes": 64 * 1024}
        values.update(overrides)
        settings = RelaySettings(**values)
        store = MemoryStore()
        bus = MemoryBus()
        await bus.start()
        relay = Relay(settings, authenticate, store, bus)
        app = FastAPI()
        app.add_api_websocket_route("/api/streams/ws", relay.endpoint)
        port = _free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            ws=HubWebSocketProtocol,
            ws_per_message_deflate=False,
            ws_ping_interval=None,
            ws_max_size=settings.max_message_bytes,
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        await eventually(lambda: server.started, 10, "uvicorn to start", every=0.01)
        await relay.start()
        started.append((server, task, relay))
        return RelayServer(relay, store, f"ws://127.0.0.1:{port}/api/streams/ws")

    yield make
    for server, task, relay in started:
        await relay.close()
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def recv(ws: ClientConnection, timeout: float = 5.0, skip_pings: bool = True) -> Any:
    """Next message: JSON as a dict, binary as bytes (app-level pings skipped)."""
    while True:
        raw = await asyncio.wait_for(ws.recv(), timeout)
        if isinstance(raw, bytes):
            return raw
        data = json.loads(raw)
        if skip_pings and data.get("type") == "ping":
            continue
        return data


async def next_frame(ws: ClientConnection, timeout: float = 5.0) -> Any:
    """Next video frame (binary bytes or a JSON ``video-frame``), status messages skipped."""
    while True:
        msg = await recv(ws, timeout)
        if isinstance(msg, bytes) or msg.get("type") == "video-frame":
            return msg
        assert msg.get("type") == "stream-status", msg


async def next_of(ws: ClientConnection, kind: str, timeout: float = 5.0) -> Any:
    """Next JSON message of type ``kind`` (status messages and frames skipped)."""
    while True:
        msg = await recv(ws, timeout)
        if isinstance(msg, dict) and msg.get("type") == kind:
            return msg
        assert isinstance(msg, bytes) or msg.get("type") in ("stream-status", "video-frame"), msg


async def closed_with(ws: ClientConnection, timeout: float = 5.0) -> tuple[int | None, list[Any]]:
    """Read until the server closes; returns the close code and what came before."""
    seen: list[Any] = []
    try:
        async with asyncio.timeout(timeout):
            while True:
                raw = await ws.recv()
                seen.append(json.loads(raw) if isinstance(raw, str) else raw)
    except ConnectionClosed:
        pass
    assert ws.close_code is not None, "the server did not close"
    return ws.close_code, seen


# -- sign-in -------------------------------------------------------------------------------


async def test_sign_in_refusals_close_1008(relay_factory: Callable[..., Awaitable[RelayServer]]):
    srv = await relay_factory()
    for first in (None, {"type": "subscribe"}, {"type": "auth", "token": "nope"}):
        ws = await srv.connect(token=None)
        if first is not None:
            await ws.send(json.dumps(first))
        code, seen = await closed_with(ws)
        assert code == 1008 and ws.close_reason == "Unauthorized"
        assert seen[-1]["type"] == "error" and seen[-1]["error"]["code"] == "UNAUTHORIZED"
        assert set(seen[-1]["error"]) == {"code", "message", "severity", "correlationId"}
    # a key of another scope (worker) may not use the relay
    ws = await srv.connect(token=None)
    await ws.send(json.dumps({"type": "auth", "token": "worker"}))
    code, _ = await closed_with(ws)
    assert code == 1008


async def test_token_in_sec_websocket_protocol(relay_factory):
    srv = await relay_factory()
    for protocols in (["bearer", "alice"], ["beholder", "alice"]):
        ws = await websockets.connect(srv.url, subprotocols=protocols)  # type: ignore[arg-type]
        assert ws.subprotocol == protocols[0]
        ok = await recv(ws)
        assert ok["type"] == "auth-ok" and ok["principal"] == {"name": "alice", "role": "viewer"}
        await ws.close()


# -- the loop ------------------------------------------------------------------------------


async def test_frames_and_alerts_route_between_producer_and_consumers(relay_factory):
    srv = await relay_factory()
    sid = srv.store.add()
    phone = await srv.producer(sid)
    dash = await srv.consumer(sid, binary=True)
    ml = await srv.consumer(sid, "ml-alice", "ml-service", produces=["alerts"])
    # binary in → binary to the binary consumer, JSON to the other
    await phone.send(encode_frame(sid, 1000, jpeg(1)))
    got = await next_frame(dash)
    assert isinstance(got, bytes)
    frame = decode_frame(got)
    assert (frame.stream_id, frame.timestamp_ms, bytes(frame.jpeg)) == (sid, 1000, jpeg(1))
    msg = await next_frame(ml)
    assert msg["type"] == "video-frame" and msg["streamId"] == sid and msg["seq"] == 1
    assert base64.b64decode(msg["data"]) == jpeg(1) and msg["timestamp"] == 1000
    # JSON in → the same both ways
    data = base64.b64encode(jpeg(2)).decode()
    await phone.send(
        json.dumps({"type": "video-frame", "streamId": sid, "data": data, "timestamp": 2000})
    )
    assert bytes(decode_frame(await next_frame(dash)).jpeg) == jpeg(2)
    assert (await next_frame(ml))["data"] == data
    # the stream went online, then streaming
    await eventually(
        lambda: srv.store.statuses == [(sid, "online"), (sid, "streaming")], 5, "statuses"
    )
    # an ML alert: stored with its source, then to the producer and the alert consumers
    await ml.send(
        json.dumps(
            {
                "type": "alert",
                "streamId": sid,
                "severity": "high",
                "message": "person",
                "metadata": {"confidence": 0.9, "box": [1, 2, 3, 4], "objectType": "person"},
                "timestamp": 3000,
            }
        )
    )
    for ws in (phone, dash, ml):
        alert = await next_of(ws, "alert")
        assert alert["message"] == "person", alert
        assert alert["source"] == PRINCIPALS["ml-alice"].key
        assert alert["metadata"]["box"] == [1, 2, 3, 4]
    assert [a.message for a in srv.store.alerts] == ["person"]
    counts = srv.relay.counts(sid)
    assert (counts.viewers, counts.ml_consumers, counts.producer) == (2, 1, True)
    for ws in (phone, dash, ml):
        await ws.close()


async def test_cleanup_on_producer_disconnect(relay_factory):
    srv = await relay_factory()
    sid = srv.store.add()
    phone = await srv.producer(sid)
    dash = await srv.consumer(sid)
    await phone.send(encode_frame(sid, 1, jpeg()))
    await phone.close()
    seen = []
    while not seen or seen[-1] != "offline":
        msg = await recv(dash)
        if msg["type"] == "stream-status":
            seen.append(msg["status"])
            last_seen = msg["lastSeen"]
    assert seen[-1] == "offline" and last_seen is not None
    await eventually(lambda: srv.store.statuses[-1] == (sid, "offline"), 5, "offline stored")
    assert srv.store.streams[sid].last_seen_at is not None
    await eventually(lambda: not srv.relay.counts(sid).producer, 5, "producer gone")
    await dash.close()
    await eventually(lambda: srv.relay.router.streams() == [], 5, "routes pruned")


async def test_second_producer_replaces_the_first(relay_factory):
    srv = await relay_factory()
    sid = srv.store.add()
    first = await srv.producer(sid)
    second = await srv.producer(sid, token="mobile-alice")
    code, seen = await closed_with(first)
    assert code == 4409
    assert {"type": "producer-replaced", "streamId": sid} in seen
    dash = await srv.consumer(sid, binary=True)
    await second.send(encode_frame(sid, 7, jpeg()))
    assert decode_frame(await next_frame(dash)).timestamp_ms == 7
    # the replaced producer's leaving does not take the stream offline
    assert (sid, "offline") not in srv.store.statuses


# -- ownership -----------------------------------------------------------------------------


async def test_ownership_and_roles(relay_factory):
    srv = await relay_factory()
    mine = srv.store.add(U1)
    bobs = srv.store.add(U2)

    async def refused(token: str, message: dict[str, Any]) -> str:
        ws = await srv.connect(token)
        await ws.send(json.dumps(message))
        reply = await recv(ws)
        assert reply["type"] == "error", reply
        await ws.close()
        return str(reply["error"]["code"])

    def sub(sid: str, kind: str = "dashboard", **kw: Any) -> dict[str, Any]:
        return {"type": "subscribe", "clientType": kind, "streamId": sid, **kw}

    def reg(sid: str) -> dict[str, Any]:
        return {"type": "register", "clientType": "mobile", "streamId": sid}

    assert await refused("alice", sub(bobs)) == "NOT_FOUND"  # someone else's: 404
    assert await refused("alice", reg(bobs)) == "NOT_FOUND"
    assert await refused("ml-alice", sub(bobs, "ml-service")) == "NOT_FOUND"
    assert await refused("alice", sub(new_id())) == "NOT_FOUND"  # no such stream
    assert await refused("ml-alice", reg(mine)) == "PERMISSION_DENIED"  # wrong scope
    assert await refused("mobile-alice", sub(mine, "ml-service")) == "PERMISSION_DENIED"
    assert await refused("alice", sub(mine, produces=["alerts"])) == "PERMISSION_DENIED"
    # what is allowed: the owner (viewer), its ml-service key, admin
    await (await srv.consumer(mine, "alice")).close()
    await (await srv.consumer(mine, "ml-alice", "ml-service", produces=["alerts"])).close()
    await (await srv.consumer(bobs, "admin")).close()
    # a dashboard that does not produce alerts may not send any
    dash = await srv.consumer(mine)
    await dash.send(
        json.dumps({"type": "alert", "streamId": mine, "severity": "low", "message": "x"})
    )
    reply = await next_of(dash, "error")
    assert reply["error"]["code"] == "PERMISSION_DENIED" and reply["streamId"] == mine
    assert srv.store.alerts == []


# -- bad input -----------------------------------------------------------------------------


async def test_bad_input_answers_an_error_and_affects_nobody_else(relay_factory):
    srv = await relay_factory(max_frame_bytes=16 * 1024)
    sid = srv.store.add()
    other = srv.store.add()
    phone = await srv.producer(sid)
    dash = await srv.consumer(sid, binary=True)
    big = jpeg(size=20 * 1024)
    cases: list[tuple[str | bytes, str]] = [
        ("{not json", "INVALID_INPUT"),
        (json.dumps({"type": "teleport"}), "INVALID_INPUT"),
        (json.dumps([1, 2]), "INVALID_INPUT"),
        (json.dumps({"type": "register", "streamId": "x"}), "INVALID_INPUT"),
        (encode_frame(other, 1, jpeg()), "PERMISSION_DENIED"),  # not its stream
        (encode_frame(sid, 1, big), "FRAME_TOO_LARGE"),
        (encode_frame(sid, 1, b"GIF89a" + b"x" * 100), "INVALID_FRAME"),
        (b"\x01\x01", "INVALID_FRAME"),  # shorter than the header
        (
            json.dumps({"type": "video-frame", "streamId": sid, "data": "!!!!", "timestamp": 1}),
            "INVALID_FRAME",
        ),
        (
            json.dumps(
                {
                    "type": "video-frame",
                    "streamId": sid,
                    "data": base64.b64encode(big).decode(),
                    "timestamp": 1,
                }
            ),
            "FRAME_TOO_LARGE",
        ),
        (
            json.dumps(
                {
                    "type": "video-frame",
                    "streamId": sid,
                    "data": base64.b64encode(b"nope").decode(),
                    "timestamp": 1,
                }
            ),
            "INVALID_FRAME",
        ),
    ]
    for payload, code in cases:
        await phone.send(payload)
        reply = await next_of(phone, "error")
        assert reply["type"] == "error", (payload[:40], reply)
        assert reply["error"]["code"] == code, (payload[:60], reply)
    # still open, still the producer; the consumer saw none of it and gets the next frame
    await phone.send(json.dumps({"type": "ping", "ts": 5}))
    assert await next_of(phone, "pong") == {"type": "pong", "ts": 5}
    await phone.send(encode_frame(sid, 99, jpeg()))
    assert decode_frame(await next_frame(dash)).timestamp_ms == 99


async def test_repeated_abuse_closes_1008(relay_factory):
    srv = await relay_factory()
    ws = await srv.connect()
    for _ in range(60):
        await ws.send("{bad")
    code, _ = await closed_with(ws)
    assert code == 1008


# -- heartbeat -----------------------------------------------------------------------------


async def test_silent_producer_is_dropped_and_the_stream_goes_offline(relay_factory):
    srv = await relay_factory(ping_interval=0.2, missed_pongs=2)
    sid = srv.store.add()
    phone = await srv.producer(sid)  # never answers pings from here on
    dash = await srv.consumer(sid)

    async def answer_pings() -> None:
        while True:
            msg = await recv(dash, skip_pings=False)
            if msg.get("type") == "ping":
                await dash.send(json.dumps({"type": "pong", "ts": msg["ts"]}))

    keeper = asyncio.create_task(answer_pings())
    code, _ = await closed_with(phone, timeout=10)
    assert code == 4408
    await eventually(lambda: (sid, "offline") in srv.store.statuses, 5, "offline")
    assert not keeper.done()  # the live consumer is still connected
    keeper.cancel()
    await dash.close()


# -- backpressure --------------------------------------------------------------------------


async def test_slow_consumer_gets_recent_frames_and_slows_nobody(relay_factory):
    limit = 256 * 1024
    srv = await relay_factory(consumer_queue_bytes=limit)
    sid = srv.store.add()
    phone = await srv.producer(sid)
    fast = [await srv.consumer(sid, binary=True) for _ in range(3)]
    slow = await srv.consumer(sid, binary=True, max_size=None)
    slow.transport.pause_reading()  # never reads again: the server's buffers fill up
    n = 200
    got: list[list[int]] = [[] for _ in fast]

    async def read(i: int, ws: ClientConnection) -> None:
        while len(got[i]) < n:
            got[i].append(decode_frame(await next_frame(ws, timeout=20)).timestamp_ms)

    readers = [asyncio.create_task(read(i, ws)) for i, ws in enumerate(fast)]
    t0 = time.perf_counter()
    for ts in range(n):
        # lock-step with the fast consumers: the slow one must never hold the producer up
        await phone.send(encode_frame(sid, ts, jpeg(ts, 30_000)))
        await eventually(
            lambda ts=ts: all(len(g) > ts for g in got), 10, "fast consumers", every=0.002
        )
    send_s = time.perf_counter() - t0
    await asyncio.wait_for(asyncio.gather(*readers), 30)
    assert all(g == list(range(n)) for g in got)  # fast consumers: every frame, in order
    figures = {f.connection_id: f for f in srv.relay.consumers(sid)}
    slow_fig = max(figures.values(), key=lambda f: f.frames_dropped)
    assert slow_fig.frames_dropped > 0
    assert slow_fig.queued_bytes <= limit + 64 * 1024  # bounded (+ one frame in flight)
    assert send_s < 60
    # once it reads again it gets only recent frames, the newest last
    slow.transport.resume_reading()
    seen: list[int] = []
    while not seen or seen[-1] != n - 1:
        seen.append(decode_frame(await next_frame(slow, timeout=10)).timestamp_ms)
    assert len(seen) < n and seen == sorted(seen)
