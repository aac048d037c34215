"""The audit trail through the real app, on SQLite and PostgreSQL (issue 14 item 7): every
security-relevant action writes one row with who, what, which target, from where, under
which correlation id and how it ended; no secret ever lands in a row; only admins read it."""

from __future__ import annotations

import argparse
import json
import uuid
from typing import Any

import httpx
from sqlalchemy import select

from beholder.admin_cli import api_key_command, user_command
from beholder.db.models import Alert, AuditEvent
from support.api import ADMIN_PASSWORD, LiveApi

CAMERA_PASSWORD = "cam-s3cret-Pa55"
CAMERA_URL = f"rtsp://camuser:{CAMERA_PASSWORD}@127.0.0.1:8554/front"
CAMERA_URL_2 = f"rtsp://camuser:{CAMERA_PASSWORD}-2@127.0.0.1:8554/back"
NEW_USER_PASSWORD = "new-user-password-1"
CHANGED_PASSWORD = "changed-password-22"
WRONG_PASSWORD = "wrong-password-xyz-123"
CLI_PASSWORD = "cli-user-password-1"


class Calls:
    """Requests that each carry a fresh correlation id, remembered per label."""

    def __init__(self, api: LiveApi, client: httpx.AsyncClient | None = None) -> None:
        self.api = api
        self.client = client or api.client
        self.cids: dict[str, str] = {}

    async def __call__(
        self, label: str, method: str, path: str, role: str | None = "admin", **kw: Any
    ) -> httpx.Response:
        cid = f"audit-{label}-{uuid.uuid4().hex[:8]}"
        self.cids[label] = cid
        headers = {"X-Correlation-ID": cid, **kw.pop("headers", {})}
        if role is not None:
            headers.update(await self.api.headers(role))
        return await self.client.request(method, path, headers=headers, **kw)


async def all_rows(api: LiveApi) -> list[AuditEvent]:
    async with api.state.db.session() as s:
        return list((await s.execute(select(AuditEvent))).scalars())


def by_cid(rows: list[AuditEvent], cid: str) -> list[AuditEvent]:
    return [r for r in rows if r.correlation_id == cid]


async def test_each_action_writes_one_row_and_no_secret(api: LiveApi) -> None:
    admin_token = await api.token("admin")
    viewer_token = await api.token("viewer")
    from_two = api.client_from("127.0.0.2")
    call = Calls(api, from_two)
    secrets = {ADMIN_PASSWORD, CAMERA_PASSWORD, NEW_USER_PASSWORD, CHANGED_PASSWORD}
    secrets |= {WRONG_PASSWORD, CAMERA_URL, CAMERA_URL_2, admin_token, viewer_token}
    try:
        r = await call(
            "signin", "POST", "/api/auth/login", None,
            json={"username": "admin", "password": ADMIN_PASSWORD},
        )  # fmt: skip
        assert r.status_code == 200
        secrets |= {r.json()["accessToken"], r.json()["refreshToken"]}
        first_refresh = r.json()["refreshToken"]
        r = await call(
            "signin_failed", "POST", "/api/auth/login", None,
            json={"username": "admin", "password": WRONG_PASSWORD},
        )  # fmt: skip
        assert r.status_code == 401
        r = await call("refresh", "POST", "/api/auth/refresh", None,
                       json={"refreshToken": first_refresh})  # fmt: skip
        assert r.status_code == 200
        secrets |= {r.json()["accessToken"], r.json()["refreshToken"]}
        r = await call("reuse", "POST", "/api/auth/refresh", None,
                       json={"refreshToken": first_refresh})  # fmt: skip
        assert r.status_code == 401

        r = await call("user_create", "POST", "/api/users",
                       json={"username": "carol", "password": NEW_USER_PASSWORD})  # fmt: skip
        assert r.status_code == 201, r.text
        carol = r.json()["id"]
        r = await call("role", "PATCH", f"/api/users/{carol}", json={"role": "operator"})
        assert r.status_code == 200
        r = await call("password", "PATCH", f"/api/users/{carol}",
                       json={"password": CHANGED_PASSWORD})  # fmt: skip
        assert r.status_code == 200
        r = await call("disable", "PATCH", f"/api/users/{carol}", json={"disabled": True})
        assert r.status_code == 200
        r = await call("enable", "PATCH", f"/api/users/{carol}", json={"disabled": False})
        assert r.status_code == 200
        r = await call("user_delete", "DELETE", f"/api/users/{carol}")
        assert r.status_code == 204

        r = await call("key_create", "POST", "/api/api-keys",
                       json={"name": "ml-box", "scope": "ml-service"})  # fmt: skip
        assert r.status_code == 201
        key_id, key = r.json()["id"], r.json()["key"]
        secrets.add(key)
        r = await call("key_revoke", "POST", f"/api/api-keys/{key_id}/revoke")
        assert r.status_code == 200

        r = await call("cam_create", "POST", "/api/cameras", "operator",
                       json={"name": "front", "rtspUrl": CAMERA_URL})  # fmt: skip
        assert r.status_code == 201, r.text
        cam = r.json()["id"]
        r = await call("cam_update", "PATCH", f"/api/cameras/{cam}", "operator",
                       json={"rtspUrl": CAMERA_URL_2, "location": "gate"})  # fmt: skip
        assert r.status_code == 200
        r = await call("cam_start", "POST", f"/api/cameras/{cam}/start", "operator")
        assert r.status_code == 202
        r = await call("cam_restart", "POST", f"/api/cameras/{cam}/restart", "operator")
        assert r.status_code == 202
        r = await call("cam_faces", "POST", f"/api/cameras/{cam}/face-detection", "operator",
                       json={"enabled": False})  # fmt: skip
        assert r.status_code == 202
        r = await call("cam_stop", "POST", f"/api/cameras/{cam}/stop", "operator")
        assert r.status_code == 202

        async with api.state.db.session() as s:
            alert = Alert(camera_id=cam, type="face-detection", severity="high", message="x")
            s.add(alert)
            await s.flush()
            alert_id = alert.id
        r = await call("ack", "POST", f"/api/alerts/{alert_id}/acknowledge", "operator")
        assert r.status_code == 200
        r = await call("ack_again", "POST", f"/api/alerts/{alert_id}/acknowledge", "operator")
        assert r.status_code == 200

        r = await call("nvr_create", "POST", "/api/nvrs", json={"hostname": "nvr-a.lan"})
        assert r.status_code == 201, r.text
        nvr = r.json()["id"]
        r = await call("nvr_update", "PATCH", f"/api/nvrs/{nvr}", json={"region": "north"})
        assert r.status_code == 200
        r = await call("nvr_key", "POST", f"/api/nvrs/{nvr}/keys", json={})
        assert r.status_code == 201
        secrets.add(r.json()["key"])
        nvr_key_id = r.json()["keyId"]
        r = await call("nvr_delete", "DELETE", f"/api/nvrs/{nvr}?cameras=detach")
        assert r.status_code == 204

        r = await call("stream_create", "POST", "/api/streams/register", "viewer",
                       json={"deviceName": "phone", "deviceType": "android"})  # fmt: skip
        assert r.status_code == 201
        stream = r.json()["streamId"]
        r = await call("stream_update", "PATCH", f"/api/streams/{stream}", "viewer",
                       json={"deviceName": "phone 2"})  # fmt: skip
        assert r.status_code == 200
        r = await call("stream_delete", "DELETE", f"/api/streams/{stream}", "viewer")
        assert r.status_code == 204

        r = await call("cam_delete", "DELETE", f"/api/cameras/{cam}", "operator")
        assert r.status_code == 204
    finally:
        await from_two.aclose()

    ids = {
        "admin": (await api.client.get("/api/auth/me", headers=await api.headers("admin"))).json()[
            "id"
        ],
        "operator": (
            await api.client.get("/api/auth/me", headers=await api.headers("operator"))
        ).json()["id"],
        "viewer": (
            await api.client.get("/api/auth/me", headers=await api.headers("viewer"))
        ).json()["id"],
    }
    # label -> (action, actor name, principal type, target type, target id, outcome)
    expected: dict[str, tuple[str, str, str, str | None, str | None, str]] = {
        "signin": ("auth.sign_in", "admin", "user", "user", ids["admin"], "success"),
        "signin_failed": ("auth.sign_in_failed", "admin", "anonymous", None, None, "failure"),
        "reuse": ("auth.refresh_reuse_detected", "admin", "user", "user", ids["admin"], "denied"),
        "user_create": ("user.create", "admin", "user", "user", carol, "success"),
        "role": ("user.role_change", "admin", "user", "user", carol, "success"),
        "password": ("user.password_change", "admin", "user", "user", carol, "success"),
        "disable": ("user.disable", "admin", "user", "user", carol, "success"),
        "enable": ("user.enable", "admin", "user", "user", carol, "success"),
        "user_delete": ("user.delete", "admin", "user", "user", carol, "success"),
        "key_create": ("api_key.create", "admin", "user", "api_key", key_id, "success"),
        "key_revoke": ("api_key.revoke", "admin", "user", "api_key", key_id, "success"),
        "cam_create": ("camera.create", "operator1", "user", "camera", cam, "success"),
        "cam_update": ("camera.update", "operator1", "user", "camera", cam, "success"),
        "cam_start": ("camera.start", "operator1", "user", "camera", cam, "success"),
        "cam_restart": ("camera.restart", "operator1", "user", "camera", cam, "success"),
        "cam_faces": ("camera.face_detection", "operator1", "user", "camera", cam, "success"),
        "cam_stop": ("camera.stop", "operator1", "user", "camera", cam, "success"),
        "cam_delete": ("camera.delete", "operator1", "user", "camera", cam, "success"),
        "ack": ("alert.acknowledge", "operator1", "user", "alert", alert_id, "success"),
        "nvr_create": ("nvr.create", "admin", "user", "nvr", nvr, "success"),
        "nvr_update": ("nvr.update", "admin", "user", "nvr", nvr, "success"),
        "nvr_key": ("nvr_key.create", "admin", "user", "api_key", nvr_key_id, "success"),
        "nvr_delete": ("nvr.delete", "admin", "user", "nvr", nvr, "success"),
        "stream_create": ("stream.create", "viewer1", "user", "stream", stream, "success"),
        "stream_update": ("stream.update", "viewer1", "user", "stream", stream, "success"),
        "stream_delete": ("stream.delete", "viewer1", "user", "stream", stream, "success"),
    }
    rows = await all_rows(api)
    for label, (action, actor, kind, target_type, target_id, outcome) in expected.items():
        found = by_cid(rows, call.cids[label])
        assert len(found) == 1, (label, [(r.action, r.outcome) for r in found])
        row = found[0]
        got = (row.action, row.actor_name, row.principal_type, row.target_type, row.target_id)
        assert got == (action, actor, kind, target_type, target_id), label
        assert row.outcome == outcome, label
        assert row.client_address == "127.0.0.2", label
        if kind == "user":
            assert row.actor_id in ids.values(), label
    # A refresh is not an audited action; acknowledging again changes nothing.
    assert by_cid(rows, call.cids["refresh"]) == []
    assert by_cid(rows, call.cids["ack_again"]) == []
    update = by_cid(rows, call.cids["cam_update"])[0]
    assert update.details == {"changed": ["location", "rtsp_url"]}
    role = by_cid(rows, call.cids["role"])[0]
    assert role.details == {"from": "viewer", "to": "operator"}
    assert by_cid(rows, call.cids["cam_faces"])[0].details == {"enabled": False}
    # A start names the bus command it sent (the worker's status events carry that id).
    start = by_cid(rows, call.cids["cam_start"])[0]
    assert start.details is not None and start.details["commandCorrelationId"]

    # The CLI is the system principal, from no address.
    async def cli(args: dict[str, Any], command: Any = user_command) -> None:
        assert await command(api.settings, argparse.Namespace(**args)) == 0

    await cli({"action": "create", "username": "dave", "password": CLI_PASSWORD, "role": "viewer"})
    await cli({"action": "set-password", "username": "dave", "password": CLI_PASSWORD + "x"})
    await cli({"action": "disable", "username": "dave"})
    await cli({"action": "create", "name": "cli-key", "scope": "worker", "owner": None},
              api_key_command)  # fmt: skip
    secrets |= {CLI_PASSWORD, CLI_PASSWORD + "x"}
    rows = await all_rows(api)
    cli_rows = [r for r in rows if r.principal_type == "system"]
    assert sorted(r.action for r in cli_rows) == [
        "api_key.create",
        "user.create",
        "user.disable",
        "user.password_change",
    ]
    assert {(r.actor_name, r.client_address, r.outcome) for r in cli_rows} == {
        ("cli", None, "success")
    }

    # No secret value anywhere in any row.
    dump = json.dumps(
        [{c.name: getattr(r, c.name) for c in AuditEvent.__table__.columns} for r in rows],
        default=str,
    )
    for secret in secrets:
        assert secret not in dump
    assert "camuser" not in dump


async def test_only_admins_read_the_trail(api: LiveApi) -> None:
    assert (await api.client.get("/api/audit")).status_code == 401
    for role in ("viewer", "operator"):
        r = await api.client.get("/api/audit", headers=await api.headers(role))
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "PERMISSION_DENIED"
    key = await api.api_key("ml-service")
    assert (await api.client.get("/api/audit", headers={"X-API-Key": key})).status_code == 403
    r = await api.client.get("/api/audit", headers=await api.headers("admin"))
    assert r.status_code == 200
    actions = [e["action"] for e in r.json()["items"]]
    assert "auth.sign_in" in actions and "api_key.create" in actions
    # Each refusal of a signed-in principal is on the trail (newest first).
    denied = [e for e in r.json()["items"] if e["action"] == "auth.access_denied"]
    assert [(e["actorName"], e["principalType"]) for e in denied] == [
        (denied[0]["actorName"], "api_key"),
        ("operator1", "user"),
        ("viewer1", "user"),
    ]
    for e in denied:
        assert e["outcome"] == "denied" and e["clientAddress"] == "127.0.0.1"
        assert e["details"] == {"method": "GET", "route": "/api/audit", "required": "admin"}
        assert e["correlationId"]


async def test_filters_and_cursor_pages(api: LiveApi) -> None:
    admin = await api.headers("admin")
    for i in range(5):
        r = await api.client.post(
            "/api/auth/login", json={"username": f"nobody{i}", "password": WRONG_PASSWORD}
        )
        assert r.status_code == 401
    r = await api.client.post("/api/cameras", json={"name": "c1", "rtspUrl": CAMERA_URL},
                              headers=admin)  # fmt: skip
    cam = r.json()["id"]

    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = (await api.client.get("/api/audit", params=params, headers=admin)).json()
        seen += body["items"]
        pages += 1
        cursor = body.get("nextCursor")
        if not cursor:
            break
    assert len(seen) == 7 and pages == 4  # admin sign-in, 5 failures, camera.create
    assert len({e["id"] for e in seen}) == 7
    stamps = [e["timestamp"] for e in seen]
    assert stamps == sorted(stamps, reverse=True)
    assert seen[0]["action"] == "camera.create" and seen[-1]["action"] == "auth.sign_in"
    assert all(s.endswith("Z") for s in stamps)

    async def query(**params: Any) -> list[dict[str, Any]]:
        r = await api.client.get("/api/audit", params=params, headers=admin)
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    failed = await query(action="auth.sign_in_failed")
    assert [e["actorName"] for e in failed] == [f"nobody{i}" for i in reversed(range(5))]
    assert [e["actorName"] for e in await query(actor="nobody3")] == ["nobody3"]
    assert len(await query(outcome="failure")) == 5
    assert [e["action"] for e in await query(targetType="camera", targetId=cam)] == [
        "camera.create"
    ]
    assert await query(targetType="nvr") == []
    middle = seen[3]["timestamp"]
    older = await query(to=middle)
    assert older and all(e["timestamp"] <= middle for e in older)
    newer = await query(**{"from": middle})
    assert newer and all(e["timestamp"] >= middle for e in newer)
    assert len(older) + len(newer) >= 7

    bad = await api.client.get("/api/audit", params={"cursor": "nonsense!"}, headers=admin)
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "INVALID_INPUT"
    swapped = {"from": "2030-01-01T00:00:00Z", "to": "2020-01-01T00:00:00Z"}
    assert (await api.client.get("/api/audit", params=swapped, headers=admin)).status_code == 400
    unknown = await api.client.get("/api/audit", params={"action": "x.y"}, headers=admin)
    assert unknown.status_code == 400
