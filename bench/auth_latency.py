#!/usr/bin/env python3
"""Login and refresh latency of two source trees side by side (issue 9: the new login
back-off and per-address/per-user refresh limits must not cost latency).

    .venv/bin/python bench/auth_latency.py [--old /work/main/src] [--new src] [--requests 300]

Starts one `beholder serve` per tree (SQLite, no worker, its own data dir and port), then
sends the same sequence to both, alternating old/new request by request so that machine
noise hits both alike: ``--requests`` correct logins and ``--requests`` refresh rotations
(each from the previous pair), ``--concurrency`` clients at a time. The limits are raised so
that every request is admitted, but their bookkeeping runs on every request (the moving
windows per address, per user; the failure counters on login). Prints p50/p90/p99 in ms
per tree and operation as JSON. Loopback only; both servers are stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ADMIN_PASSWORD = "bench-admin-password-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(src: Path, data: Path, port: int) -> subprocess.Popen[bytes]:
    """`beholder serve` importing ``beholder`` from ``src``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEHOLDER_")}
    env.update(
        PYTHONPATH=str(src),
        BEHOLDER_DATA_DIR=str(data),
        BEHOLDER_PORT=str(port),
        BEHOLDER_ADMIN_PASSWORD=ADMIN_PASSWORD,
        BEHOLDER_RUN_WORKER="false",
        BEHOLDER_LOG_LEVEL="WARNING",
        BEHOLDER_RATE_LIMIT_PER_IP="1000000/minute",
        BEHOLDER_RATE_LIMIT_PER_PRINCIPAL="1000000/minute",
        BEHOLDER_RATE_LIMIT_LOGIN="1000000/minute",
        BEHOLDER_RATE_LIMIT_REFRESH="1000000/minute",  # unknown to the old tree: ignored
    )
    return subprocess.Popen(
        [sys.executable, "-m", "beholder", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_ready(proc: subprocess.Popen[bytes], base: str) -> None:
    t0 = time.monotonic()
    while True:
        try:
            if httpx.get(f"{base}/api/system/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() - t0 > 60:
            raise SystemExit(f"serve at {base} did not become ready")
        time.sleep(0.05)


def percentiles(samples: list[float]) -> dict[str, float]:
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return {
        "n": len(samples),
        "p50_ms": round(q[49] * 1000, 2),
        "p90_ms": round(q[89] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
    }


async def timed(client: httpx.AsyncClient, path: str, body: dict[str, str]) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = await client.post(path, json=body)
    elapsed = time.perf_counter() - t0
    if r.status_code != 200:
        raise SystemExit(f"{path} answered {r.status_code}: {r.text}")
    return elapsed, r.json()


async def run(
    bases: dict[str, str], requests: int, concurrency: int, ops: list[str]
) -> dict[str, object]:
    login = {"username": "admin", "password": ADMIN_PASSWORD}
    out: dict[str, dict[str, list[float]]] = {n: {op: [] for op in ops} for n in bases}
    clients = {
        n: [httpx.AsyncClient(base_url=b, timeout=30) for _ in range(concurrency)]
        for n, b in bases.items()
    }
    try:
        for client in [c for cs in clients.values() for c in cs]:  # warm up connections
            await client.post("/api/auth/login", json=login)
        refresh = {
            n: [(await c.post("/api/auth/login", json=login)).json()["refreshToken"] for c in cs]
            for n, cs in clients.items()
        }
        for op in ops:
            for _ in range(requests // concurrency):
                for name in bases:  # alternate trees, one batch of `concurrency` each
                    if op == "login":
                        batch = [timed(c, "/api/auth/login", login) for c in clients[name]]
                    else:
                        batch = [
                            timed(c, "/api/auth/refresh", {"refreshToken": refresh[name][i]})
                            for i, c in enumerate(clients[name])
                        ]
                    results = await asyncio.gather(*batch)
                    out[name][op] += [t for t, _ in results]
                    if op == "refresh":
                        refresh[name] = [body["refreshToken"] for _, body in results]
    finally:
        for client in [c for cs in clients.values() for c in cs]:
            await client.aclose()
    return {n: {op: percentiles(s) for op, s in ops.items()} for n, ops in out.items()}


def main() -> int:
    here = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", default="/work/main/src", help="source tree before the change")
    ap.add_argument("--new", default=str(here / "src"), help="source tree after the change")
    ap.add_argument("--requests", type=int, default=300, help="per tree and operation")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--ops", default="login,refresh", help="comma-separated: login, refresh")
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="beholder-auth-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        bases = {}
        for name, src in (("old", args.old), ("new", args.new)):
            port = free_port()
            procs.append(start(Path(src), tmp / name, port))
            bases[name] = f"http://127.0.0.1:{port}"
        for proc, base in zip(procs, bases.values(), strict=True):
            wait_ready(proc, base)
        ops = [op for op in args.ops.split(",") if op in ("login", "refresh")]
        results = asyncio.run(run(bases, args.requests, args.concurrency, ops))
        results["setup"] = {
            "requests": args.requests,
            "concurrency": args.concurrency,
            "ops": ops,
            "old": args.old,
            "new": args.new,
            "cpus": os.cpu_count(),
        }
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(results, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
