"""First-frame bench: time from the WHEP POST to the first decoded (presented) frame in real
headless Chromium, for 720p25 sources with a 1 s and a 4 s GOP, with and without the
per-camera GOP cache, and for the B-frame clip (transcoded once per camera); plus the
glass-to-glass delay the browser shows (issue 4). Goal: < 500 ms for both GOPs with the cache.

Each configuration runs in its own server process (api + egress hub + RTSP reader, see
``bench/live_view.py``); the RTSP fixture serves the clips and stamps every access unit with
a wall-clock SEI. The page (``tests/e2e/whep_page.html``) measures

* first frame: ``performance.now()`` just before ``fetch(POST offer)`` → first
  ``requestVideoFrameCallback`` (frame handed to the compositor);
* glass-to-glass: for each presented frame, its ``expectedDisplayTime`` (wall clock) minus the
  SEI wall clock the RTSP server wrote when it sent that frame (read from the encoded frame with
  encoded insertable streams, matched by RTP timestamp). This covers RTSP → worker → WebRTC →
  jitter buffer → decode → display; the camera's own capture/encode delay is not included.

Usage: ``.venv/bin/python bench/first_frame.py [--trials 10]``; prints a table and writes
``bench/results/first_frame.json``. The machine is shared: figures are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from live_view import MEDIA_DIR, RtspServer, ServerProcess, clip  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))
from support.browser import launch_chromium  # noqa: E402

PAGE = ROOT / "tests" / "e2e" / "whep_page.html"


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


async def measure(server: ServerProcess, trials: int, latency_seconds: float) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    first: list[float] = []
    post: list[float] = []
    latency: list[float] = []
    async with async_playwright() as p:
        browser = await launch_chromium(p.chromium)
        try:
            page = await browser.new_page()
            url = f"{server.url}/__whep_bench__.html"
            html = PAGE.read_text()
            await page.route(url, lambda route: route.fulfill(body=html, content_type="text/html"))
            whep = f"/api/cameras/{server.camera_id}/whep"
            for i in range(trials):
                await page.goto(url)
                await asyncio.sleep(random.uniform(0.2, 1.5))  # land anywhere in the GOP
                res = await page.evaluate(
                    "([u, t]) => whepStart(u, t, {sei: true})", [whep, server.token]
                )
                if res.get("status") != 201:
                    raise RuntimeError(f"WHEP failed: {res}")
                post.append(res["postMs"])
                ms = None
                for _ in range(200):
                    ms = await page.evaluate("window.whepFirstFrameMs")
                    if ms is not None:
                        break
                    await asyncio.sleep(0.05)
                if ms is None:
                    raise RuntimeError("no frame within 10 s")
                first.append(ms)
                if i == trials - 1:
                    await asyncio.sleep(2.0)  # past the GOP-cache burst
                    await page.evaluate("window.whepLatency = []")
                    await asyncio.sleep(latency_seconds)
                    latency = list(await page.evaluate("window.whepLatency"))
                await page.evaluate("([l, t]) => whepStop(l, t)", [res["location"], server.token])
        finally:
            await browser.close()
    out: dict[str, Any] = {
        "trials": trials,
        "firstFrameMs": {
            "median": round(statistics.median(first), 1),
            "p90": round(pct(first, 0.9), 1),
            "max": round(max(first), 1),
            "all": [round(x, 1) for x in first],
        },
        "postAnswerMs": {"median": round(statistics.median(post), 1)},
    }
    if latency:
        out["glassToGlassMs"] = {
            "samples": len(latency),
            "median": round(statistics.median(latency), 1),
            "p90": round(pct(latency, 0.9), 1),
        }
    return out


CONFIGS = {
    # name: (source, egress settings)
    "gop1s-cache": ("gop1s", {}),
    "gop1s-nocache": ("gop1s", {"egress_gop_cache_bytes": 0}),
    "gop4s-cache": ("gop4s", {}),
    "gop4s-nocache": ("gop4s", {"egress_gop_cache_bytes": 0}),
    "bframes-transcode": ("bframes", {}),
}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    sources = {
        "gop1s": lambda: clip(25),
        "gop4s": lambda: clip(100),
        "bframes": lambda: MEDIA_DIR / "people-walking-one-by-one.mp4",  # Main, B-frames, 10 fps
    }
    results: dict[str, Any] = {}
    for name in args.configs:
        source, egress = CONFIGS[name]
        rtsp = RtspServer({"cam": sources[source]()}, timestamp_sei=True)
        rtsp.start()
        try:
            server = ServerProcess(rtsp.url("cam"), egress)
            try:
                results[name] = await measure(server, args.trials, args.latency_seconds)
                print(name, json.dumps(results[name]), flush=True)
            finally:
                server.close()
        finally:
            rtsp.stop()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=list(CONFIGS))
    ap.add_argument("--latency-seconds", type=float, default=8.0)
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "first_frame.json")
    args = ap.parse_args()
    results = asyncio.run(run(args))
    print(
        f"\n{'config':<16} {'first frame median':>18} {'p90':>7} {'max':>7} "
        f"{'glass-to-glass median':>22} {'p90':>7}"
    )
    for key, r in results.items():
        g = r.get("glassToGlassMs", {})
        print(
            f"{key:<16} {r['firstFrameMs']['median']:>18} {r['firstFrameMs']['p90']:>7} "
            f"{r['firstFrameMs']['max']:>7} {g.get('median', '-')!s:>22} {g.get('p90', '-')!s:>7}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"\nwritten to {args.json}")


if __name__ == "__main__":
    main()
