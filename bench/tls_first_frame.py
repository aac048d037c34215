"""WHEP first frame over HTTPS vs HTTP in real headless Chromium, in the same run.

Two real ``beholder serve`` processes (worker on) run side by side, one with ``--tls
self-signed`` and one plain, each with one camera on the same RTSP fixture clip
(``headpose-two-faces.mp4``). Chromium trusts the TLS one through
``--ignore-certificate-errors-spki-list=<the CA fingerprint it printed>``. Per trial (HTTPS
and HTTP alternate) the page ``tests/e2e/whep_page.html``, served from the server's origin,
measures ``performance.now()`` just before the WHEP ``fetch(POST offer)`` → the first
presented frame (``requestVideoFrameCallback``); the POST → answer time is reported too.
The page's TLS only carries the signalling: the media is WebRTC (DTLS-SRTP) either way.

Usage: ``.venv/bin/python bench/tls_first_frame.py [--trials 10]`` (prints one JSON object).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from fixtures.rtsp_server import MEDIA_DIR, RtspServer  # noqa: E402
from support.browser import launch_chromium  # noqa: E402
from support.polling import wait_until  # noqa: E402
from support.settings import TEST_CAMERA_NETWORKS  # noqa: E402
from support.tls import ADMIN_PASSWORD, Served, serve, trust  # noqa: E402

PAGE = ROOT / "tests" / "e2e" / "whep_page.html"


def _camera(base: str, verify: Any, rtsp_url: str) -> tuple[str, str]:
    """Sign in, create the camera, wait until it is PROCESSING; ``(camera id, token)``."""
    with httpx.Client(base_url=base, verify=verify, timeout=10) as client:
        r = client.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        token = r.json()["accessToken"]
        client.headers["Authorization"] = f"Bearer {token}"
        r = client.post("/api/cameras", json={"name": "bench", "rtspUrl": rtsp_url})
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        if client.get(f"/api/cameras/{cid}").json()["status"] != "PROCESSING":
            client.post(f"/api/cameras/{cid}/start")
        wait_until(
            lambda: client.get(f"/api/cameras/{cid}").json()["status"] == "PROCESSING",
            30,
            "the camera to be PROCESSING",
            error=TimeoutError,
        )
        return str(cid), str(token)


def _trial(page: Any, origin: str, cid: str, token: str) -> tuple[float, float]:
    url = f"{origin}/__whep_bench__.html"
    page.goto(url)
    time.sleep(random.uniform(0.2, 1.2))  # land anywhere in the GOP
    res = page.evaluate("([u, t]) => whepStart(u, t)", [f"/api/cameras/{cid}/whep", token])
    if res.get("status") != 201:
        raise RuntimeError(f"WHEP failed on {origin}: {res}")
    ms = wait_until(
        lambda: page.evaluate("window.whepFirstFrameMs"),
        10,
        "the first frame",
        every=0.02,
        error=TimeoutError,
    )
    page.evaluate("([l, t]) => whepStop(l, t)", [res["location"], token])
    return float(ms), float(res["postMs"])


def _summary(samples: list[tuple[float, float]]) -> dict[str, Any]:
    first = sorted(f for f, _ in samples)
    return {
        "first_frame_p50_ms": round(statistics.median(first), 1),
        "first_frame_max_ms": round(first[-1], 1),
        "post_answer_p50_ms": round(statistics.median(p for _, p in samples), 1),
        "all": [round(f, 1) for f, _ in samples],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=10)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    html = PAGE.read_text()
    env = {
        "BEHOLDER_RUN_WORKER": "true",
        "BEHOLDER_WEBRTC_HOSTS": "127.0.0.1",
        "BEHOLDER_CAMERA_NETWORKS": TEST_CAMERA_NETWORKS,
    }
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        rtsp = RtspServer({"cam": MEDIA_DIR / "headpose-two-faces.mp4"})
        rtsp.start()
        stack.callback(rtsp.stop)
        ca = Path(tmp) / "tls-data" / "tls" / "ca.pem"
        https: Served = stack.enter_context(
            serve(Path(tmp) / "tls-data", ["--tls", "self-signed"], ca=ca, **env)
        )
        http: Served = stack.enter_context(serve(Path(tmp) / "plain-data", [], ca=None, **env))
        origins = {
            "https": f"https://127.0.0.1:{https.port}",
            "http": f"http://127.0.0.1:{http.port}",
        }
        cams = {
            "https": _camera(origins["https"], trust(ca), rtsp.url("cam")),
            "http": _camera(origins["http"], True, rtsp.url("cam")),
        }
        spki = https.line("TLS CA SPKI sha256 fingerprint:")
        p = stack.enter_context(sync_playwright())
        browser = launch_chromium(
            p.chromium, extra_args=[f"--ignore-certificate-errors-spki-list={spki}"]
        )
        stack.callback(browser.close)
        page = browser.new_page()
        for origin in origins.values():
            page.route(
                f"{origin}/__whep_bench__.html",
                lambda route: route.fulfill(body=html, content_type="text/html"),
            )
        results: dict[str, list[tuple[float, float]]] = {"https": [], "http": []}
        _trial(page, origins["https"], *cams["https"])  # warm-up, both
        _trial(page, origins["http"], *cams["http"])
        for _ in range(args.trials):
            for scheme in ("https", "http"):
                results[scheme].append(_trial(page, origins[scheme], *cams[scheme]))
    out = {"trials": args.trials, **{k: _summary(v) for k, v in results.items()}}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
