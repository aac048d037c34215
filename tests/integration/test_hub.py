"""Dashboard hub ``/ws`` over real sockets: uvicorn in-process, ``websockets`` clients.

The app here mounts only the hub with a test ``authenticate`` (tokens ``good``/``admin``,
``exp:<seconds>`` for a JWT-like principal that expires) and an in-memory alert store for
``replay``. Settings are tiny so that timeouts and heartbeats fit the time budget.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
import websockets
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from beholder.auth.roles import Principal, Role
from beholder.config import HubSettings
from beholder.errors import Unauthorized
from beholder.realtime import Hub
from support.polling import eventually

pytestmark = pytest.mark.timeout(60)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def authenticate(token: str) -> Principal:
    if token == "good":
        return Principal(kind="user", id="u1", name="alice", role=Role.OPERATOR)
    if token == "admin":
        return Principal(kind="api_key", id="k1", name="ml", role=Role.VIEWER)
    if token.startswith("exp:"):
        ttl = float(token[4:])
        return Principal(
            kind="user", id="u2", name="bob", role=Role.VIEWER, expires_at=time.time() + ttl
        )
    raise Unauthorized("Invalid credentials.", detail="test: unknown token")


@dataclass
class HubServer:
    hub: Hub
    url: str
    deflate: bool = False
    alerts: list[dict[str, Any]] = field(default_factory=list)
    on_replay: Callable[[], Awaitable[None]] | None = None

    def alert(self, n: int, camera: str = "c1") -> dict[str, Any]:
        """A persisted alert message (appended to the store, not broadcast)."""
        message = {"type": "face-detection-alert", "id": f"a{n}", "cameraId": camera, "n": n}
        self.alerts.append(message)
        return message

    async def connect(self, token: str | None = "good", **kw: Any) -> ClientConnection:
        kw.setdefault("compression", "deflate" if self.deflate else None)
        ws = await websockets.connect(self.url, **kw)
        if token is not None:
            await ws.send(json.dumps({"type": "auth", "token": token}))
            ok = await recv(ws)
            assert ok["type"] == "auth-ok", ok
        return ws


@pytest.fixture(params=["raw", "asgi"])
async def hub_factory(
    request: pytest.FixtureRequest,
) -> AsyncIterator[Callable[..., Awaitable[HubServer]]]:
    """Start a uvicorn server mounting a Hub with the given Settings overrides.

    ``raw``: deflate off, the hub writes frames to the socket itself (fast path).
    ``asgi``: uvicorn negotiates permessage-deflate with the clients, so the hub must use
    plain ASGI sends (the fallback path for any other server or configuration).
    """
    deflate = request.param == "asgi"
    started: list[tuple[uvicorn.Server, asyncio.Task[None], Hub]] = []

    async def make(**overrides: Any) -> HubServer:
        values: dict[str, Any] = {
            "ws_ping_interval": 30.0,
            "ws_missed_pongs": 2,
            "ws_auth_timeout": 0.4,
            "ws_send_queue": 8,
            "ws_max_message_bytes": 1024,
            "alert_replay_limit": 50,
        }
        values.update(overrides)
        settings = HubSettings(**values)
        server_ref: list[HubServer] = []

        async def replay(last_alert_id: str, limit: int) -> list[dict[str, Any]]:
            srv = server_ref[0]
            ids = [a["id"] for a in srv.alerts]
            start = ids.index(last_alert_id) + 1 if last_alert_id in ids else 0
            result = srv.alerts[start : start + limit]
            if srv.on_replay is not None:
                await srv.on_replay()
            return result

        hub = Hub(settings, authenticate, replay)
        app = FastAPI()
        app.add_api_websocket_route("/ws", hub.endpoint)
        port = _free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            ws="websockets-sansio",
            ws_per_message_deflate=deflate,
            ws_ping_interval=None,
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())

        def serving() -> bool:
            assert not task.done(), "uvicorn failed to start"
            return bool(server.started)

        await eventually(serving, 10, "uvicorn to start", every=0.01)
        await hub.start()
        started.append((server, task, hub))
        srv = HubServer(hub, f"ws://127.0.0.1:{port}/ws", deflate=deflate)
        server_ref.append(srv)
        return srv

    yield make
    for server, task, hub in started:
        await hub.close()
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def recv(ws: ClientConnection, timeout: float = 3.0, skip_pings: bool = True) -> Any:
    """Next JSON message (app-level pings skipped unless asked for)."""
    while True:
        raw = await asyncio.wait_for(ws.recv(), timeout)
        message = json.loads(raw)
        if skip_pings and message.get("type") == "ping":
            continue
        return message


async def closed_code(ws: ClientConnection, timeout: float = 3.0) -> int | None:
    """Read until the server closes; returns the close code it sent (None: abnormal)."""
    try:
        async with asyncio.timeout(timeout):
            async for _ in ws:
                pass
    except ConnectionClosed:
        pass
    except TimeoutError:
        pytest.fail("server did not close the connection")
    rcvd = ws.protocol.close_rcvd
    return rcvd.code if rcvd is not None else None


async def subscribe(ws: ClientConnection, *topics: str, **extra: Any) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "subscribe", "topics": list(topics), **extra}))
    reply: dict[str, Any] = await recv(ws)
    return reply


async def until_marker(ws: ClientConnection) -> list[dict[str, Any]]:
    """Messages received before the next ``health-update`` marker."""
    got = []
    while True:
        message = await recv(ws)
        if message["type"] == "health-update":
            return got
        got.append(message)


# -- auth --------------------------------------------------------------------------------


async def test_auth_ok_returns_principal(hub_factory: Callable[..., Awaitable[HubServer]]) -> None:
    srv = await hub_factory()
    ws = await websockets.connect(srv.url)
    await ws.send(json.dumps({"type": "auth", "token": "good"}))
    ok = await recv(ws)
    assert ok["type"] == "auth-ok"
    assert ok["principal"] == {"name": "alice", "role": "operator"}
    assert srv.hub.stats()["authenticated"] == 1
    await ws.close()


async def test_no_auth_message_is_closed_after_timeout(
    hub_factory: Callable[..., Awaitable[HubServer]],
) -> None:
    srv = await hub_factory(ws_auth_timeout=0.3)
    ws = await srv.connect(token=None)
    t0 = time.monotonic()
    error = await recv(ws)
    assert error["type"] == "error" and error["code"] == "UNAUTHORIZED"
    assert await closed_code(ws) == 4401
    assert 0.25 < time.monotonic() - t0 < 2.5


async def test_bad_token_refused(hub_factory: Callable[..., Awaitable[HubServer]]) -> None:
    srv = await hub_factory()
    ws = await srv.connect(token=None)
    await ws.send(json.dumps({"type": "auth", "token": "nope"}))
    error = await recv(ws)
    assert error == {"type": "error", "code": "UNAUTHORIZED", "message": "Invalid credentials."}
    assert await closed_code(ws) == 4401
    assert srv.hub.stats()["authFailures"] == 1


async def test_message_before_auth_refused(
    hub_factory: Callable[..., Awaitable[HubServer]],
) -> None:
    srv = await hub_factory()
    ws = await srv.connect(token=None)
    await ws.send(json.dumps({"type": "subscribe", "topics": ["alerts"]}))
    error = await recv(ws)
    assert error["code"] == "UNAUTHORIZED"
    assert await closed_code(ws) == 4401
    assert srv.hub.stats()["subscriptions"] == 0


async def test_token_in_subprotocol(hub_factory: Callable[..., Awaitable[HubServer]]) -> None:
    srv = await hub_factory()
    ws = await websockets.connect(srv.url, subprotocols=["beholder", "good"])  # type: ignore[list-item]
    assert ws.subprotocol == "beholder"
    assert (await recv(ws))["type"] == "auth-ok"
    assert (await subscribe(ws, "alerts"))["topics"] == ["alerts"]
    await ws.close()

    bad = await websockets.connect(srv.url, subprotocols=["beholder", "bad"])  # type: ignore[list-item]
    assert (await recv(bad))["code"] == "UNAUTHORIZED"
    assert await closed_code(bad) == 4401


async def test_token_expiry_closes(hub_factory: Callable[..., Awaitable[HubServer]]) -> None:
    srv = await hub_factory()
    ws = await srv.connect(token="exp:0.4")
    await subscribe(ws, "alerts")
    error = await recv(ws, timeout=3)
    assert error["type"] == "error" and error["code"] == "UNAUTHORIZED"
    assert await closed_code(ws) == 4401
    assert srv.hub.stats()["expired"] == 1


# -- subscriptions -----------------------------------------------------------------------


async def test_subscription_filter_and_camera_topic(
    hub_factory: Callable[..., Awaitable[HubServer]],
) -> None:
    srv = await hub_factory()
    alerts_only = await srv.connect()
    cam1 = await srv.connect()
    cameras = await srv.connect()
    both = await srv.connect()
    assert (await subscribe(alerts_only, "alerts", "health"))["type"] == "subscribed"
    await subscribe(cam1, "camera:c1", "health")
    await subscribe(cameras, "cameras", "health")
    await subscribe(both, "alerts", "camera:c1", "health")

    hub = srv.hub
    assert (
        hub.broadcast(
            "cameras",
            {"type": "camera-status-update", "cameraId": "c1", "status": "PROCESSING"},
            camera_id="c1",
        )
        == 3
    )
    hub.broadcast(
        "cameras",
        {"type": "camera-status-update", "cameraId": "c2", "status": "ERROR"},
        camera_id="c2",
    )
    assert hub.broadcast("alerts", srv.alert(1, "c1"), camera_id="c1") == 3
    hub.broadcast("alerts", srv.alert(2, "c2"), camera_id="c2")
    hub.broadcast("health", {"type": "health-update", "status": "ok"})

    def kinds(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return [(m["type"], m.get("id") or m["cameraId"]) for m in messages]

    assert kinds(await until_marker(alerts_only)) == [
        ("face-detection-alert", "a1"),
        ("face-detection-alert", "a2"),
    ]
    assert kinds(await until_marker(cam1)) == [
        ("camera-status-update", "c1"),
        ("face-detection-alert", "a1"),
    ]
    assert kinds(await until_marker(cameras)) == [
        ("camera-status-update", "c1"),
        ("camera-status-update", "c2"),
    ]
    # subscribed to alerts and camera:c1: the c1 alert arrives once
    assert kinds(await until_marker(both)) == [
        ("camera-status-update", "c1"),
        ("face-detection-alert", "a1"),
        ("face-detection-alert", "a2"),
    ]

    # unsubscribe stops delivery
    await alerts_only.send(json.dumps({"type": "unsubscribe", "topics": ["alerts"]}))
    assert await recv(alerts_only) == {"type": "unsubscribed", "topics": ["alerts"]}
    hub.broadcast("alerts", srv.alert(3), camera_id="c1")
    hub.broadcast("health", {"type": "health-update"})
    assert await until_marker(alerts_only) == []
    for ws in (alerts_only, cam1, cameras, both):
        await ws.close()


async def test_unknown_topic_is_an_error_not_a_close(
    hub_factory: Callable[..., Awaitable[HubServer]],
) -> None:
    srv = await hub_factory()
    ws = await srv.connect()
    await ws.send(json.dumps({"type": "subscribe", "topics": ["alerts", "bogus", "camera:"]}))
    error = await recv(ws)
    assert error["type"] == "error" and error["code"] == "INVALID_INPUT"
    assert error["topics"] == ["bogus", "camera:"]
    assert await recv(ws) == {"type": "subscribed", "topics": ["alerts"]}
    srv.hub.broadcast("alerts", srv.alert(1))
    assert (await recv(ws))["id"] == "a1"
    await ws.close()


# -- malformed input ---------------------------------------------------------------------


async def test_malformed_messages_get_errors_and_server_keeps_serving(
    hub_factory: Callable[..., Awaitable[HubServer]],
) -> None:
    srv = await hub_factory(ws_max_message_bytes=1024)
    ws = await srv.connect()
    other = await srv.connect()
    await subscribe(other, "alerts")
    for bad in ("{not json", "[1, 2]", '"text"', '{"type": 5}', '{"type": "dance"}', b"\x00\x01"):
        await ws.send(bad)
        error = await recv(ws)
        assert error["type"] == "error" and error["code"] == "INVALID_INPUT", bad
    await ws.send(json.dumps({"type": "ping"}))
    assert (await recv(ws))["type"] == "pong"
    await ws.send(json.dumps({"type": "subscribe", "topics": "alerts"}))
    assert (await recv(ws))["code"] == "INVALID_INPUT"
    await ws.send(json.dumps({"type": "auth", "token": "good"}))
    assert (await recv(ws))["code"] == "INVALID_INPUT"

    await ws.send(json.dumps({"type": "ping", "pad": "x" * 2000}))
    error = await recv(ws)
    assert error["code"] == "INVALID_INPUT"
    assert await closed_code(ws) == 1009

    srv.hub.broadcast("alerts", srv.alert(1))
    assert (await recv(other))["id"] == "a1"
    assert srv.hub.stats()["invalidMessages"] >= 8
    await other.close()


async def test_oversized_binary_closes_1009(
    hub_factory: Callable[..., Awaitable[HubServer]],
) -> None:
    srv = await hub_factory(ws_max_message_bytes=1024)
    ws = await srv.connect()
    await ws.send(b"\x00" * 5000)
    assert (await recv(ws))["code"] == "INVALID_INPUT"
    assert await closed_code(ws) == 1009


# -- heartbeat ---------------------------------------------------------------------------


async def test_heartbeat_drops_silent_client_keeps_ponging_one(
    hub_factory: Callable[..., Awaitable[HubServer]],
) -> None:
    srv = await hub_factory(ws_ping_interval=0.2, ws_missed_pongs=2)
    silent = await srv.connect()
    alive = await srv.connect()

    async def pong_forever() -> None:
        async for raw in alive:
            if json.loads(raw)["type"] == "ping":
                await alive.send('{"type":"pong"}')

    ponger = asyncio.create_task(pong_forever())
    pings = 0
    t0 = time.monotonic()
    try:
        async with asyncio.timeout(3):
            async for raw in silent:  # reads pings, never answers
                assert json.loads(raw)["type"] == "ping"
                pings += 1
    except ConnectionClosed:
        pass
    assert silent.close_code == 4408
    assert pings >= 1
    assert time.monotonic() - t0 < 2.0  # ~3 intervals
    assert srv.hub.stats()["disconnectedDead"] == 1
    assert not ponger.done()  # the answering client is still connected
    assert srv.hub.connection_count == 1
    ponger.cancel()
    await alive.close()


# -- slow clients ------------------------------------------------------------------------


async def test_slow_client_disconnected_others_unaffected(
    hub_factory: Callable[..., Awaitable[HubServer]],
) -> None:
    srv = await hub_factory(ws_send_queue=8)
    # The slow client never reads: tiny kernel receive buffer, websockets queue of 1.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(srv.url.rsplit(":", 1)[1].split("/")[0])))
    slow = await srv.connect(sock=sock, max_queue=1, max_size=None)
    fast = await srv.connect(max_size=None)
    await subscribe(slow, "alerts")
    await subscribe(fast, "alerts")

    total = 400
    received: list[int] = []

    async def read_fast() -> None:
        while len(received) < total:
            message = await recv(fast, timeout=10)
            received.append(message["n"])

    reader = asyncio.create_task(read_fast())
    pad = base64.b64encode(os.urandom(24_000)).decode()  # 32 KB, incompressible-ish (deflate)
    for n in range(total):
        while n - len(received) > 16:  # pace on the fast client only: it is never slow
            await asyncio.sleep(0.001)
        srv.hub.broadcast(
            "alerts", {"type": "face-detection-alert", "id": f"a{n}", "n": n, "pad": pad}
        )
        if n % 8 == 0:
            await asyncio.sleep(0)
    await asyncio.wait_for(reader, 15)
    assert received == list(range(total))  # everything, in order
    assert srv.hub.stats()["disconnectedSlow"] == 1
    # The slow client, once it reads again, finds its connection closed (1013, or aborted).
    assert await closed_code(slow, timeout=8) in (1013, None)
    await fast.close()


# -- replay ------------------------------------------------------------------------------


async def test_replay_after_reconnect_then_live(
    hub_factory: Callable[..., Awaitable[HubServer]],
) -> None:
    srv = await hub_factory()
    ws = await srv.connect()
    await subscribe(ws, "alerts")
    for n in (1, 2):
        srv.hub.broadcast("alerts", srv.alert(n))
    assert [(await recv(ws))["id"] for _ in range(2)] == ["a1", "a2"]
    await ws.close()

    for n in (3, 4, 5):  # persisted while the client was away
        srv.hub.broadcast("alerts", srv.alert(n))

    ws = await srv.connect()
    reply = await subscribe(ws, "alerts", lastAlertId="a2")
    assert reply == {"type": "subscribed", "topics": ["alerts"]}
    assert [(await recv(ws))["id"] for _ in range(3)] == ["a3", "a4", "a5"]
    done = await recv(ws)
    assert done == {"type": "replayed", "count": 3, "lastAlertId": "a5", "truncated": False}
    srv.hub.broadcast("alerts", srv.alert(6))
    assert (await recv(ws))["id"] == "a6"
    await ws.close()


async def test_replay_races_live_alerts_without_duplicates_or_gaps(
    hub_factory: Callable[..., Awaitable[HubServer]],
) -> None:
    srv = await hub_factory()
    srv.alert(1)
    srv.alert(2)

    async def during_replay() -> None:
        # a2 was persisted before the query and is broadcast while the replay is in flight;
        # a3 is persisted and broadcast after the query: it must come live, after a2.
        srv.hub.broadcast("alerts", srv.alerts[1])
        await asyncio.sleep(0.01)
        srv.hub.broadcast("alerts", srv.alert(3))

    srv.on_replay = during_replay
    ws = await srv.connect()
    await ws.send(json.dumps({"type": "auth", "token": "good", "lastAlertId": "a1"}))  # ignored
    await recv(ws)  # "Already authenticated." error
    await subscribe(ws, "alerts", lastAlertId="a1")
    got = []
    while len(got) < 3:
        message = await recv(ws)
        got.append(message.get("id") or message["type"])
    assert got == ["a2", "replayed", "a3"]
    srv.on_replay = None
    srv.hub.broadcast("alerts", srv.alert(4))
    assert (await recv(ws))["id"] == "a4"
    await ws.close()


async def test_last_alert_id_on_auth_replays_on_subscribe(
    hub_factory: Callable[..., Awaitable[HubServer]],
) -> None:
    srv = await hub_factory()
    for n in range(1, 4):
        srv.alert(n, camera="c1" if n != 2 else "c2")
    ws = await websockets.connect(srv.url)
    await ws.send(json.dumps({"type": "auth", "token": "good", "lastAlertId": "a0"}))
    assert (await recv(ws))["type"] == "auth-ok"
    await subscribe(ws, "camera:c1")  # only c1's alerts are replayed
    assert [(await recv(ws)).get("id") for _ in range(2)] == ["a1", "a3"]
    assert (await recv(ws))["type"] == "replayed"
    await ws.send(json.dumps({"type": "replay", "lastAlertId": "a2"}))
    assert (await recv(ws))["id"] == "a3"
    assert (await recv(ws))["count"] == 1
    await ws.close()


# -- lifecycle ---------------------------------------------------------------------------


async def test_close_sends_going_away(hub_factory: Callable[..., Awaitable[HubServer]]) -> None:
    srv = await hub_factory()
    ws = await srv.connect()
    await subscribe(ws, "alerts")
    stats = srv.hub.stats()
    assert stats["connections"] == 1
    assert stats["fastPath"] == (0 if srv.deflate else 1)
    await srv.hub.close()
    assert await closed_code(ws) == 1001
    await eventually(lambda: srv.hub.connection_count == 0, 2, "the connection forgotten")
    assert srv.hub.connection_count == 0
