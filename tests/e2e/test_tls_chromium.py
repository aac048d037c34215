"""HTTPS in real headless Chromium (Debian ``chromium`` driven by Playwright): a real
``beholder serve --tls self-signed`` whose worker reads the GStreamer RTSP fixture, and a
browser that trusts nothing but the printed CA fingerprint
(``--ignore-certificate-errors-spki-list``). The app loads over https (a secure context), the
sign-in works, the hub connects over wss, and a camera added from the page plays in its tile
(WebRTC: DTLS, independent of the page's TLS). Without the fingerprint the page does not load.

Needs the built web app (``npm --prefix frontend run build`` → ``src/beholder/web``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.rtsp_server import MEDIA_DIR, RtspServer
from support.browser import CHROMIUM, launch_chromium, require_web_app, sign_in
from support.polling import wait_until
from support.settings import TEST_CAMERA_NETWORKS
from support.tls import ADMIN_PASSWORD, Served, serve, trust

pytestmark = [pytest.mark.browser, pytest.mark.rtsp, pytest.mark.slow]


@pytest.fixture(scope="module")
def rtsp() -> Iterator[RtspServer]:
    server = RtspServer({"faces": MEDIA_DIR / "headpose-two-faces.mp4"})
    try:
        server.start()
    except Exception as exc:
        pytest.skip(f"RTSP fixture unavailable: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    require_web_app()
    data = tmp_path_factory.mktemp("tls-e2e")
    with serve(
        data,
        ["--tls", "self-signed"],
        ca=data / "tls" / "ca.pem",
        BEHOLDER_RUN_WORKER="true",
        BEHOLDER_WEBRTC_HOSTS="127.0.0.1",
        BEHOLDER_CAMERA_NETWORKS=TEST_CAMERA_NETWORKS,
    ) as srv:
        yield srv


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        yield p


def tile(page: Any, name: str) -> Any:
    return page.locator('[data-testid="camera-tile"]').filter(
        has=page.get_by_role("heading", name=name)
    )


def video_time(tile_locator: Any) -> float:
    return float(tile_locator.locator("video").evaluate("v => v.currentTime"))


def test_untrusted_certificate_does_not_load(playwright: Any, https: Served) -> None:
    browser = launch_chromium(playwright.chromium)
    try:
        page = browser.new_page()
        with pytest.raises(Exception, match="ERR_CERT_AUTHORITY_INVALID"):
            page.goto(f"https://127.0.0.1:{https.port}/")
    finally:
        browser.close()


def test_app_signs_in_and_plays_a_tile_over_https(
    playwright: Any, https: Served, rtsp: RtspServer
) -> None:
    spki = https.line("TLS CA SPKI sha256 fingerprint:")
    browser = launch_chromium(
        playwright.chromium, extra_args=[f"--ignore-certificate-errors-spki-list={spki}"]
    )
    try:
        page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        page.set_default_timeout(15_000)
        response = page.goto(f"https://127.0.0.1:{https.port}/")
        assert response is not None and response.ok
        assert response.headers["strict-transport-security"] == "max-age=31536000"
        assert page.evaluate("() => [location.protocol, window.isSecureContext]") == [
            "https:",
            True,
        ]
        sign_in(page, "admin", ADMIN_PASSWORD)
        page.get_by_role("button", name="Notifications").wait_for()
        page.locator('[data-connection="connected"]').wait_for()  # the hub, over wss

        t0 = time.monotonic()
        field = page.get_by_placeholder("RTSP", exact=False)
        field.fill(rtsp.url("faces"))
        field.press("Enter")
        t = tile(page, "127.0.0.1 faces")
        t.wait_for()
        start = video_time(t)
        wait_until(lambda: video_time(t) > start + 1.0, 45, "the tile's video to play over https")
        print(f"\nquick-add to playing tile over https: {time.monotonic() - t0:.2f} s")
    finally:
        browser.close()
        with httpx.Client(
            base_url=f"https://127.0.0.1:{https.port}", verify=trust(https.data_dir / "tls/ca.pem")
        ) as client:
            tok = client.post(
                "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
            ).json()["accessToken"]
            headers = {"Authorization": f"Bearer {tok}"}
            for cam in client.get("/api/cameras", headers=headers).json()["items"]:
                client.delete(f"/api/cameras/{cam['id']}", headers=headers)
