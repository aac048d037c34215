"""The NVR fleet end to end (issue 11) in real headless Chromium (Debian ``chromium`` driven by
Playwright): a real ``beholder serve``, a real ``beholder nvr-agent`` process whose two
channels are mounts of the GStreamer RTSP fixture, and the web app's three fleet pages.

The agent registers and its cameras become reachable → the Operations page's offline-cameras
KPI reads 0 and the NVR's row on the NVRs page is online. SIGKILL the agent → the KPI reads
2, the row turns offline and a toast names the NVR; start the agent again → the KPI is back
at 0, the row online. Every wait is on a DOM condition (no timing is asserted here; the
latency goals are measured in bench/). Screenshots of the three pages (Operations, NVRs with
the drawer, Cameras grouped by NVR) go to ``artifacts/e2e/`` (not compared pixel by pixel).

Needs the built web app (``npm --prefix frontend run build`` → ``src/beholder/web``).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.rtsp_server import MEDIA_DIR, RtspServer
from support.browser import require_web_app, save_screenshot, sign_in, sync_chromium
from support.command import beholder_argv
from support.polling import wait_until
from support.processes import log_tail, stop_process
from support.rtsp import rtsp_fixture_or_skip
from support.serve_process import ServeProcess
from support.settings import TEST_CAMERA_NETWORKS

pytestmark = [pytest.mark.browser, pytest.mark.rtsp, pytest.mark.slow]

ADMIN_PASSWORD = "e2e-admin-password-1"
HOSTNAME = "e2e-site-nvr"
DEVICE = "E2E recorder"
MOUNTS = ("gate", "yard")


rtsp = rtsp_fixture_or_skip({m: MEDIA_DIR / "street-cars-no-faces.mp4" for m in MOUNTS})


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    require_web_app()
    env = {
        "BEHOLDER_WEBRTC_HOSTS": "127.0.0.1",
        "BEHOLDER_CAMERA_NETWORKS": TEST_CAMERA_NETWORKS,
        "BEHOLDER_RATE_LIMIT_LOGIN": "1000/minute",
    }
    with ServeProcess(tmp_path_factory.mktemp("e2e-nvr"), ADMIN_PASSWORD, env) as srv:
        yield srv


class Agent:
    """``beholder nvr-agent`` as a separate process (started, killed, started again)."""

    def __init__(self, serve: ServeProcess, key: str, config: Path, log: Path) -> None:
        self.serve, self.key, self.config, self.log = serve, key, config, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "BEHOLDER_NVR_API_KEY": self.key,
            "BEHOLDER_CAMERA_NETWORKS": TEST_CAMERA_NETWORKS,
        }
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    *beholder_argv("nvr-agent"),
                    "--server",
                    self.serve.url,
                    "--config",
                    str(self.config),
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


@pytest.fixture(scope="module")
def agent(
    serve: ServeProcess, rtsp: RtspServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Agent, str]]:
    r = serve.client.post(
        "/api/nvrs", json={"hostname": HOSTNAME, "deviceName": DEVICE, "region": "north"}
    )
    assert r.status_code == 201, r.text
    nvr_id = r.json()["id"]
    k = serve.client.post(f"/api/nvrs/{nvr_id}/keys")
    assert k.status_code == 201, k.text
    d = tmp_path_factory.mktemp("agent")
    config = d / "nvr.yaml"
    channels = "\n".join(
        f'  - {{number: {i}, name: "{m.title()}", url: "{rtsp.url(m)}"}}'
        for i, m in enumerate(MOUNTS, start=1)
    )
    config.write_text(
        f"nvr: {{hostname: {HOSTNAME}, deviceName: {DEVICE!r}, region: north}}\n"
        "heartbeatSeconds: 2\nprobeSeconds: 2\nprobeTimeout: 2\n"
        f"channels:\n{channels}\n"
    )
    a = Agent(serve, k.json()["key"], config, d / "agent.log")
    a.start()
    try:
        yield a, nvr_id
    finally:
        a.stop()


def wait_fleet(serve: ServeProcess, nvr_id: str, status: str, reachable: int, what: str) -> None:
    """REST agrees (the NVR's status and how many of its cameras are reachable)."""

    def ok() -> bool:
        n = serve.client.get(f"/api/nvrs/{nvr_id}").json()
        return bool(n["status"] == status and n["cameraCounts"]["online"] == reachable)

    wait_until(ok, 60, what)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_chromium() as b:
        yield b


def signed_in(browser: Any, serve: ServeProcess) -> Any:
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    page.goto(serve.url + "/")
    sign_in(page, "admin", ADMIN_PASSWORD)
    page.locator('[data-connection="connected"]').wait_for()
    return ctx, page


def open_route(ctx: Any, serve: ServeProcess, route: str) -> Any:
    """Another tab of the signed-in context (its own hub socket) on ``route``."""
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    page.goto(serve.url + route)
    page.locator('[data-connection="connected"]').wait_for()
    return page


def kpi(page: Any, name: str, value: int) -> Any:
    return page.locator(f'[data-testid="kpi-{name}"] [data-value="{value}"]')


def row(page: Any, nvr_id: str, status: str) -> Any:
    return page.locator(f'[data-nvr-id="{nvr_id}"][data-nvr-status="{status}"]')


def test_agent_killed_and_back_live_on_the_three_pages(
    browser: Any, serve: ServeProcess, agent: tuple[Agent, str]
) -> None:
    a, nvr_id = agent
    wait_fleet(serve, nvr_id, "online", len(MOUNTS), "the agent registered, both channels up")

    ctx, ops = signed_in(browser, serve)
    try:
        ops.goto(serve.url + "/operations")
        kpi(ops, "nvrs", 1).wait_for()
        kpi(ops, "cameras", len(MOUNTS)).wait_for()
        kpi(ops, "cameras-offline", 0).wait_for()
        nvrs = open_route(ctx, serve, "/nvrs")
        row(nvrs, nvr_id, "online").wait_for()
        save_screenshot(ops, "operations-online", full_page=True)

        a.kill()
        # Operations: the KPI moves; NVRs: the row turns offline and a toast names the NVR.
        kpi(ops, "cameras-offline", len(MOUNTS)).wait_for()
        kpi(ops, "nvrs-offline", 1).wait_for()
        row(nvrs, nvr_id, "offline").wait_for()
        toast = nvrs.locator("[data-sonner-toast]").filter(has_text=f"NVR {DEVICE} offline")
        toast.wait_for()
        assert f"{len(MOUNTS)} cameras affected" in toast.inner_text()
        ops.locator('[data-event-kind="nvr-offline"]').first.wait_for()
        save_screenshot(ops, "operations-nvr-offline", full_page=True)
        # The drawer of the offline NVR: its cameras offline with the NVR's reason.
        nvrs.locator(f'[data-nvr-id="{nvr_id}"] button').first.click()
        drawer = nvrs.locator('[data-testid="nvr-drawer"]')
        drawer.locator('[data-reachability="offline"]').nth(len(MOUNTS) - 1).wait_for()
        save_screenshot(nvrs, "nvrs-offline-drawer", full_page=True)

        a.start()
        # The toast first: it comes with the agent's registration and times out after a few
        # seconds, while the cameras come back only once the agent has probed them.
        nvrs.locator("[data-sonner-toast]").filter(has_text=f"NVR {DEVICE} back online").wait_for(
            timeout=60_000
        )
        kpi(ops, "cameras-offline", 0).wait_for(timeout=60_000)
        kpi(ops, "nvrs-offline", 0).wait_for()
        row(nvrs, nvr_id, "online").wait_for()
        drawer.locator('[data-reachability="online"]').nth(len(MOUNTS) - 1).wait_for()
        save_screenshot(nvrs, "nvrs-back-online", full_page=True)

        cams = open_route(ctx, serve, "/cameras")
        cams.get_by_label("Group by").select_option("nvr")
        cams.locator(f'[data-group="{DEVICE}"]').wait_for()
        assert cams.locator("[data-camera-id]").count() == len(MOUNTS)
        save_screenshot(cams, "cameras-grouped-by-nvr", full_page=True)
    finally:
        ctx.close()
        if a.proc is not None and a.proc.poll() is not None:
            print("agent log:\n" + log_tail(a.log))
