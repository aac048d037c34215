"""A tile that crashes in real Chromium: the rest of the dashboard keeps working and the
server logs the crash under the error id the fallback shows.

The crash is caused from outside the app, without any test hook in the bundle: Playwright
rewrites ``GET /api/cameras`` so that one camera's ``location`` is an object, which React
refuses to render (``Objects are not valid as a React child``) inside that camera's tile.

Needs the built web app (``npm --prefix frontend run build`` → ``src/beholder/web``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from support.browser import require_web_app, sign_in, sync_chromium
from support.polling import wait_until
from support.serve_process import ServeProcess
from support.settings import TEST_CAMERA_NETWORKS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADMIN_PASSWORD = "boundary-admin-password-1"
CAMERAS = ("Front door", "Garage", "Yard")
BROKEN = "Garage"


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    require_web_app()
    env = {
        "BEHOLDER_CAMERA_NETWORKS": TEST_CAMERA_NETWORKS,
        "BEHOLDER_LOG_FORMAT": "json",
    }
    with ServeProcess(tmp_path_factory.mktemp("boundary-data"), ADMIN_PASSWORD, env) as srv:
        for i, name in enumerate(CAMERAS):
            # Not enabled: nothing connects; the tiles show "Camera stopped".
            r = srv.client.post(
                "/api/cameras",
                json={"name": name, "rtspUrl": f"rtsp://127.0.0.1:{9 + i}/x", "enabled": False},
            )
            assert r.status_code == 201, r.text
        yield srv


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_chromium() as b:
        yield b


def corrupt_one_camera(route: Any) -> None:
    """Serve the real camera list with the broken camera's location made an object."""
    response = route.fetch()
    body = response.json()
    for cam in body["items"]:
        if cam["name"] == BROKEN:
            cam["location"] = {"not": "a string"}
    route.fulfill(response=response, json=body)


def test_a_crashing_tile_leaves_the_dashboard_working_and_is_logged(
    browser: Any, serve: ServeProcess
) -> None:
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.route("**/api/cameras", corrupt_one_camera)
    page.goto(serve.url + "/")
    sign_in(page, "admin", ADMIN_PASSWORD)

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
        return [e for e in serve.json_log() if e.get("event") == "client error"]

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
