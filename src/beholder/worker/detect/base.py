"""Face detector interface: the :class:`Face` result, the :class:`Detector` protocol and
:func:`detect_scaled` (downscale, detect, map boxes back). The registry of implementations
(:func:`~beholder.worker.detect.create_detector`) is the package itself, so this module
imports none of them.

Conventions used across ``beholder.worker.detect``:

- a frame is a ``numpy.ndarray`` of shape ``(H, W, 3)``, dtype ``uint8``, BGR channel order
  (what PyAV's ``to_ndarray(format="bgr24")`` and ``cv2.imread`` give);
- boxes are ``(x, y, w, h)`` integers in the pixels of the frame that was passed in,
  clipped to the frame;
- confidence is a float in ``0..1`` whatever the detector's native score scale.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import cv2
import numpy as np
import numpy.typing as npt

Frame = npt.NDArray[np.uint8]
"""HxWx3 uint8 BGR image."""


@dataclass(frozen=True, slots=True)
class Face:
    """One detected face. Box in source pixels (of the frame given to the detector)."""

    x: int
    y: int
    w: int
    h: int
    confidence: float
    """0..1, higher is surer."""

    @property
    def box(self) -> tuple[int, int, int, int]:
        """``(x, y, w, h)`` in pixels."""
        return (self.x, self.y, self.w, self.h)


@runtime_checkable
class Detector(Protocol):
    """A face detector. ``detect`` is blocking CPU work: call it off the event loop."""

    name: str
    input_size: tuple[int, int] | None
    """Largest input ``(w, h)`` the detector works best at; bigger frames should be
    downscaled first (see :func:`detect_scaled`). ``None``: any size."""

    def detect(self, frame_bgr: Frame) -> list[Face]:
        """Faces in ``frame_bgr`` (HxWx3 uint8 BGR), boxes in its pixels, confidence 0..1,
        only those at or above the detector's threshold. Raises ``ValueError`` for a frame
        of the wrong shape or dtype."""
        ...


def check_frame(frame_bgr: Frame) -> tuple[int, int]:
    """Validate a frame and return its ``(w, h)``.

    Raises ``ValueError`` unless it is a non-empty HxWx3 uint8 array.
    """
    if (
        not isinstance(frame_bgr, np.ndarray)
        or frame_bgr.ndim != 3
        or frame_bgr.shape[2] != 3
        or frame_bgr.dtype != np.uint8
        or frame_bgr.shape[0] == 0
        or frame_bgr.shape[1] == 0
    ):
        shape = getattr(frame_bgr, "shape", None)
        dtype = getattr(frame_bgr, "dtype", None)
        raise ValueError(f"expected an HxWx3 uint8 BGR frame, got shape={shape} dtype={dtype}")
    return int(frame_bgr.shape[1]), int(frame_bgr.shape[0])


def clip_face(
    x: float, y: float, w: float, h: float, confidence: float, size: tuple[int, int]
) -> Face | None:
    """A :class:`Face` with the box rounded and clipped to a ``(w, h)`` frame, confidence
    clamped to 0..1; ``None`` if nothing of the box is left inside the frame."""
    fw, fh = size
    x0 = max(0, round(x))
    y0 = max(0, round(y))
    x1 = min(fw, round(x + w))
    y1 = min(fh, round(y + h))
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    return Face(x0, y0, x1 - x0, y1 - y0, min(1.0, max(0.0, float(confidence))))


def scale_for(
    size: tuple[int, int], max_side: int | None, input_size: tuple[int, int] | None
) -> float:
    """Factor (<= 1) that makes a ``(w, h)`` frame fit both ``max_side`` (longest side) and
    the detector's ``input_size``; 1.0 when it already fits."""
    w, h = size
    scale = 1.0
    if max_side is not None and max_side > 0:
        scale = min(scale, max_side / max(w, h))
    if input_size is not None:
        scale = min(scale, input_size[0] / w, input_size[1] / h)
    return scale


def detect_scaled(
    detector: Detector, frame_bgr: Frame, max_side: int | None = 640
) -> tuple[list[Face], float]:
    """Run ``detector`` on ``frame_bgr`` downscaled to fit ``max_side`` and the detector's
    ``input_size``, and map the boxes back to the frame's own pixels.

    Returns ``(faces, detector_ms)``; ``detector_ms`` is the wall time of ``detect`` alone.
    Raises ``ValueError`` for a malformed frame.
    """
    size = check_frame(frame_bgr)
    scale = scale_for(size, max_side, detector.input_size)
    small = frame_bgr
    if scale < 1.0:
        dsize = (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))
        # INTER_AREA averages source pixels: no aliasing, unlike INTER_LINEAR on big factors.
        small = np.asarray(cv2.resize(frame_bgr, dsize, interpolation=cv2.INTER_AREA))
    t0 = time.perf_counter()
    found = detector.detect(small)
    ms = (time.perf_counter() - t0) * 1000.0
    if small is frame_bgr:
        return found, ms
    # Map with the exact per-axis ratio (rounding of dsize makes x and y differ slightly).
    sx = size[0] / small.shape[1]
    sy = size[1] / small.shape[0]
    faces = [
        f
        for f in (
            clip_face(d.x * sx, d.y * sy, d.w * sx, d.h * sy, d.confidence, size) for d in found
        )
        if f is not None
    ]
    return faces, ms
