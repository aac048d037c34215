"""Issue 9, finding 12 in real headless Chromium (Debian ``chromium`` driven by Playwright)
against the real app: the API docs render with every request to the app's own origin and no
CSP violation; under the app's CSP (``connect-src 'self'``) the hub socket on the same origin
opens while a fetch to another origin is blocked; a signed media URL loads in an ``<img>``
without any header, a forged one does not."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from beholder.db.models import Alert
from support.api import LiveApi
from support.browser import CHROMIUM, async_chromium

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian chromium is not installed"),
]


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with async_chromium() as b:
        yield b


async def _watched_page(browser: Any) -> tuple[Any, list[str], list[str]]:
    """A new page, the URLs it requests and the CSP complaints on its console."""
    page = await browser.new_page()
    requests: list[str] = []
    violations: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return page, requests, violations


async def test_docs_render_from_the_app_alone(sqlite_api: LiveApi, browser: Any) -> None:
    page, requests, violations = await _watched_page(browser)
    await page.goto(f"{sqlite_api.url}/api/docs")
    # Swagger UI ran (its script and init from the app) and rendered the spec's operations.
    await page.wait_for_selector(".opblock", timeout=20_000)
    assert await page.locator(".opblock").count() > 20
    assert requests and all(u.startswith(sqlite_api.url + "/") for u in requests), requests
    assert f"{sqlite_api.url}/api/openapi.json" in requests
    assert violations == []


async def test_app_csp_allows_its_own_socket_only(sqlite_api: LiveApi, browser: Any) -> None:
    page, _, _ = await _watched_page(browser)
    await page.goto(f"{sqlite_api.url}/")
    opened = await page.evaluate(
        """(url) => new Promise((resolve) => {
            const ws = new WebSocket(url);
            ws.onopen = () => { ws.close(); resolve('open'); };
            ws.onerror = () => resolve('error');
        })""",
        sqlite_api.ws_url,
    )
    assert opened == "open"  # connect-src 'self' covers ws: to the same host and port
    # another origin (the same server under another address) is refused by the CSP
    other = sqlite_api.url.replace("127.0.0.1", "localhost") + "/api/system/health"
    blocked = await page.evaluate(
        """(url) => new Promise((resolve) => {
            document.addEventListener('securitypolicyviolation',
                (e) => resolve(e.violatedDirective), { once: true });
            fetch(url).then(() => resolve('fetched'), () => {});
        })""",
        other,
    )
    assert blocked == "connect-src"


async def test_signed_url_loads_in_an_img(sqlite_api: LiveApi, browser: Any) -> None:
    api = sqlite_api
    r = await api.client.post(
        "/api/cameras",
        json={"name": "Door", "rtspUrl": "rtsp://10.0.0.7/live"},
        headers=await api.headers("operator"),
    )
    alert_id = str(uuid.uuid4())
    snapshots = api.state.settings.snapshot_dir
    snapshots.mkdir(parents=True, exist_ok=True)
    # a 2x2 JPEG made here (the browser must decode it: naturalWidth)
    import cv2
    import numpy as np

    ok, jpeg = cv2.imencode(".jpg", np.full((2, 2, 3), 200, np.uint8))
    assert ok
    (snapshots / f"{alert_id}.jpg").write_bytes(jpeg.tobytes())
    async with api.state.db.session() as s:
        s.add(
            Alert(
                id=alert_id,
                camera_id=r.json()["id"],
                type="face_detected",
                severity="INFO",
                message="1 face",
                snapshot_path=f"{alert_id}.jpg",
                created_at=datetime.now(UTC),
            )
        )
    path = f"/api/alerts/{alert_id}/snapshot.jpg"
    signed = await api.client.post(
        "/api/media/sign", json={"path": path}, headers=await api.headers("viewer")
    )
    url = signed.json()["url"]
    page, _, violations = await _watched_page(browser)
    await page.goto(f"{api.url}/")
    load = """(src) => new Promise((resolve) => {
        const img = new Image();
        img.onload = () => resolve(img.naturalWidth);
        img.onerror = () => resolve(-1);
        img.src = src;
    })"""
    assert await page.evaluate(load, url) == 2
    forged = url.rsplit(".", 1)[0] + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    assert await page.evaluate(load, forged) == -1
    assert await page.evaluate(load, path) == -1  # no credentials at all
    assert violations == []
