"""Relay latency and throughput: Beholder's ``/api/streams/ws`` next to a minimal relay
written directly on ``websockets`` (``bench/peers/ws_relay.py``), same frames, same run.

What is measured, per relay, in one run:

- **latency** producer → consumer at 30 fps of 720p JPEG frames (~100 KB, made from
  ``headpose-two-faces.mp4``: :func:`fixtures.relay_frames.sized_jpegs`) with 1, 10 and 50
  binary video consumers of one stream: p50/p99 over every frame every consumer received
  (after a 1 s warm-up), stamp = ``CLOCK_MONOTONIC`` ns in a JPEG comment segment (see
  ``relay_common``); plus the share of frames delivered;
- **server CPU** (``/proc/<pid>/stat`` of the server process over the measured window): CPU %
  and CPU % per consumer;
- **sustained rate**: at 10 consumers the producer steps up its frame rate (30, 60, 120,
  240 fps, or ``--steps``); the highest step where every consumer got >= 99 % of the frames
  and p99 stayed under 100 ms is what the relay sustains before dropping (frames/s out =
  fps x consumers, MB/s out).

Producer and the relay run in separate processes; the consumers run in one more process
(``multiprocessing``, its own event loop), so the producer's pacing is not disturbed by
the readers. On a 2-vCPU machine the consumer process competes with the server for the
CPUs: the figures are for this machine, both relays pay the same client cost.

Usage: ``python bench/relay_latency.py [--seconds 8] [--reps 3] [--consumers 1,10,50]
[--json out] [--baseline-src ../other-worktree/src]``. Figures of the runs on the 2-vCPU
development VM: ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import statistics
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from relay_common import (
    Server,
    consumer,
    cpu_seconds,
    pct,
    producer,
    register_stream,
    stamp_of,
    stamped,
    start_beholder,
    start_peer,
)

from beholder.contracts.relay_frame import encode_header
from fixtures.relay_frames import sized_jpegs

WARMUP_S = 1.0


# -- consumers (child process) -------------------------------------------------------------


async def _consume(server: Server, sid: str, n: int, pipe: Connection) -> None:
    sockets = [await consumer(server, sid) for _ in range(n)]
    lat: list[list[float]] = [[] for _ in range(n)]
    counts = [0] * n
    measuring = {"from": float("inf")}

    async def read(i: int, ws: Any) -> None:
        try:
            async for msg in ws:
                if isinstance(msg, bytes):
                    now = time.monotonic_ns()
                    stamp = stamp_of(msg)
                    if stamp >= measuring["from"]:
                        counts[i] += 1
                        lat[i].append((now - stamp) / 1e6)
                else:
                    data = json.loads(msg)
                    if data.get("type") == "ping":
                        await ws.send(json.dumps({"type": "pong", "ts": data.get("ts")}))
        except websockets.ConnectionClosed:
            pass

    tasks = [asyncio.create_task(read(i, ws)) for i, ws in enumerate(sockets)]
    pipe.send("ready")
    loop = asyncio.get_running_loop()
    start_ns = await loop.run_in_executor(None, pipe.recv)  # measure frames stamped after it
    measuring["from"] = start_ns
    await loop.run_in_executor(None, pipe.recv)  # "stop", sent once the producer is done
    await asyncio.sleep(0.5)  # let the last frames in flight arrive (not a condition wait)
    for ws in sockets:
        await ws.close()
    for t in tasks:
        t.cancel()
    pipe.send({"latencies": lat, "counts": counts})


def _consumer_main(server: Server, sid: str, n: int, pipe: Connection) -> None:
    server.proc = None  # type: ignore[assignment]  # not picklable across the spawn
    asyncio.run(_consume(server, sid, n, pipe))


# -- one case ------------------------------------------------------------------------------


async def run_case(
    server: Server, frames: tuple[bytes, ...], consumers: int, fps: float, seconds: float
) -> dict[str, Any]:
    """One relay, one stream, ``consumers`` readers, ``fps`` for ``seconds`` (+ warm-up)."""
    sid = register_stream(server)
    prod = await producer(server, sid)
    parent, child = mp.Pipe()
    shipped = Server(server.name, server.url, server.token, None)  # type: ignore[arg-type]
    proc = mp.get_context("spawn").Process(
        target=_consumer_main, args=(shipped, sid, consumers, child), daemon=True
    )
    proc.start()
    loop = asyncio.get_running_loop()
    if await loop.run_in_executor(None, parent.recv) != "ready":
        raise RuntimeError("consumers did not start")
    header = encode_header(sid, 0)  # the stamp that counts is the monotonic one
    period = 1.0 / fps
    sent = 0
    measured = 0
    late = 0.0
    t0 = time.monotonic()
    measure_at = t0 + WARMUP_S
    end_at = measure_at + seconds
    cpu0 = wall0 = None
    next_at = t0
    send_ms: list[float] = []
    while True:
        now = time.monotonic()
        if now >= end_at:
            break
        if cpu0 is None and now >= measure_at:
            parent.send(time.monotonic_ns())
            cpu0, wall0 = cpu_seconds(server.proc.pid), now
        s0 = time.perf_counter()
        await prod.send(stamped(header, frames[sent % len(frames)]))
        send_ms.append((time.perf_counter() - s0) * 1000)
        sent += 1
        if cpu0 is not None:
            measured += 1
        next_at += period
        delay = next_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)  # the producer's frame rate
        else:
            late += -delay
    cpu1, wall1 = cpu_seconds(server.proc.pid), time.monotonic()
    parent.send("stop")
    result = await loop.run_in_executor(None, parent.recv)
    proc.join(10)
    await prod.close()
    assert cpu0 is not None and wall0 is not None
    lat = [x for per in result["latencies"] for x in per]
    counts = result["counts"]
    expected = measured * consumers
    cpu_pct = 100.0 * (cpu1 - cpu0) / (wall1 - wall0)
    mean_bytes = sum(map(len, frames)) / len(frames)
    return {
        "relay": server.name,
        "consumers": consumers,
        "fps": fps,
        "frames_sent": measured,
        "producer_fps": round(measured / (wall1 - wall0), 1),
        "producer_send_ms_p99": round(pct(send_ms, 0.99), 2),
        "delivered": round(sum(counts) / expected, 4) if expected else None,
        "worst_consumer": round(min(counts) / measured, 4) if measured else None,
        "p50_ms": round(pct(lat, 0.50), 2),
        "p99_ms": round(pct(lat, 0.99), 2),
        "max_ms": round(max(lat), 1) if lat else None,
        "server_cpu_pct": round(cpu_pct, 1),
        "cpu_pct_per_consumer": round(cpu_pct / consumers, 2),
        "out_fps": round(sum(counts) / (wall1 - wall0), 1),
        "out_mb_s": round(sum(counts) * mean_bytes / (wall1 - wall0) / 1e6, 1),
    }


def sustained(row: dict[str, Any]) -> bool:
    return bool(
        row["delivered"] is not None
        and row["worst_consumer"] >= 0.99
        and row["p99_ms"] < 100.0
        and row["producer_fps"] >= 0.95 * row["fps"]
    )


async def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--consumers", default="1,10,50")
    p.add_argument("--steps", default="30,60,120,240,480,960", help="fps steps of the rate test")
    p.add_argument("--reps", type=int, default=3, help="latency runs per cell (median kept)")
    p.add_argument("--step-consumers", type=int, default=10)
    p.add_argument("--relays", default="beholder,websockets")
    p.add_argument("--json", help="write every row to this file")
    p.add_argument(
        "--baseline-src",
        help="also run Beholder from this source tree (e.g. another worktree's src/), as "
        "relay 'beholder-base': before/after figures in the same run",
    )
    args = p.parse_args(argv)
    frames = sized_jpegs()
    mean_kb = sum(map(len, frames)) / len(frames) / 1000
    print(f"{len(frames)} frames 1280x720, mean {mean_kb:.1f} KB", flush=True)
    servers: list[Server] = []
    try:
        for name in args.relays.split(","):
            servers.append(start_beholder() if name == "beholder" else start_peer())
        if args.baseline_src:
            base = start_beholder({"PYTHONPATH": str(Path(args.baseline_src).resolve())})
            base.name = "beholder-base"
            servers.append(base)
        rows: list[dict[str, Any]] = []
        for rep in range(args.reps):
            for n in (int(x) for x in args.consumers.split(",")):
                # Rotate who goes first: a load spike of the shared machine then hits
                # each relay as often.
                shift = rep % len(servers)
                for server in servers[shift:] + servers[:shift]:
                    row = await run_case(server, frames, n, 30.0, args.seconds)
                    rows.append(row | {"test": "latency", "rep": rep})
                    print(json.dumps(row), flush=True)
        for server in servers:
            for fps in (float(x) for x in args.steps.split(",")):
                row = await run_case(server, frames, args.step_consumers, fps, args.seconds / 2)
                row |= {"test": "rate", "sustained": sustained(row)}
                rows.append(row)
                print(json.dumps(row), flush=True)
                if not row["sustained"]:
                    break
    finally:
        for server in servers:
            server.stop()
    _report(rows, mean_kb)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


def _report(rows: list[dict[str, Any]], mean_kb: float) -> None:
    print(f"\nlatency, 30 fps of 720p JPEG (~{mean_kb:.0f} KB), median of the reps (each rep):")
    print(
        "| relay | consumers | p50 ms | p99 ms | p99 per rep | delivered | server CPU % "
        "| CPU %/consumer |"
    )
    print("|---|---:|---:|---:|---|---:|---:|---:|")
    cells: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in rows:
        if r["test"] == "latency":
            cells.setdefault((r["relay"], r["consumers"]), []).append(r)
    for (relay, n), reps in sorted(cells.items(), key=lambda kv: (kv[0][1], kv[0][0])):

        def med(key: str, reps: list[dict[str, Any]] = reps) -> float:
            return float(statistics.median(r[key] for r in reps))

        per_rep = " / ".join(str(r["p99_ms"]) for r in reps)
        print(
            f"| {relay} | {n} | {med('p50_ms'):.2f} | {med('p99_ms'):.2f} | {per_rep} | "
            f"{med('delivered'):.1%} | {med('server_cpu_pct'):.1f} | "
            f"{med('cpu_pct_per_consumer'):.2f} |"
        )
    print("\nrate steps (sustained = every consumer >= 99 %, p99 < 100 ms):")
    print("| relay | consumers | fps in | frames/s out | MB/s out | p99 ms | worst consumer | ok |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        if r["test"] == "rate":
            print(
                f"| {r['relay']} | {r['consumers']} | {r['producer_fps']} | {r['out_fps']} | "
                f"{r['out_mb_s']} | {r['p99_ms']} | {r['worst_consumer']:.1%} | "
                f"{'yes' if r['sustained'] else 'no'} |"
            )


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
