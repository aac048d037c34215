"""Issue 10 end to end in real headless Chromium (Debian ``chromium`` driven by Playwright)
against a real ``beholder serve``: a phone publishes its camera from the ``/publish`` page
and a dashboard watches it.

Chromium's fake camera plays ``headpose-two-faces.mp4`` (transcoded to Y4M in a temp dir;
two faces in every frame). A dashboard context has the Streams page open first; the
publishing context (a phone-sized window with an Android user agent) signs in on
``/publish`` and starts streaming binary JPEG frames. The dashboard sees the new stream
appear and go ``streaming`` live (hub ``stream-status-update``), turns face detection on,
opens the viewer and sees frames drawn on its canvas. A face alert then reaches both the
viewer and the publishing page, and the notification panel groups it under the stream's
device name: from the worker's built-in detector when this tree has it
(``beholder.worker.streams``), and in any case from an ML-service client on the relay
socket (``ml-service`` key; it runs YuNet on the frames it receives and sends an
``ml-alert`` back). Screenshots go to ``artifacts/e2e/`` (not compared pixel by pixel).

Needs the built web app (``npm --prefix frontend run build`` → ``src/beholder/web``) and
ffmpeg (the Y4M file).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fixtures.rtsp_server import MEDIA_DIR
from support.browser import ARTIFACTS, require_web_app, sign_in, sync_chromium
from support.polling import wait_until
from support.serve_process import ServeProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADMIN_PASSWORD = "e2e-admin-password-1"
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
DEVICE = "Chrome on Android"  # what /publish names this browser (from the user agent)
BUILT_IN_DETECTOR = importlib.util.find_spec("beholder.worker.streams") is not None


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    require_web_app()
    env = {"BEHOLDER_RATE_LIMIT_LOGIN": "1000/minute"}
    with ServeProcess(tmp_path_factory.mktemp("publish-e2e"), ADMIN_PASSWORD, env) as srv:
        yield srv


@pytest.fixture(scope="module")
def fake_camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two-faces clip as a Y4M file for ``--use-file-for-fake-video-capture``."""
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        pytest.skip("ffmpeg is not installed")
    out = tmp_path_factory.mktemp("fake-camera") / "headpose-two-faces.y4m"
    src = MEDIA_DIR / "headpose-two-faces.mp4"
    y4m = ["-an", "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", str(out)]
    subprocess.run(
        [ffmpeg, "-loglevel", "error", "-i", str(src), *y4m],
        check=True,
        timeout=60,
    )
    return out


@pytest.fixture(scope="module")
def browser(fake_camera: Path) -> Iterator[Any]:
    with sync_chromium(
        extra_args=[
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={fake_camera}",
        ]
    ) as b:
        yield b


# Records the type of every JSON message the page's hub socket (/ws) receives, in
# window.__hubTypes (runs before the app), so the test knows the hub carried a change.
HUB_TRACKER = """
(() => {
  const Native = window.WebSocket;
  window.__hubTypes = [];
  window.WebSocket = class extends Native {
    constructor(url, protocols) {
      super(url, protocols);
      if (new URL(url, location.href).pathname === '/ws') {
        this.addEventListener('message', (e) => {
          try { window.__hubTypes.push(JSON.parse(e.data).type); } catch {}
        });
      }
    }
  };
})();
"""


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


# -- the ML-service test client -------------------------------------------------------------


@dataclass
class MlClient:
    """An ``ml-service`` consumer of one stream on the relay socket, in a thread: it reads
    binary frames, runs YuNet on them and, on the first frame with faces, sends one
    ``ml-alert`` back. ``frames``: frames received; ``sent``: the alert message sent."""

    ws_url: str
    key: str
    stream_id: str
    frames: int = 0
    sent: dict[str, Any] | None = None
    error: BaseException | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by the test
            self.error = exc

    def _run(self) -> None:
        import cv2
        import numpy as np
        from websockets.sync.client import connect

        from beholder.contracts.relay_frame import decode_frame
        from beholder.worker.detect import create_detector

        detector = create_detector("yunet")
        with connect(self.ws_url, open_timeout=10, max_size=4 << 20) as ws:
            ws.send(json.dumps({"type": "auth", "token": self.key}))
            assert json.loads(ws.recv(timeout=10))["type"] == "auth-ok"
            ws.send(
                json.dumps(
                    {
                        "type": "subscribe",
                        "clientType": "ml-service",
                        "streamId": self.stream_id,
                        "consumes": ["video"],
                        "produces": ["alerts"],
                        "binary": True,
                    }
                )
            )
            while not self.stop.is_set():
                msg = ws.recv(timeout=30)
                if isinstance(msg, str):
                    body = json.loads(msg)
                    if body["type"] == "ping":
                        ws.send(json.dumps({"type": "pong", "ts": body.get("ts")}))
                    assert body["type"] != "error", body
                    continue
                frame = decode_frame(msg)
                assert frame.stream_id == self.stream_id
                self.frames += 1
                if self.sent is not None:
                    continue
                image = cv2.imdecode(np.frombuffer(frame.jpeg, np.uint8), cv2.IMREAD_COLOR)
                faces = detector.detect(image)
                if not faces:
                    continue
                best = max(faces, key=lambda f: f.confidence)
                self.sent = {
                    "type": "alert",
                    "streamId": self.stream_id,
                    "severity": "medium",
                    "message": f"Test ML service: {len(faces)} faces",
                    "alertType": "ml-alert",
                    "metadata": {
                        "confidence": round(float(best.confidence), 3),
                        "box": [float(v) for v in best.box],
                        "objectType": "face",
                    },
                    "timestamp": int(time.time() * 1000),
                }
                ws.send(json.dumps(self.sent))


# -- the test -------------------------------------------------------------------------------


def test_phone_publishes_and_dashboard_watches(serve: ServeProcess, browser: Any) -> None:
    # The dashboard is open on the Streams page before the phone starts.
    dash_ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    dash_ctx.add_init_script(HUB_TRACKER)
    dash = dash_ctx.new_page()
    dash.set_default_timeout(20_000)
    dash.goto(serve.url + "/streams")
    sign_in(dash, "admin", ADMIN_PASSWORD)
    dash.locator('[data-connection="connected"]').wait_for()
    dash.get_by_role("heading", name="Streams").wait_for()

    # The phone: /publish signs in, then streams its (fake) camera.
    phone_ctx = browser.new_context(
        viewport={"width": 412, "height": 915}, user_agent=PHONE_UA, permissions=["camera"]
    )
    phone = phone_ctx.new_page()
    phone.set_default_timeout(20_000)
    phone.goto(serve.url + "/publish")
    sign_in(phone, "admin", ADMIN_PASSWORD)
    name = phone.get_by_label("Device name")
    assert name.input_value() == DEVICE
    assert phone.evaluate("window.isSecureContext") is True
    phone.get_by_role("button", name="Start streaming").click()
    phone.locator('[data-relay-state="ready"]').wait_for()
    phone.wait_for_function(
        "() => Number(document.querySelector('[data-testid=frames-sent]')?.textContent) >= 5"
    )
    stream_id = serve.client.get("/api/streams").json()["items"][0]["id"]

    # The dashboard sees it appear and go streaming without a reload.
    row = dash.locator(f'li[data-stream-id="{stream_id}"]')
    row.locator('[data-stream-status="streaming"]').wait_for()
    assert "stream-status-update" in dash.evaluate("window.__hubTypes")
    assert DEVICE in row.inner_text()
    toggle = row.get_by_role("switch", name=f"Face detection on {DEVICE}")
    toggle.click()
    wait_until(
        lambda: serve.client.get(f"/api/streams/{stream_id}").json()["faceDetectionEnabled"],
        10,
        "face detection to be on",
    )
    shot(dash, "streams-page.png")

    # The viewer draws frames.
    row.get_by_role("link", name=f"View {DEVICE}").click()
    dash.wait_for_function(
        "() => Number(document.querySelector('[data-testid=stream-canvas]')?.dataset.frames) >= 5"
    )
    dash.wait_for_function(
        "() => parseFloat(document.querySelector('[data-testid=viewer-fps]')?.textContent) > 0"
    )
    dash.get_by_test_id("viewer-count").filter(has_text="1 viewer").wait_for()

    # An ML service on the relay socket sees the frames and answers with a face alert.
    key = serve.client.post("/api/api-keys", json={"name": "e2e-ml", "scope": "ml-service"}).json()[
        "key"
    ]
    ml = MlClient(serve.url.replace("http", "ws") + "/api/streams/ws", key, stream_id)
    thread = threading.Thread(target=ml.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: ml.sent is not None or ml.error is not None, 60, "the ML client's alert")
        assert ml.error is None, ml.error
        assert ml.frames >= 1
        text = ml.sent["message"] if ml.sent else ""
        viewer_alerts = dash.get_by_test_id("stream-alerts")
        viewer_alerts.get_by_text(text).wait_for()
        phone.get_by_test_id("stream-alerts").get_by_text(text).wait_for()
        if BUILT_IN_DETECTOR:
            # The worker's detector is just another ML service: its alert takes the same path.
            viewer_alerts.locator("li", has_text="face-detection").first.wait_for(timeout=90_000)
            phone.get_by_test_id("stream-alerts").locator(
                "li", has_text="face-detection"
            ).first.wait_for(timeout=30_000)
    finally:
        ml.stop.set()
        thread.join(timeout=40)
    shot(dash, "stream-viewer.png")
    shot(phone, "publish-phone.png")

    # The notification panel groups the stream's alerts under its device name.
    dash.get_by_role("button", name="Notifications").click()
    group = dash.locator('[data-testid="notification-group"][data-group-kind="stream"]')
    group.first.wait_for()
    assert group.first.get_by_role("heading").inner_text().startswith(DEVICE)
    assert text in group.first.inner_text()
    shot(dash, "notifications-stream.png")

    # Stopping on the phone takes the stream offline on the dashboard (live).
    dash.keyboard.press("Escape")
    dash.get_by_role("link", name="Streams", exact=True).click()
    row.locator('[data-stream-status="streaming"]').wait_for()
    phone.get_by_role("button", name="Stop").click()
    row.locator('[data-stream-status="offline"]').wait_for()
    # Starting again publishes to the same stream (this browser remembers it).
    phone.get_by_role("button", name="Start streaming").click()
    phone.locator('[data-relay-state="ready"]').wait_for()
    row.locator('[data-stream-status="streaming"]').wait_for()
    assert len(serve.client.get("/api/streams").json()["items"]) == 1

    # Deleting it (confirmed) on the dashboard disconnects the phone, which says why.
    row.get_by_role("button", name=f"Delete {DEVICE}").click()
    dash.get_by_role("dialog").get_by_role("button", name="Delete").click()
    row.wait_for(state="detached")
    phone.get_by_text("This stream was deleted.").wait_for()
    phone.get_by_role("button", name="Start streaming").wait_for()  # camera off, ready anew
    assert serve.client.get(f"/api/streams/{stream_id}").status_code == 404
    shot(phone, "publish-phone-deleted.png")
    phone_ctx.close()
    dash_ctx.close()
