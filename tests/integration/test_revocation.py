"""Revocation reaches open hub sockets (issue 9, finding 6), against the real app on SQLite
and PostgreSQL: a revoked key's, a disabled, deleted or demoted user's ``/ws`` is closed
with 4401 at once (the re-check runs only every 30 s here, so the REST call's own event does
it), while another principal's socket keeps receiving; the CLI's disable (no bus) is caught
by the periodic re-check; and the event crosses api instances over the real nats-server."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from beholder.bus.nats import NatsBus
from beholder.config import BusSettings
from support.api import LiveApi, live_api
from support.bus import NATS_URL, PrefixedBus, nats_up
from support.command import beholder_argv
from support.settings import make_settings

pytestmark = pytest.mark.timeout(90)

CLOSE_UNAUTHORIZED = 4401
PASSWORD = "correct-horse-battery-7"


async def _recv(ws: ClientConnection, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while True:
            msg: dict[str, Any] = json.loads(await ws.recv())
            if msg["type"] == kind:
                return msg


async def hub_socket(api: LiveApi, token: str) -> ClientConnection:
    """An authenticated ``/ws`` subscribed to ``cameras``."""
    ws = await websockets.connect(api.ws_url)
    await ws.send(json.dumps({"type": "auth", "token": token}))
    await _recv(ws, "auth-ok")
    await ws.send(json.dumps({"type": "subscribe", "topics": ["cameras"]}))
    await _recv(ws, "subscribed")
    return ws


async def closed(ws: ClientConnection, within: float = 5.0) -> tuple[int | None, str, list[str]]:
    """Read until the server closes ``ws``: ``(close code, reason, error codes seen)``."""
    errors: list[str] = []
    async with asyncio.timeout(within):
        try:
            while True:
                msg = json.loads(await ws.recv())
                if msg["type"] == "error":
                    errors.append(msg["code"])
        except ConnectionClosed:
            pass
    return ws.close_code, ws.close_reason or "", errors


async def still_receives(api: LiveApi, ws: ClientConnection) -> None:
    """A camera created now reaches ``ws`` (its ``camera-status-update``)."""
    r = await api.client.post(
        "/api/cameras",
        json={"name": f"cam-{uuid.uuid4().hex[:6]}", "rtspUrl": "rtsp://10.0.0.7/live"},
        headers=await api.headers("admin"),
    )
    assert r.status_code == 201, r.text
    while (await _recv(ws, "camera-status-update"))["cameraId"] != r.json()["id"]:
        pass  # an earlier camera's update


async def new_key(api: LiveApi) -> tuple[str, str]:
    """``(key id, key)`` of a new ml-service key."""
    r = await api.client.post(
        "/api/api-keys",
        json={"name": f"k-{uuid.uuid4().hex[:6]}", "scope": "ml-service"},
        headers=await api.headers("admin"),
    )
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["key"]


async def new_user(api: LiveApi, role: str) -> tuple[str, str, str]:
    """``(user id, username, access token)`` of a new user with ``role``."""
    name = f"u{uuid.uuid4().hex[:8]}"
    r = await api.client.post(
        "/api/users",
        json={"username": name, "password": PASSWORD, "role": role},
        headers=await api.headers("admin"),
    )
    assert r.status_code == 201, r.text
    return r.json()["id"], name, await api.login(name, PASSWORD)


async def test_revoked_key_socket_closes_and_only_its(api: LiveApi) -> None:
    assert api.settings.auth_recheck_interval >= 30  # the event closes it, not the re-check
    key_id, key = await new_key(api)
    _, other_key = await new_key(api)
    revoked_ws = await hub_socket(api, key)
    other_ws = await hub_socket(api, other_key)
    user_ws = await hub_socket(api, await api.token("viewer"))

    r = await api.client.post(f"/api/api-keys/{key_id}/revoke", headers=await api.headers("admin"))
    assert r.status_code == 200, r.text

    code, reason, errors = await closed(revoked_ws)
    assert (code, reason) == (CLOSE_UNAUTHORIZED, "credentials revoked")
    assert errors == ["UNAUTHORIZED"]
    await still_receives(api, other_ws)
    await still_receives(api, user_ws)
    # and the key cannot come back
    again = await websockets.connect(api.ws_url)
    await again.send(json.dumps({"type": "auth", "token": key}))
    assert (await closed(again))[0] == CLOSE_UNAUTHORIZED
    assert api.state.hub.stats()["revoked"] == 1
    for ws in (other_ws, user_ws):
        await ws.close()


async def test_disabled_user_socket_closes(api: LiveApi) -> None:
    user_id, _, token = await new_user(api, "viewer")
    ws = await hub_socket(api, token)
    other = await hub_socket(api, await api.token("operator"))

    r = await api.client.patch(
        f"/api/users/{user_id}", json={"disabled": True}, headers=await api.headers("admin")
    )
    assert r.status_code == 200, r.text

    code, reason, errors = await closed(ws)
    assert (code, reason, errors) == (CLOSE_UNAUTHORIZED, "credentials revoked", ["UNAUTHORIZED"])
    await still_receives(api, other)
    await other.close()


async def test_deleted_user_socket_closes(api: LiveApi) -> None:
    user_id, _, token = await new_user(api, "operator")
    ws = await hub_socket(api, token)

    r = await api.client.delete(f"/api/users/{user_id}", headers=await api.headers("admin"))
    assert r.status_code == 204, r.text

    assert (await closed(ws))[:2] == (CLOSE_UNAUTHORIZED, "credentials revoked")


async def test_demoted_user_reconnects_with_its_new_role(api: LiveApi) -> None:
    user_id, _, token = await new_user(api, "viewer")
    admin = await api.headers("admin")
    ws = await hub_socket(api, token)

    # a promotion keeps the socket
    r = await api.client.patch(f"/api/users/{user_id}", json={"role": "operator"}, headers=admin)
    assert r.status_code == 200, r.text
    await ws.send(json.dumps({"type": "ping"}))
    await _recv(ws, "pong")
    await ws.close()
    ws = await hub_socket(api, token)

    # a demotion closes it; the same token reconnects as a viewer
    r = await api.client.patch(f"/api/users/{user_id}", json={"role": "viewer"}, headers=admin)
    assert r.status_code == 200, r.text
    assert (await closed(ws))[:2] == (CLOSE_UNAUTHORIZED, "role changed")
    again = await websockets.connect(api.ws_url)
    await again.send(json.dumps({"type": "auth", "token": token}))
    assert (await _recv(again, "auth-ok"))["principal"]["role"] == "viewer"
    await again.close()


async def _cli(settings: Any, *args: str) -> None:
    env = {**os.environ, "BEHOLDER_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env["BEHOLDER_DATABASE_URL"] = settings.database_url.get_secret_value()
    proc = await asyncio.create_subprocess_exec(
        *beholder_argv(*args),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, (out, err)


async def test_cli_disable_is_caught_by_the_recheck(
    tmp_path: Path, database_url: str | None
) -> None:
    settings = make_settings(tmp_path, database_url, auth_recheck_interval=0.5)
    async with live_api(settings) as api:
        _, name, token = await new_user(api, "viewer")
        ws = await hub_socket(api, token)
        other = await hub_socket(api, await api.token("viewer"))
        await _cli(settings, "user", "disable", name)  # straight to the database, no bus
        code, reason, _ = await closed(ws, within=10)
        assert (code, reason) == (CLOSE_UNAUTHORIZED, "credentials revoked")
        await still_receives(api, other)
        assert api.state.connections.rechecks >= 1
        await other.close()


async def test_revocation_crosses_api_instances_over_nats(
    tmp_path: Path, database_url: str | None
) -> None:
    if not nats_up():
        pytest.skip("NATS is not running on 127.0.0.1:4222")
    prefix = f"t{uuid.uuid4().hex[:12]}"
    # one database and data dir (the JWT secret), two instances, two NATS connections
    first = make_settings(tmp_path, database_url, bus=BusSettings(url=NATS_URL))
    second = make_settings(tmp_path, database_url, bus=BusSettings(url=NATS_URL))
    assert second.auth_recheck_interval >= 30  # only the bus can be this quick
    async with (
        live_api(first, bus=PrefixedBus(NatsBus(NATS_URL), prefix)) as a,
        live_api(second, bus=PrefixedBus(NatsBus(NATS_URL), prefix)) as b,
    ):
        key_id, key = await new_key(a)
        _, other_key = await new_key(a)
        user_id, _, user_token = await new_user(a, "operator")
        on_b = await hub_socket(b, key)
        other_on_b = await hub_socket(b, other_key)
        user_on_b = await hub_socket(b, user_token)

        r = await a.client.post(f"/api/api-keys/{key_id}/revoke", headers=await a.headers("admin"))
        assert r.status_code == 200, r.text
        assert (await closed(on_b))[:2] == (CLOSE_UNAUTHORIZED, "credentials revoked")

        r = await a.client.patch(
            f"/api/users/{user_id}", json={"role": "viewer"}, headers=await a.headers("admin")
        )
        assert r.status_code == 200, r.text
        assert (await closed(user_on_b))[:2] == (CLOSE_UNAUTHORIZED, "role changed")

        await still_receives(b, other_on_b)
        # b's principal cache forgot the key at once (its TTL is 5 s)
        r = await b.client.get("/api/cameras", headers={"X-API-Key": key})
        assert r.status_code == 401
        await other_on_b.close()
