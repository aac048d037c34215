#!/usr/bin/env python3
"""API figures of issue 2: `beholder serve` start-up to ready, idle RSS, and
`GET /api/cameras` with 100 cameras at a steady 100 req/s (hey, constant rate).

    .venv/bin/python bench/api_latency.py [--seconds 30] [--rate 100] [--database-url URL]

Needs Debian's `hey` (and `wrk` for the max-throughput line): apt-get install hey wrk.
Loopback only; every started process is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ADMIN_PW = "bench-admin-pass"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--rate", type=int, default=100, help="requests per second in total")
    ap.add_argument("--cameras", type=int, default=100)
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    args = ap.parse_args()
    if not shutil.which("hey"):
        print("hey not found: apt-get install hey", file=sys.stderr)
        return 2
    data = Path(tempfile.mkdtemp(prefix="beholder-bench-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEHOLDER_")}
    env.update(
        BEHOLDER_DATA_DIR=str(data),
        BEHOLDER_PORT=str(port),
        BEHOLDER_ADMIN_PASSWORD=ADMIN_PW,
        BEHOLDER_LOG_LEVEL="WARNING",
        BEHOLDER_RATE_LIMIT_PER_IP="1000000/minute",
        BEHOLDER_RATE_LIMIT_PER_PRINCIPAL="1000000/minute",
    )
    if args.database_url:
        env["BEHOLDER_DATABASE_URL"] = args.database_url
    base = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "beholder", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results: dict[str, object] = {}
    try:
        while True:
            try:
                if httpx.get(f"{base}/api/system/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() - t0 > 60:
                raise SystemExit("serve did not become ready")
            time.sleep(0.02)
        results["startup_to_ready_s"] = round(time.monotonic() - t0, 3)
        time.sleep(3)
        results["idle_rss_mb"] = round(rss_mb(proc.pid), 1)
        token = httpx.post(
            f"{base}/api/auth/login", json={"username": "admin", "password": ADMIN_PW}
        ).json()["accessToken"]
        h = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=h) as c:
            for i in range(args.cameras):
                c.post(
                    "/api/cameras",
                    json={
                        "name": f"cam-{i:03d}",
                        "rtspUrl": f"rtsp://admin:pw@10.1.0.{i % 250}/s{i}",
                        "location": "bench",
                    },
                )
            assert len(c.get("/api/cameras").json()["items"]) == args.cameras
        workers = 4  # hey paces each worker; 4 x 25 req/s keeps bursts small
        cpu0 = _cpu_s(proc.pid)
        out = subprocess.run(
            [
                "hey",
                "-z",
                f"{args.seconds}s",
                "-c",
                str(workers),
                "-q",
                str(args.rate // workers),
                "-H",
                f"Authorization: Bearer {token}",
                f"{base}/api/cameras",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        cpu1 = _cpu_s(proc.pid)
        pct = dict(re.findall(r"\s+(\d+)%% in ([\d.]+) secs".replace("%%", "%"), out))
        rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
        codes = re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)
        results.update(
            cameras=args.cameras,
            target_rps=args.rate,
            achieved_rps=float(rps.group(1)) if rps else None,
            p50_ms=round(float(pct["50"]) * 1000, 2),
            p90_ms=round(float(pct["90"]) * 1000, 2),
            p99_ms=round(float(pct["99"]) * 1000, 2),
            status_codes={c: int(n) for c, n in codes},
            server_cpu_percent=round((cpu1 - cpu0) / args.seconds * 100, 1),
            rss_after_load_mb=round(rss_mb(proc.pid), 1),
        )
        if shutil.which("wrk"):
            w = subprocess.run(
                [
                    "wrk",
                    "-t2",
                    "-c20",
                    "-d10s",
                    "-H",
                    f"Authorization: Bearer {token}",
                    f"{base}/api/cameras",
                ],
                capture_output=True,
                text=True,
            ).stdout
            m = re.search(r"Requests/sec:\s+([\d.]+)", w)
            results["max_rps_wrk_c20"] = float(m.group(1)) if m else None
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(data, ignore_errors=True)
    print(json.dumps(results, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    return 0


def _cpu_s(pid: int) -> float:
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    raise SystemExit(main())
