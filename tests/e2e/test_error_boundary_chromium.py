"""A tile that crashes in real Chromium: the rest of the dashboard keeps working and the
server logs the crash under the error id the fallback shows.

The crash is caused from outside the app, without any test hook in the bundle: Playwright
rewrites ``GET /api/cameras`` so that one camera's ``location`` is an object, which React
refuses to render (``Objects are not valid as a React child``) inside that camera's tile.

Needs the built web app (``npm --prefix frontend run build`` → ``src/beholder/web``).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from fixtures.rtsp_server import free_port  # noqa: E402
from support.browser import CHROMIUM, launch_chromium  # noqa: E402
from support.polling import wait_until  # noqa: E402
from support.settings import TEST_CAMERA_NETWORKS  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WEB_INDEX = ROOT / "src" / "beholder" / "web" / "index.html"
ADMIN_PASSWORD = "boundary-admin-password-1"
CAMERAS = ("Front door", "Garage", "Yard")
BROKEN = "Garage"


@dataclass
class Serve:
    base: str
    proc: subprocess.Popen[bytes]
    log: Path
    client: httpx.Client

    def log_lines(self) -> list[dict[str, Any]]:
        """The server's JSON log lines so far (other lines are skipped)."""
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict):
                    out.append(entry)
        return out


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    if not WEB_INDEX.is_file():
        pytest.skip("web app not built (npm --prefix frontend run build)")
    data = tmp_path_factory.mktemp("boundary-data")
    port = free_port()
    env = {
        **os.environ,
        "BEHOLDER_DATA_DIR": str(data),
        "BEHOLDER_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "BEHOLDER_CAMERA_NETWORKS": TEST_CAMERA_NETWORKS,
        "BEHOLDER_LOG_FORMAT": "json",
    }
    log = data / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "beholder", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    srv = Serve(f"http://127.0.0.1:{port}", proc, log, client)
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"beholder serve exited:\n{log.read_text(errors='replace')}")
            with contextlib.suppress(httpx.HTTPError):
                return client.get("/api/system/ready").status_code == 200
            return False

        wait_until(ready, 30, "beholder serve to be ready")
        tok = client.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        tok.raise_for_status()
        client.headers["Authorization"] = f"Bearer {tok.json()['accessToken']}"
        for i, name in enumerate(CAMERAS):
            # Not enabled: nothing connects; the tiles show "Camera stopped".
            r = client.post(
                "/api/cameras",
                json={"name": name, "rtspUrl": f"rtsp://127.0.0.1:{9 + i}/x", "enabled": False},
            )
            assert r.status_code == 201, r.text
        yield srv
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = launch_chromium(p.chromium)
        yield b
        b.close()


def corrupt_one_camera(route: Any) -> None:
    """Serve the real camera list with the broken camera's location made an object."""
    response = route.fetch()
    body = response.json()
    for cam in body["items"]:
        if cam["name"] == BROKEN:
            cam["location"] = {"not": "a string"}
    route.fulfill(response=response, json=body)


def test_a_crashing_tile_leaves_the_dashboard_working_and_is_logged(
    browser: Any, serve: Serve
) -> None:
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.route("**/api/cameras", corrupt_one_camera)
    page.goto(serve.base + "/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    fallback = page.get_by_test_id("error-fallback")
    fallback.wait_for()
    assert f"The tile of {BROKEN} could not be displayed." in fallback.inner_text()
    assert fallback.get_by_role("button", name="Retry").is_visible()
    tiles = page.get_by_test_id("camera-tile")
    wait_until(lambda: tiles.count() == 2, 15, "the two healthy tiles")
    names = sorted(t.get_by_role("heading").inner_text() for t in tiles.all())
    assert names == ["Front door", "Yard"]
    assert any("crashed" in e for e in console_errors), console_errors

    # The error id (the report's correlation id) is in the collapsed details.
    fallback.get_by_text("Details").click()
    error_id = fallback.get_by_test_id("error-id").inner_text()
    assert error_id

    # The server logged the crash once, as a WARNING under that id.
    def logged() -> list[dict[str, Any]]:
        return [e for e in serve.log_lines() if e.get("event") == "client error"]

    wait_until(lambda: bool(logged()), 15, "the client error in the server log")
    [entry] = logged()
    assert entry["correlation_id"] == error_id
    assert entry["level"] == "warning"
    assert entry["route"] == "/"
    assert "React error #31" in entry["error_message"]  # objects are not valid as a child
    assert "at article" in (entry.get("component_stack") or "")  # the tile (names are minified)

    # The rest of the app keeps working: navigation, another page, and back.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Alerts").click()
    page.get_by_role("heading", name="Alerts").first.wait_for()
    assert page.get_by_test_id("error-fallback").count() == 0
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    page.get_by_test_id("error-fallback").wait_for()
    wait_until(lambda: tiles.count() == 2, 15, "the healthy tiles again")
    # The same crash again is not reported again (the client deduplicates).
    assert len(logged()) == 1

    # Once the data is sound again (a reload fetches it; the session is kept), all render.
    page.unroute("**/api/cameras")
    page.reload()
    wait_until(lambda: tiles.count() == 3, 15, "all three tiles after the fix")
    assert page.get_by_test_id("error-fallback").count() == 0
    ctx.close()
