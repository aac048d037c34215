"""Links face detections across samples so one person in view keeps one track id.

Pure Python (no numpy needed at a handful of faces per frame). Matching per sample:

1. tracks not seen for more than ``memory_s`` are dropped (they are gone);
2. detections and live tracks are paired greedily by IoU, highest first, keeping pairs
   with IoU >= ``iou_threshold``;
3. what is left is paired by centre distance: a detection whose centre is within
   ``max_shift`` face-sizes of a track's last box, with a similar size (0.5-2x), continues
   that track. Detection samples are sparse (2/s): a walking face can move more than its
   own width between two samples, where IoU is 0;
4. any detection still unpaired starts a new track (ids count up from 1, per tracker).

A track that is missed for a sample or two (the detector flickers on a turned head) is
still alive within ``memory_s`` and is re-linked by steps 2-3 when it comes back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from beholder.worker.detect.base import Face

Box = tuple[float, float, float, float]
"""``(x, y, w, h)`` in pixels."""


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes, 0..1 (0 for empty boxes)."""
    ax1, ay1 = a[0] + a[2], a[1] + a[3]
    bx1, by1 = b[0] + b[2], b[1] + b[3]
    iw = min(ax1, bx1) - max(a[0], b[0])
    ih = min(ay1, by1) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _centre_shift(track: Box, det: Box) -> float | None:
    """Centre distance in units of the track's face size, or ``None`` if the sizes differ
    by more than 2x (then it is not the same face, however close)."""
    ts = math.sqrt(max(track[2] * track[3], 1e-9))
    ds = math.sqrt(max(det[2] * det[3], 1e-9))
    if not 0.5 <= ds / ts <= 2.0:
        return None
    dx = (det[0] + det[2] / 2) - (track[0] + track[2] / 2)
    dy = (det[1] + det[3] / 2) - (track[1] + track[3] / 2)
    return math.hypot(dx, dy) / ts


@dataclass(slots=True)
class Track:
    """A face followed across samples. Times are the caller's clock, in seconds."""

    track_id: int
    box: Box
    confidence: float
    first_seen: float
    last_seen: float
    hits: int = 1
    """Samples in which the face was detected."""


@dataclass(frozen=True, slots=True)
class TrackedFace:
    """A detection of the current sample with the track it belongs to."""

    face: Face
    track_id: int
    is_new: bool
    """True if this detection started the track (first sample of a new face)."""


class FaceTracker:
    """IoU tracker with a short memory. Not thread-safe: one per camera, one caller.

    ``iou_threshold``: minimum IoU (0..1) to link a detection to a track.
    ``memory_s``: a track unseen for longer than this (seconds) is dropped.
    ``max_shift``: fallback link distance between centres, in face sizes.
    Raises ``ValueError`` for out-of-range arguments.
    """

    def __init__(
        self, iou_threshold: float = 0.3, memory_s: float = 3.0, max_shift: float = 1.0
    ) -> None:
        if not 0.0 < iou_threshold <= 1.0:
            raise ValueError("iou_threshold must be in (0, 1]")
        if memory_s < 0 or max_shift < 0:
            raise ValueError("memory_s and max_shift must be >= 0")
        self.iou_threshold = iou_threshold
        self.memory_s = memory_s
        self.max_shift = max_shift
        self._tracks: list[Track] = []
        self._next_id = 1

    @property
    def tracks(self) -> list[Track]:
        """Live tracks (seen within ``memory_s`` of the last update), oldest first."""
        return list(self._tracks)

    def reset(self) -> None:
        """Forget every track. Ids keep counting up, so an old id is never reused."""
        self._tracks.clear()

    def update(self, faces: Sequence[Face], ts: float) -> list[TrackedFace]:
        """Link this sample's ``faces`` (taken at ``ts`` seconds) to tracks.

        Returns one :class:`TrackedFace` per input face, in input order.
        """
        # 1. forget faces that have been gone too long
        self._tracks = [t for t in self._tracks if ts - t.last_seen <= self.memory_s]

        boxes: list[Box] = [(f.x, f.y, f.w, f.h) for f in faces]
        assigned: dict[int, Track] = {}  # detection index -> track
        free = set(range(len(self._tracks)))

        # 2. greedy IoU matching, best pairs first
        pairs = sorted(
            (
                (iou(t.box, b), ti, di)
                for ti, t in enumerate(self._tracks)
                for di, b in enumerate(boxes)
            ),
            reverse=True,
        )
        for score, ti, di in pairs:
            if score < self.iou_threshold:
                break
            if ti in free and di not in assigned:
                assigned[di] = self._tracks[ti]
                free.discard(ti)

        # 3. centre-distance fallback for fast motion between sparse samples
        if free and len(assigned) < len(boxes) and self.max_shift > 0:
            near: list[tuple[float, int, int]] = []
            for ti in free:
                for di, b in enumerate(boxes):
                    if di in assigned:
                        continue
                    shift = _centre_shift(self._tracks[ti].box, b)
                    if shift is not None and shift <= self.max_shift:
                        near.append((shift, ti, di))
            for _shift, ti, di in sorted(near):
                if ti in free and di not in assigned:
                    assigned[di] = self._tracks[ti]
                    free.discard(ti)

        # 4. update matched tracks, start new ones
        out: list[TrackedFace] = []
        for di, face in enumerate(faces):
            track = assigned.get(di)
            if track is not None:
                track.box = boxes[di]
                track.confidence = face.confidence
                track.last_seen = ts
                track.hits += 1
                out.append(TrackedFace(face, track.track_id, is_new=False))
            else:
                track = Track(self._next_id, boxes[di], face.confidence, ts, ts)
                self._next_id += 1
                self._tracks.append(track)
                out.append(TrackedFace(face, track.track_id, is_new=True))
        return out
