"""Issue 9, findings 11a, 11c and 12 against the real app under uvicorn: alert time filters
with and without an offset, a chunked body over the limit, what anonymous health shows, the
docs page without a CDN, the security headers, and signed media URLs instead of credentials
in the query string."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from beholder.auth.media import MEDIA_URL_TTL
from beholder.auth.roles import Principal, Role
from beholder.db.models import Alert
from support.api import LiveApi, live_api
from support.polling import eventually
from support.settings import make_settings

# A valid 1x1 JPEG.
TINY_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGCQgKCgkICQkKDA8MCgsOCwkJDRENDg8QEBEQCgwSExIQEw8QEBD/yQALCAABAAEBAREA/8wABgAQEAX/2gAIAQEAAD8A0s8g/9k="
)


def assert_error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["message"] and err["correlationId"], err


async def _camera(api: LiveApi, name: str = "Lobby") -> str:
    r = await api.client.post(
        "/api/cameras",
        json={"name": name, "rtspUrl": "rtsp://10.0.0.7/live"},
        headers=await api.headers("operator"),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _alert_at(api: LiveApi, camera_id: str, at: datetime, snapshot: bool = False) -> str:
    """Store an alert created at ``at`` (with a snapshot file when asked); its id."""
    alert_id = str(uuid.uuid4())
    name = None
    if snapshot:
        name = f"{alert_id}.jpg"
        directory = api.state.settings.snapshot_dir
        directory.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(TINY_JPEG)
    async with api.state.db.session() as s:
        s.add(
            Alert(
                id=alert_id,
                camera_id=camera_id,
                type="face_detected",
                severity="INFO",
                message="1 face",
                snapshot_path=name,
                created_at=at,
            )
        )
    return alert_id


# --- 11a: since/until with and without an offset ----------------------------------------


async def test_alert_time_filters_mix_offsets_and_naive_times(api: LiveApi) -> None:
    cam = await _camera(api)
    ten, noon, two = (datetime(2026, 1, 1, h, tzinfo=UTC) for h in (10, 12, 14))
    ids = {t: await _alert_at(api, cam, t) for t in (ten, noon, two)}
    viewer = await api.headers("viewer")

    async def listed(since: str, until: str) -> httpx.Response:
        return await api.client.get(
            "/api/alerts", params={"since": since, "until": until}, headers=viewer
        )

    # 16:30+05:00 is 11:30Z; a naive 13:00 means 13:00Z: only the noon alert.
    r = await listed("2026-01-01T16:30:00+05:00", "2026-01-01T13:00:00")
    assert r.status_code == 200, r.text
    assert [a["id"] for a in r.json()["items"]] == [ids[noon]]
    # 14:30+05:00 is 09:30Z, before a naive 10:30 (10:30Z), although its wall clock is
    # later: compared in UTC, the 10:00 alert is in range.
    r = await listed("2026-01-01T14:30:00+05:00", "2026-01-01T10:30:00")
    assert r.status_code == 200, r.text
    assert [a["id"] for a in r.json()["items"]] == [ids[ten]]
    # a naive since after an offset until (13:00Z > 12:30Z) is refused in the error shape
    assert_error(
        await listed("2026-01-01T13:00:00", "2026-01-01T07:30:00-05:00"), 400, "INVALID_INPUT"
    )
    # both with offsets, other zones
    r = await listed("2026-01-01T05:00:00-06:00", "2026-01-01T15:00:00+01:00")
    assert [a["id"] for a in r.json()["items"]] == [ids[two], ids[noon]]


# --- 11c: a chunked body over the limit -------------------------------------------------


async def _raw_request(port: int, head: bytes, chunks: list[bytes]) -> tuple[int, bytes]:
    """Send ``head`` and a chunked body over a plain socket; the status and the body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        for chunk in chunks:
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    head_part, _, body = raw.partition(b"\r\n\r\n")
    status = int(head_part.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head_part.lower():
        size, _, rest = body.partition(b"\r\n")
        body = rest[: int(size, 16)]
    return status, body


async def test_chunked_body_over_the_limit_is_413(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_request_bytes=1024)
    async with live_api(settings) as live:
        head = (
            b"POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        payload = json.dumps({"username": "admin", "password": "x" * 3000}).encode()
        status, body = await _raw_request(
            settings.port, head, [payload[i : i + 500] for i in range(0, len(payload), 500)]
        )
        assert status == 413, body
        err = json.loads(body)["error"]
        assert err["code"] == "PAYLOAD_TOO_LARGE" and err["correlationId"]
        # a chunked body under the limit still gets through to the route
        small = json.dumps({"username": "admin", "password": "wrong-password"}).encode()
        status, body = await _raw_request(settings.port, head, [small[:20], small[20:]])
        assert status == 401, body
        # the same over the limit with a content-length is refused before reading
        r = await live.client.post("/api/auth/login", content=b"x" * 2000)
        assert_error(r, 413, "PAYLOAD_TOO_LARGE")


# --- 12: anonymous health -----------------------------------------------------------------


def _no_internals(body: dict) -> None:
    assert "version" not in body
    for name, service in body["services"].items():
        assert set(service) == {"name", "status"}, (name, service)


async def test_anonymous_health_shows_status_only(api: LiveApi) -> None:
    async def healthy() -> dict | None:
        r = await api.client.get("/api/system/health", headers=await api.headers("viewer"))
        body = r.json()
        return body if body["services"]["database"].get("details") else None

    full = await eventually(healthy, 10, "a first health check")
    assert full["version"] and full["overall"] == full["status"]
    db = full["services"]["database"]
    assert {"responseTime", "lastCheck", "details", "status", "name"} <= set(db)
    # anonymous: overall and per-service status, nothing else
    anon = await api.client.get("/api/system/health")
    assert anon.status_code == 200
    body = anon.json()
    assert body["overall"] == body["status"] and "timestamp" in body and "ready" in body
    assert set(body["services"]) == set(full["services"])
    _no_internals(body)
    assert "auth" not in anon.text.lower() and "pool" not in anon.text.lower()
    one = (await api.client.get("/api/system/health/database")).json()
    assert set(one) == {"name", "status"}
    ready = (await api.client.get("/api/system/ready")).json()
    _no_internals(ready)
    # any principal (an API key too) sees the details; a bad credential is refused
    key = {"X-API-Key": await api.api_key("ml-service")}
    keyed = (await api.client.get("/api/system/health", headers=key)).json()
    assert keyed["version"] and "details" in keyed["services"]["database"]
    assert "details" in (await api.client.get("/api/system/health/database", headers=key)).json()
    assert "version" in (await api.client.get("/api/system/ready", headers=key)).json()
    bad = await api.client.get("/api/system/health", headers={"Authorization": "Bearer nope"})
    assert_error(bad, 401, "UNAUTHORIZED")


# --- 12: docs page and security headers ----------------------------------------------------

_OUTSIDE = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)


def _csp(r: httpx.Response) -> dict[str, list[str]]:
    out = {}
    for directive in r.headers["content-security-policy"].split(";"):
        name, *values = directive.split()
        out[name] = values
    return out


async def test_docs_page_uses_only_its_own_origin(sqlite_api: LiveApi) -> None:
    r = await sqlite_api.client.get("/api/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "://" not in r.text and not _OUTSIDE.search(r.text), r.text
    assert "<script>" not in r.text  # no inline script: the CSP allows none
    csp = _csp(r)
    assert csp["script-src"] == ["'self'"] and csp["connect-src"] == ["'self'"]
    assert csp["default-src"] == ["'none'"]
    refs = re.findall(r"""(?:src|href)="([^"]+)\"""", r.text)
    assert len(refs) == 4
    for ref in refs:
        asset = await sqlite_api.client.get(ref)
        assert asset.status_code == 200, ref
        assert asset.content, ref
    js = await sqlite_api.client.get("/api/docs/assets/swagger-ui-bundle.js")
    assert "javascript" in js.headers["content-type"] and len(js.content) > 500_000
    spec = await sqlite_api.client.get("/api/openapi.json")
    assert spec.status_code == 200 and "/api/media/sign" in spec.json()["paths"]


async def test_app_csp_limits_connections_to_its_own_origin(sqlite_api: LiveApi) -> None:
    for path in ("/", "/api/system/health", "/api/nope"):
        r = await sqlite_api.client.get(path)
        csp = _csp(r)
        assert csp["connect-src"] == ["'self'"], (path, csp)
        assert csp["script-src"] == ["'self'"] and csp["object-src"] == ["'none'"]
        assert csp["frame-ancestors"] == ["'none'"]
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
        # plain HTTP: no HSTS (the browser would ignore it; see test_http_headers for TLS)
        assert "strict-transport-security" not in r.headers, path


# --- 12: no credentials in the query string; signed media URLs ----------------------------


async def test_credentials_in_the_query_string_are_refused(api: LiveApi) -> None:
    cam = await _camera(api)
    alert = await _alert_at(api, cam, datetime.now(UTC), snapshot=True)
    path = f"/api/alerts/{alert}/snapshot.jpg"
    viewer = await api.headers("viewer")
    assert (await api.client.get(path, headers=viewer)).content == TINY_JPEG
    key = await api.api_key("ml-service")
    token = await api.token("viewer")
    for credential in (key, token):
        r = await api.client.get(path, params={"access_token": credential})
        assert_error(r, 401, "UNAUTHORIZED")
    r = await api.client.get(f"/api/cameras/{cam}/snapshot.jpg", params={"access_token": key})
    assert_error(r, 401, "UNAUTHORIZED")
    r = await api.client.get(f"/api/cameras/{cam}/mjpeg", params={"access_token": key})
    assert_error(r, 401, "UNAUTHORIZED")


async def _sign(api: LiveApi, path: str, headers: dict[str, str]) -> httpx.Response:
    return await api.client.post("/api/media/sign", json={"path": path}, headers=headers)


async def test_signed_media_urls(api: LiveApi) -> None:
    cam = await _camera(api)
    now = datetime.now(UTC)
    a = await _alert_at(api, cam, now, snapshot=True)
    b = await _alert_at(api, cam, now, snapshot=True)
    path_a, path_b = f"/api/alerts/{a}/snapshot.jpg", f"/api/alerts/{b}/snapshot.jpg"
    viewer = await api.headers("viewer")

    r = await _sign(api, path_a, viewer)
    assert r.status_code == 200, r.text
    url = r.json()["url"]
    expires = datetime.fromisoformat(r.json()["expiresAt"].replace("Z", "+00:00"))
    assert 0 < (expires - datetime.now(UTC)).total_seconds() <= MEDIA_URL_TTL + 1
    assert urlsplit(url).path == path_a and "access_token" not in url
    got = await api.client.get(url)  # no headers, as an <img src> would
    assert got.status_code == 200 and got.content == TINY_JPEG
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert set(query) == {"exp", "sig"}

    # the signature of one path does not open another
    assert_error(await api.client.get(path_b, params=query), 401, "UNAUTHORIZED")
    # a later expiry, a changed principal id or a forged mac: refused
    later = {**query, "exp": str(int(query["exp"]) + 30)}
    assert_error(await api.client.get(path_a, params=later), 401, "UNAUTHORIZED")
    kind, pid, mac = query["sig"].split(".")
    other = {**query, "sig": f"{kind}.{uuid.uuid4()}.{mac}"}
    assert_error(await api.client.get(path_a, params=other), 401, "UNAUTHORIZED")
    forged = {**query, "sig": f"{kind}.{pid}.{'A' * len(mac)}"}
    assert_error(await api.client.get(path_a, params=forged), 401, "UNAUTHORIZED")
    for junk in ({"sig": "x"}, {"exp": "1"}, {"exp": "soon", "sig": query["sig"]}):
        assert_error(await api.client.get(path_a, params=junk), 401, "UNAUTHORIZED")
    # expired: signed (with the app's own key) more than a minute ago
    me = (await api.client.get("/api/auth/me", headers=viewer)).json()
    principal = Principal(kind="user", id=me["id"], name=me["username"], role=Role.VIEWER)
    old = api.state.media.sign(path_a, principal, now=time.time() - MEDIA_URL_TTL - 2)
    assert_error(await api.client.get(old.url), 401, "UNAUTHORIZED")
    fresh = api.state.media.sign(path_a, principal)
    assert (await api.client.get(fresh.url)).status_code == 200

    # only media paths are signed; signing needs a principal
    for bad in ("/api/users", "/api/alerts/x/../../users", f"{path_a}?x=1", "/metrics"):
        assert_error(await _sign(api, bad, viewer), 400, "INVALID_INPUT")
    assert_error(await _sign(api, path_a, {}), 401, "UNAUTHORIZED")

    # the signer's account is checked on use: a disabled user's URL stops working
    admin = await api.headers("admin")
    r = await api.client.patch(f"/api/users/{me['id']}", json={"disabled": True}, headers=admin)
    assert r.status_code == 200, r.text
    assert_error(await api.client.get(fresh.url), 401, "UNAUTHORIZED")

    # an API key's URL works until the key is revoked
    created = await api.client.post(
        "/api/api-keys", json={"name": "cam-wall", "scope": "nvr"}, headers=admin
    )
    key = {"X-API-Key": created.json()["key"]}
    url = (await _sign(api, f"/api/alerts/{b}/snapshot.jpg", key)).json()["url"]
    assert (await api.client.get(url)).content == TINY_JPEG
    revoked = await api.client.delete(f"/api/api-keys/{created.json()['id']}", headers=admin)
    assert revoked.status_code in (200, 204), revoked.text
    assert_error(await api.client.get(url), 401, "UNAUTHORIZED")
