"""The security headers of :class:`~beholder.api.middleware.http.HttpMiddleware` by ASGI
scope: HSTS only for requests that came over TLS (scheme ``https``), the app's CSP with
``connect-src 'self'``, and the docs' stricter CSP under ``/api/docs``."""

from __future__ import annotations

import httpx

from beholder.api.app import create_app
from beholder.api.middleware.http import APP_CSP, DOCS_CSP, HttpMiddleware
from beholder.config import Settings


async def _plain(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def _get(base_url: str, path: str) -> httpx.Response:
    app = HttpMiddleware(_plain, max_bytes=1024)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as c:
        return await c.get(path)


async def test_hsts_only_over_tls() -> None:
    tls = await _get("https://beholder.example", "/")
    assert tls.headers["strict-transport-security"].startswith("max-age=")
    plain = await _get("http://beholder.example", "/")
    assert "strict-transport-security" not in plain.headers


async def test_csp_by_path() -> None:
    app_csp = (await _get("http://h", "/cameras")).headers["content-security-policy"]
    assert app_csp == APP_CSP.decode()
    assert "connect-src 'self';" in app_csp and "ws:" not in app_csp
    for path in ("/api/docs", "/api/docs/assets/swagger-ui.css", "/api/docs/init.js"):
        csp = (await _get("http://h", path)).headers["content-security-policy"]
        assert csp == DOCS_CSP.decode(), path
        assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";", 1)[0]
    # a path that only starts like the docs gets the app's policy
    docsy = (await _get("http://h", "/api/docsx")).headers["content-security-policy"]
    assert docsy == APP_CSP.decode()


async def test_the_real_docs_page_over_tls(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # The whole app (no lifespan needed for the docs page) on an https scope.
    app = create_app(Settings(data_dir=tmp_path))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://b.example") as c:
        r = await c.get("/api/docs")
    assert r.status_code == 200
    assert r.headers["content-security-policy"] == DOCS_CSP.decode()
    assert "strict-transport-security" in r.headers
