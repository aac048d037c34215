"""Alert latency bench: frame served by the RTSP camera -> FaceDetectionAlert on the bus.

The RTSP fixture stamps every access unit with the wall-clock time at which it handed the
frame to the RTSP server (an H.264 SEI, see tests/fixtures/rtsp_server.py); the worker copies
the sampled frame's stamp into ``FaceDetectionAlert.source_ts``. Latency = arrival of the
alert on the bus (a subscriber in this process) - ``source_ts``. Both clocks are this
machine's wall clock.

To get many alerts from a clip where the same two people stay in view, each camera's
detection is toggled off and on (``TOGGLE_FACE_DETECTION``), which resets the tracker, with
cooldown 0: every re-enable yields a new alert on the next sample. The toggle's timing does not
enter the figure (it is measured from the sampled frame, not from the toggle).

Usage: ``.venv/bin/python bench/alert_latency.py [--alerts 60] [--cameras 2] [--sample-fps 2]``
Prints p50/p90/p99/max in ms and the components the worker measures itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from beholder.bus import MemoryBus, create_bus
from beholder.config import BusSettings, CameraSettings, WorkerSettings
from beholder.messages import (
    CameraCommand,
    CameraSpec,
    CommandType,
    FaceDetectionAlert,
    Subjects,
    new_id,
)
from beholder.worker.manager import WorkerManager
from fixtures.rtsp_server import MEDIA_DIR, RtspServer


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    idx = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
    return values[idx]


async def run(n_alerts: int, cameras: int, sample_fps: float, bus_url: str) -> dict[str, Any]:
    clip = MEDIA_DIR / "headpose-two-faces.mp4"
    server = RtspServer({f"cam{i}": clip for i in range(cameras)})
    server.start()
    bus = MemoryBus() if bus_url.startswith("memory") else create_bus(BusSettings(url=bus_url))
    await bus.start()
    latencies: list[float] = []
    # Camera ids are UUIDs on the bus; the RTSP mounts keep their short names.
    mounts = {new_id(): f"cam{i}" for i in range(cameras)}
    got: dict[str, asyncio.Event] = {cid: asyncio.Event() for cid in mounts}

    async def on_alert(msg: Any) -> None:
        now = time.time()
        alert = FaceDetectionAlert.from_bytes(msg.data)
        if alert.source_ts is not None:
            latencies.append((now - alert.source_ts) * 1000.0)
        ev = got.get(alert.camera_id)
        if ev is not None:
            ev.set()

    await bus.subscribe(Subjects.CAMERA_EVENTS, on_alert)
    mgr = WorkerManager(
        WorkerSettings(sample_fps=sample_fps, alert_cooldown=0.0),
        bus,
        "latency-bench",
        camera=CameraSettings(networks="private,public,127.0.0.0/8"),  # the loopback camera
    )
    await mgr.start()

    async def command(kind: CommandType, cid: str, payload: dict[str, Any]) -> None:
        cmd = CameraCommand(command_type=kind, camera_id=cid, payload=payload)
        await bus.publish(Subjects.CAMERA_COMMANDS, cmd.to_bytes())

    try:
        for cid in got:
            spec = CameraSpec(camera_id=cid, name=mounts[cid], rtsp_url=server.url(mounts[cid]))
            await command(CommandType.START_STREAM, cid, spec.to_wire())

        async def cycle(cid: str) -> None:
            while len(latencies) < n_alerts:
                got[cid].clear()
                await command(CommandType.TOGGLE_FACE_DETECTION, cid, {"enabled": True})
                try:
                    await asyncio.wait_for(got[cid].wait(), 20)
                except TimeoutError:
                    print(f"{mounts[cid]}: no alert within 20 s", file=sys.stderr)
                await command(CommandType.TOGGLE_FACE_DETECTION, cid, {"enabled": False})
                await asyncio.sleep(0.3)

        await asyncio.wait_for(asyncio.gather(*(cycle(c) for c in got)), 600)
        first = latencies[:cameras]  # includes detector creation: reported apart
        steady = latencies[cameras:] or latencies
        det_ms = [m for s in mgr.sessions.values() for m in s.counters.detector_ms]
        dec_ms = [m for s in mgr.sessions.values() for m in s.counters.decode_ms]
        return {
            "alerts": len(steady),
            "cameras": cameras,
            "sample_fps": sample_fps,
            "bus": bus.name,
            "p50_ms": round(_pct(steady, 0.50), 1),
            "p90_ms": round(_pct(steady, 0.90), 1),
            "p99_ms": round(_pct(steady, 0.99), 1),
            "max_ms": round(max(steady), 1),
            "mean_ms": round(statistics.mean(steady), 1),
            "first_alert_ms": [round(x, 1) for x in first],
            "detector_ms_p50": round(statistics.median(det_ms), 1) if det_ms else None,
            "decode_ms_p50": round(statistics.median(dec_ms), 2) if dec_ms else None,
            "loadavg_1m": round(os.getloadavg()[0], 2),
        }
    finally:
        await mgr.stop()
        await bus.close()
        server.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--alerts", type=int, default=60)
    ap.add_argument("--cameras", type=int, default=2)
    ap.add_argument("--sample-fps", type=float, default=2.0)
    ap.add_argument("--bus-url", default="memory://", help="memory:// or nats://127.0.0.1:4222")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    result = asyncio.run(run(args.alerts, args.cameras, args.sample_fps, args.bus_url))
    print(json.dumps(result), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
