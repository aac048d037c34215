"""Live view in real headless Chromium (Debian ``chromium`` driven by Playwright): WHEP from a
small page, frames decoded at the source resolution, and the same peer connection keeps
decoding after the ``<video>`` is hidden and shown again."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from support.browser import CHROMIUM, async_chromium
from support.live import WorkerStandIn, create_camera, live_env_fixture
from support.polling import eventually
from support.rtsp import TWO_FACES, WALKING, RtspServer, rtsp_fixture

PAGE = Path(__file__).with_name("whep_page.html")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.rtsp,
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian chromium is not installed"),
]


rtsp = rtsp_fixture(two=TWO_FACES, walk=WALKING)


env = live_env_fixture()


@pytest.fixture
async def page(env: tuple[Any, WorkerStandIn]) -> AsyncIterator[Any]:
    live, _ = env
    async with async_chromium() as browser:
        pg = await browser.new_page()
        pg.on("console", lambda m: print("page:", m.text))
        # serve the test page from the api's origin (same-origin WHEP requests)
        page_url = f"{live.url}/__whep_test__.html"
        html = PAGE.read_text()
        await pg.route(page_url, lambda route: route.fulfill(body=html, content_type="text/html"))
        await pg.goto(page_url)
        yield pg


async def poll_stats(page: Any, timeout: float, want: int) -> dict[str, Any]:
    """The page's WHEP stats once more than ``want`` frames are decoded (fails the test,
    showing the last stats, after ``timeout`` seconds)."""
    last: dict[str, Any] = {}

    async def enough() -> bool:
        last.update(await page.evaluate("whepStats()"))
        return bool(last["framesDecoded"] > want)

    await eventually(enough, timeout, lambda: f"{want}+ frames decoded; last {last}", every=0.25)
    return last


@pytest.mark.parametrize(
    ("mount", "size", "egress"),
    [("two", (480, 270), "passthrough"), ("walk", (768, 432), "transcode")],
)
async def test_chromium_plays_whep(
    env: tuple, rtsp: RtspServer, page: Any, mount: str, size: tuple[int, int], egress: str
) -> None:
    live, worker = env
    cid = await create_camera(live, mount, rtsp.url(mount))
    await worker.start_camera(cid, rtsp.url(mount))
    token = await live.token("viewer")
    res = await page.evaluate("([u, t]) => whepStart(u, t)", [f"/api/cameras/{cid}/whep", token])
    assert res["status"] == 201, res
    assert res["egress"] == egress
    # two: 12 fps clip + the GOP cache in 5 s; walk: 10 fps clip, transcoded, at most 15 fps
    want = 50 if mount == "two" else 30
    stats = await poll_stats(page, 5.0, want)
    assert stats["framesDecoded"] > want, stats
    assert (stats["width"], stats["height"]) == size
    assert stats["codec"] == "video/H264"
    assert stats["state"] == "connected"
    # hide the <video> for 3 s, show it again: the same peer connection keeps decoding
    pc_id = stats["pcId"]
    await page.evaluate("whepSetVisible(false)")
    await asyncio.sleep(3.0)  # hidden for a while: the case under test
    await page.evaluate("whepSetVisible(true)")
    before = (await page.evaluate("whepStats()"))["framesDecoded"]
    after_stats = await poll_stats(page, 5.0, before + 20)
    assert after_stats["pcId"] == pc_id and after_stats["state"] == "connected"
    assert after_stats["framesDecoded"] > before + 20, (before, after_stats)
    assert worker.hub.stats()["sessions"] == 1
    await page.evaluate("([l, t]) => whepStop(l, t)", [res["location"], token])
    await eventually(lambda: worker.hub.stats()["sessions"] == 0, 5, "the WHEP session closed")
    assert worker.hub.stats()["errors"] == 0
