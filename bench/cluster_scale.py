#!/usr/bin/env python3
"""Distributed mode under many cameras (issue 12): 200 synthetic cameras over 4 synthetic
workers into 1 or 2 real ``beholder api`` processes, over a real ``nats-server -js`` and the
local PostgreSQL.

What is synthetic: the workers. Decoding 200 RTSP streams does not fit on a 2-core machine,
and the figures asked for are the bus's and the api's. Each synthetic worker is a process
that publishes, for each of its cameras, what a real worker publishes for a camera that
streams: one ``StreamStatusEvent`` (PROCESSING, with stats, lease epoch and per-camera
sequence, ``Nats-Msg-Id`` = event id) every ``--interval`` s (a real worker sends one per
``BEHOLDER_WORKER_STATS_INTERVAL`` = 5 s; the default 1 s is five times that load), through
JetStream publish with the PubAck awaited (the durable path of ``camera.events`` /
``stream.status``), plus a heartbeat on the core subject every second. The api processes are
the real ones, consuming the durable stream through their shared consumer, persisting each
event with the fenced conditional update and pushing it to the hub.

Measured over ``--seconds`` after a warm-up:
* bus messages/s in and out of nats-server (its monitoring endpoint, ``/varz``);
* JetStream PubAck latency seen by the publishers (p50/p95/p99);
* events handled by the api (``beholder_bus_messages_total{subject="stream.status"}``) and the
  api processes' CPU seconds per 1,000 events (``/proc`` via psutil), with the idle CPU of
  the same processes over the same length subtracted;
* the consumer's backlog at the end (``num_pending`` + ``num_ack_pending``).

    PYTHONPATH=src .venv/bin/python bench/cluster_scale.py [--cameras 200] [--workers 4]
        [--apis 1] [--interval 1.0] [--seconds 30] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
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
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cluster_common import free_port, pct, start_nats, wait_port

PW = "bench-admin-pass-scale"


# ----------------------------------------------------------------- synthetic worker process
def _synthetic_worker(
    nats_url: str,
    worker_id: str,
    camera_ids: list[str],
    epoch: int,
    interval: float,
    seconds: float,
    out: Any,
) -> None:
    asyncio.run(
        _synthetic_worker_async(nats_url, worker_id, camera_ids, epoch, interval, seconds, out)
    )


async def _synthetic_worker_async(
    nats_url: str,
    worker_id: str,
    camera_ids: list[str],
    epoch: int,
    interval: float,
    seconds: float,
    out: Any,
) -> None:
    import nats

    from beholder.contracts.bus import CameraStatus, StreamStats, StreamStatusEvent, WorkerHeartbeat
    from beholder.contracts.cluster import MSG_ID_HEADER
    from beholder.contracts.subjects import Subjects

    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    acks: list[float] = []
    published = 0
    seq = dict.fromkeys(camera_ids, 0)
    end = time.monotonic() + seconds
    # Spread each camera's events over the interval, as independent sessions would.
    step = interval / max(1, len(camera_ids))
    next_beat = 0.0
    while time.monotonic() < end:
        round_start = time.monotonic()
        for i, cid in enumerate(camera_ids):
            seq[cid] += 1
            event = StreamStatusEvent(
                camera_id=cid,
                status=CameraStatus.PROCESSING,
                worker_id=worker_id,
                epoch=epoch,
                seq=seq[cid],
                stats=StreamStats(input_fps=25.0, decoded_fps=2.0, detection_fps=2.0),
            )
            t0 = time.perf_counter()
            await js.publish(
                Subjects.STREAM_STATUS, event.to_bytes(), headers={MSG_ID_HEADER: event.id}
            )
            acks.append((time.perf_counter() - t0) * 1000)
            published += 1
            target = round_start + (i + 1) * step
            delay = target - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        if time.monotonic() >= next_beat:
            hb = WorkerHeartbeat(
                worker_id=worker_id, sessions=len(camera_ids), leases=len(camera_ids)
            )
            await nc.publish(Subjects.WORKER_HEARTBEAT, hb.to_bytes())
            next_beat = time.monotonic() + 1.0
    await nc.drain()
    out.put({"worker": worker_id, "published": published, "ack_ms": acks})


# ----------------------------------------------------------------- the real parts
class Bench:
    def __init__(self, apis: int) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="beholder-scale-"))
        self.nats_port = free_port()
        self.nats_mon = free_port()
        self.db = f"bench_scale_{uuid.uuid4().hex[:8]}"
        self.api_ports = [free_port() for _ in range(apis)]
        self.procs: list[subprocess.Popen[bytes]] = []
        self.api_procs: list[subprocess.Popen[bytes]] = []

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BEHOLDER_")}
        env.update(
            BEHOLDER_DATA_DIR=str(self.root / "data"),
            BEHOLDER_DATABASE_URL=f"postgresql+asyncpg://postgres@127.0.0.1:5432/{self.db}",
            BEHOLDER_BUS_URL=self.nats_url,
            BEHOLDER_ADMIN_PASSWORD=PW,
            BEHOLDER_SECRET_KEY=secrets.token_urlsafe(48),
            BEHOLDER_LOG_LEVEL="WARNING",
            BEHOLDER_LOG_FORMAT="json",
            BEHOLDER_RATE_LIMIT_PER_IP="100000/minute",
            BEHOLDER_RATE_LIMIT_PER_PRINCIPAL="100000/minute",
        )
        return env

    def start(self) -> None:
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"CREATE DATABASE {self.db}"],
            check=True,
        )
        self.procs.append(start_nats(self.root, self.nats_port, "-m", str(self.nats_mon)))
        subprocess.run(
            [sys.executable, "-m", "beholder", "migrate"],
            env=self.env(),
            check=True,
            capture_output=True,
        )
        for i, port in enumerate(self.api_ports):
            out = (self.root / f"api{i}.log").open("ab")
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "beholder",
                    "api",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            self.procs.append(proc)
            self.api_procs.append(proc)
        for port in self.api_ports:
            wait_port(port, 60)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
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

    def varz(self) -> dict[str, Any]:
        return httpx.get(f"http://127.0.0.1:{self.nats_mon}/varz", timeout=5).json()

    def handled(self) -> float:
        total = 0.0
        for port in self.api_ports:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            for line in text.splitlines():
                if line.startswith('beholder_bus_messages_total{subject="stream.status"}'):
                    total += float(line.split()[-1])
        return total

    def api_cpu(self) -> float:
        total = 0.0
        for proc in self.api_procs:
            t = psutil.Process(proc.pid).cpu_times()
            total += t.user + t.system
        return total

    def consumer_backlog(self) -> int:
        data = httpx.get(f"http://127.0.0.1:{self.nats_mon}/jsz?consumers=true", timeout=5).json()
        backlog = 0
        for account in data.get("account_details", []):
            for stream in account.get("stream_detail", []):
                for consumer in stream.get("consumer_detail", []) or []:
                    if stream.get("name") == "BEHOLDER_STATUS":
                        backlog += int(consumer.get("num_pending", 0))
                        backlog += int(consumer.get("num_ack_pending", 0))
        return backlog


def _create_cameras(base: str, n: int) -> list[str]:
    with httpx.Client(base_url=base, timeout=30) as client:
        deadline = time.monotonic() + 60
        while True:
            r = client.post("/api/auth/login", json={"username": "admin", "password": PW})
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        r.raise_for_status()
        client.headers["Authorization"] = f"Bearer {r.json()['accessToken']}"
        ids = []
        for i in range(n):
            r = client.post(
                "/api/cameras",
                json={
                    "name": f"synthetic-{i:03d}",
                    "rtspUrl": f"rtsp://10.20.{i // 250}.{i % 250 + 1}/s",
                },
            )
            r.raise_for_status()
            ids.append(r.json()["id"])
        return ids


def run(args: argparse.Namespace) -> dict[str, Any]:
    bench = Bench(args.apis)
    try:
        bench.start()
        cameras = _create_cameras(f"http://127.0.0.1:{bench.api_ports[0]}", args.cameras)
        # Idle CPU of the api processes over the same length, for the subtraction.
        cpu0 = bench.api_cpu()
        time.sleep(min(args.seconds, 10))
        idle_per_s = (bench.api_cpu() - cpu0) / min(args.seconds, 10)

        queue: Any = mp.Queue()
        per = [cameras[i :: args.workers] for i in range(args.workers)]
        total_seconds = args.warmup + args.seconds
        workers = [
            mp.Process(
                target=_synthetic_worker,
                args=(
                    bench.nats_url,
                    f"synthetic-{i}",
                    per[i],
                    1000 + i,
                    args.interval,
                    total_seconds,
                    queue,
                ),
            )
            for i in range(args.workers)
        ]
        for w in workers:
            w.start()
        time.sleep(args.warmup)
        v0, h0, c0, t0 = bench.varz(), bench.handled(), bench.api_cpu(), time.monotonic()
        time.sleep(args.seconds)
        v1, h1, c1, t1 = bench.varz(), bench.handled(), bench.api_cpu(), time.monotonic()
        results = [queue.get(timeout=total_seconds + 60) for _ in workers]
        for w in workers:
            w.join(timeout=30)
        # Let the api finish what it was given, then read the backlog.
        deadline = time.monotonic() + 30
        while bench.consumer_backlog() and time.monotonic() < deadline:
            time.sleep(0.5)
        backlog = bench.consumer_backlog()
        span = t1 - t0
        acks = [a for r in results for a in r["ack_ms"]]
        handled = h1 - h0
        cpu = (c1 - c0) - idle_per_s * span
        return {
            "cameras": args.cameras,
            "workers": args.workers,
            "apis": args.apis,
            "interval_s": args.interval,
            "seconds": round(span, 1),
            "events_published": sum(r["published"] for r in results),
            "nats_in_msgs_per_s": round((v1["in_msgs"] - v0["in_msgs"]) / span, 1),
            "nats_out_msgs_per_s": round((v1["out_msgs"] - v0["out_msgs"]) / span, 1),
            "pub_ack_ms": {
                "p50": round(pct(acks, 0.5), 3),
                "p95": round(pct(acks, 0.95), 3),
                "p99": round(pct(acks, 0.99), 3),
                "mean": round(statistics.fmean(acks), 3) if acks else None,
            },
            "api_events_handled_per_s": round(handled / span, 1),
            "api_cpu_s_per_1000_events": round(cpu / handled * 1000, 3) if handled else None,
            "api_idle_cpu_s_per_s": round(idle_per_s, 4),
            "consumer_backlog_at_end": backlog,
        }
    finally:
        bench.stop()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--cameras", type=int, default=200)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--apis", type=int, default=1)
    ap.add_argument("--interval", type=float, default=1.0, help="s between a camera's events")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    result = run(args)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
