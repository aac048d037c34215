"""Edges: CORS allow-list, security headers, the web app's client-side routing fallback."""

from pathlib import Path

import pytest

from beholder.config import Settings
from support.api import start_live_api, stop_live_api
from support.settings import make_settings


async def test_cors_allows_only_listed_origins(tmp_path: Path) -> None:
    live = await start_live_api(make_settings(tmp_path, cors_origins=["https://ops.example.com"]))
    try:
        pre = {
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        }
        ok = await live.client.options(
            "/api/cameras", headers={"Origin": "https://ops.example.com", **pre}
        )
        assert ok.headers["access-control-allow-origin"] == "https://ops.example.com"
        assert ok.headers["access-control-allow-credentials"] == "true"
        bad = await live.client.options(
            "/api/cameras", headers={"Origin": "https://evil.example", **pre}
        )
        assert "access-control-allow-origin" not in bad.headers
    finally:
        await stop_live_api(live)


def test_wildcard_cors_with_credentials_is_refused() -> None:
    with pytest.raises(ValueError, match="not allowed"):
        Settings(cors_origins=["*"])


async def test_security_headers_and_spa_fallback(tmp_path: Path) -> None:
    live = await start_live_api(make_settings(tmp_path))
    try:
        r = await live.client.get("/cameras/some-client-side-route")
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]
        assert r.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        # /publish (issue 10) may use this device's camera; nothing else, no other origin
        assert r.headers["permissions-policy"] == "camera=(self), microphone=(), geolocation=()"
        api_404 = await live.client.get("/api/nope")
        assert api_404.status_code == 404 and api_404.json()["error"]["code"] == "NOT_FOUND"
        docs = await live.client.get("/api/openapi.json")
        assert docs.status_code == 200 and "ErrorResponse" in docs.text
    finally:
        await stop_live_api(live)
