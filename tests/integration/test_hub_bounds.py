"""The hub ``/ws`` under attack, against the real app under uvicorn (SQLite and PostgreSQL):
a client that never reads and asks for replay after replay is closed with 1013 at its byte
bound while another dashboard keeps receiving; replays are rate-limited per connection;
connections still in the auth phase are capped per client address (HTTP 429 before the
upgrade). Issue 9, finding 4."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from beholder.api.fanout import fan_out
from beholder.config import HubSettings
from beholder.contracts import hub as hub_messages
from beholder.contracts.wire import new_id
from beholder.db.models import Alert
from beholder.db.repositories import alerts as alerts_repo
from support.api import LiveApi, live_api
from support.polling import eventually
from support.settings import make_settings

pytestmark = pytest.mark.timeout(90)

BACKLOG = 256 * 1024
UNAUTH_CAP = 3


@pytest.fixture
async def hub_api(tmp_path: Path, database_url: str | None) -> AsyncIterator[LiveApi]:
    """The app with a small backlog bound, a generous replay rate, a cap of 3."""
    hub = HubSettings(
        ws_backlog_bytes=BACKLOG,
        ws_replay_rate="1000/minute",
        ws_unauthenticated_per_client=UNAUTH_CAP,
        ws_auth_timeout=30.0,
    )
    async with live_api(make_settings(tmp_path, database_url, hub=hub)) as live:
        yield live


async def _camera(api: LiveApi) -> str:
    r = await api.client.post(
        "/api/cameras",
        json={"name": "Lobby", "rtspUrl": "rtsp://10.0.0.7/live"},
        headers=await api.headers("operator"),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _seed_alerts(api: LiveApi, camera_id: str, n: int, thumb_bytes: int) -> list[str]:
    """``n`` persisted alerts, oldest first, each with a ``thumb_bytes`` base64 thumbnail
    (incompressible, like a JPEG's)."""
    start = datetime.now(UTC) - timedelta(hours=1)
    ids: list[str] = []
    async with api.state.db.session() as s:
        for i in range(n):
            row = Alert(
                id=new_id(),
                camera_id=camera_id,
                type="face-detection",
                severity="medium",
                message="Face detected",
                alert_metadata={"faces": []},
                thumbnail=base64.b64encode(os.urandom(thumb_bytes)).decode(),
                created_at=start + timedelta(milliseconds=i),
            )
            await alerts_repo.insert(s, row)
            ids.append(row.id)
        await s.commit()
    return ids


async def _dashboard(api: LiveApi, *topics: str, **connect: Any) -> ClientConnection:
    ws = await websockets.connect(api.ws_url, **connect)
    await ws.send(json.dumps({"type": "auth", "token": await api.token("viewer")}))
    assert json.loads(await ws.recv())["type"] == "auth-ok"
    if topics:
        await ws.send(json.dumps({"type": "subscribe", "topics": list(topics)}))
        assert (await _next(ws, "subscribed"))["topics"] == list(topics)
    return ws


async def _next(ws: ClientConnection, kind: str, timeout: float = 10.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            message: dict[str, Any] = json.loads(await ws.recv())
            if message["type"] == kind:
                return message


async def _closed_code(ws: ClientConnection, timeout: float = 10.0) -> int | None:
    """Read until the server closes; the close code it sent (``None``: no close frame)."""
    try:
        async with asyncio.timeout(timeout):
            async for _ in ws:
                pass
    except ConnectionClosed:
        pass
    rcvd = ws.protocol.close_rcvd
    return rcvd.code if rcvd is not None else None


def _alert_message(camera_id: str, n: int) -> hub_messages.AlertMessage:
    return hub_messages.AlertMessage.model_construct(
        type="face-detection-alert",
        alert_type="face-detection",
        id=f"live-{n}",
        camera_id=camera_id,
        stream_id=None,
        severity="medium",
        message="Face detected",
        metadata={"faces": []},
        thumbnail=None,
        has_snapshot=False,
        created_at=datetime.now(UTC),
        acknowledged_at=None,
        acknowledged_by=None,
    )


# -- the flood -----------------------------------------------------------------------------


async def test_non_reading_replayer_closed_1013_others_keep_receiving(hub_api: LiveApi) -> None:
    api = hub_api
    hub = api.state.hub
    cam = await _camera(api)
    ids = await _seed_alerts(api, cam, 200, 4096)  # ~1.1 MB of frames per replay
    # The attacker never reads: a 4 KB kernel receive buffer and a websockets queue of 1.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", api.settings.port))
    attacker = await _dashboard(api, "alerts", sock=sock, max_queue=1, max_size=None)
    watcher = await _dashboard(api, "alerts")
    try:
        for _ in range(30):
            await attacker.send(json.dumps({"type": "replay", "lastAlertId": ids[0]}))
        await eventually(lambda: hub.stats()["disconnectedSlow"] >= 1, 20, "the 1013 close")
        # The attacker's backlog is gone: what it pins now is at most its socket buffers.
        assert hub.stats()["backlogged"] == 0
        # It finds its connection closed with 1013 as soon as it reads again.
        assert await _closed_code(attacker) == 1013
        assert hub.stats()["disconnectedSlow"] == 1
        # The other dashboard was never affected and still gets every live alert.
        for n in range(20):
            await fan_out(api.state, "alerts", _alert_message(cam, n), camera_id=cam)
        got = [(await _next(watcher, "face-detection-alert"))["id"] for _ in range(20)]
        assert got == [f"live-{n}" for n in range(20)]
    finally:
        await attacker.close()
        await watcher.close()


async def test_a_full_replay_within_the_bound_is_delivered(hub_api: LiveApi) -> None:
    """The bound is not a limit on honest replays: one that fits arrives whole."""
    api = hub_api
    cam = await _camera(api)
    ids = await _seed_alerts(api, cam, 40, 2048)
    ws = await _dashboard(api, "alerts")
    try:
        await ws.send(json.dumps({"type": "replay", "lastAlertId": ids[0]}))
        done = await _next(ws, "replayed")
        assert done["count"] == 39 and done["lastAlertId"] == ids[-1]
    finally:
        await ws.close()


# -- replay rate ---------------------------------------------------------------------------


async def test_replays_over_the_rate_get_an_error_and_the_socket_stays(
    tmp_path: Path, database_url: str | None
) -> None:
    hub = HubSettings(ws_replay_rate="2/minute")
    async with live_api(make_settings(tmp_path, database_url, hub=hub)) as api:
        cam = await _camera(api)
        ids = await _seed_alerts(api, cam, 3, 64)
        ws = await _dashboard(api, "alerts")
        try:
            for _ in range(2):
                await ws.send(json.dumps({"type": "replay", "lastAlertId": ids[0]}))
                assert (await _next(ws, "replayed"))["count"] == 2
            await ws.send(json.dumps({"type": "replay", "lastAlertId": ids[0]}))
            refused = json.loads(await ws.recv())
            assert refused["type"] == "error"
            assert refused["code"] == "RATE_LIMIT_EXCEEDED"
            assert api.state.hub.stats()["replaysRefused"] == 1
            # lastAlertId on subscribe is a replay too: refused the same way
            await ws.send(
                json.dumps({"type": "subscribe", "topics": ["alerts"], "lastAlertId": ids[0]})
            )
            await _next(ws, "subscribed")
            assert (await _next(ws, "error"))["code"] == "RATE_LIMIT_EXCEEDED"
            # the connection is still served, and another connection has its own budget
            await ws.send(json.dumps({"type": "ping"}))
            assert (await _next(ws, "pong"))["type"] == "pong"
            other = await _dashboard(api, "alerts")
            await other.send(json.dumps({"type": "replay", "lastAlertId": ids[0]}))
            assert (await _next(other, "replayed"))["count"] == 2
            await other.close()
        finally:
            await ws.close()


# -- unauthenticated cap -------------------------------------------------------------------


async def test_unauthenticated_connections_capped_per_address(hub_api: LiveApi) -> None:
    api = hub_api
    hub = api.state.hub
    waiting = [await websockets.connect(api.ws_url) for _ in range(UNAUTH_CAP)]
    try:
        await eventually(lambda: hub.stats()["unauthenticated"] == UNAUTH_CAP, 5, "3 waiting")
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(api.ws_url)
        response = refused.value.response
        assert response.status_code == 429
        assert response.headers["Retry-After"].isdigit()
        error = json.loads(response.body)["error"]
        assert error["code"] == "RATE_LIMIT_EXCEEDED" and error["correlationId"]
        assert hub.stats()["connections"] == UNAUTH_CAP  # the refused one never got in
        assert hub.stats()["refused"] == 1

        # One that leaves frees its place ...
        await waiting.pop().close()
        await eventually(lambda: hub.stats()["unauthenticated"] == UNAUTH_CAP - 1, 5, "freed")
        waiting.append(await websockets.connect(api.ws_url))
        # ... and so does one that signs in (it is no longer in the auth phase).
        signed_in = waiting.pop(0)
        await signed_in.send(json.dumps({"type": "auth", "token": await api.token("viewer")}))
        assert json.loads(await signed_in.recv())["type"] == "auth-ok"
        waiting.append(await websockets.connect(api.ws_url))
        assert hub.stats()["unauthenticated"] == UNAUTH_CAP
        # A failed sign-in leaves the auth phase too.
        bad = waiting.pop(0)
        await bad.send(json.dumps({"type": "auth", "token": "not-a-token"}))
        assert await _closed_code(bad) == 4401
        await eventually(lambda: hub.stats()["unauthenticated"] == UNAUTH_CAP - 1, 5, "freed")
        waiting.append(await websockets.connect(api.ws_url))
        await signed_in.close()
    finally:
        for ws in waiting:
            await ws.close()
