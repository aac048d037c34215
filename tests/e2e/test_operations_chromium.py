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

import contextlib
import os
import signal
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
from fixtures.rtsp_server import MEDIA_DIR, RtspServer, free_port  # noqa: E402
from support.browser import CHROMIUM, launch_chromium  # noqa: E402
from support.command import beholder_argv  # noqa: E402
from support.polling import wait_until  # noqa: E402
from support.settings import TEST_CAMERA_NETWORKS  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.rtsp, pytest.mark.slow]

WEB_INDEX = ROOT / "src" / "beholder" / "web" / "index.html"
ARTIFACTS = ROOT / "artifacts" / "e2e"
ADMIN_PASSWORD = "e2e-admin-password-1"
HOSTNAME = "e2e-site-nvr"
DEVICE = "E2E recorder"
MOUNTS = ("gate", "yard")


@pytest.fixture(scope="module")
def rtsp() -> Iterator[RtspServer]:
    if not Path("/usr/bin/python3").exists():
        pytest.skip("system python3 (for the GStreamer RTSP server) is missing")
    server = RtspServer({m: MEDIA_DIR / "street-cars-no-faces.mp4" for m in MOUNTS})
    try:
        server.start()
    except (RuntimeError, FileNotFoundError, OSError) as exc:
        pytest.skip(f"RTSP fixture unavailable: {exc}")
    yield server
    server.stop()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _tail(path: Path, n: int = 40) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    return ""


@dataclass
class Serve:
    base: str
    proc: subprocess.Popen[bytes]
    log: Path
    client: httpx.Client


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    if not WEB_INDEX.is_file():
        pytest.skip("web app not built (npm --prefix frontend run build)")
    data = tmp_path_factory.mktemp("e2e-nvr")
    port = free_port()
    env = {
        **os.environ,
        "BEHOLDER_DATA_DIR": str(data),
        "BEHOLDER_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "BEHOLDER_WEBRTC_HOSTS": "127.0.0.1",
        "BEHOLDER_CAMERA_NETWORKS": TEST_CAMERA_NETWORKS,
        "BEHOLDER_RATE_LIMIT_LOGIN": "1000/minute",
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
    base = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=base, timeout=10)
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"beholder serve exited:\n{_tail(log)}")
            with contextlib.suppress(httpx.HTTPError):
                return client.get("/api/system/ready").status_code == 200
            return False

        wait_until(ready, 30, "beholder serve to be ready")
        tok = client.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        tok.raise_for_status()
        client.headers["Authorization"] = f"Bearer {tok.json()['accessToken']}"
        yield Serve(base, proc, log, client)
    finally:
        client.close()
        _stop(proc)


class Agent:
    """``beholder nvr-agent`` as a separate process (started, killed, started again)."""

    def __init__(self, serve: Serve, key: str, config: Path, log: Path) -> None:
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
                    self.serve.base,
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
            _stop(self.proc)


@pytest.fixture(scope="module")
def agent(
    serve: Serve, rtsp: RtspServer, tmp_path_factory: pytest.TempPathFactory
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


def wait_fleet(serve: Serve, nvr_id: str, status: str, reachable: int, what: str) -> None:
    """REST agrees (the NVR's status and how many of its cameras are reachable)."""

    def ok() -> bool:
        n = serve.client.get(f"/api/nvrs/{nvr_id}").json()
        return bool(n["status"] == status and n["cameraCounts"]["online"] == reachable)

    wait_until(ok, 60, what)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = launch_chromium(p.chromium)
        yield b
        b.close()


def signed_in(browser: Any, serve: Serve) -> Any:
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    page.goto(serve.base + "/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.locator('[data-connection="connected"]').wait_for()
    return ctx, page


def open_route(ctx: Any, serve: Serve, route: str) -> Any:
    """Another tab of the signed-in context (its own hub socket) on ``route``."""
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    page.goto(serve.base + route)
    page.locator('[data-connection="connected"]').wait_for()
    return page


def kpi(page: Any, name: str, value: int) -> Any:
    return page.locator(f'[data-testid="kpi-{name}"] [data-value="{value}"]')


def row(page: Any, nvr_id: str, status: str) -> Any:
    return page.locator(f'[data-nvr-id="{nvr_id}"][data-nvr-status="{status}"]')


def shot(page: Any, name: str) -> None:
    """Save a screenshot once finite animations (the drawer sliding in) have ended."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.evaluate(
        """() => Promise.all(document.getAnimations()
            .filter(a => Number.isFinite(a.effect?.getComputedTiming().endTime))
            .map(a => a.finished.catch(() => undefined)))"""
    )
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_agent_killed_and_back_live_on_the_three_pages(
    browser: Any, serve: Serve, agent: tuple[Agent, str]
) -> None:
    a, nvr_id = agent
    wait_fleet(serve, nvr_id, "online", len(MOUNTS), "the agent registered, both channels up")

    ctx, ops = signed_in(browser, serve)
    try:
        ops.goto(serve.base + "/operations")
        kpi(ops, "nvrs", 1).wait_for()
        kpi(ops, "cameras", len(MOUNTS)).wait_for()
        kpi(ops, "cameras-offline", 0).wait_for()
        nvrs = open_route(ctx, serve, "/nvrs")
        row(nvrs, nvr_id, "online").wait_for()
        shot(ops, "operations-online")

        a.kill()
        # Operations: the KPI moves; NVRs: the row turns offline and a toast names the NVR.
        kpi(ops, "cameras-offline", len(MOUNTS)).wait_for()
        kpi(ops, "nvrs-offline", 1).wait_for()
        row(nvrs, nvr_id, "offline").wait_for()
        toast = nvrs.locator("[data-sonner-toast]").filter(has_text=f"NVR {DEVICE} offline")
        toast.wait_for()
        assert f"{len(MOUNTS)} cameras affected" in toast.inner_text()
        ops.locator('[data-event-kind="nvr-offline"]').first.wait_for()
        shot(ops, "operations-nvr-offline")
        # The drawer of the offline NVR: its cameras offline with the NVR's reason.
        nvrs.locator(f'[data-nvr-id="{nvr_id}"] button').first.click()
        drawer = nvrs.locator('[data-testid="nvr-drawer"]')
        drawer.locator('[data-reachability="offline"]').nth(len(MOUNTS) - 1).wait_for()
        shot(nvrs, "nvrs-offline-drawer")

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
        shot(nvrs, "nvrs-back-online")

        cams = open_route(ctx, serve, "/cameras")
        cams.get_by_label("Group by").select_option("nvr")
        cams.locator(f'[data-group="{DEVICE}"]').wait_for()
        assert cams.locator("[data-camera-id]").count() == len(MOUNTS)
        shot(cams, "cameras-grouped-by-nvr")
    finally:
        ctx.close()
        if a.proc is not None and a.proc.poll() is not None:
            print("agent log:\n" + _tail(a.log))
