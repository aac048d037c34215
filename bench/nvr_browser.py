"""NVR fleet in the browser (issue 11): real headless Chromium (Debian ``chromium`` driven by
Playwright) against the real app (uvicorn on 127.0.0.1, SQLite) holding 500 NVRs × 16
cameras (8,000), seeded through the repositories.

Figures:

* **first render** — navigation to ``/nvrs`` → first NVR row in the DOM and painted (the
  next animation frame), in ``performance.now()`` ms since navigation start, signed in
  already (tokens restored into a fresh context per run: cold HTTP cache). Goal < 1 s.
  The same for ``/cameras`` (8,000 rows, virtualised) and ``/operations`` (first KPI card).
* **long tasks** — ``PerformanceObserver({type: 'longtask'})`` entries (> 50 ms) while the
  server pushes ``--rate`` camera reachability changes per second for ``--window`` s (each
  persisted, then broadcast as the cascade does: ``camera-status-update`` with the camera,
  ``nvr_status_update`` with the NVR's new counts, ``stats:updated`` with the summary at
  most every 500 ms; every 2 s an NVR goes offline or comes back, its 16 cameras with it,
  ``nvr_offline``/``nvr_online``), the page scrolling its table all the while. Goal: none.
* **main-thread tasks** — the same window traced (``toplevel``): tasks of the renderer's
  main thread over 50 ms of wall time and over 50 ms of thread CPU time (``tdur``). On a
  shared machine (2 cores, other jobs) wall time includes waiting for a core; CPU time is
  the page's own work.
* **JS heap** — ``Runtime.getHeapUsage`` (used bytes) after the first render and after the
  window.

Usage: ``PYTHONPATH=src .venv/bin/python bench/nvr_browser.py [--runs 5] [--window 10]
[--rate 100]``; prints JSON and writes ``bench/results/nvr_browser.json``. Needs the built
web app (``cd frontend && npm run build``). The machine is shared (2 cores): the load
average is recorded with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from sqlalchemy import select  # noqa: E402

from beholder.api.events import fan_out  # noqa: E402
from beholder.api.views import camera_out, public_camera  # noqa: E402
from beholder.contracts import hub as hub_messages  # noqa: E402
from beholder.contracts.nvr import CameraCounts, NvrOut  # noqa: E402
from beholder.db.models import Camera, Nvr  # noqa: E402
from beholder.db.repositories import stats as stats_repo  # noqa: E402
from support.api import LiveApi, start_live_api, stop_live_api  # noqa: E402
from support.browser import launch_chromium  # noqa: E402
from support.settings import ADMIN_PASSWORD, make_settings  # noqa: E402

WEB = ROOT / "src" / "beholder" / "web"
RESULTS = ROOT / "bench" / "results" / "nvr_browser.json"
# route, the element whose appearance is its first render, the element that scrolls
PAGES = (
    ("/nvrs", "nvrs", '[data-testid="nvr-scroller"]'),
    ("/cameras", "cameras", '[data-testid="camera-scroller"]'),
    ("/operations", "operations", None),
)
REGIONS = ("north", "south", "east", "west", "central")
CHANNELS = 16

# Runs before the app: long tasks, and the first time a selector's element is in the DOM
# (then painted: the next animation frame).
PROBE = """
(() => {
  const m = { longTasks: [], first: {} };
  window.__nvrb = m;
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries())
        m.longTasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  } catch (e) { m.noLongTask = String(e); }
  const watch = {
    nvrs: '[data-nvr-id]',
    cameras: '[data-camera-id]',
    operations: '[data-testid="kpi-nvrs"]',
  };
  const check = () => {
    for (const [k, sel] of Object.entries(watch)) {
      if (m.first[k] === undefined && document.querySelector(sel)) {
        m.first[k] = null;
        const dom = performance.now();
        requestAnimationFrame(() => { m.first[k] = { dom, painted: performance.now() }; });
      }
    }
  };
  new MutationObserver(check).observe(document, { childList: true, subtree: true });
})();
"""

# When the pieces of the first render arrived (ms since navigation start): the entry script,
# the route's lazy chunk, the REST answers it waited for (responseEnd, and their duration).
BREAKDOWN = r"""
() => {
  const out = {};
  const nav = performance.getEntriesByType('navigation')[0];
  if (nav) out.documentMs = Math.round(nav.responseEnd);
  for (const e of performance.getEntriesByType('resource')) {
    const u = new URL(e.name);
    const p = u.pathname;
    let k = null;
    if (/\/assets\/index-.*\.js$/.test(p)) k = 'entryJs';
    else if (/\/assets\/(Nvrs|Cameras|Operations)Page-.*\.js$/.test(p)) k = 'routeChunk';
    else if (p === '/api/nvrs' || p === '/api/cameras' || p === '/api/stats/summary'
             || p === '/api/auth/me') k = p;
    if (k && out[k] === undefined)
      out[k] = { endMs: Math.round(e.responseEnd), durMs: Math.round(e.duration) };
  }
  return out;
}
"""

SCROLL = """
(sel) => {
  const el = document.querySelector(sel);
  if (!el) return false;
  let dir = 1;
  window.__nvrbScroll = setInterval(() => {
    el.scrollTop += dir * 480;
    if (el.scrollTop + el.clientHeight >= el.scrollHeight - 2) dir = -1;
    if (el.scrollTop <= 0) dir = 1;
  }, 50);
  return true;
}
"""


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


class Fleet:
    """The seeded fleet, kept in memory to describe the NVRs without a query per change."""

    def __init__(self) -> None:
        self.nvrs: list[Nvr] = []
        self.by_id: dict[str, Nvr] = {}
        self.cameras: dict[str, list[Camera]] = {}

    async def load(self, s: Any) -> None:
        """The rows, attached to ``s`` (the pusher's session)."""
        self.nvrs = list((await s.execute(select(Nvr).order_by(Nvr.hostname))).scalars())
        self.by_id = {n.id: n for n in self.nvrs}
        self.cameras = {n.id: [] for n in self.nvrs}
        q = select(Camera).where(Camera.nvr_id.is_not(None))
        for cam in (await s.execute(q)).scalars():
            self.cameras[str(cam.nvr_id)].append(cam)

    def counts(self, nvr_id: str) -> CameraCounts:
        cams = self.cameras[nvr_id]
        c = CameraCounts(total=len(cams))
        by_status: dict[str, int] = {}
        for cam in cams:
            setattr(c, cam.reachability, getattr(c, cam.reachability) + 1)
            by_status[cam.status] = by_status.get(cam.status, 0) + 1
        c.by_status = by_status
        return c

    def nvr_out(self, n: Nvr) -> NvrOut:
        return NvrOut(
            id=n.id,
            hostname=n.hostname,
            device_name=n.device_name,
            region=n.region,
            site=n.site,
            model=n.model,
            firmware=n.firmware,
            status=n.status,  # type: ignore[arg-type]
            last_seen=n.last_seen_at,
            camera_counts=self.counts(n.id),
            created_at=n.created_at,
            updated_at=n.updated_at,
        )


async def seed(api: LiveApi, nvrs: int) -> None:
    """``nvrs`` NVRs (online, 5 regions) × 16 cameras (reachable), straight into the
    database (ORM rows through one session, as the repositories write them)."""
    made: list[Nvr] = []
    site_no = 0
    now = datetime.now(UTC)
    async with api.state.db.session() as s:
        for i in range(nvrs):
            n = Nvr(
                hostname=f"site-{i:04d}-nvr",
                device_name=f"Site {i:04d} recorder",
                region=REGIONS[i % len(REGIONS)],
                site=f"Site {i:04d}",
                model="DS-7616NI",
                firmware="V4.30",
                status="online",
                last_seen_at=now,
                created_at=now,
                updated_at=now,
            )
            s.add(n)
            made.append(n)
        await s.flush()
        for n in made:
            host = f"10.1.{site_no // 250}.{site_no % 250}"
            cams = [
                Camera(
                    name=f"{n.device_name} ch{ch}",
                    rtsp_url=f"rtsp://admin:secret@{host}:554/Streaming/Channels/{ch}01",
                    nvr_id=n.id,
                    nvr_channel=ch,
                    enabled=True,
                    face_detection_enabled=False,
                    reachability="online",
                    created_at=now,
                    updated_at=now,
                )
                for ch in range(1, CHANNELS + 1)
            ]
            s.add_all(cams)
            site_no += 1
        await s.commit()


class Pusher:
    """Changes persisted then broadcast, as the cascade does, at ``rate`` per second."""

    def __init__(self, api: LiveApi, rate: int) -> None:
        self.api = api
        self.fleet = Fleet()
        self.rate = rate
        self.sent = {"changes": 0, "camera": 0, "nvr": 0, "summary": 0}
        self.rng = random.Random(11)

    async def run(self, seconds: float) -> None:
        state = self.api.state
        loop = asyncio.get_running_loop()
        start = loop.time()
        tick = 0.1  # changes go out in 10 batches per second
        last_summary = 0.0
        last_nvr_flip = start
        async with state.db.session() as s:
            await self.fleet.load(s)
            all_nvrs = self.fleet.nvrs
            while (now := loop.time()) - start < seconds:
                changed: list[Camera] = []
                flipped: list[tuple[Nvr, bool]] = []
                stamp = datetime.now(UTC)
                # catch up when a tick ran late (the machine is shared): the rate holds
                due = round(self.rate * (now - start + tick)) - self.sent["changes"]
                for _ in range(max(0, due)):
                    self.sent["changes"] += 1
                    n = self.rng.choice(all_nvrs)
                    cam = self.rng.choice(self.fleet.cameras[n.id])
                    cam.reachability = "offline" if cam.reachability == "online" else "online"
                    cam.reachability_detail = "timeout" if cam.reachability == "offline" else None
                    cam.updated_at = stamp
                    changed.append(cam)
                if now - last_nvr_flip >= 2.0:
                    last_nvr_flip = now
                    n = self.rng.choice(all_nvrs)
                    going_off = n.status == "online"
                    n.status = "offline" if going_off else "online"
                    n.updated_at = stamp
                    if not going_off:
                        n.last_seen_at = stamp
                    for cam in self.fleet.cameras[n.id]:
                        cam.reachability = "offline" if going_off else "online"
                        cam.reachability_detail = "NVR offline" if going_off else None
                        cam.updated_at = stamp
                        changed.append(cam)
                    flipped.append((n, going_off))
                await s.commit()  # persist first, then broadcast
                touched: dict[str, Nvr] = {}
                for cam in changed:
                    out = public_camera(camera_out(cam))
                    msg = hub_messages.camera_status_update(
                        cam.id, out.status, details=out.status_detail, camera=out
                    )
                    await fan_out(state, "cameras", msg, camera_id=cam.id)
                    self.sent["camera"] += 1
                    nvr = self.fleet.by_id[str(cam.nvr_id)]
                    touched[nvr.id] = nvr
                for n, off in flipped:
                    await fan_out(
                        state,
                        "nvrs",
                        hub_messages.nvr_connectivity(
                            nvr_id=n.id,
                            hostname=n.hostname,
                            device_name=n.device_name,
                            region=n.region,
                            online=not off,
                            cameras_updated=CHANNELS,
                        ),
                    )
                for n in touched.values():
                    n.updated_at = stamp
                    await fan_out(
                        state, "nvrs", hub_messages.nvr_status_update(self.fleet.nvr_out(n))
                    )
                    self.sent["nvr"] += 1
                if now - last_summary >= 0.5:
                    last_summary = now
                    summary = await stats_repo.summary(s)
                    await fan_out(state, "nvrs", hub_messages.summary_updated(summary))
                    self.sent["summary"] += 1
                await asyncio.sleep(max(0.0, tick - (loop.time() - now)))


async def api_times(api: LiveApi, runs: int) -> dict[str, Any]:
    """Server time of the REST calls the pages wait for (ms, median of ``runs``)."""
    headers = await api.headers("admin")
    out: dict[str, Any] = {}
    for path in ("/api/nvrs?limit=500", "/api/cameras", "/api/stats/summary"):
        ms = []
        for _ in range(runs):
            t0 = time.perf_counter()
            r = await api.client.get(path, headers=headers)
            ms.append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
        out[path] = {"medianMs": median(ms), "bytes": len(r.content)}
    return out


async def sign_in_state(browser: Any, base: str) -> Any:
    ctx = await browser.new_context(viewport={"width": 1400, "height": 900})
    page = await ctx.new_page()
    await page.goto(base + "/")
    await page.get_by_label("Username").fill("admin")
    await page.get_by_label("Password").fill(ADMIN_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.locator('[data-connection="connected"]').wait_for(timeout=30_000)
    state = await ctx.storage_state()
    await ctx.close()
    return state


async def first_render(
    browser: Any, base: str, storage: Any, route: str, key: str
) -> dict[str, Any]:
    ctx = await browser.new_context(viewport={"width": 1400, "height": 900}, storage_state=storage)
    await ctx.add_init_script(PROBE)
    page = await ctx.new_page()
    try:
        await page.goto(base + route)
        await page.wait_for_function(
            "(k) => window.__nvrb && window.__nvrb.first[k]", arg=key, timeout=30_000
        )
        first = await page.evaluate("(k) => window.__nvrb.first[k]", key)
        marks = await page.evaluate(BREAKDOWN)
        return {"paintedMs": round(float(first["painted"]), 1), **marks}
    finally:
        await ctx.close()


def main_thread_tasks(trace: bytes) -> dict[str, Any]:
    """Top-level tasks of the renderers' main threads (``CrRendererMain``) in a Chromium
    trace: how many ran over 50 ms of wall time, and of thread CPU time."""
    events = json.loads(trace)["traceEvents"]
    mains = {
        (e["pid"], e["tid"])
        for e in events
        if e.get("ph") == "M"
        and e.get("name") == "thread_name"
        and e.get("args", {}).get("name") == "CrRendererMain"
    }
    wall: list[float] = []
    cpu: list[float] = []
    for e in events:
        if e.get("ph") != "X" or (e.get("pid"), e.get("tid")) not in mains:
            continue
        if e.get("name") not in ("ThreadControllerImpl::RunTask", "RunTask"):
            continue
        wall.append(e.get("dur", 0) / 1000)
        cpu.append(e.get("tdur", 0) / 1000)
    return {
        "tasks": len(wall),
        "over50msWall": sum(1 for x in wall if x > 50),
        "over50msCpu": sum(1 for x in cpu if x > 50),
        "maxWallMs": round(max(wall, default=0), 1),
        "maxCpuMs": round(max(cpu, default=0), 1),
        "cpuMsTotal": round(sum(cpu), 1),
    }


async def top_functions(cdp: Any, n: int = 20) -> list[str]:
    """The page's functions by self time over the window (CPU profile), for --profile."""
    prof = (await cdp.send("Profiler.stop"))["profile"]
    dt = statistics.mean(prof["timeDeltas"]) / 1000 if prof.get("timeDeltas") else 0.5
    self_ms: dict[str, float] = {}
    for node in prof["nodes"]:
        cf = node["callFrame"]
        where = f"{cf['functionName'] or '(anon)'} {Path(cf['url']).name}:{cf['lineNumber']}"
        self_ms[where] = self_ms.get(where, 0.0) + node.get("hitCount", 0) * dt
    ranked = sorted(self_ms.items(), key=lambda kv: -kv[1])[:n]
    return [f"{ms:8.1f} ms  {where}" for where, ms in ranked]


async def heap(cdp: Any) -> int:
    await cdp.send("HeapProfiler.collectGarbage")
    return int((await cdp.send("Runtime.getHeapUsage"))["usedSize"])


async def live_window(
    browser: Any,
    api: LiveApi,
    storage: Any,
    route: str,
    key: str,
    scroll: str | None,
    args: argparse.Namespace,
) -> dict[str, Any]:
    ctx = await browser.new_context(viewport={"width": 1400, "height": 900}, storage_state=storage)
    await ctx.add_init_script(PROBE)
    page = await ctx.new_page()
    cdp = await ctx.new_cdp_session(page)
    try:
        await page.goto(api.url + route)
        await page.wait_for_function("(k) => window.__nvrb.first[k]", arg=key, timeout=30_000)
        await page.locator('[data-connection="connected"]').wait_for(timeout=30_000)
        await asyncio.sleep(2.0)  # settle: the initial load's tasks are not the window's
        heap_before = await heap(cdp)
        await page.evaluate("() => { window.__nvrb.longTasks = []; }")
        if scroll and not args.no_scroll:
            await page.evaluate(SCROLL, scroll)
        if args.profile:
            await cdp.send("Profiler.enable")
            await cdp.send("Profiler.setSamplingInterval", {"interval": 500})
            await cdp.send("Profiler.start")
        await browser.start_tracing(page=page, categories=["toplevel", "devtools.timeline"])
        pusher = Pusher(api, args.rate)
        t0 = time.monotonic()
        load0 = os.getloadavg()[0]
        await pusher.run(args.window)
        elapsed = time.monotonic() - t0
        await asyncio.sleep(0.5)  # the last batch renders
        tasks = await page.evaluate("() => window.__nvrb.longTasks")
        await page.evaluate("() => clearInterval(window.__nvrbScroll)")
        tasks_cpu = main_thread_tasks(await browser.stop_tracing())
        top = await top_functions(cdp) if args.profile else None
        heap_after = await heap(cdp)
        durations = sorted(t["duration"] for t in tasks)
        return {
            "route": route,
            "seconds": round(elapsed, 1),
            "sent": pusher.sent,
            "cameraChangesPerSecond": round(pusher.sent["camera"] / elapsed, 1),
            "scrolling": bool(scroll) and not args.no_scroll,
            "longTasks": len(durations),
            "longTaskMaxMs": round(durations[-1], 1) if durations else 0,
            "longTasksMs": [round(d, 1) for d in durations[-10:]],
            # the same window from a trace: the renderer's main-thread tasks by wall time
            # and by thread CPU time (tdur): on a shared machine a task's wall time
            # includes the time the thread waited for a core
            "mainThreadTasks": tasks_cpu,
            "heapUsedMBBefore": round(heap_before / 2**20, 1),
            "heapUsedMBAfter": round(heap_after / 2**20, 1),
            "loadAvg1mAtStart": load0,
            "goal": "no long task (> 50 ms)",
            **({"profileTop": top} if top else {}),
        }
    finally:
        await ctx.close()


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    if not (WEB / "index.html").is_file():
        raise SystemExit("web app not built (cd frontend && npm run build)")
    with tempfile.TemporaryDirectory(prefix="nvr-browser-") as tmp:
        api = await start_live_api(make_settings(Path(tmp)))
        try:
            t0 = time.monotonic()
            await seed(api, args.nvrs)
            seeded = round(time.monotonic() - t0, 1)
            rest = await api_times(api, max(3, args.runs))
            async with async_playwright() as p:
                browser = await launch_chromium(p.chromium)
                try:
                    storage = await sign_in_state(browser, api.url)
                    renders: dict[str, Any] = {}
                    windows: list[dict[str, Any]] = []
                    only = set(filter(None, args.only.split(",")))
                    for route, key, _ in PAGES:
                        if only and route not in only:
                            continue
                        runs = [
                            await first_render(browser, api.url, storage, route, key)
                            for _ in range(args.runs)
                        ]
                        ms = [r["paintedMs"] for r in runs]
                        renders[route] = {
                            "runs": runs,
                            "medianMs": median(ms),
                            "goalMs": 1000 if route == "/nvrs" else None,
                        }
                    for route, key, scroller in PAGES:
                        if only and route not in only:
                            continue
                        windows.append(
                            await live_window(browser, api, storage, route, key, scroller, args)
                        )
                finally:
                    await browser.close()
        finally:
            await stop_live_api(api)
    return {
        "bench": "nvr_browser",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "fleet": {"nvrs": args.nvrs, "cameras": args.nvrs * CHANNELS, "seedSeconds": seeded},
        "rest": rest,
        "firstRender": renders,
        "liveWindows": windows,
        "loadAvg": os.getloadavg(),
        "cpus": os.cpu_count(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--nvrs", type=int, default=500)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--window", type=float, default=10.0, help="seconds of changes per page")
    ap.add_argument("--rate", type=int, default=100, help="camera changes per second")
    ap.add_argument("--no-scroll", action="store_true", help="changes only, no scrolling")
    ap.add_argument("--profile", action="store_true", help="CPU profile of each window")
    ap.add_argument("--only", default="", help="comma-separated routes to run (default all)")
    args = ap.parse_args()
    result = asyncio.run(main_async(args))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
