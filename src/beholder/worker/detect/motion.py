"""Motion gating: a cheap change test that decides whether a sample needs the face detector.

Most cameras look at a still scene most of the time; running a CNN on every sample of a
static scene is the bulk of a worker's CPU (issue 13: 50 cameras at 640 px did not fit in two
cores). Like other NVRs gate their object detectors, :class:`MotionGate` compares a small,
blurred grey copy of each sample with a running-average background:

- pixels that differ from the background by more than ``threshold`` grey levels are
  "changed"; a morphological opening removes isolated speckles (sensor and compression
  noise);
- a sample with less than ``min_area`` (fraction of the picture) changed is **static**:
  the caller may skip the detector;
- otherwise the bounding box of the changed pixels, in source pixels, is the **region**
  where something moved (the caller may run the detector there only);
- a change over ``reset_area`` of the picture (lights, IR switch, the camera moved) is taken
  as a new scene: the background restarts from this sample and the whole frame is analysed;
- the background follows the scene with weight ``alpha`` per sample, so a parked car stops
  counting as motion after a few samples.

The first sample after :meth:`MotionGate.reset` (start, reconnect) is never static: someone
may already stand in view. What the gate cannot see (a person standing perfectly still from
the moment the camera started) is covered by the caller: a camera with a live face track is
always analysed, and a full-frame sample is forced every ``refresh`` seconds.

Cost: ~0.2 ms per sample on a 160x90 grid (plus the decoder's scale to grey), against
~25-40 ms for YuNet on 640x360.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

Grey = npt.NDArray[np.uint8]
"""HxW uint8 grey image (the gate's small copy of a sample)."""

Region = tuple[int, int, int, int]
"""``(x, y, w, h)`` in source pixels."""

GRID_WIDTH = 160
"""Width of the grey copy the gate works on, pixels (height follows the aspect ratio)."""


@dataclass(frozen=True, slots=True)
class Motion:
    """The gate's verdict on one sample.

    ``moving``: the detector should look. ``region``: where the change is, in source pixels
    (``None``: the whole frame). ``changed``: fraction of the picture that changed, 0..1.
    """

    moving: bool
    region: Region | None
    changed: float


def grid_size(width: int, height: int, grid_width: int = GRID_WIDTH) -> tuple[int, int]:
    """``(w, h)`` of the gate's grey copy of a ``width`` x ``height`` frame (even sizes)."""
    gw = min(grid_width, width)
    gh = max(2, round(height * gw / max(1, width)) // 2 * 2)
    return max(2, gw // 2 * 2), gh


class MotionGate:
    """One per camera; not thread-safe (the camera's ingest thread calls :meth:`update`).

    ``threshold``: grey levels (0-255) a pixel must differ from the background to count.
    ``min_area``: fraction of the picture that must change for the sample to be moving.
    ``reset_area``: fraction above which the scene is taken as new (background restarts).
    ``alpha``: weight of each sample in the running background, 0..1.
    Raises ``ValueError`` for out-of-range arguments.
    """

    def __init__(
        self,
        *,
        threshold: int = 20,
        min_area: float = 0.001,
        reset_area: float = 0.6,
        alpha: float = 0.2,
    ) -> None:
        if not 1 <= threshold <= 254:
            raise ValueError("threshold must be 1..254 grey levels")
        if not 0.0 <= min_area < reset_area <= 1.0:
            raise ValueError("need 0 <= min_area < reset_area <= 1")
        if not 0.0 < alpha <= 1.0:
            raise ValueError("alpha must be in (0, 1]")
        self.threshold = threshold
        self.min_area = min_area
        self.reset_area = reset_area
        self.alpha = alpha
        self._background: npt.NDArray[np.float32] | None = None
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))

    def reset(self) -> None:
        """Forget the background: the next sample is analysed whole (new connection)."""
        self._background = None

    def update(self, grey: Grey, source_size: tuple[int, int]) -> Motion:
        """Compare ``grey`` (the small HxW uint8 copy of a sample) with the background,
        then fold it into the background.

        ``source_size``: ``(w, h)`` of the source frame, to map the region to its pixels.
        Raises ``ValueError`` unless ``grey`` is a non-empty 2-D uint8 array.
        """
        if grey.ndim != 2 or grey.dtype != np.uint8 or grey.size == 0:
            raise ValueError(f"expected an HxW uint8 grey image, got {grey.shape} {grey.dtype}")
        blurred = cv2.GaussianBlur(grey, (5, 5), 0).astype(np.float32)
        bg = self._background
        if bg is None or bg.shape != blurred.shape:
            self._background = blurred
            return Motion(True, None, 1.0)
        diff = cv2.absdiff(blurred, bg)
        raw = (diff > self.threshold).astype(np.uint8)
        mask = np.asarray(cv2.morphologyEx(raw, cv2.MORPH_OPEN, self._kernel), np.uint8)
        changed = float(np.count_nonzero(mask)) / mask.size
        if changed > self.reset_area:
            self._background = blurred
            return Motion(True, None, changed)
        cv2.accumulateWeighted(blurred, bg, self.alpha)
        if changed < self.min_area or changed == 0.0:
            return Motion(False, None, changed)
        x, y, w, h = cv2.boundingRect(mask)
        sx = source_size[0] / mask.shape[1]
        sy = source_size[1] / mask.shape[0]
        region = (
            int(x * sx),
            int(y * sy),
            min(source_size[0], int(np.ceil((x + w) * sx))) - int(x * sx),
            min(source_size[1], int(np.ceil((y + h) * sy))) - int(y * sy),
        )
        return Motion(True, region, changed)


def detection_region(
    size: tuple[int, int],
    boxes: list[Region],
    *,
    pad: float = 0.25,
    min_pad: int = 32,
    min_side: int = 160,
    max_fraction: float = 0.5,
) -> Region | None:
    """The part of a ``(w, h)`` frame the detector should look at, or ``None`` for all of it.

    ``boxes``: where motion was and where tracked faces are, source pixels. Their union is
    padded by ``pad`` of its size on each side (at least ``min_pad`` px: a head sits above
    the moving body, a face needs context), grown to ``min_side`` px, clipped to the frame.
    Returns ``None`` when that covers more than ``max_fraction`` of the frame (a crop would
    save little) or when ``boxes`` is empty.
    """
    if not boxes:
        return None
    fw, fh = size
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    px = max(min_pad, round((x1 - x0) * pad))
    py = max(min_pad, round((y1 - y0) * pad))
    x0, x1 = _at_least(x0 - px, x1 + px, min_side)
    y0, y1 = _at_least(y0 - py, y1 + py, min_side)
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(fw, x1), min(fh, y1)
    if x1 <= x0 or y1 <= y0:
        return None
    if (x1 - x0) * (y1 - y0) > max_fraction * fw * fh:
        return None
    return (x0, y0, x1 - x0, y1 - y0)


def _at_least(lo: int, hi: int, side: int) -> tuple[int, int]:
    """Grow ``[lo, hi)`` evenly on both ends to at least ``side``."""
    short = side - (hi - lo)
    if short > 0:
        lo -= short // 2
        hi += short - short // 2
    return lo, hi
