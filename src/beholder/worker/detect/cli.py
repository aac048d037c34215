"""``beholder detect PATH… [--detector yunet|haar] [--threshold T] [--fps F] [--json]``.

Runs a face detector on images (anything OpenCV decodes) and videos (anything PyAV/FFmpeg
opens, sampled at ``--fps``, default 2/s, by decoding every frame and keeping one per
interval). Frames are downscaled to 640 px like the camera pipeline does, and boxes are
mapped back to source pixels, so the output is what a camera would alert on.

``--json``: one object per line per image / sampled video frame (DESIGN §6):
``{"path", "frame"?, "width", "height", "faces": [{"box": [x, y, w, h], "confidence"}]}``,
``frame`` being the 0-based index of the decoded frame (videos only), confidence 0..1.
Without ``--json``: a readable table, plus a summary line per video.

A missing or unreadable path prints ``beholder detect: PATH: reason`` on stderr and the
run goes on. Exit code: 0 all paths read, 1 some path failed, 2 bad arguments.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import cv2
import numpy as np

from beholder.worker.detect import create_detector
from beholder.worker.detect.base import Detector, Face, Frame, detect_scaled

DEFAULT_FPS = 2.0
MAX_SIDE = 640  # same default as DetectionPipeline


class InputError(Exception):
    """A path that cannot be read as an image or a video; the message is for the user."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One image, or one sampled video frame (``frame``/``time`` set)."""

    image: Frame
    frame: int | None = None
    time: float | None = None


def _read_image(path: Path) -> Frame:
    # imdecode from bytes, not imread: same result, handles non-ASCII paths and never logs.
    data = np.fromfile(path, dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if img is None:
        raise InputError("cannot decode this image")
    return np.asarray(img, dtype=np.uint8)


def _video_samples(path: Path, fps: float) -> Iterator[Sample]:
    import av

    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise InputError("not an image or a video that can be read") from exc
    with container:
        if not container.streams.video:
            raise InputError("not an image or a video (no video stream)")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate) if stream.average_rate else 25.0
        step = 1.0 / fps
        next_t: float | None = None
        try:
            for index, frame in enumerate(container.decode(stream)):
                t = float(frame.time) if frame.time is not None else index / rate
                if next_t is None:
                    next_t = t
                # a fixed grid of sample times (not "last + step"), so the frame rate's
                # granularity does not make the sampling drift
                if t < next_t - 1e-6:
                    continue
                while next_t <= t + 1e-6:
                    next_t += step
                yield Sample(np.asarray(frame.to_ndarray(format="bgr24")), index, t)
        except av.FFmpegError as exc:
            raise InputError(f"video decoding failed: {exc}") from exc


def read_samples(path: str, fps: float = DEFAULT_FPS) -> Iterator[Sample]:
    """Images as one sample, videos as frames sampled at ``fps`` per second.

    Raises :class:`InputError` (possibly after yielding some frames of a broken video).
    """
    p = Path(path)
    if not p.exists():
        raise InputError("no such file")
    if p.is_dir():
        raise InputError("is a directory")
    try:
        # haveImageReader sniffs the file's signature, so videos go to PyAV whatever
        # their extension.
        is_image = bool(cv2.haveImageReader(str(p)))
    except cv2.error:
        is_image = False
    try:
        if is_image:
            yield Sample(_read_image(p))
        else:
            yield from _video_samples(p, fps)
    except PermissionError as exc:
        raise InputError("permission denied") from exc
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}") from exc


def _json_line(path: str, sample: Sample, faces: list[Face]) -> str:
    h, w = sample.image.shape[:2]
    obj: dict[str, object] = {"path": path}
    if sample.frame is not None:
        obj["frame"] = sample.frame
    obj.update(
        width=w,
        height=h,
        faces=[{"box": list(f.box), "confidence": round(f.confidence, 3)} for f in faces],
    )
    return json.dumps(obj)


def _table_line(path: str, sample: Sample, faces: list[Face], width: int) -> str:
    h, w = sample.image.shape[:2]
    frame = "-" if sample.frame is None else str(sample.frame)
    at = "-" if sample.time is None else f"{sample.time:.2f}s"
    boxes = "  ".join(f"[{f.x},{f.y},{f.w},{f.h}] {f.confidence:.2f}" for f in faces)
    return f"{path:<{width}}  {frame:>6}  {at:>8}  {f'{w}x{h}':>9}  {len(faces):>5}  {boxes}"


def _run_path(
    detector: Detector, path: str, fps: float, as_json: bool, width: int, out: TextIO
) -> None:
    samples = with_faces = total = 0
    video = False
    for sample in read_samples(path, fps):
        faces, _ms = detect_scaled(detector, sample.image, MAX_SIDE)
        samples += 1
        with_faces += bool(faces)
        total += len(faces)
        video = sample.frame is not None
        line = (
            _json_line(path, sample, faces) if as_json else _table_line(path, sample, faces, width)
        )
        print(line, file=out, flush=True)
    if video and not as_json:
        print(
            f"{path}: {samples} samples at {fps:g}/s, {with_faces} with faces, "
            f"{total} faces in all",
            file=out,
            flush=True,
        )


def run_detect(
    paths: list[str],
    detector: str | None,
    threshold: float | None,
    fps: float | None,
    as_json: bool,
) -> int:
    """Body of ``beholder detect``; prints results on stdout, errors on stderr.

    Returns the exit code: 0 ok, 1 if any path could not be read, 2 for bad arguments.
    """
    out, err = sys.stdout, sys.stderr
    rate = DEFAULT_FPS if fps is None else fps
    if not rate > 0:
        print(f"beholder detect: --fps must be > 0, got {fps}", file=err)
        return 2
    try:
        det = create_detector(detector or "yunet", threshold)
    except ValueError as exc:
        print(f"beholder detect: {exc}", file=err)
        return 2
    except (ImportError, RuntimeError) as exc:
        print(f"beholder detect: cannot load the {detector or 'yunet'} detector: {exc}", file=err)
        return 1

    width = min(40, max(len(p) for p in paths)) if paths else 4
    if not as_json:
        print(
            f"{'PATH':<{width}}  {'FRAME':>6}  {'TIME':>8}  {'SIZE':>9}  {'FACES':>5}  "
            "BOXES [x,y,w,h] CONFIDENCE",
            file=out,
        )
    failed = 0
    try:
        for path in paths:
            try:
                _run_path(det, path, rate, as_json, width, out)
            except InputError as exc:
                failed += 1
                print(f"beholder detect: {path}: {exc}", file=err, flush=True)
            except BrokenPipeError:
                raise
            except Exception as exc:  # one bad file must not end the run (nor a traceback)
                failed += 1
                print(
                    f"beholder detect: {path}: failed ({type(exc).__name__}: {exc})",
                    file=err,
                    flush=True,
                )
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # stdout closed early (e.g. `| head`): stop quietly, as Unix tools do, and point
        # stdout at /dev/null so the interpreter's final flush does not complain.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, out.fileno())
        return 1 if failed else 0
    return 1 if failed else 0
