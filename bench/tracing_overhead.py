#!/usr/bin/env python3
"""Tracing overhead (issue 14 item 3): api latency with tracing off vs on, in the same run.

Three `beholder serve` side by side, each with the load of `bench/api_latency.py`
(`GET /api/cameras` listing 100 cameras at a steady 100 req/s from `hey`, 4 paced workers):

* `off`: no OTEL_* variable (the default);
* `on`: `OTEL_EXPORTER_OTLP_ENDPOINT` to a local OTLP/HTTP receiver that decodes and discards
  (every request sampled: a SERVER span and its SQL spans, batched and exported);
* `on-10%`: the same with `OTEL_TRACES_SAMPLER=parentbased_traceidratio`, ratio 0.1.

Reps are interleaved (the order rotates every rep) so that the noise of a shared machine falls
on every configuration alike; per-request latencies (`hey -o csv`) are pooled per
configuration. Prints JSON: p50/p90/p99 per configuration, the p99 overhead against `off`,
server CPU per configuration, and the spans the receiver got.

    PYTHONPATH=src .venv/bin/python bench/tracing_overhead.py [--seconds 4] [--reps 10]
        [--baseline-src /tmp/before/src]

`--baseline-src`: the same three configurations also from another source tree (e.g.
`git archive <commit> src`), suffixed `@base`, in the same interleaved run: before/after
figures under the same load.

Needs Debian's `hey` (apt-get install hey). Loopback only; every started process is stopped
at the end. About 3 minutes with the defaults.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from api_latency import ADMIN_PW, _cpu_s, free_port

WORKERS = 4  # as bench/api_latency.py: hey paces each worker, 4 x 25 req/s


class DiscardingReceiver:
    """OTLP/HTTP traces endpoint on 127.0.0.1: decodes each request (to count its spans, as a
    collector would parse it) and discards it."""

    def __init__(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        self.requests = 0
        self.spans = 0
        self.bytes = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                req = ExportTraceServiceRequest.FromString(body)
                n = sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
                receiver.requests += 1
                receiver.spans += n
                receiver.bytes += len(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def start_serve(name: str, extra_env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str, Path]:
    data = Path(tempfile.mkdtemp(prefix=f"beholder-trace-{name}-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BEHOLDER_", "OTEL_"))}
    env.update(
        BEHOLDER_DATA_DIR=str(data),
        BEHOLDER_PORT=str(port),
        BEHOLDER_ADMIN_PASSWORD=ADMIN_PW,
        BEHOLDER_LOG_LEVEL="WARNING",
        BEHOLDER_RATE_LIMIT_PER_IP="1000000/minute",
        BEHOLDER_RATE_LIMIT_PER_PRINCIPAL="1000000/minute",
        **extra_env,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "beholder", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, f"http://127.0.0.1:{port}", data


def prepare(base: str, proc: subprocess.Popen[bytes], cameras: int) -> str:
    """Wait until ready, add ``cameras`` cameras; return an admin access token."""
    t0 = time.monotonic()
    while True:
        try:
            if httpx.get(f"{base}/api/system/ready", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() - t0 > 90:
            raise SystemExit(f"serve at {base} did not become ready")
        time.sleep(0.05)
    token: str = httpx.post(
        f"{base}/api/auth/login", json={"username": "admin", "password": ADMIN_PW}, timeout=10
    ).json()["accessToken"]
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as c:
        for i in range(cameras):
            c.post(
                "/api/cameras",
                json={
                    "name": f"cam-{i:03d}",
                    "rtspUrl": f"rtsp://admin:pw@10.1.0.{i % 250}/s{i}",
                    "location": "bench",
                },
            )
        assert len(c.get("/api/cameras").json()["items"]) == cameras
    return token


def hey(base: str, token: str, seconds: int, rate: int) -> tuple[list[float], int]:
    """One constant-rate run: (latencies in ms of the 200 answers, non-200 answers)."""
    out = subprocess.run(
        [
            "hey",
            "-z",
            f"{seconds}s",
            "-c",
            str(WORKERS),
            "-q",
            str(rate // WORKERS),
            "-o",
            "csv",
            "-H",
            f"Authorization: Bearer {token}",
            f"{base}/api/cameras",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    ok: list[float] = []
    bad = 0
    for row in csv.DictReader(io.StringIO(out)):
        if row["status-code"] == "200":
            ok.append(float(row["response-time"]) * 1000)
        else:
            bad += 1
    return ok, bad


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=4, help="length of one run")
    ap.add_argument("--reps", type=int, default=10, help="runs per configuration")
    ap.add_argument("--rate", type=int, default=100, help="requests per second in total")
    ap.add_argument("--cameras", type=int, default=100)
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    ap.add_argument("--baseline-src", default=None, help="also run these sources (`@base`)")
    ap.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="NAME:VAR=V[,VAR=V]",
        help="one more configuration: `on` plus these variables (e.g. OTEL_BSP_* tuning)",
    )
    args = ap.parse_args()
    if not shutil.which("hey"):
        print("hey not found: apt-get install hey", file=sys.stderr)
        return 2
    receiver = DiscardingReceiver()
    endpoint = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}",
        "OTEL_SERVICE_NAME": "beholder-bench",
    }
    configs = {
        "off": {},
        "on": endpoint,
        "on-10%": {
            **endpoint,
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.1",
        },
    }
    for spec in args.also:
        name, _, assignments = spec.partition(":")
        extra = dict(a.split("=", 1) for a in assignments.split(",") if a)
        configs[name] = {**endpoint, **extra}
    if args.baseline_src:
        base_path = {"PYTHONPATH": str(Path(args.baseline_src).resolve())}
        configs.update({f"{k}@base": {**configs[k], **base_path} for k in ("off", "on", "on-10%")})
    started = {name: start_serve(name, env) for name, env in configs.items()}
    latencies: dict[str, list[float]] = {name: [] for name in configs}
    rep_p99: dict[str, list[float]] = {name: [] for name in configs}
    errors = dict.fromkeys(configs, 0)
    cpu = dict.fromkeys(configs, 0.0)
    t_start = time.monotonic()
    try:
        tokens = {
            name: prepare(base, proc, args.cameras) for name, (proc, base, _) in started.items()
        }
        for name, (_, base, _) in started.items():  # warm-up: imports, caches, pool
            hey(base, tokens[name], 2, args.rate)
        names = list(configs)
        for rep in range(args.reps):
            order = names[rep % len(names) :] + names[: rep % len(names)]
            for name in order:
                proc, base, _ = started[name]
                c0 = _cpu_s(proc.pid)
                ok, bad = hey(base, tokens[name], args.seconds, args.rate)
                cpu[name] += _cpu_s(proc.pid) - c0
                latencies[name].extend(ok)
                rep_p99[name].append(pct(ok, 99))
                errors[name] += bad
    finally:
        for proc, _, _data in started.values():
            proc.send_signal(signal.SIGINT)
        for proc, _, data in started.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
            shutil.rmtree(data, ignore_errors=True)
        receiver.server.shutdown()
    results: dict[str, Any] = {
        "load": f"GET /api/cameras ({args.cameras} cameras), {args.rate} req/s, {WORKERS} workers",
        "runs": f"{args.reps} x {args.seconds} s per configuration, interleaved",
        "wall_s": round(time.monotonic() - t_start, 1),
        "receiver": {
            "export_requests": receiver.requests,
            "spans": receiver.spans,
            "bytes": receiver.bytes,
        },
    }
    for name in configs:
        off = "off@base" if name.endswith("@base") else "off"
        off_p99 = pct(latencies[off], 99)
        off_p50 = pct(latencies[off], 50)
        lat = latencies[name]
        p50, p99 = pct(lat, 50), pct(lat, 99)
        results[name] = {
            "requests": len(lat),
            "errors": errors[name],
            "p50_ms": round(p50, 2),
            "p90_ms": round(pct(lat, 90), 2),
            "p99_ms": round(p99, 2),
            "median_of_rep_p99_ms": round(statistics.median(rep_p99[name]), 2),
            "p50_overhead_pct": round((p50 / off_p50 - 1) * 100, 1),
            "p99_overhead_pct": round((p99 / off_p99 - 1) * 100, 1),
            "server_cpu_percent": round(cpu[name] / (args.reps * args.seconds) * 100, 1),
            "server_cpu_ms_per_request": round(cpu[name] / max(1, len(lat)) * 1000, 3),
            "server_cpu_ms_per_request_over_off": round(
                (cpu[name] / max(1, len(lat)) - cpu[off] / max(1, len(latencies[off]))) * 1000, 3
            ),
        }
    print(json.dumps(results, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
