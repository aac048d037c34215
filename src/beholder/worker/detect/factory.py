"""Detection built from the worker settings: the detector of each detection thread and each
camera's :class:`~beholder.worker.detect.scheduler.CameraDetection`.

``ws`` is the worker settings object (attribute access only: ``detector``,
``detector_threshold``, ``detect_isolation``, ``detect_recycle_*``, ``motion_*``,
``alert_cooldown``, ``detect_max_side``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from beholder.messages import FaceDetectionAlert
from beholder.worker.detect import create_detector
from beholder.worker.detect.base import Detector
from beholder.worker.detect.isolated import SubprocessDetector
from beholder.worker.detect.motion import MotionGate
from beholder.worker.detect.pipeline import DetectionPipeline
from beholder.worker.detect.scheduler import CameraDetection, DetectionScheduler, DetectorFactory
from beholder.worker.stats import SessionCounters

CameraDetectionFactory = Callable[
    [str, SessionCounters, Callable[[FaceDetectionAlert], None], bool], CameraDetection
]
"""``(camera_id, counters, on_alert, enabled) -> CameraDetection``."""


def default_detector_factory(ws: Any) -> DetectorFactory:
    """Builds the detector of one detection thread from the worker settings: a recycled
    child process (``detect_isolation="process"``, the default) or an in-process one."""

    def make() -> Detector:
        if ws.detect_isolation == "process":
            return SubprocessDetector(
                ws.detector,
                ws.detector_threshold,
                max_calls=ws.detect_recycle_calls,
                max_rss_mb=ws.detect_recycle_rss_mb,
            )
        return create_detector(ws.detector, ws.detector_threshold)

    return make


def camera_detection_factory(ws: Any, scheduler: DetectionScheduler) -> CameraDetectionFactory:
    """Builds each camera's :class:`CameraDetection` (pipeline, motion gate) on ``scheduler``."""

    def make(
        camera_id: str,
        counters: SessionCounters,
        on_alert: Callable[[FaceDetectionAlert], None],
        enabled: bool,
    ) -> CameraDetection:
        gate = (
            MotionGate(threshold=ws.motion_threshold, min_area=ws.motion_min_area)
            if ws.motion_gate
            else None
        )
        pipeline = DetectionPipeline(
            camera_id, cooldown_s=ws.alert_cooldown, max_side=ws.detect_max_side
        )
        return CameraDetection(
            camera_id,
            scheduler,
            pipeline,
            counters,
            on_alert,
            motion_gate=gate,
            refresh_s=ws.motion_refresh,
            enabled=enabled,
        )

    return make
