#!/usr/bin/env python3
"""Alert end to end through distributed mode vs ``beholder serve`` (issue 12), in one run.

Frame served by the RTSP fixture -> face alert on a dashboard socket, as in
``alert_to_dashboard.py`` (the fixture stamps each frame with the wall-clock time it was
served; the worker carries it as the alert's ``sourceTs``). Two set-ups, alternated
``--reps`` times so that the machine's noise falls on both:

* ``serve``: one ``beholder serve`` process (memory bus, in-process worker, SQLite);
* ``cluster``: 2 ``beholder api`` + 3 ``beholder worker`` processes over a private
  ``nats-server -js`` and a PostgreSQL database of the local server. The camera is started
  through api #1 and the dashboard listens on api #2, so every alert crosses the durable
  stream (worker -> JetStream -> whichever api's consumer takes it -> PostgreSQL ->
  ``hub.broadcast`` -> api #2's hub).

Alerts are provoked as in ``alert_to_dashboard.py``: cooldown 0 and face detection toggled
off/on after each alert (which resets the tracker). Reported: p50/p90/p99 per set-up and the
distributed path's added latency at p50 (goal < 20 ms).

    PYTHONPATH=src .venv/bin/python bench/cluster_alert_latency.py [--alerts 20] [--reps 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fixtures.rtsp_server import MEDIA_DIR, RtspServer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cluster_common import free_port, pct, start_nats, wait_port

PW = "bench-admin-pass-cluster"
NETWORKS = "private,public,127.0.0.0/8,::1/128"  # the RTSP fixture serves on loopback


class Deployment:
    """Processes of one set-up; ``api_ports[0]`` takes commands, ``api_ports[-1]`` the
    dashboard."""

    def __init__(self, mode: str, sample_fps: float) -> None:
        self.mode = mode
        self.root = Path(tempfile.mkdtemp(prefix=f"beholder-{mode}-"))
        self.sample_fps = sample_fps
        self.procs: list[subprocess.Popen[bytes]] = []
        self.api_ports: list[int] = []
        self.db = f"bench_alerts_{uuid.uuid4().hex[:8]}"
        self.nats_port = free_port()
        self.secret = secrets.token_urlsafe(48)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BEHOLDER_")}
        env.update(
            BEHOLDER_DATA_DIR=str(self.root / "data"),
            BEHOLDER_ADMIN_PASSWORD=PW,
            BEHOLDER_SECRET_KEY=self.secret,
            BEHOLDER_LOG_LEVEL="WARNING",
            BEHOLDER_LOG_FORMAT="json",
            BEHOLDER_CAMERA_NETWORKS=NETWORKS,
            BEHOLDER_WORKER_ALERT_COOLDOWN="0",
            BEHOLDER_WORKER_SAMPLE_FPS=str(self.sample_fps),
            BEHOLDER_RATE_LIMIT_PER_IP="1000000/minute",
            BEHOLDER_RATE_LIMIT_PER_PRINCIPAL="1000000/minute",
        )
        if self.mode == "cluster":
            env.update(
                BEHOLDER_DATABASE_URL=f"postgresql+asyncpg://postgres@127.0.0.1:5432/{self.db}",
                BEHOLDER_BUS_URL=f"nats://127.0.0.1:{self.nats_port}",
            )
        return env

    def _spawn(self, name: str, *argv: str) -> subprocess.Popen[bytes]:
        out = (self.root / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "beholder", *argv],
            env=self.env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def start(self) -> None:
        if self.mode == "serve":
            port = free_port()
            self._spawn("serve", "serve", "--host", "127.0.0.1", "--port", str(port))
            self.api_ports = [port]
        else:
            subprocess.run(
                ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"CREATE DATABASE {self.db}"],
                check=True,
            )
            self.procs.append(start_nats(self.root, self.nats_port))
            subprocess.run(
                [sys.executable, "-m", "beholder", "migrate"],
                env=self.env(),
                check=True,
                capture_output=True,
            )
            self.api_ports = [free_port(), free_port()]
            for i, port in enumerate(self.api_ports):
                self._spawn(f"api{i}", "api", "--host", "127.0.0.1", "--port", str(port))
            for i in range(3):
                self._spawn(f"worker{i}", "worker", "--worker-id", f"bench-w{i}")
        for port in self.api_ports:
            wait_port(port)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.mode == "cluster":
            subprocess.run(
                [
                    "psql",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-qc",
                    f"DROP DATABASE IF EXISTS {self.db}",
                ],
                check=False,
                capture_output=True,
            )
        shutil.rmtree(self.root, ignore_errors=True)


async def _login(c: httpx.AsyncClient) -> str:
    deadline = time.monotonic() + 60
    while True:
        r = await c.post("/api/auth/login", json={"username": "admin", "password": PW})
        if r.status_code == 200:
            return str(r.json()["accessToken"])
        if time.monotonic() > deadline:
            r.raise_for_status()
        await asyncio.sleep(0.2)


async def measure(dep: Deployment, rtsp: RtspServer, n_alerts: int) -> list[float]:
    """Latencies (ms) of ``n_alerts`` alerts on ``dep``."""
    command = f"http://127.0.0.1:{dep.api_ports[0]}"
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=command, timeout=10) as c:
        tok = await _login(c)
        h = {"Authorization": f"Bearer {tok}"}
        r = await c.post(
            "/api/cameras", json={"name": "cam", "rtspUrl": rtsp.url("cam")}, headers=h
        )
        r.raise_for_status()
        cam = r.json()
        ws = await websockets.connect(f"ws://127.0.0.1:{dep.api_ports[-1]}/ws")
        await ws.send(json.dumps({"type": "auth", "token": tok}))
        await ws.recv()
        await ws.send(json.dumps({"type": "subscribe", "topics": ["alerts"]}))
        (await c.post(f"/api/cameras/{cam['id']}/start", headers=h)).raise_for_status()
        deadline = time.monotonic() + 90 + n_alerts * 3
        while len(latencies) < n_alerts and time.monotonic() < deadline:
            try:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
            except TimeoutError:
                continue
            if msg.get("type") == "ping":  # the hub drops a socket that misses 2 pongs
                await ws.send(json.dumps({"type": "pong"}))
                continue
            if msg.get("type") != "face-detection-alert":
                continue
            now = time.time()
            src = msg.get("metadata", {}).get("sourceTs")
            if src:
                latencies.append((now - float(src)) * 1000)
            for enabled in (False, True):
                await c.post(
                    f"/api/cameras/{cam['id']}/face-detection", json={"enabled": enabled}, headers=h
                )
        with contextlib.suppress(Exception):
            await ws.close()
    return latencies


def _summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"alerts": 0}
    return {
        "alerts": len(values),
        "p50_ms": round(statistics.median(values), 1),
        "p90_ms": round(pct(values, 0.9), 1),
        "p99_ms": round(pct(values, 0.99), 1),
        "max_ms": round(max(values), 1),
    }


async def run(
    n_alerts: int, reps: int, sample_fps: float, modes: tuple[str, ...] = ("serve", "cluster")
) -> dict[str, Any]:
    rtsp = RtspServer({"cam": MEDIA_DIR / "headpose-two-faces.mp4"})
    rtsp.start()
    pooled: dict[str, list[float]] = {"serve": [], "cluster": []}
    try:
        for rep in range(reps):
            order = list(modes) if rep % 2 == 0 else list(reversed(modes))
            for mode in order:
                dep = Deployment(mode, sample_fps)
                try:
                    await asyncio.to_thread(dep.start)
                    pooled[mode] += await measure(dep, rtsp, n_alerts)
                finally:
                    await asyncio.to_thread(dep.stop)
    finally:
        rtsp.stop()
    serve, cluster = _summary(pooled["serve"]), _summary(pooled["cluster"])
    added = (
        round(cluster["p50_ms"] - serve["p50_ms"], 1)
        if serve.get("alerts") and cluster.get("alerts")
        else None
    )
    return {
        "sample_fps": sample_fps,
        "reps": reps,
        "serve": serve,
        "cluster": cluster,
        "added_p50_ms": added,
    }


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--alerts", type=int, default=20, help="alerts per set-up and rep")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--sample-fps", type=float, default=2.0)
    ap.add_argument("--modes", default="serve,cluster", help="comma-separated set-ups")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    modes = tuple(m for m in args.modes.split(",") if m in ("serve", "cluster"))
    result = asyncio.run(run(args.alerts, args.reps, args.sample_fps, modes))
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
