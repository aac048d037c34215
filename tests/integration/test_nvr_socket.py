"""The NVR agent socket ``/api/nvrs/ws`` over real sockets: who gets in (only an ``nvr`` key,
acting only as its own NVR), typed errors that leave the socket (and every other) open, one
socket per NVR, revocation closing it, and viewers not managing NVRs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from beholder.config import NvrSettings
from beholder.realtime.agents import CLOSE_REPLACED
from support.api import LiveApi, live_api
from support.nvr_agent import AgentProcess, Dashboard, create_nvr, nvr_cameras
from support.polling import eventually
from support.settings import make_settings

CLOSE_POLICY = 1008
CLOSE_UNAUTHORIZED = 4401


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[LiveApi]:
    nvr = NvrSettings(heartbeat_seconds=5, auth_timeout=1.0)
    async with live_api(make_settings(tmp_path, None, nvr=nvr)) as live:
        yield live


def _url(api: LiveApi) -> str:
    return f"ws://127.0.0.1:{api.settings.port}/api/nvrs/ws"


def _register(hostname: str, channels: list[int]) -> str:
    return json.dumps(
        {
            "type": "register",
            "hostname": hostname,
            "deviceName": hostname,
            "channels": [{"number": n, "url": f"rtsp://10.9.0.{n}/{hostname}"} for n in channels],
        }
    )


async def _recv(ws: ClientConnection, kind: str | None = None) -> dict[str, Any]:
    while True:
        msg: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if kind is None or msg["type"] == kind:
            return msg


async def _closed(ws: ClientConnection) -> tuple[int | None, list[str]]:
    """(close code, error codes received before the close)."""
    errors = []
    try:
        while True:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if msg["type"] == "error":
                errors.append(msg["error"]["code"])
    except ConnectionClosed as exc:
        return (exc.rcvd.code if exc.rcvd else None), errors


async def _agent_socket(api: LiveApi, key: str) -> ClientConnection:
    ws = await websockets.connect(_url(api))
    await ws.send(json.dumps({"type": "auth", "token": key}))
    ok = await _recv(ws)
    assert ok["type"] == "auth-ok", ok
    return ws


async def test_only_nvr_keys_get_in(api: LiveApi) -> None:
    refused: list[tuple[str, int]] = [
        (await api.token("admin"), CLOSE_POLICY),  # a user
        (await api.api_key("mobile"), CLOSE_POLICY),  # another scope
        ("not-a-key", CLOSE_UNAUTHORIZED),
    ]
    unbound = await api.client.post(  # an nvr key not bound to an NVR, if one can be made
        "/api/api-keys", json={"name": "loose", "scope": "nvr"}, headers=await api.headers("admin")
    )
    if unbound.status_code == 201:
        refused.append((unbound.json()["key"], CLOSE_POLICY))
    for token, code in refused:
        ws = await websockets.connect(_url(api))
        await ws.send(json.dumps({"type": "auth", "token": token}))
        got = await _closed(ws)
        assert got[0] == code, (token[:8], got)
        assert got[1] == ["PERMISSION_DENIED" if code == CLOSE_POLICY else "UNAUTHORIZED"]
    silent = await websockets.connect(_url(api))  # never authenticates
    assert (await _closed(silent))[0] == CLOSE_UNAUTHORIZED
    # the token may also come as a subprotocol
    _, key, _ = await create_nvr(api, "sub-nvr")
    ws = await websockets.connect(_url(api), subprotocols=["beholder", key])  # type: ignore[list-item]
    assert (await _recv(ws))["type"] == "auth-ok"
    await ws.close()


async def test_a_key_acts_only_as_its_own_nvr(api: LiveApi, tmp_path: Path) -> None:
    a, key_a, _ = await create_nvr(api, "nvr-a")
    b, key_b, _ = await create_nvr(api, "nvr-b")
    ws_b = await _agent_socket(api, key_b)
    await ws_b.send(_register("nvr-b", [1, 5]))
    assert (await _recv(ws_b, "registered"))["nvrId"] == b["id"]
    await ws_b.send(json.dumps({"type": "probe-report", "channels": [
        {"number": 5, "reachable": True, "codec": "H264"}]}))  # fmt: skip
    await eventually(
        lambda: _reach(api, b["id"], 5, "online"), 10, "B's channel 5 online by B's own report"
    )

    # A registering B's hostname: refused and closed; B untouched.
    ws_a = await _agent_socket(api, key_a)
    await ws_a.send(_register("nvr-b", [1]))
    assert await _closed(ws_a) == (CLOSE_POLICY, ["PERMISSION_DENIED"])

    # A reporting channel 5 (B has one, A has not): ignored — A never touches B's cameras.
    ws_a = await _agent_socket(api, key_a)
    await ws_a.send(_register("nvr-a", [1]))
    assert (await _recv(ws_a, "registered"))["nvrId"] == a["id"]
    await ws_a.send(json.dumps({"type": "probe-report", "channels": [
        {"number": 5, "reachable": False, "error": "timeout"},
        {"number": 1, "reachable": False, "error": "timeout"}]}))  # fmt: skip
    await eventually(lambda: _reach(api, a["id"], 1, "offline"), 10, "A's channel 1 offline")
    assert await _reach(api, b["id"], 5, "online")
    await ws_a.close()
    await ws_b.close()

    # The real agent with a config naming another NVR exits 3 (refused, not retried).
    agent = AgentProcess(tmp_path, api, key_a, {
        "nvr": {"hostname": "nvr-b"}, "channels": [{"number": 1, "url": "rtsp://10.9.0.1/x"}]},
    ).start()  # fmt: skip
    try:
        assert await agent.wait() == 3
        assert "PERMISSION_DENIED" in agent.log_text()
        assert key_a not in agent.log_text()
    finally:
        agent.stop()


async def _reach(api: LiveApi, nvr_id: str, channel: int, state: str) -> bool:
    cams = await nvr_cameras(api, nvr_id)
    return any(c["nvrChannel"] == channel and c["reachability"] == state for c in cams)


async def test_bad_messages_answered_without_closing(api: LiveApi) -> None:
    _, key_a, _ = await create_nvr(api, "nvr-bad")
    _, key_b, _ = await create_nvr(api, "nvr-good")
    bad = await _agent_socket(api, key_a)
    good = await _agent_socket(api, key_b)
    await good.send(_register("nvr-good", [1]))
    await _recv(good, "registered")
    for raw in (
        "not json",
        "[1, 2]",
        json.dumps({"type": "heartbeat"}),  # before register
        json.dumps({"type": "nonsense"}),
        json.dumps({"type": "register", "hostname": "nvr-bad"}),  # no deviceName
        json.dumps({"type": "probe-report", "channels": [{"number": 0, "reachable": 1}]}),
        _register("nvr-bad", [1]).replace("rtsp://", "http://"),  # not an RTSP URL
    ):
        await bad.send(raw)
        err = await _recv(bad, "error")
        assert err["error"]["code"] == "INVALID_INPUT", (raw, err)
        assert err["error"]["correlationId"]
    await bad.send(json.dumps({"type": "ping", "ts": 7}))
    assert (await _recv(bad, "pong"))["ts"] == 7
    await good.send(json.dumps({"type": "heartbeat"}))
    await good.send(json.dumps({"type": "ping", "ts": 8}))
    assert (await _recv(good, "pong"))["ts"] == 8  # the other socket never noticed
    await bad.close()
    await good.close()


async def test_second_socket_replaces_the_first(api: LiveApi) -> None:
    nvr, key, _ = await create_nvr(api, "nvr-twice")
    dash = await Dashboard.open(api, ["nvrs"])
    first = await _agent_socket(api, key)
    await first.send(_register("nvr-twice", [1]))
    await _recv(first, "registered")
    second = await _agent_socket(api, key)
    await second.send(_register("nvr-twice", [1]))
    await _recv(second, "registered")
    assert await _closed(first) == (CLOSE_REPLACED, ["CONFLICT"])
    await second.send(json.dumps({"type": "ping", "ts": 1}))
    await _recv(second, "pong")
    assert not dash.of("nvr_offline")  # the replaced socket's end is not an outage
    r = await api.client.get(f"/api/nvrs/{nvr['id']}", headers=await api.headers("viewer"))
    assert r.json()["status"] == "online"
    await second.close()
    await eventually(lambda: dash.of("nvr_offline"), 10, "nvr_offline once the last socket ends")
    await dash.close()


async def test_revoking_the_key_closes_the_socket(api: LiveApi, tmp_path: Path) -> None:
    nvr, key, key_id = await create_nvr(api, "nvr-revoked")
    ws = await _agent_socket(api, key)
    await ws.send(_register("nvr-revoked", [1]))
    await _recv(ws, "registered")
    r = await api.client.post(f"/api/api-keys/{key_id}/revoke", headers=await api.headers("admin"))
    assert r.status_code in (200, 204), r.text
    assert await _closed(ws) == (CLOSE_UNAUTHORIZED, ["UNAUTHORIZED"])
    r = await api.client.get(f"/api/nvrs/{nvr['id']}", headers=await api.headers("viewer"))
    assert r.json()["status"] == "offline"
    agent = AgentProcess(tmp_path, api, key, {
        "nvr": {"hostname": "nvr-revoked"}, "channels": [{"number": 1, "url": "rtsp://10.9.0.1/x"}]},
    ).start()  # fmt: skip
    try:
        assert await agent.wait() == 3  # a revoked key is not retried forever
    finally:
        agent.stop()


@pytest.mark.parametrize("role", ["viewer", "operator"])
async def test_only_admins_manage_nvrs(api: LiveApi, role: str) -> None:
    nvr, _, _ = await create_nvr(api, f"nvr-{role}")
    h = await api.headers(role)
    assert (await api.client.get("/api/nvrs", headers=h)).status_code == 200
    refused: list[Callable[[], Any]] = [
        lambda: api.client.post("/api/nvrs", json={"hostname": "x"}, headers=h),
        lambda: api.client.patch(f"/api/nvrs/{nvr['id']}", json={"region": "x"}, headers=h),
        lambda: api.client.delete(f"/api/nvrs/{nvr['id']}?cameras=detach", headers=h),
        lambda: api.client.post(f"/api/nvrs/{nvr['id']}/keys", json={}, headers=h),
    ]
    for call in refused:
        r = await call()
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "PERMISSION_DENIED"
