"""The web app through the local cluster's load balancer, in real headless Chromium (Debian
``chromium`` via Playwright): ``beholder cluster up`` with 2 apis and 2 workers behind nginx
(short leases), a camera on the RTSP fixture. Sign in, the camera's tile plays live video
from the worker holding it (worker B); ``kill -9`` worker B: the camera moves to the other
worker and the same tile plays again on its own (no reload, no click).

Needs the built web app (``src/beholder/web``). A screenshot after the recovery goes to
``artifacts/e2e/cluster-failover.png``."""

from __future__ import annotations

import shutil
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from fixtures.rtsp_server import RtspServer
from support.browser import ARTIFACTS, CHROMIUM, WEB_INDEX, async_chromium, sign_in_async
from support.cluster_probe import leases, registered_workers
from support.cluster_up import FAST_LEASES, LocalCluster
from support.polling import eventually
from support.settings import ADMIN_PASSWORD

pytestmark = [
    pytest.mark.browser,
    pytest.mark.rtsp,
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian chromium is not installed"),
    pytest.mark.skipif(not WEB_INDEX.exists(), reason="the web app is not built"),
]


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[LocalCluster]:
    local = LocalCluster(
        tmp_path, apis=2, workers=2, **FAST_LEASES, BEHOLDER_CLUSTER_REBALANCE_MOVES_PER_MINUTE="0"
    )
    try:
        await local.start()
        yield local
    finally:
        await local.stop()


async def _video_time(tile: Any) -> float:
    return float(await tile.locator("video").evaluate("v => v.currentTime"))


async def _wait_playing(tile: Any, timeout: float) -> None:
    start = await _video_time(tile)

    async def advanced() -> bool:
        return await _video_time(tile) > start + 1.0

    await eventually(advanced, timeout, "the tile's video to play", every=0.25)


async def test_a_tile_recovers_on_its_own_when_the_worker_holding_its_camera_dies(
    cluster: LocalCluster,
    rtsp_server_factory: Callable[..., RtspServer],
    rtsp_media: dict[str, Path],
) -> None:
    rtsp = rtsp_server_factory({"faces": rtsp_media["two"]})

    async def both_registered() -> bool:
        return len(await registered_workers(cluster.nats.url)) == 2

    await eventually(both_registered, 30, "2 workers registered", every=0.3)
    camera_id = await cluster.add_camera("lobby", rtsp.url("faces"))
    await cluster.wait_for_camera_status([camera_id], "PROCESSING", timeout=60)
    worker_b = (await leases(cluster.nats.url))[camera_id].worker_id

    async with async_chromium() as browser:
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(20_000)
        await page.goto(cluster.url + "/")
        await sign_in_async(page, "admin", ADMIN_PASSWORD)
        await page.locator('[data-connection="connected"]').wait_for()
        tile = page.locator('[data-testid="camera-tile"]').filter(
            has=page.get_by_role("heading", name="lobby")
        )
        await tile.wait_for()
        await _wait_playing(tile, 45)

        cluster.kill(worker_b, signal.SIGKILL)

        async def moved() -> bool:
            lease = (await leases(cluster.nats.url)).get(camera_id)
            return lease is not None and lease.worker_id != worker_b

        await eventually(moved, 30, f"the camera taken over from {worker_b}")
        await cluster.wait_for_camera_status([camera_id], "PROCESSING", timeout=45)
        await tile.locator('[data-status="PROCESSING"]').wait_for(timeout=45_000)
        await _wait_playing(tile, 60)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "cluster-failover.png"))
