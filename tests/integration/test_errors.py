"""Every error leaves the api in the one shape, with a correlation id and no internals."""

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from beholder.db.repositories import cameras as cameras_repo
from support.api import LiveApi, start_live_api, stop_live_api
from support.settings import make_settings

LEAKS = re.compile(
    r"Traceback|File \"|/work/|site-packages|SELECT |INSERT |sqlalchemy|asyncpg|sqlite3|s3cret",
    re.I,
)


def assert_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) >= {"error"}
    err = body["error"]
    assert err["code"] == code
    assert isinstance(err["message"], str) and err["message"]
    assert err["severity"] in ("INFO", "WARNING", "ERROR", "CRITICAL")
    assert err["correlationId"] == r.headers["x-correlation-id"]
    assert not LEAKS.search(r.text), r.text
    return err


async def test_error_codes_from_real_requests(api: LiveApi) -> None:
    c = api.client
    viewer, op = await api.headers("viewer"), await api.headers("operator")
    assert_error(await c.get("/api/cameras"), 401, "UNAUTHORIZED")
    assert_error(
        await c.get("/api/cameras", headers={"Authorization": "Bearer nonsense"}),
        401,
        "UNAUTHORIZED",
    )
    assert_error(
        await c.post("/api/cameras", json={"name": "x", "rtspUrl": "rtsp://h/s"}, headers=viewer),
        403,
        "PERMISSION_DENIED",
    )
    assert_error(await c.get("/api/cameras/does-not-exist", headers=viewer), 404, "NOT_FOUND")
    assert_error(await c.post("/api/cameras", json={"name": ""}, headers=op), 400, "INVALID_INPUT")
    assert_error(
        await c.post(
            "/api/cameras", content=b"{broken", headers={**op, "content-type": "application/json"}
        ),
        400,
        "INVALID_INPUT",
    )
    assert_error(await c.get("/api/alerts?limit=100000", headers=viewer), 400, "INVALID_INPUT")
    await c.post(
        "/api/cameras", json={"name": "dup", "rtspUrl": "rtsp://admin:s3cret@h/s"}, headers=op
    )
    assert_error(
        await c.post(
            "/api/cameras", json={"name": "dup", "rtspUrl": "rtsp://admin:s3cret@h/s"}, headers=op
        ),
        409,
        "CONFLICT",
    )
    assert_error(await c.put("/api/cameras", headers=op), 405, "METHOD_NOT_ALLOWED")
    assert_error(await c.get("/api/no-such-route", headers=viewer), 404, "NOT_FOUND")
    big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    assert_error(
        await c.post(
            "/api/cameras", content=big, headers={**op, "content-type": "application/json"}
        ),
        413,
        "PAYLOAD_TOO_LARGE",
    )
    cam = (await c.get("/api/cameras", headers=viewer)).json()["items"][0]
    assert_error(
        await c.get(f"/api/cameras/{cam['id']}/snapshot.jpg", headers=viewer),
        503,
        "STREAM_UNAVAILABLE",
    )


async def test_correlation_id_is_accepted_and_returned(sqlite_api: LiveApi) -> None:
    r = await sqlite_api.client.get("/api/cameras", headers={"X-Correlation-ID": "req-abc-123"})
    assert r.headers["x-correlation-id"] == "req-abc-123"
    assert r.json()["error"]["correlationId"] == "req-abc-123"
    # Something that is not an id is replaced, not echoed (no header injection).
    r2 = await sqlite_api.client.get("/api/cameras", headers={"X-Correlation-ID": "<script>"})
    assert r2.headers["x-correlation-id"] != "<script>"
    assert r2.headers["x-content-type-options"] == "nosniff"


async def test_unhandled_exception_is_internal_error(
    sqlite_api: LiveApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def boom(*_: Any, **__: Any) -> Any:
        raise RuntimeError("SELECT password FROM users at /work/secret/path.py")

    monkeypatch.setattr(cameras_repo, "list_rows", boom)
    r = await sqlite_api.client.get("/api/cameras", headers=await sqlite_api.headers("viewer"))
    assert_error(r, 500, "INTERNAL_ERROR")


async def test_database_down_is_service_unavailable(sqlite_api: LiveApi) -> None:
    headers = await sqlite_api.headers("viewer")
    db = sqlite_api.state.db
    # Point the pool at a port where nothing listens: the DB "went away".
    dead = create_async_engine(
        "postgresql+asyncpg://postgres@127.0.0.1:9/none", connect_args={"timeout": 1}
    )
    original = db.sessionmaker
    db.sessionmaker = async_sessionmaker(dead, expire_on_commit=False)
    try:
        r = await sqlite_api.client.get("/api/cameras", headers=headers)
        assert_error(r, 503, "SERVICE_UNAVAILABLE")
    finally:
        db.sessionmaker = original
        await dead.dispose()


async def test_bus_down_is_service_unavailable(sqlite_api: LiveApi) -> None:
    op = await sqlite_api.headers("operator")
    cam = (
        await sqlite_api.client.post(
            "/api/cameras", json={"name": "c", "rtspUrl": "rtsp://h/s"}, headers=op
        )
    ).json()
    await sqlite_api.state.bus.close()
    r = await sqlite_api.client.post(f"/api/cameras/{cam['id']}/start", headers=op)
    assert_error(r, 503, "SERVICE_UNAVAILABLE")


async def test_login_rate_limit_is_429_with_retry_after(tmp_path: Path) -> None:
    live = await start_live_api(make_settings(tmp_path, rate_limit_login="3/minute"))
    try:
        for _ in range(3):
            r = await live.client.post(
                "/api/auth/login", json={"username": "admin", "password": "wrong"}
            )
            assert r.status_code == 401
        r = await live.client.post(
            "/api/auth/login", json={"username": "admin", "password": "wrong"}
        )
        assert_error(r, 429, "RATE_LIMIT_EXCEEDED")
        assert int(r.headers["retry-after"]) >= 1
    finally:
        await stop_live_api(live)


async def test_per_ip_rate_limit(tmp_path: Path) -> None:
    live = await start_live_api(make_settings(tmp_path, rate_limit_per_ip="5/minute"))
    try:
        codes = [(await live.client.get("/api/system/health")).status_code for _ in range(7)]
        assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]
    finally:
        await stop_live_api(live)
