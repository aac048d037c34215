"""``POST /api/client-errors``: the web app's crash reports are logged under the request's
correlation id (never stored), from signed-in people only, bounded in size and rate."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import structlog

from support.api import LiveApi, live_api
from support.settings import make_settings

URL = "/api/client-errors"


def report(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message": "Cannot read properties of undefined (reading 'status')",
        "stack": "TypeError: Cannot read properties of undefined\n    at CameraTile (tile.tsx:12)",
        "componentStack": "\n    at CameraTile\n    at ErrorBoundary\n    at DashboardPage",
        "route": "/",
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/140",
        "occurredAt": datetime.now(UTC).isoformat(),
    }
    body.update(over)
    return body


def assert_error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code
    assert err["correlationId"] == r.headers["x-correlation-id"]


async def test_a_report_is_logged_once_under_its_correlation_id(api: LiveApi) -> None:
    with structlog.testing.capture_logs() as logs:
        r = await api.client.post(
            URL,
            json=report(route="/cameras?x=1"),
            headers={**await api.headers("viewer"), "X-Correlation-ID": "crash-1234"},
        )
    assert r.status_code == 202, r.text
    assert r.json() == {"correlationId": "crash-1234"}
    assert r.headers["x-correlation-id"] == "crash-1234"
    lines = [e for e in logs if e["event"] == "client error"]
    assert len(lines) == 1
    line = lines[0]
    assert line["log_level"] == "warning"
    assert line["correlation_id"] == "crash-1234"
    assert line["route"] == "/cameras?x=1"
    assert line["error_message"].startswith("Cannot read properties")
    assert "at CameraTile" in line["component_stack"]
    assert line["principal"].startswith("user:")


async def test_the_server_picks_the_id_when_the_client_sends_none(sqlite_api: LiveApi) -> None:
    r = await sqlite_api.client.post(
        URL, json=report(stack=None, componentStack=None), headers=await sqlite_api.headers("admin")
    )
    assert r.status_code == 202, r.text
    assert r.json()["correlationId"] == r.headers["x-correlation-id"]
    assert len(r.headers["x-correlation-id"]) >= 32


async def test_only_signed_in_people_may_report(sqlite_api: LiveApi) -> None:
    c = sqlite_api.client
    with structlog.testing.capture_logs() as logs:
        assert_error(await c.post(URL, json=report()), 401, "UNAUTHORIZED")
        bad = {"Authorization": "Bearer not-a-token"}
        assert_error(await c.post(URL, json=report(), headers=bad), 401, "UNAUTHORIZED")
        # API keys act for machines, which run no web app.
        key = {"X-API-Key": await sqlite_api.api_key("mobile")}
        assert_error(await c.post(URL, json=report(), headers=key), 403, "PERMISSION_DENIED")
    assert not [e for e in logs if e["event"] == "client error"]
    for role in ("viewer", "operator", "admin"):
        r = await c.post(URL, json=report(), headers=await sqlite_api.headers(role))
        assert r.status_code == 202, (role, r.text)


async def test_oversize_reports_are_refused_in_the_error_shape(sqlite_api: LiveApi) -> None:
    c = sqlite_api.client
    h = await sqlite_api.headers("viewer")
    with structlog.testing.capture_logs() as logs:
        # A field over its limit: 400 INVALID_INPUT (every validation error is 400 here).
        assert_error(
            await c.post(URL, json=report(stack="x" * 8001), headers=h), 400, "INVALID_INPUT"
        )
        assert_error(await c.post(URL, json=report(message=""), headers=h), 400, "INVALID_INPUT")
        assert_error(await c.post(URL, json=report(extra="?"), headers=h), 400, "INVALID_INPUT")
        # A body over 32 KiB: 413 before it is parsed.
        big = report(stack="x" * 20_000, componentStack="y" * 20_000)
        assert_error(await c.post(URL, json=big, headers=h), 413, "PAYLOAD_TOO_LARGE")
    assert not [e for e in logs if e["event"] == "client error"]


async def test_reports_are_rate_limited_per_person_and_per_address(tmp_path: Path) -> None:
    async with live_api(make_settings(tmp_path)) as live:
        c = live.client
        viewer = await live.headers("viewer")
        for _ in range(10):
            assert (await c.post(URL, json=report(), headers=viewer)).status_code == 202
        r = await c.post(URL, json=report(), headers=viewer)
        assert_error(r, 429, "RATE_LIMIT_EXCEEDED")
        assert int(r.headers["retry-after"]) >= 1
        # Another person is not blocked by the first one's crash loop...
        operator = await live.headers("operator")
        for _ in range(10):
            assert (await c.post(URL, json=report(), headers=operator)).status_code == 202
        # ...but one address cannot rotate accounts forever (30/minute per address).
        admin = await live.headers("admin")
        for _ in range(10):
            assert (await c.post(URL, json=report(), headers=admin)).status_code == 202
        r = await c.post(
            "/api/users",
            json={"username": "viewer2", "password": "viewer2-password", "role": "viewer"},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        fresh = {"Authorization": f"Bearer {await live.login('viewer2', 'viewer2-password')}"}
        assert_error(await c.post(URL, json=report(), headers=fresh), 429, "RATE_LIMIT_EXCEEDED")
        # The address limit is that address's only: the same person elsewhere may report.
        async with live.client_from("127.0.0.2") as other:
            assert (await other.post(URL, json=report(), headers=fresh)).status_code == 202
