"""Phone → built-in detector → alert back to the phone, through a real ``beholder serve``
(SQLite, in-memory bus, the in-process worker with its detector child processes).

The "phone" is one relay producer socket sending 480x270 JPEGs of
``headpose-two-faces.mp4`` (two faces in every frame) at ``--fps``. Each cycle:

1. face detection is switched off and on for the stream (``PATCH /api/streams/{id}``): the
   worker drops the stream's tracker, so the next faces are a new episode (alert cooldown 0);
2. the phone sends empty grey frames for ``--settle`` s (the worker subscribes meanwhile;
   nothing to detect);
3. at ``T0`` it switches to the faces; the alert arrives on the same socket at ``T1``.

Two figures per cycle:

- **first face → alert** = ``T1 - T0``: what a user sees, including the wait for the
  detector's next sample (``1 / BEHOLDER_RELAY_DETECT_FPS`` at most);
- **frame → alert** = arrival - the analysed frame's header timestamp (the alert's
  ``metadata.sourceTs``): bus → decode → detect → track → alert → bus → api (store the
  alert and its snapshot) → relay → phone, without the sampling wait. Unix-clock ms, both
  ends on this machine.

The first cycle (detector processes starting) is reported apart.

Usage: ``python bench/relay_round_trip.py [--cycles 30] [--fps 15] [--detect-fps 5]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from relay_common import (
    pct,
    producer,
    register_stream,
    set_face_detection,
    start_beholder,
)

from beholder.contracts.relay_frame import encode_frame
from fixtures.relay_frames import blank_jpeg, clip_jpegs


async def run(cycles: int, fps: float, detect_fps: float, settle: float) -> dict[str, Any]:
    server = start_beholder(
        {
            "BEHOLDER_WORKER_ALERT_COOLDOWN": "0",
            "BEHOLDER_RELAY_DETECT_FPS": str(detect_fps),
        },
        worker=True,
    )
    try:
        sid = register_stream(server, "round-trip phone")
        phone = await producer(server, sid)
        faces, blank = clip_jpegs(), [blank_jpeg()]
        state: dict[str, Any] = {"frames": blank, "alert": None}
        arrived = asyncio.Event()

        async def send_loop() -> None:
            i = 0
            period = 1.0 / fps
            next_at = time.monotonic()
            while True:
                frames = state["frames"]
                await phone.send(
                    encode_frame(sid, int(time.time() * 1000), frames[i % len(frames)])
                )
                i += 1
                next_at += period
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))  # frame rate

        async def receive_loop() -> None:
            async for raw in phone:
                if isinstance(raw, bytes):
                    continue
                msg = json.loads(raw)
                if msg.get("type") == "ping":
                    await phone.send(json.dumps({"type": "pong", "ts": msg.get("ts")}))
                elif msg.get("type") == "alert" and state["alert"] is None:
                    state["alert"] = (time.monotonic(), time.time(), msg)
                    arrived.set()

        tasks = [asyncio.create_task(send_loop()), asyncio.create_task(receive_loop())]
        first_face: list[float] = []
        frame_to_alert: list[float] = []
        missed = 0
        for _ in range(cycles):
            state["frames"], state["alert"] = blank, None
            arrived.clear()
            await asyncio.to_thread(set_face_detection, server, sid, False)
            await asyncio.to_thread(set_face_detection, server, sid, True)
            await asyncio.sleep(settle)  # empty frames while the worker subscribes
            if state["alert"] is not None:
                state["alert"] = None  # a late alert of the previous cycle
                arrived.clear()
            t0 = time.monotonic()
            state["frames"] = faces
            try:
                await asyncio.wait_for(arrived.wait(), 30)
            except TimeoutError:
                missed += 1
                continue
            t1, wall, msg = state["alert"]
            first_face.append((t1 - t0) * 1000)
            source_ts = (msg.get("metadata") or {}).get("sourceTs")
            if source_ts:
                frame_to_alert.append((wall - float(source_ts)) * 1000)
        for t in tasks:
            t.cancel()
        await phone.close()
    finally:
        server.stop()
    steady_ff, steady_fa = first_face[1:], frame_to_alert[1:]
    return {
        "cycles": cycles,
        "missed": missed,
        "phone_fps": fps,
        "detect_fps": detect_fps,
        "first_face_to_alert_ms": _summary(steady_ff),
        "frame_to_alert_ms": _summary(steady_fa),
        "first_cycle_ms": round(first_face[0], 1) if first_face else None,
    }


def _summary(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(pct(values, 0.5), 1),
        "p99": round(pct(values, 0.99), 1),
        "mean": round(statistics.mean(values), 1),
        "max": round(max(values), 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cycles", type=int, default=30)
    p.add_argument("--fps", type=float, default=15.0, help="the phone's frame rate")
    p.add_argument("--detect-fps", type=float, default=5.0, help="BEHOLDER_RELAY_DETECT_FPS")
    p.add_argument("--settle", type=float, default=1.0, help="s of empty frames per cycle")
    args = p.parse_args(argv)
    result = asyncio.run(run(args.cycles, args.fps, args.detect_fps, args.settle))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
