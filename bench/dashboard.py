"""Dashboard bench (issue 5): the web app in real headless Chromium against a real
``beholder serve`` whose cameras read the GStreamer RTSP fixture.

Figures:

* **bundle** — gzip size of what the initial route loads (``index.html`` plus the entry
  script, its ``modulepreload`` chunks and stylesheets, as the built ``index.html`` names
  them; lazy route chunks listed apart). Goal < 250 KB.
* **first frame** — navigation → first live frame on a tile, the camera already live and the
  browser already signed in (tokens in ``localStorage`` from an earlier sign-in, restored
  into a fresh context per run: cold HTTP cache), then again with a warm cache (reload in the
  same context). Measured in the page: a frame presented on the tile's ``<video>``
  (``requestVideoFrameCallback``), in ``performance.now()`` milliseconds, i.e. since the
  navigation started. Breakdown from Resource Timing: camera list answered, WHEP offer sent
  (after ICE gathering), WHEP answer received. Sign-in is measured apart: the "Sign in"
  submit → first live frame. Goal < 1.5 s on loopback (median).
* **16 tiles** — 16 cameras on one fixture mount (768×432, 12.5 fps H.264), all live on the
  dashboard at once (viewport tall enough for all of them to be in view, so every tile
  decodes); then, over ``--window`` seconds, the CPU time of every Chromium process this
  bench started (browser, renderer, GPU/utility: the descendants of this process whose
  command is chromium) and of the ``serve`` process tree, from ``/proc`` via psutil, as % of
  one core; plus the frames the tiles presented (``getVideoPlaybackQuality``) to show that
  they all played. Face detection is off for those cameras unless ``--detection``.

Usage: ``.venv/bin/python bench/dashboard.py [--runs 5] [--tiles 16] [--window 20]``; prints
a JSON summary and writes ``bench/results/dashboard.json``. Needs the built web app
(``cd frontend && npm run build``). The machine is shared (2 cores): figures are noisy; the
machine's load average and total CPU use during the window are recorded with them.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from fixtures.rtsp_server import MEDIA_DIR, RtspServer, free_port  # noqa: E402
from support.browser import launch_chromium  # noqa: E402
from support.polling import wait_until  # noqa: E402

WEB = ROOT / "src" / "beholder" / "web"
RESULTS = ROOT / "bench" / "results" / "dashboard.json"
ADMIN_PASSWORD = "bench-admin-password-1"
SERVE = [sys.executable, "-m", "beholder", "serve"]

# Runs before the app: marks the first presented frame of any <video> and the sign-in submit.
PROBE = """
(() => {
  const m = { firstFrame: null, submitAt: null };
  window.__bh = m;
  const hook = (v) => {
    if (v.__bhHooked) return;
    v.__bhHooked = true;
    const onFrame = (now, meta) => {
      if (m.firstFrame !== null) return;
      m.firstFrame = meta && meta.presentationTime ? meta.presentationTime : now;
    };
    if (typeof v.requestVideoFrameCallback === 'function') v.requestVideoFrameCallback(onFrame);
    else v.addEventListener('timeupdate', () => {
      if (v.currentTime > 0 && m.firstFrame === null) m.firstFrame = performance.now();
    });
  };
  new MutationObserver(() => document.querySelectorAll('video').forEach(hook))
    .observe(document, { childList: true, subtree: true });
  document.addEventListener('submit', () => {
    if (m.submitAt === null) m.submitAt = performance.now();
  }, true);
})();
"""

FRAME_SEEN = "() => window.__bh && window.__bh.firstFrame !== null"

TIMINGS = """
() => {
  const res = performance.getEntriesByType('resource');
  const first = (pred) => res.find(pred) || null;
  const nav = performance.getEntriesByType('navigation')[0];
  const cams = first((e) => /\\/api\\/cameras(\\?|$)/.test(e.name));
  const whep = res.filter((e) => /\\/whep$/.test(e.name));
  const ok = whep.length ? whep[whep.length - 1] : null;
  const r = (x) => (x === null || x === undefined ? null : Math.round(x));
  return {
    firstFrameMs: r(window.__bh.firstFrame),
    submitAtMs: r(window.__bh.submitAt),
    domContentLoadedMs: r(nav && nav.domContentLoadedEventEnd),
    cameraListMs: r(cams && cams.responseEnd),
    whepOfferSentMs: r(ok && ok.startTime),
    whepAnswerMs: r(ok && ok.responseEnd),
    whepPosts: whep.length,
  };
}
"""


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


# --- bundle ----------------------------------------------------------------------------------


def bundle_sizes() -> dict[str, Any]:
    index = WEB / "index.html"
    html = index.read_text()
    initial = ["index.html"]
    for ref in re.findall(r'(?:src|href)="/?(assets/[^"]+\.(?:js|css))"', html):
        if ref not in initial:
            initial.append(ref)

    def gz(path: Path) -> int:
        return len(gzip.compress(path.read_bytes(), compresslevel=9))

    files = {rel: {"bytes": (WEB / rel).stat().st_size, "gzip": gz(WEB / rel)} for rel in initial}
    lazy = {
        f"assets/{p.name}": {"bytes": p.stat().st_size, "gzip": gz(p)}
        for p in sorted((WEB / "assets").iterdir())
        if f"assets/{p.name}" not in files and p.suffix in (".js", ".css")
    }
    total = sum(f["gzip"] for f in files.values())
    return {
        "initialRouteGzipBytes": total,
        "initialRouteGzipKB": round(total / 1024, 1),
        "initialRouteRawBytes": sum(f["bytes"] for f in files.values()),
        "goalKB": 250,
        "initialFiles": files,
        "lazyFiles": lazy,
    }


# --- real parts --------------------------------------------------------------------------------


class Serve:
    def __init__(self, data: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = data / "serve.log"
        env = {
            **os.environ,
            "BEHOLDER_DATA_DIR": str(data),
            "BEHOLDER_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "BEHOLDER_WEBRTC_HOSTS": "127.0.0.1",
            "BEHOLDER_RATE_LIMIT_LOGIN": "1000/minute",
        }
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [*SERVE, "--host", "127.0.0.1", "--port", str(self.port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=data,
            )
        self.client = httpx.Client(base_url=self.base, timeout=10)

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"beholder serve exited; see {self.log}")
            with contextlib.suppress(httpx.HTTPError):
                return self.client.get("/api/system/ready").status_code == 200
            return False

        wait_until(ready, 60, "beholder serve to be ready", error=TimeoutError)
        tok = self.client.post(
            "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        tok.raise_for_status()
        self.client.headers["Authorization"] = f"Bearer {tok.json()['accessToken']}"

    def add_camera(self, name: str, url: str, detection: bool) -> str:
        r = self.client.post(
            "/api/cameras",
            json={"name": name, "rtspUrl": url, "faceDetectionEnabled": detection},
        )
        r.raise_for_status()
        cid = str(r.json()["id"])
        self.client.post(f"/api/cameras/{cid}/start").raise_for_status()
        return cid

    def statuses(self) -> dict[str, str]:
        items = self.client.get("/api/cameras").json()["items"]
        return {c["id"]: c["status"] for c in items}

    def wait_processing(self, ids: list[str], timeout: float = 60) -> None:
        def all_live() -> bool:
            st = self.statuses()
            return all(st.get(i) == "PROCESSING" for i in ids)

        wait_until(
            all_live,
            timeout,
            f"{len(ids)} camera(s) to be PROCESSING",
            every=0.5,
            error=TimeoutError,
        )

    def delete_all(self) -> None:
        for cid in self.statuses():
            self.client.delete(f"/api/cameras/{cid}")

    def close(self) -> None:
        self.client.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p.chromium)
        try:
            yield b
        finally:
            b.close()


# --- CPU accounting ----------------------------------------------------------------------------


def chromium_procs() -> list[psutil.Process]:
    """Every Chromium process this bench started (descendants of this process)."""
    out = []
    for p in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            cmd = p.cmdline()
            if cmd and "chrom" in Path(cmd[0]).name:
                out.append(p)
    return out


def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def cpu_seconds(procs: list[psutil.Process]) -> dict[int, float]:
    out = {}
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
    return out


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


# --- measurements ------------------------------------------------------------------------------


def sign_in(page: Any, base: str) -> None:
    page.goto(base + "/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def first_frame(browser: Any, serve: Serve, rtsp: RtspServer, runs: int) -> dict[str, Any]:
    cid = serve.add_camera("bench first frame", rtsp.url("faces"), detection=False)
    serve.wait_processing([cid])
    time.sleep(1.0)  # a keyframe or two into the stream, as for a camera that has been live
    cold: list[dict[str, Any]] = []
    warm: list[dict[str, Any]] = []
    signin: list[dict[str, Any]] = []

    # Sign-in runs (fresh context, no tokens): submit → first live frame. The last one's
    # tokens are kept for the navigation runs.
    storage: Any = None
    for _ in range(max(1, runs // 2 + 1)):
        ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        ctx.add_init_script(PROBE)
        page = ctx.new_page()
        sign_in(page, serve.base)
        page.wait_for_function(FRAME_SEEN, timeout=20_000)
        t = page.evaluate(TIMINGS)
        t["signInToFirstFrameMs"] = t["firstFrameMs"] - t["submitAtMs"]
        signin.append(t)
        storage = ctx.storage_state()
        ctx.close()
        time.sleep(0.5)

    for _ in range(runs):
        ctx = browser.new_context(viewport={"width": 1400, "height": 900}, storage_state=storage)
        ctx.add_init_script(PROBE)
        page = ctx.new_page()
        t0 = time.monotonic()
        page.goto(serve.base + "/")
        page.wait_for_function(FRAME_SEEN, timeout=20_000)
        wall = (time.monotonic() - t0) * 1000
        t = page.evaluate(TIMINGS)
        t["wallMs"] = round(wall)
        cold.append(t)
        # Warm cache: the same context navigates again.
        page.reload()
        page.wait_for_function(FRAME_SEEN, timeout=20_000)
        warm.append(page.evaluate(TIMINGS))
        ctx.close()
        time.sleep(0.5)  # the closed tab's WHEP DELETE reaches the server

    serve.client.delete(f"/api/cameras/{cid}")

    def summary(rows: list[dict[str, Any]], key: str = "firstFrameMs") -> dict[str, Any]:
        vals = [float(r[key]) for r in rows if r.get(key) is not None]
        return {
            "medianMs": median(vals),
            "minMs": min(vals) if vals else None,
            "maxMs": max(vals) if vals else None,
            "runs": rows,
        }

    return {
        "goalMs": 1500,
        "navigationColdCache": summary(cold),
        "navigationWarmCache": summary(warm),
        "signInSubmitToFirstFrame": summary(signin, "signInToFirstFrameMs"),
    }


def sixteen_tiles(
    browser: Any, serve: Serve, rtsp: RtspServer, tiles: int, window: float, detection: bool
) -> dict[str, Any]:
    ids = [
        serve.add_camera(f"bench tile {i:02d}", rtsp.url("street"), detection=detection)
        for i in range(tiles)
    ]
    serve.wait_processing(ids, timeout=90)
    # Tall enough that every tile is in view (4 columns), so every tile decodes.
    ctx = browser.new_context(viewport={"width": 1920, "height": 1600})
    page = ctx.new_page()
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status))
    sign_in(page, serve.base)
    page.get_by_role("button", name="Notifications").wait_for(timeout=20_000)
    frames_js = """() => [...document.querySelectorAll('[data-testid="camera-tile"] video')]
        .map(v => { const q = v.getVideoPlaybackQuality();
                    return [q.totalVideoFrames, q.droppedVideoFrames, v.currentTime]; })"""
    in_view_js = """() => [...document.querySelectorAll('[data-testid="camera-tile"]')]
        .filter(t => { const r = t.getBoundingClientRect();
                       return r.bottom > 0 && r.top < innerHeight; }).length"""

    def all_playing() -> bool:
        return sum(1 for f in page.evaluate(frames_js) if f[2] > 1.0) >= tiles

    t0 = time.monotonic()
    wait_until(all_playing, 60, f"{tiles} tiles to play", every=0.5, error=TimeoutError)
    all_playing_s = time.monotonic() - t0
    time.sleep(3)  # settle

    browser_procs = chromium_procs()
    server_procs = tree(serve.proc.pid)
    rtsp_procs = tree(rtsp.pid) if rtsp.pid else []
    load_before = os.getloadavg()
    f0 = page.evaluate(frames_js)
    b0, s0, r0 = cpu_seconds(browser_procs), cpu_seconds(server_procs), cpu_seconds(rtsp_procs)
    m0 = machine_busy()
    w0 = time.monotonic()
    time.sleep(window)
    elapsed = time.monotonic() - w0
    b1, s1, r1 = cpu_seconds(browser_procs), cpu_seconds(server_procs), cpu_seconds(rtsp_procs)
    m1 = machine_busy()
    f1 = page.evaluate(frames_js)

    def pct(a: dict[int, float], b: dict[int, float]) -> float:
        return round(100 * sum(b[p] - a.get(p, 0.0) for p in b) / elapsed, 1)

    per_tile_fps = [round((b[0] - a[0]) / elapsed, 1) for a, b in zip(f0, f1, strict=False)]
    dropped = sum(b[1] - a[1] for a, b in zip(f0, f1, strict=False))
    labels = page.locator('[data-testid="camera-tile"]').evaluate_all(
        "ts => ts.map(t => (t.innerText.match(/Excellent|Fair|Poor|Unusable/) || ['?'])[0])"
    )
    expected_fps = sorted(
        {
            (c.get("stats") or {}).get("expectedFps")
            for c in serve.client.get("/api/cameras").json()["items"]
        },
        key=str,
    )
    result = {
        "tiles": tiles,
        "tilesInView": page.evaluate(in_view_js),
        "faceDetection": detection,
        "source": "street-cars-no-faces.mp4, 768x432 H.264 Baseline, 12.5 fps, one mount",
        "windowSeconds": round(elapsed, 1),
        "secondsUntilAllPlaying": round(all_playing_s, 1),
        "browserCpuPctOfOneCore": pct(b0, b1),
        "browserProcesses": len(browser_procs),
        "browserPerTilePctOfOneCore": round(pct(b0, b1) / tiles, 2),
        "serverCpuPctOfOneCore": pct(s0, s1),
        "rtspFixtureCpuPctOfOneCore": pct(r0, r1),
        "framesPresentedPerTileFps": per_tile_fps,
        "framesPresentedTotalFps": round(sum(per_tile_fps), 1),
        "framesDropped": dropped,
        "qualityLabels": {k: labels.count(k) for k in sorted(set(labels))},
        "cameraExpectedFps": expected_fps,
        "http429": statuses.count(429),
        "machineBusyPct": round(100 * (m1[0] - m0[0]) / max(1.0, m1[1] - m0[1]), 1),
        "cores": os.cpu_count(),
        "loadAvgBefore": [round(x, 2) for x in load_before],
    }
    ARTIFACTS = ROOT / "artifacts" / "bench"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{tiles}-tiles.png"))
    ctx.close()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="first-frame runs (navigation)")
    ap.add_argument("--tiles", type=int, default=16)
    ap.add_argument("--window", type=float, default=20.0, help="CPU window, seconds")
    ap.add_argument("--detection", action="store_true", help="face detection on for the tiles")
    ap.add_argument("--skip-tiles", action="store_true")
    args = ap.parse_args()

    if not (WEB / "index.html").is_file():
        sys.exit("web app not built: cd frontend && npm ci && npm run build")
    out: dict[str, Any] = {"bundle": bundle_sizes()}
    rtsp = RtspServer(
        {
            "faces": MEDIA_DIR / "headpose-two-faces.mp4",
            "street": MEDIA_DIR / "street-cars-no-faces.mp4",
        }
    )
    rtsp.start()
    with tempfile.TemporaryDirectory(prefix="beholder-bench-dash-") as tmp:
        serve = Serve(Path(tmp))
        try:
            with chromium() as browser:
                out["firstFrame"] = first_frame(browser, serve, rtsp, args.runs)
                if not args.skip_tiles:
                    out["tilesCpu"] = sixteen_tiles(
                        browser, serve, rtsp, args.tiles, args.window, args.detection
                    )
        finally:
            serve.delete_all()
            serve.close()
            rtsp.stop()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    short = {
        "initialRouteGzipKB": out["bundle"]["initialRouteGzipKB"],
        "firstFrameColdMedianMs": out["firstFrame"]["navigationColdCache"]["medianMs"],
        "firstFrameWarmMedianMs": out["firstFrame"]["navigationWarmCache"]["medianMs"],
        "signInToFirstFrameMedianMs": out["firstFrame"]["signInSubmitToFirstFrame"]["medianMs"],
    }
    if "tilesCpu" in out:
        tc = out["tilesCpu"]
        short |= {
            "tiles": tc["tiles"],
            "browserCpuPctOfOneCore": tc["browserCpuPctOfOneCore"],
            "serverCpuPctOfOneCore": tc["serverCpuPctOfOneCore"],
            "framesPresentedTotalFps": tc["framesPresentedTotalFps"],
        }
    print(json.dumps(out, indent=2))
    print("summary:", json.dumps(short))
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
