"""Per-camera detection pipeline: decoded frame -> faces -> tracks -> alert (or nothing).

Alert policy (what an operator sees):

- Each track (one face followed across samples, see :mod:`beholder.worker.detect.tracker`) is
  announced at most once. A face that stays in view is one alert; a new person is a new
  alert.
- An alert carries every face visible in that sample, new or already announced, so the
  operator sees the whole scene; all of them count as announced afterwards.
- Cooldown: at most one alert per ``cooldown_s`` per camera. A track that appears during
  the cooldown is not dropped: it is announced by the first sample after the cooldown in
  which it is still visible. A face that comes and goes entirely within a cooldown is not
  announced; the rate bound wins over completeness (the previous alert is at most
  ``cooldown_s`` old and the operator is already looking).
- Where it looks: given the region where the motion gate saw change, the detector runs on
  that region plus the padded boxes of the live tracks, at native scale, rather than on the
  whole downscaled frame (see :func:`beholder.worker.detect.motion.detection_region`);
  without a region, or when the region covers most of the frame, on the whole frame.
- :meth:`DetectionPipeline.reset` forgets the tracks (after a reconnect we cannot know
  that a face is the same person) but keeps the cooldown, so a flapping stream cannot
  turn into an alert storm.
"""

from __future__ import annotations

from beholder.messages import DetectedFace, FaceDetectionAlert
from beholder.worker.detect.alert_images import snapshot_jpeg, thumbnail_jpeg, to_base64
from beholder.worker.detect.base import (
    Detector,
    Face,
    Frame,
    check_frame,
    clip_face,
    detect_scaled,
)
from beholder.worker.detect.motion import Region, detection_region
from beholder.worker.detect.tracker import FaceTracker


class DetectionPipeline:
    """One per camera. ``process()`` is blocking CPU work; the detection scheduler calls it
    in one of its threads, at most one call at a time per camera (the pipeline keeps
    per-camera state and is not thread-safe). ``tracking`` may be read from any thread.

    ``detector``: the default detector of :meth:`process` (``None``: every call passes one,
    as the scheduler does with its per-thread detectors).

    ``cooldown_s``: minimum seconds between two alerts of this camera.
    ``iou_threshold``, ``track_memory_s``: see :class:`~beholder.worker.detect.tracker.FaceTracker`.
    ``max_side``: frames whose longest side is larger are downscaled to it (and to the
    detector's ``input_size``) before detection; boxes are mapped back to source pixels.
    ``thumbnail_max_side``: longest side of the alert thumbnail, pixels.
    Raises ``ValueError`` for out-of-range arguments.
    """

    def __init__(
        self,
        camera_id: str,
        detector: Detector | None = None,
        *,
        cooldown_s: float = 10.0,
        iou_threshold: float = 0.3,
        track_memory_s: float = 3.0,
        max_side: int = 640,
        thumbnail_max_side: int = 160,
    ) -> None:
        if cooldown_s < 0:
            raise ValueError("cooldown_s must be >= 0")
        if max_side < 16 or thumbnail_max_side < 16:
            raise ValueError("max_side and thumbnail_max_side must be >= 16 pixels")
        self.camera_id = camera_id
        self.detector = detector
        self.cooldown_s = cooldown_s
        self.max_side = max_side
        self.thumbnail_max_side = thumbnail_max_side
        self._tracker = FaceTracker(iou_threshold=iou_threshold, memory_s=track_memory_s)
        self._announced: set[int] = set()
        self._last_alert_ts: float | None = None
        self._last_ms: float | None = None
        self.last_region: Region | None = None
        """Where the last call looked (source pixels; ``None``: the whole frame)."""
        self.tracking = False
        """A face track is alive: the camera must be analysed even when nothing moves."""

    @property
    def last_detector_ms(self) -> float | None:
        """Wall time of the last ``detector.detect`` call in ms (``None`` before the first);
        excludes downscaling, tracking and JPEG encoding."""
        return self._last_ms

    def reset(self) -> None:
        """Forget tracks (after a reconnect or a detection toggle); the cooldown stays."""
        self._tracker.reset()
        self._announced.clear()
        self.tracking = False

    def _in_cooldown(self, ts: float) -> bool:
        if self._last_alert_ts is None:
            return False
        elapsed = ts - self._last_alert_ts
        # A clock that went backwards (elapsed < 0) must not block alerts forever.
        return 0.0 <= elapsed < self.cooldown_s

    def process(
        self,
        frame_bgr: Frame,
        ts: float,
        source_ts: float | None = None,
        *,
        motion: list[Region] | None = None,
        detector: Detector | None = None,
    ) -> FaceDetectionAlert | None:
        """Detect faces in one sampled frame and return an alert if a new face appeared.

        ``frame_bgr``: HxWx3 uint8 BGR, source resolution. ``ts``: the session's monotonic
        clock in seconds (drives tracking and the cooldown). ``source_ts``: the frame's
        presentation time in seconds, copied into the alert. ``motion``: where the motion
        gate saw change (source pixels; ``[]``: nowhere, look where faces are tracked;
        ``None``: look at the whole frame). ``detector``:
        overrides the pipeline's own for this call. Returns ``None`` when there is nothing
        new to announce. Raises ``ValueError`` for a malformed frame or no detector;
        detector errors propagate.
        """
        width, height = check_frame(frame_bgr)
        det = detector or self.detector
        if det is None:
            raise ValueError("DetectionPipeline.process needs a detector")
        region = None
        if motion is not None:
            boxes = [*motion, *(_int_box(t.box) for t in self._tracker.tracks)]
            region = detection_region((width, height), boxes)
        self.last_region = region
        faces, ms = self._detect(det, frame_bgr, region)
        self._last_ms = ms
        tracked = self._tracker.update(faces, ts)
        self.tracking = bool(self._tracker.tracks)

        alive = {t.track_id for t in self._tracker.tracks}
        self._announced &= alive  # ids of dropped tracks are never seen again
        if all(tf.track_id in self._announced for tf in tracked) or self._in_cooldown(ts):
            return None

        self._announced.update(tf.track_id for tf in tracked)
        self._last_alert_ts = ts
        boxes = [tf.face.box for tf in tracked]
        labels = [f"#{tf.track_id} {tf.face.confidence:.2f}" for tf in tracked]
        return FaceDetectionAlert(
            camera_id=self.camera_id,
            faces=[
                DetectedFace(
                    box=tf.face.box,
                    confidence=round(tf.face.confidence, 3),
                    track_id=tf.track_id,
                )
                for tf in tracked
            ],
            thumbnail=to_base64(thumbnail_jpeg(frame_bgr, boxes, self.thumbnail_max_side)),
            snapshot=to_base64(snapshot_jpeg(frame_bgr, boxes, labels)),
            frame_width=width,
            frame_height=height,
            source_ts=source_ts,
        )

    def _detect(
        self, detector: Detector, frame_bgr: Frame, region: Region | None
    ) -> tuple[list[Face], float]:
        if region is None:
            return detect_scaled(detector, frame_bgr, self.max_side)
        x, y, w, h = region
        # A view, not a copy: the detectors take row-strided frames.
        found, ms = detect_scaled(detector, frame_bgr[y : y + h, x : x + w], self.max_side)
        size = (int(frame_bgr.shape[1]), int(frame_bgr.shape[0]))
        faces = [
            face
            for f in found
            if (face := clip_face(f.x + x, f.y + y, f.w, f.h, f.confidence, size)) is not None
        ]
        return faces, ms


def _int_box(box: tuple[float, float, float, float]) -> Region:
    return (round(box[0]), round(box[1]), round(box[2]), round(box[3]))
