"""Ingest bench: K simultaneous 720p25 H.264 cameras through one worker, detection at 1/s.

The RTSP fixture (tests/fixtures/rtsp_server.py, GStreamer under /usr/bin/python3) serves K
mounts (one per camera; one server process, one in-memory copy per distinct clip); a
WorkerManager on the in-memory bus runs K sessions with the real detector at ``--max-side``
(640 px). Every clip is 1280x720, 25 fps, H.264 Constrained Baseline, no B-frames, a keyframe
every ``--gop`` (25) frames, so at 1 sample/s the worker decodes keyframes only.

Scene mixes (``--mix``, several allowed; cameras are assigned in the repeating pattern
busy, static, street, static, static so that every K that is a multiple of 5 gets exact shares):

* ``busy``: every camera shows ``headpose-two-faces.mp4`` (two faces in every frame,
  transcoded with :func:`fixtures.rtsp_server.transcode`): every sample needs analysis.
* ``realistic``: 20 % busy (two faces), 20 % street (moving cars, no face: needs analysis, no
  alert expected), 60 % static.
* ``static``: every camera static.

A street camera is :func:`fixtures.scenes.moving_cars_clip`: the three stretches of
``street-cars-no-faces.mp4`` (an overhead road) in which a car drives through, joined into 12 s
with motion in every second. The whole clip (``--street full``) has an empty, still road half
of the time (0-4, 9-14, 19.5-25, 28-30 s), samples that a motion gate rightly skips, which
would count against "analysed-of-needed" below.

A static camera is :func:`fixtures.scenes.static_scene_clip`: one real frame looped for 20 s
with temporal sensor-like noise (ffmpeg ``noise=alls=4:allf=t``), encoded at a 2 Mbit/s cap
with ``-tune grain`` so the noise survives in every frame, as on a real camera. Static cameras
alternate between two such scenes: the empty road of ``street-cars-no-faces.mp4`` at 2 s and
the empty room of ``people-walking-one-by-one.mp4`` at 72 s. Static cameras need no analysis.

Measured after ``--warmup`` for ``--seconds`` (per run, in the JSON and the tables):

* worker CPU in cores (process CPU of the worker + its detector child processes, not the RTSP
  server, which is reported apart as ``server_cpu_cores``);
* analysed samples per camera per second (``counters.detections``), dropped samples (replaced
  before analysis), samples skipped as static (``counters.skipped_static``; 0 on trees without
  it), detector ms p50, received fps, decode ms p50, RSS per session (RSS with K sessions minus
  before, / K);
* analysed-of-needed (%), on the busy and street cameras (static ones need none): analysed /
  (analysed + dropped + skipped + failed), i.e. of the samples whose fate was decided in the
  window, the share that was analysed. The plain analysed / sampled is in the JSON
  (``analysed_of_sampled_needed_pct``) but reads a few % low in a short window: the samples
  still in analysis when it closes count as sampled, not analysed;
* max gap: every session's ``counters.detections`` is polled every 0.25 s and the longest
  time a busy or street camera went without an analysis is reported (s, including the
  stretches from the start and to the end of the window);
* alerts per kind over the whole run (busy/street/static; street and static alerts are false
  alarms; busy cameras alert once per face episode, so ~1 each).

``--src DIR`` (repeatable) runs every (mix, K, src) in a fresh subprocess with
``PYTHONPATH=DIR`` so ``import beholder`` takes that tree, e.g. the previous detector path
checked out at /work/prev/src against the current /work/main/src; runs of one (mix, K) are
back to back, and a table per mix puts them side by side (``cores/first``: worker cores of
this src / of the first src, the gain as a ratio). Without ``--src`` the current tree runs,
in a fresh process per K when several are given (RSS freed by a previous run would hide new
growth).

Usage::

    .venv/bin/python bench/ingest.py [--cameras 10 25 50] [--mix busy realistic static]
        [--src /work/prev/src --src /work/main/src] [--seconds 20] [--warmup 8] [--gop 25]
        [--json out.json]

Prints one JSON line per run, then the tables; ``--json`` writes all runs. A full
``--cameras 10 25 50 --mix busy realistic static`` with two ``--src`` is 18 runs of about
45 s (start-up, warm-up 8 s, 20 s window, stop): ~14 min on 2 cores.

Goals (issue 13): 50 cameras at 1 sample/s within 2 cores, < 40 MB RSS per session; the
realistic mix at 50 cameras analyses >= 99 % of the samples that need analysis with worker CPU
<= 1.5 cores; the busy mix degrades fairly (every camera analysed at least every 3 s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fixtures.rtsp_server import MEDIA_DIR, RtspServer, transcode
from fixtures.scenes import (
    STREET_CLIP,
    WALK_EMPTY_AT,
    WALKING_CLIP,
    moving_cars_clip,
    static_scene_clip,
)

MIXES = ("busy", "realistic", "static")
NEEDED = ("busy", "street")
"""Kinds of camera whose every sample needs analysis."""
PATTERN = ("busy", "static", "street", "static", "static")
"""Camera i of the realistic mix is PATTERN[i % 5]: 20 % busy, 20 % street, 60 % static."""
POLL_S = 0.25


def camera_kinds(mix: str, k: int) -> list[str]:
    """Kind of each of ``k`` cameras (``busy``, ``street`` or ``static``) for ``mix``."""
    if mix == "busy":
        return ["busy"] * k
    if mix == "static":
        return ["static"] * k
    return [PATTERN[i % len(PATTERN)] for i in range(k)]


def prepare_clips(work: Path, gop: int, street: str = "cars") -> dict[str, list[Path]]:
    """The clips of each kind, transcoded once into ``work`` (1280x720, 25 fps, GOP ``gop``).
    A kind with several clips hands them out to its cameras in turn. ``street``: ``cars``
    (only the stretches with a moving car) or ``full`` (the whole clip)."""
    size = {"width": 1280, "height": 720, "fps": 25, "gop": gop}
    if street == "full":
        street_clip = transcode(STREET_CLIP, work / f"street-720p25-g{gop}.mp4", **size)
    else:
        street_clip = moving_cars_clip(work / f"street-cars-only-720p25-g{gop}.mp4", **size)
    return {
        "busy": [
            transcode(MEDIA_DIR / "headpose-two-faces.mp4", work / f"two-720p25-g{gop}.mp4", **size)
        ],
        "street": [street_clip],
        "static": [
            static_scene_clip(work / f"static-street-at2-n4-2M-720p25-g{gop}.mp4", **size),
            static_scene_clip(
                work / f"static-room-at72-n4-2M-720p25-g{gop}.mp4",
                source=WALKING_CLIP,
                at=WALK_EMPTY_AT,
                **size,
            ),
        ],
    }


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


def _worker_settings(cls: Any, **kw: Any) -> Any:
    """``cls(**kw)`` with only the fields this tree's WorkerSettings has (a pydantic model
    in this tree, a dataclass in older ones)."""
    fields = getattr(cls, "model_fields", None)
    names = set(fields) if fields is not None else {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in kw.items() if k in names})


def worker_manager(bus: Any, worker_id: str, **kw: Any) -> Any:
    """A ``WorkerManager`` with the worker settings ``kw`` (those this tree knows), on this
    tree (``WorkerManager(WorkerSettings, bus, id)``, ``beholder.config.WorkerSettings``)
    or an older one (``WorkerManager(Settings(), bus, id, worker_settings=...)``,
    ``beholder.worker.session.WorkerSettings``)."""
    from beholder.worker.manager import WorkerManager

    try:
        from beholder.config import WorkerSettings
    except ImportError:
        from beholder.config import Settings
        from beholder.worker.session import WorkerSettings as OldWorkerSettings

        ws = _worker_settings(OldWorkerSettings, **kw)
        return WorkerManager(Settings(), bus, worker_id, worker_settings=ws)
    try:  # a tree that checks camera networks: allow the loopback test cameras
        from beholder.config import CameraSettings
    except ImportError:
        return WorkerManager(_worker_settings(WorkerSettings, **kw), bus, worker_id)
    return WorkerManager(
        _worker_settings(WorkerSettings, **kw),
        bus,
        worker_id,
        camera=CameraSettings(networks="private,public,127.0.0.0/8"),
    )


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


async def run_k(
    clips: dict[str, list[Path]],
    mix: str,
    k: int,
    seconds: float,
    warmup: float,
    sample_fps: float,
    detect: bool,
    max_side: int = 640,
) -> dict[str, Any]:
    import beholder
    from beholder.bus import MemoryBus
    from beholder.messages import CameraCommand, CameraSpec, CommandType, Subjects

    me = psutil.Process()
    kinds = camera_kinds(mix, k)
    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(k)]  # UUIDs: ids on the bus
    kind_of = dict(zip(ids, kinds, strict=True))
    handed: dict[str, int] = {}
    mounts = {}
    for cid, kind in kind_of.items():
        n = handed[kind] = handed.get(kind, -1) + 1
        mounts[cid] = clips[kind][n % len(clips[kind])]
    server = RtspServer(mounts)
    server.start()
    srv_proc = psutil.Process(server.pid) if server.pid else None
    bus = MemoryBus()
    await bus.start()
    alerts = 0

    async def on_alert(_msg: Any) -> None:
        nonlocal alerts
        alerts += 1

    await bus.subscribe(Subjects.CAMERA_EVENTS, on_alert)
    mgr = worker_manager(
        bus,
        "bench",
        sample_fps=sample_fps,
        stats_interval=5.0,
        alert_cooldown=10.0,
        detect_max_side=max_side,
    )
    await mgr.start()
    if detect:
        # Load the detector libraries before the baseline, so that RSS per session counts
        # sessions, not one-off library loads.
        import numpy as np

        from beholder.worker.detect import create_detector

        warm = np.zeros((360, 640, 3), np.uint8)
        await asyncio.to_thread(lambda: create_detector(mgr.ws.detector).detect(warm))
    rss0 = me.memory_info().rss
    try:
        for cid in ids:
            spec = CameraSpec(
                camera_id=cid,
                name=cid,
                rtsp_url=server.url(cid),
                face_detection_enabled=detect,
            )
            cmd = CameraCommand(
                command_type=CommandType.START_STREAM, camera_id=cid, payload=spec.to_wire()
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

        def snap(s: Any) -> tuple[int, ...]:
            c = s.counters
            return (
                c.packets,
                c.samples,
                c.detections,
                c.dropped_samples,
                c.decoded,
                getattr(c, "skipped_static", 0),
                getattr(c, "alerts", 0),
                getattr(c, "detection_errors", 0),
            )

        c0 = {s.camera_id: snap(s) for s in sessions}
        cpu0, srv_cpu0, t0 = (
            _worker_cpu(me, srv_proc),
            _cpu(srv_proc) if srv_proc else 0.0,
            time.monotonic(),
        )
        alerts0 = alerts
        # Poll the analysis counters: the longest stretch each camera went unanalysed.
        t_end = t0 + seconds
        last_det = {s.camera_id: c0[s.camera_id][2] for s in sessions}
        last_t = dict.fromkeys(last_det, t0)
        max_gap = dict.fromkeys(last_det, 0.0)
        while (now := time.monotonic()) < t_end:
            await asyncio.sleep(min(POLL_S, t_end - now))
            now = time.monotonic()
            for s in sessions:
                d = s.counters.detections
                if d != last_det[s.camera_id]:
                    cid = s.camera_id
                    max_gap[cid] = max(max_gap[cid], now - last_t[cid])
                    last_det[cid], last_t[cid] = d, now
        dt = time.monotonic() - t0
        cpu1, srv_cpu1 = _worker_cpu(me, srv_proc), _cpu(srv_proc) if srv_proc else 0.0
        rss1 = me.memory_info().rss
        t1 = time.monotonic()
        for cid in max_gap:
            max_gap[cid] = max(max_gap[cid], t1 - last_t[cid])
        fps, dec_ms, det_ms = [], [], []
        tot = dict.fromkeys(("samples", "analysed", "dropped", "decoded", "skipped"), 0)
        per_kind: dict[str, dict[str, Any]] = {}
        for s in sessions:
            p, sa, de, dr, dc, sk, al, er = c0[s.camera_id]
            n = snap(s)
            fps.append((n[0] - p) / dt)
            diff = {
                "samples": n[1] - sa,
                "analysed": n[2] - de,
                "dropped": n[3] - dr,
                "decoded": n[4] - dc,
                "skipped": n[5] - sk,
                "errors": n[7] - er,
                "alerts": n[6] - al,
                "alerts_run": n[6],
            }
            for key in tot:
                tot[key] += diff[key]
            kind = kind_of.get(s.camera_id, "?")
            agg = per_kind.setdefault(
                kind, {"cameras": 0, **dict.fromkeys(diff, 0), "max_gap_s": 0.0}
            )
            agg["cameras"] += 1
            for key, v in diff.items():
                agg[key] += v
            agg["max_gap_s"] = round(max(agg["max_gap_s"], max_gap[s.camera_id]), 2)
            if s.counters.decode_ms:
                dec_ms.append(statistics.median(s.counters.decode_ms))
            if s.counters.detector_ms:
                det_ms.append(statistics.median(s.counters.detector_ms))
        for agg in per_kind.values():
            agg["analysed_per_camera_s"] = round(agg["analysed"] / dt / agg["cameras"], 2)
        need = [per_kind[x] for x in NEEDED if x in per_kind]
        need_samples = sum(a["samples"] for a in need)
        need_analysed = sum(a["analysed"] for a in need)
        # Every sample ends analysed, dropped, skipped or failed; counting outcomes (not
        # samples) keeps the samples still in analysis at the window's end out of the ratio.
        need_outcomes = sum(a["analysed"] + a["dropped"] + a["skipped"] + a["errors"] for a in need)
        processing = sum(1 for s in sessions if s.status.value == "PROCESSING")
        return {
            "mix": mix,
            "src": str(Path(beholder.__file__).resolve().parents[1]),
            "cameras": k,
            "kinds": {x: kinds.count(x) for x in ("busy", "street", "static") if x in kinds},
            "processing": processing,
            "startup_s": round(t_up - t_start, 1),
            "seconds": round(dt, 1),
            "worker_cpu_cores": round((cpu1 - cpu0) / dt, 3),
            "cpu_s_per_camera_s": round((cpu1 - cpu0) / dt / k, 4),
            "server_cpu_cores": round((srv_cpu1 - srv_cpu0) / dt, 3),
            "input_fps_mean": round(statistics.mean(fps), 2),
            "input_fps_min": round(min(fps), 2),
            "decoded_fps_per_camera": round(tot["decoded"] / dt / k, 2),
            "samples_per_camera_s": round(tot["samples"] / dt / k, 2),
            "detections_per_camera_s": round(tot["analysed"] / dt / k, 2),
            "dropped_samples": tot["dropped"],
            "skipped_static": tot["skipped"],
            "analysed_of_needed_pct": (
                round(100 * need_analysed / need_outcomes, 1) if need_outcomes else None
            ),
            "analysed_of_sampled_needed_pct": (
                round(100 * need_analysed / need_samples, 1) if need_samples else None
            ),
            "max_gap_needed_s": (round(max(a["max_gap_s"] for a in need), 2) if need else None),
            "per_kind": per_kind,
            "decode_ms_p50": _median(dec_ms),
            "detector_ms_p50": _median(det_ms),
            "rss_per_session_mb": round((rss1 - rss0) / k / 2**20, 1),
            "rss_total_mb": round(rss1 / 2**20, 1),
            "alerts": alerts,
            "alerts_in_window": alerts - alerts0,
            "loadavg_1m": round(os.getloadavg()[0], 2),
            "cpus": os.cpu_count(),
            "decode_mode": sorted({str(getattr(s, "decode_mode", "?")) for s in sessions}),
        }
    finally:
        await mgr.stop()
        await bus.close()
        server.stop()


# ------------------------------------------------------------------------------ report


def _fmt(v: Any, spec: str = "") -> str:
    return "-" if v is None else format(v, spec)


def table(results: list[dict[str, Any]], mix: str) -> str:
    """One mix's runs side by side: a row per (K, src)."""
    rows = [r for r in results if r.get("mix") == mix]
    if not rows:
        return ""
    head = (
        "K",
        "src",
        "worker cores",
        "cores/first",
        "analysed/cam/s",
        "dropped",
        "skipped",
        "det ms p50",
        "analysed-of-needed %",
        "max gap s",
        "alerts busy/street/static",
    )
    lines = [f"mix {mix}", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    first: dict[int, float] = {}
    for r in rows:
        k = r["cameras"]
        if "error" in r:
            lines.append(f"| {k} | {r['src']} | error: {r['error']} |")
            continue
        cores = r["worker_cpu_cores"]
        first.setdefault(k, cores)
        pk = r.get("per_kind", {})
        al = "/".join(
            str(pk.get(x, {}).get("alerts_run", "-")) for x in ("busy", "street", "static")
        )
        cells = (
            k,
            r["src"],
            f"{cores:.2f}",
            f"{cores / first[k]:.2f}" if first[k] else "-",
            _fmt(r["detections_per_camera_s"], ".2f"),
            r["dropped_samples"],
            r.get("skipped_static", 0),
            _fmt(r["detector_ms_p50"], ".1f"),
            _fmt(r.get("analysed_of_needed_pct"), ".1f"),
            _fmt(r.get("max_gap_needed_s"), ".2f"),
            al,
        )
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ main


def _child_cmd(args: argparse.Namespace, mix: str, k: int, work: Path) -> list[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--cameras", str(k), "--mix", mix]
    cmd += ["--seconds", str(args.seconds), "--warmup", str(args.warmup)]
    cmd += ["--sample-fps", str(args.sample_fps), "--gop", str(args.gop)]
    cmd += ["--max-side", str(args.max_side), "--workdir", str(work), "--child"]
    cmd += ["--street", args.street]
    if args.no_detect:
        cmd.append("--no-detect")
    return cmd


def _run_child(args: argparse.Namespace, mix: str, k: int, work: Path, src: str | None) -> Any:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    label = src or "current"
    timeout = 60 + args.warmup + args.seconds + 120
    try:
        proc = subprocess.run(
            _child_cmd(args, mix, k, work),
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"mix": mix, "cameras": k, "src": label, "error": f"timeout after {timeout:.0f} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"mix": mix, "cameras": k, "src": label, "error": err[:200]}
    r = json.loads(lines[-1])
    if src is not None:
        # The tree the child really imported (PYTHONPATH must win over the venv's install).
        r["beholder_tree"] = r["src"]
        if Path(r["src"]).resolve() != Path(src).resolve():
            r["error"] = f"imported beholder from {r['src']}, not {src}"
        r["src"] = src
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--cameras", type=int, nargs="+", default=[10, 25, 50])
    ap.add_argument("--mix", nargs="+", choices=MIXES, default=["busy"])
    ap.add_argument(
        "--src",
        action="append",
        default=None,
        help="a source tree (dir holding the beholder package) to run, in a fresh process "
        "with PYTHONPATH=DIR; repeat to compare",
    )
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=8.0)
    ap.add_argument("--sample-fps", type=float, default=1.0)
    ap.add_argument("--gop", type=int, default=25, help="keyframe interval in frames at 25 fps")
    ap.add_argument(
        "--street",
        choices=("cars", "full"),
        default="cars",
        help="street cameras: only the stretches with a moving car (default) or the whole clip",
    )
    ap.add_argument("--no-detect", action="store_true")
    ap.add_argument("--max-side", type=int, default=640, help="detector input's longer side")
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "beholder-bench"))
    ap.add_argument("--json", default=None)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    clips = prepare_clips(work, args.gop, args.street)
    runs = [(mix, k) for mix in args.mix for k in args.cameras]
    srcs: list[str | None] = list(args.src) if args.src else [None]
    results = []
    if len(runs) == 1 and args.src is None:
        import structlog

        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
        ((mix, k),) = runs
        r = asyncio.run(
            run_k(
                clips,
                mix,
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
        r["street"] = args.street
        print(json.dumps(r), flush=True)
        if args.child:
            return 0
        results.append(r)
    else:
        # One fresh process per run: RSS freed by a previous run would hide new growth, and
        # each src needs its own import of beholder. Runs of one (mix, K) go back to back.
        for mix, k in runs:
            for src in srcs:
                r = _run_child(args, mix, k, work, src)
                results.append(r)
                print(json.dumps(r), flush=True)
    print()
    for mix in args.mix:
        print(table(results, mix))
        print()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
