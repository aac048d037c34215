"""Ingest bench: K simultaneous 720p25 H.264 cameras through one worker, detection at 1/s.

The RTSP fixture (tests/fixtures/rtsp_server.py, GStreamer under /usr/bin/python3) serves one
720p25 transcode of the two-faces clip as K mounts; a WorkerManager on the in-memory bus runs
K sessions with the real detector. After a warm-up, the bench measures for ``--seconds``:

* worker CPU seconds per camera per second (process CPU time of this process / K / T) and
  the RTSP server's CPU (separate process, not part of the worker's budget);
* received fps per camera vs 25, decode ms p50, detector ms p50, samples, dropped samples;
* RSS per session: (RSS with K sessions - RSS before) / K.

Usage: ``.venv/bin/python bench/ingest.py [--cameras 10 25 50] [--seconds 20] [--gop 25]``.
Prints a table and writes JSON to ``--json`` if given. Goal: 50 cameras at 1 sample/s within
2 cores, < 40 MB RSS per session.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from beholder.bus import MemoryBus
from beholder.config import Settings
from beholder.messages import CameraCommand, CameraSpec, CommandType, Subjects
from beholder.worker.manager import WorkerManager
from beholder.worker.session import WorkerSettings
from fixtures.rtsp_server import MEDIA_DIR, RtspServer, transcode


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def _worker_cpu(me: psutil.Process, exclude: psutil.Process | None) -> float:
    """CPU of this process plus its live children (the detector processes), without the
    RTSP server (also a child, but the camera's cost, not the worker's)."""
    total = _cpu(me)
    skip = set()
    if exclude is not None:
        skip = {exclude.pid} | {c.pid for c in exclude.children(recursive=True)}
    for child in me.children(recursive=True):
        if child.pid in skip:
            continue
        with contextlib.suppress(psutil.NoSuchProcess):
            total += _cpu(child)
    return total


async def run_k(
    clip: Path,
    k: int,
    seconds: float,
    warmup: float,
    sample_fps: float,
    detect: bool,
    max_side: int = 640,
) -> dict[str, Any]:
    me = psutil.Process()
    server = RtspServer({f"cam{i}": clip for i in range(k)})
    server.start()
    srv_proc = psutil.Process(server.pid) if server.pid else None
    bus = MemoryBus()
    await bus.start()
    alerts = 0

    async def on_alert(_msg: Any) -> None:
        nonlocal alerts
        alerts += 1

    await bus.subscribe(Subjects.CAMERA_EVENTS, on_alert)
    mgr = WorkerManager(
        Settings(),
        bus,
        "bench",
        worker_settings=WorkerSettings(
            sample_fps=sample_fps,
            stats_interval=5.0,
            alert_cooldown=10.0,
            detect_max_side=max_side,
        ),
    )
    await mgr.start()
    if detect:
        # Load the detector libraries and one detector per pool thread before the baseline,
        # so that RSS per session counts sessions, not one-off library loads.
        import numpy as np

        from beholder.worker.detect.base import create_detector

        warm = np.zeros((360, 640, 3), np.uint8)
        await asyncio.gather(
            *(
                asyncio.get_running_loop().run_in_executor(
                    mgr.executor, lambda: create_detector(mgr.ws.detector).detect(warm)
                )
                for _ in range(2)
            )
        )
    rss0 = me.memory_info().rss
    try:
        for i in range(k):
            spec = CameraSpec(
                camera_id=f"cam{i}",
                name=f"cam{i}",
                rtsp_url=server.url(f"cam{i}"),
                face_detection_enabled=detect,
            )
            cmd = CameraCommand(
                command_type=CommandType.START_STREAM, camera_id=f"cam{i}", payload=spec.to_wire()
            )
            await bus.publish(Subjects.CAMERA_COMMANDS, cmd.to_bytes())
        t_start = time.monotonic()
        deadline = t_start + 60
        while time.monotonic() < deadline:
            up = sum(1 for s in mgr.sessions.values() if s.status.value == "PROCESSING")
            if up == k:
                break
            await asyncio.sleep(0.2)
        t_up = time.monotonic()
        await asyncio.sleep(warmup)
        sessions = list(mgr.sessions.values())
        c0 = {
            s.camera_id: (
                s.counters.packets,
                s.counters.samples,
                s.counters.detections,
                s.counters.dropped_samples,
                s.counters.decoded,
            )
            for s in sessions
        }
        cpu0, srv_cpu0, t0 = (
            _worker_cpu(me, srv_proc),
            _cpu(srv_proc) if srv_proc else 0.0,
            time.monotonic(),
        )
        await asyncio.sleep(seconds)
        dt = time.monotonic() - t0
        cpu1, srv_cpu1 = _worker_cpu(me, srv_proc), _cpu(srv_proc) if srv_proc else 0.0
        rss1 = me.memory_info().rss
        fps, samples, dets, drops, decoded, dec_ms, det_ms = [], 0, 0, 0, 0, [], []
        for s in sessions:
            p, sa, de, dr, dc = c0[s.camera_id]
            fps.append((s.counters.packets - p) / dt)
            samples += s.counters.samples - sa
            dets += s.counters.detections - de
            drops += s.counters.dropped_samples - dr
            decoded += s.counters.decoded - dc
            if s.counters.decode_ms:
                dec_ms.append(statistics.median(s.counters.decode_ms))
            if s.counters.detector_ms:
                det_ms.append(statistics.median(s.counters.detector_ms))
        processing = sum(1 for s in sessions if s.status.value == "PROCESSING")
        return {
            "cameras": k,
            "processing": processing,
            "startup_s": round(t_up - t_start, 1),
            "seconds": round(dt, 1),
            "worker_cpu_cores": round((cpu1 - cpu0) / dt, 3),
            "cpu_s_per_camera_s": round((cpu1 - cpu0) / dt / k, 4),
            "server_cpu_cores": round((srv_cpu1 - srv_cpu0) / dt, 3),
            "input_fps_mean": round(statistics.mean(fps), 2),
            "input_fps_min": round(min(fps), 2),
            "decoded_fps_per_camera": round(decoded / dt / k, 2),
            "samples_per_camera_s": round(samples / dt / k, 2),
            "detections_per_camera_s": round(dets / dt / k, 2),
            "dropped_samples": drops,
            "decode_ms_p50": round(statistics.median(dec_ms), 2) if dec_ms else None,
            "detector_ms_p50": round(statistics.median(det_ms), 2) if det_ms else None,
            "rss_per_session_mb": round((rss1 - rss0) / k / 2**20, 1),
            "rss_total_mb": round(rss1 / 2**20, 1),
            "alerts": alerts,
            "loadavg_1m": round(os.getloadavg()[0], 2),
            "cpus": os.cpu_count(),
            "decode_mode": sorted({getattr(s, "decode_mode", "?") for s in sessions}),
        }
    finally:
        await mgr.stop()
        await bus.close()
        server.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cameras", type=int, nargs="+", default=[10, 25, 50])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=8.0)
    ap.add_argument("--sample-fps", type=float, default=1.0)
    ap.add_argument("--gop", type=int, default=25, help="keyframe interval in frames at 25 fps")
    ap.add_argument("--no-detect", action="store_true")
    ap.add_argument("--max-side", type=int, default=640, help="detector input's longer side")
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "beholder-bench"))
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    clip = transcode(
        MEDIA_DIR / "headpose-two-faces.mp4",
        work / f"two-720p25-g{args.gop}.mp4",
        width=1280,
        height=720,
        fps=25,
        gop=args.gop,
    )
    results = []
    for k in args.cameras:
        if len(args.cameras) > 1:
            # One fresh process per K: RSS freed by a previous run would hide new growth.
            cmd = [
                sys.executable,
                __file__,
                "--cameras",
                str(k),
                "--seconds",
                str(args.seconds),
                "--warmup",
                str(args.warmup),
                "--sample-fps",
                str(args.sample_fps),
                "--gop",
                str(args.gop),
                "--workdir",
                str(work),
            ]
            if args.no_detect:
                cmd.append("--no-detect")
            cmd += ["--max-side", str(args.max_side)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
        else:
            r = asyncio.run(
                run_k(
                    clip,
                    k,
                    args.seconds,
                    args.warmup,
                    args.sample_fps,
                    not args.no_detect,
                    args.max_side,
                )
            )
            r["gop"] = args.gop
            r["max_side"] = args.max_side
            print(json.dumps(r), flush=True)
        results.append(r)
        if len(args.cameras) > 1:
            print(json.dumps(r), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
