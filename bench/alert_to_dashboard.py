#!/usr/bin/env python3
"""End-to-end alert latency (issue 3): frame served by the RTSP camera -> alert on a
dashboard socket, through the whole `beholder serve` (worker, bus, api persistence, hub).

The RTSP fixture stamps each frame with the wall-clock time it was served; the worker
carries that stamp as the alert's ``sourceTs`` (persisted in ``metadata.sourceTs``). The
dashboard is a real WebSocket client authenticated and subscribed like the web app.
To get many alerts from a clip where the same two people stay in view, face detection is
toggled off and on through the REST API (which resets the tracker) with cooldown 0; the
toggle's own timing is not part of the figure (it is measured from the sampled frame).

    .venv/bin/python bench/alert_to_dashboard.py [--alerts 40] [--sample-fps 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from beholder.api.app import create_app
from beholder.config import Settings, WorkerSettings
from beholder.server import uvicorn_config
from fixtures.rtsp_server import MEDIA_DIR, RtspServer

PW = "bench-admin-pass"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(q * (len(v) - 1))))]


async def run(n_alerts: int, sample_fps: float) -> dict[str, Any]:
    rtsp = RtspServer({"cam": MEDIA_DIR / "headpose-two-faces.mp4"})
    rtsp.start()
    settings = Settings(
        data_dir=Path(tempfile.mkdtemp(prefix="beholder-e2e-")),
        admin_password=PW,
        port=_port(),
        log_level="WARNING",
        worker=WorkerSettings(alert_cooldown=0, sample_fps=sample_fps),
        rate_limit_per_principal="1000000/minute",
        rate_limit_per_ip="1000000/minute",
    )
    app = create_app(settings)
    server = uvicorn.Server(uvicorn_config(app, settings))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    base = f"http://127.0.0.1:{settings.port}"
    latencies: list[float] = []
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as c:
            tok = (
                await c.post("/api/auth/login", json={"username": "admin", "password": PW})
            ).json()["accessToken"]
            h = {"Authorization": f"Bearer {tok}"}
            cam = (
                await c.post(
                    "/api/cameras", json={"name": "cam", "rtspUrl": rtsp.url("cam")}, headers=h
                )
            ).json()
            ws = await websockets.connect(f"ws://127.0.0.1:{settings.port}/ws")
            await ws.send(json.dumps({"type": "auth", "token": tok}))
            await ws.recv()
            await ws.send(json.dumps({"type": "subscribe", "topics": ["alerts"]}))
            await c.post(f"/api/cameras/{cam['id']}/start", headers=h)
            deadline = time.monotonic() + 60 + n_alerts * 3
            while len(latencies) < n_alerts and time.monotonic() < deadline:
                try:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                except TimeoutError:
                    continue
                if msg.get("type") != "face-detection-alert":
                    continue
                now = time.time()
                src = msg.get("metadata", {}).get("sourceTs")
                if src:
                    latencies.append((now - float(src)) * 1000)
                # Reset the tracker so the same two people raise the next alert.
                await c.post(
                    f"/api/cameras/{cam['id']}/face-detection", json={"enabled": False}, headers=h
                )
                await c.post(
                    f"/api/cameras/{cam['id']}/face-detection", json={"enabled": True}, headers=h
                )
            await ws.close()
    finally:
        server.should_exit = True
        await task
        rtsp.stop()
    return {
        "alerts": len(latencies),
        "sample_fps": sample_fps,
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p90_ms": round(_pct(latencies, 0.9), 1) if latencies else None,
        "p99_ms": round(_pct(latencies, 0.99), 1) if latencies else None,
        "max_ms": round(max(latencies), 1) if latencies else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--alerts", type=int, default=40)
    ap.add_argument("--sample-fps", type=float, default=2.0)
    args = ap.parse_args()
    print(json.dumps(asyncio.run(run(args.alerts, args.sample_fps)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
