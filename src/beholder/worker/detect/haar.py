"""OpenCV Haar-cascade face detector with the original plan's parameters.

``haarcascade_frontalface_default.xml`` from ``cv2.data.haarcascades``, on the grey
frame, ``scaleFactor=1.1``, ``minNeighbors=6``, ``minSize=40x40``; boxes whose aspect
``w/h`` is outside ``0.6..1.4`` are dropped (a face box is about square; a cascade hit of
another shape is a false alarm).

Confidence: ``detectMultiScale3(..., outputRejectLevels=True)`` gives, per box, the
``levelWeight`` (the final stage's summed response; observed about -2..9, higher is
surer). It is squashed to 0..1 with a logistic,
``confidence = 1 / (1 + exp(-(weight - 2.0) / 1.5))``: weight 2 -> 0.5, 5 -> 0.88,
8 -> 0.98, 0 -> 0.21. The default threshold keeps weight >= 2; ``minNeighbors`` remains
the main filter, as in the original plan.
"""

from __future__ import annotations

import math
import threading

import cv2
import numpy as np

from beholder.worker.detect.base import Face, Frame, check_frame, clip_face

CASCADE_FILE = "haarcascade_frontalface_default.xml"
SCALE_FACTOR = 1.1
MIN_NEIGHBORS = 6
MIN_SIZE = (40, 40)
ASPECT_RANGE = (0.6, 1.4)
WEIGHT_MIDPOINT = 2.0
WEIGHT_SCALE = 1.5
DEFAULT_THRESHOLD = 0.5


def weight_to_confidence(weight: float) -> float:
    """Squash a cascade ``levelWeight`` to 0..1 (logistic around :data:`WEIGHT_MIDPOINT`)."""
    z = (weight - WEIGHT_MIDPOINT) / WEIGHT_SCALE
    # Guard exp overflow for absurd weights.
    z = max(-50.0, min(50.0, z))
    return 1.0 / (1.0 + math.exp(-z))


class HaarDetector:
    """OpenCV frontal-face Haar cascade. Thread-safe: each thread gets its own
    ``CascadeClassifier`` (OpenCV does not promise that one instance may be used
    concurrently); OpenCV releases the GIL while it runs. Blocking CPU.

    ``threshold``: minimum confidence 0..1, default :data:`DEFAULT_THRESHOLD`.
    Raises ``RuntimeError`` if the cascade file cannot be loaded.
    """

    name = "haar"
    input_size: tuple[int, int] | None = None  # any size; cost grows with the pixel count

    def __init__(self, threshold: float | None = None) -> None:
        self.threshold = DEFAULT_THRESHOLD if threshold is None else float(threshold)
        # cv2.data (where pip wheels put the cascades) is missing from OpenCV's type stubs.
        self._path = str(cv2.data.haarcascades) + CASCADE_FILE  # type: ignore[attr-defined]
        self._local = threading.local()
        self._classifier()  # fail now, not on the first frame, if the cascade is missing

    def _classifier(self) -> cv2.CascadeClassifier:
        clf: cv2.CascadeClassifier | None = getattr(self._local, "clf", None)
        if clf is None:
            clf = cv2.CascadeClassifier(self._path)
            if clf.empty():
                raise RuntimeError(f"cannot load the Haar cascade {self._path}")
            self._local.clf = clf
        return clf

    def detect(self, frame_bgr: Frame) -> list[Face]:
        """Faces in ``frame_bgr`` (HxWx3 uint8 BGR), boxes in its pixels, confidence 0..1.

        Raises ``ValueError`` for a malformed frame.
        """
        size = check_frame(frame_bgr)
        grey = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
        boxes, _levels, weights = self._classifier().detectMultiScale3(
            grey,
            scaleFactor=SCALE_FACTOR,
            minNeighbors=MIN_NEIGHBORS,
            minSize=MIN_SIZE,
            outputRejectLevels=True,
        )
        if len(boxes) == 0:
            return []
        faces: list[Face] = []
        for (x, y, w, h), weight in zip(
            np.asarray(boxes).reshape(-1, 4).tolist(),
            np.asarray(weights, dtype=np.float64).ravel().tolist(),
            strict=True,
        ):
            if not ASPECT_RANGE[0] <= w / h <= ASPECT_RANGE[1]:
                continue
            conf = weight_to_confidence(weight)
            if conf < self.threshold:
                continue
            face = clip_face(x, y, w, h, conf, size)
            if face is not None:
                faces.append(face)
        faces.sort(key=lambda f: -f.confidence)
        return faces

    def __repr__(self) -> str:
        return f"HaarDetector(threshold={self.threshold})"
