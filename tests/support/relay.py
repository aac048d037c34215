"""The relay ``/api/streams/ws`` on its own: a uvicorn server mounting the real :class:`Relay`
with a test sign-in (tokens are the keys of :data:`PRINCIPALS`) and an in-memory store
(:class:`MemoryStore`: streams, recorded status changes and alerts), on the memory bus or the
bus a test passes. Fixture ``relay_factory``; socket helpers ``recv``, ``next_frame``,
``next_of``, ``closed_with``; ``jpeg`` makes a payload that passes the JPEG check."""

from __future__ import annotations

import asyncio
import json
import random
import socket
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
from beholder.auth.connections import ConnectionRegistry, Standing
from beholder.auth.roles import ApiKeyScope, Principal, Role
from beholder.bus.base import Bus
from beholder.bus.memory import MemoryBus
from beholder.config.relay import RelaySettings
from beholder.contracts.relay import RELAY_SERVER_MESSAGE, RelayAlertIn
from beholder.contracts.resources import AlertOut, StreamStatus
from beholder.contracts.wire import new_id
from beholder.db.models import VideoStream
from beholder.errors import NotFound, Unauthorized
from beholder.messages import utcnow
from beholder.realtime.relay.service import Relay
from support.polling import eventually

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
    """A payload that passes the JPEG plausibility check (SOI ... EOI): ``size`` bytes of
    noise seeded by ``n`` (as incompressible as a real JPEG, the same for the same ``n``)."""
    return b"\xff\xd8" + random.Random(n).randbytes(size) + b"\xff\xd9"


async def authenticate(token: str) -> Principal:
    if token in PRINCIPALS:
        return PRINCIPALS[token]
    raise Unauthorized("Invalid credentials.", detail="test: unknown token")


async def standing(principals: Any) -> dict[str, Standing]:
    return {}


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
    """A running relay; ``deflate``: clients negotiate permessage-deflate, so the relay
    sends through plain ASGI (its fallback path) rather than writing frames itself."""

    relay: Relay
    store: MemoryStore
    url: str
    deflate: bool = False

    async def connect(self, token: str | None = "alice", **kw: Any) -> ClientConnection:
        kw.setdefault("max_size", None)
        kw.setdefault("compression", "deflate" if self.deflate else None)
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


RelayFactory = Callable[..., Awaitable[RelayServer]]
"""``await relay_factory(bus=None, store=None, unauthenticated=64, deflate=False,
**relay_settings)`` → a running relay."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def relay_factory() -> AsyncIterator[Callable[..., Awaitable[RelayServer]]]:
    started: list[tuple[uvicorn.Server, asyncio.Task[None], Relay]] = []

    async def make(
        bus: Bus | None = None,
        store: MemoryStore | None = None,
        unauthenticated: int = 64,
        deflate: bool = False,
        **overrides: Any,
    ) -> RelayServer:
        values: dict[str, Any] = {"auth_timeout": 0.5, "max_frame_bytes": 64 * 1024}
        values.update(overrides)
        settings = RelaySettings(**values)
        store = store or MemoryStore()
        if bus is None:
            bus = MemoryBus()
            await bus.start()
        registry = ConnectionRegistry(3600, standing)
        relay = Relay(
            settings, authenticate, store, bus, registry, unauthenticated_per_client=unauthenticated
        )
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
            ws_per_message_deflate=deflate,
            ws_ping_interval=None,
            ws_max_size=settings.max_message_bytes,
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        await eventually(lambda: server.started, 10, "uvicorn to start", every=0.01)
        await relay.start()
        started.append((server, task, relay))
        return RelayServer(relay, store, f"ws://127.0.0.1:{port}/api/streams/ws", deflate)

    yield make
    for server, task, relay in started:
        await relay.close()
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def recv(
    ws: ClientConnection, timeout: float = 5.0, skip_pings: bool = True, relay: bool = True
) -> Any:
    """Next message: JSON as a dict, binary as bytes (app-level pings skipped). ``relay``:
    every JSON message must be a :data:`RelayServerMessage` of the contract (the hub's
    are not)."""
    while True:
        raw = await asyncio.wait_for(ws.recv(), timeout)
        if isinstance(raw, bytes):
            return raw
        data = json.loads(raw)
        if relay:
            RELAY_SERVER_MESSAGE.validate_python(data)  # the wire matches the contract
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
    """Next JSON message of type ``kind`` (others skipped; an unexpected ``error`` fails)."""
    while True:
        msg = await recv(ws, timeout)
        if isinstance(msg, dict) and msg.get("type") == kind:
            return msg
        assert isinstance(msg, bytes) or msg.get("type") != "error", msg


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


__all__ = [
    "PRINCIPALS",
    "U1",
    "U2",
    "MemoryStore",
    "RelayFactory",
    "RelayServer",
    "closed_with",
    "jpeg",
    "next_frame",
    "next_of",
    "recv",
    "relay_factory",
]
