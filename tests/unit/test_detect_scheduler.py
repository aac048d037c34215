"""The shared detection queue: cameras are served round-robin, each camera's slot keeps
only its latest sample (the ones replaced are counted as dropped), a failing camera fails
alone, static samples are skipped unless a face is tracked, and close() stops everything."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from beholder.messages import FaceDetectionAlert
from beholder.worker.detect.base import Face, Frame
from beholder.worker.detect.motion import MotionGate
from beholder.worker.detect.pipeline import DetectionPipeline
from beholder.worker.detect.sampled_frame import SampledFrame
from beholder.worker.detect.scheduler import CameraDetection, DetectionScheduler, Sample
from beholder.worker.stats import SessionCounters
from support.ids import cam_id
from support.polling import wait_until


class RecordingDetector:
    """Records the marker of every frame it sees (pixel [0, 0, 0] = camera number * 10 +
    sample number); blocks while ``gate`` is clear; raises for marker ``fail``."""

    name = "recording"
    input_size: tuple[int, int] | None = None

    def __init__(self) -> None:
        self.seen: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail: set[int] = set()
        self.faces: list[Face] = []
        self.closed = False

    def detect(self, frame_bgr: Frame) -> list[Face]:
        self.gate.wait(10)
        marker = int(frame_bgr[0, 0, 0])
        self.seen.append(marker)
        if marker // 10 in self.fail:
            raise RuntimeError("boom")
        return list(self.faces)

    def close(self) -> None:
        self.closed = True


def frame(marker: int, value: int = 100) -> SampledFrame:
    img = np.full((64, 64, 3), value, np.uint8)
    img[0, 0, 0] = marker
    return SampledFrame.from_bgr(img)


def camera(
    scheduler: DetectionScheduler, number: int, gate: MotionGate | None = None
) -> tuple[CameraDetection, SessionCounters, list[FaceDetectionAlert]]:
    counters = SessionCounters()
    alerts: list[FaceDetectionAlert] = []
    cam = CameraDetection(
        cam_id(f"cam{number}"),
        scheduler,
        DetectionPipeline(cam_id(f"cam{number}"), cooldown_s=0.0, max_side=640),
        counters,
        alerts.append,
        motion_gate=gate,
        refresh_s=0.0,
    )
    return cam, counters, alerts


@pytest.fixture
def detector() -> RecordingDetector:
    return RecordingDetector()


@pytest.fixture
def scheduler(detector: RecordingDetector) -> Any:
    s = DetectionScheduler(lambda: detector, threads=1)
    yield s
    detector.gate.set()
    s.close()


def test_a_busy_camera_cannot_starve_the_others(
    scheduler: DetectionScheduler, detector: RecordingDetector
) -> None:
    busy, busy_counters, _ = camera(scheduler, 1)
    quiet = [camera(scheduler, n) for n in (2, 3)]
    detector.gate.clear()
    busy.offer(frame(10), 0.0, None)  # taken by the thread at once, which then blocks
    wait_until(lambda: busy.running, 5, "the first job to start")
    for i in range(1, 6):  # the busy camera keeps sending while the thread is blocked
        busy.offer(frame(10 + i), float(i), None)
    quiet[0][0].offer(frame(20), 0.0, None)
    quiet[1][0].offer(frame(30), 0.0, None)
    busy.offer(frame(16), 6.0, None)
    detector.gate.set()
    wait_until(lambda: len(detector.seen) == 4, 5, "four analyses")
    # Round-robin: after its first sample the busy camera waits for its turn, behind the
    # cameras that queued meanwhile, and then only its latest sample is analysed.
    assert detector.seen == [10, 20, 30, 16]
    assert busy_counters.detections == 2
    assert busy_counters.dropped_samples == 5  # 11..15 replaced before their turn
    assert [q[1].dropped_samples for q in quiet] == [0, 0]


def test_a_failing_camera_fails_alone(
    scheduler: DetectionScheduler, detector: RecordingDetector
) -> None:
    bad, bad_counters, _ = camera(scheduler, 1)
    good, good_counters, _ = camera(scheduler, 2)
    detector.fail.add(1)
    for i in range(3):
        bad.offer(frame(10 + i), float(i), None)
        wait_until(lambda: not bad.running and not bad.queued, 5, "bad camera idle")
        good.offer(frame(20 + i), float(i), None)
        wait_until(lambda: not good.running and not good.queued, 5, "good camera idle")
    assert bad_counters.detection_errors == 3 and bad_counters.detections == 0
    assert good_counters.detections == 3 and good_counters.detection_errors == 0


def test_alerts_reach_the_callback(
    scheduler: DetectionScheduler, detector: RecordingDetector
) -> None:
    cam, _, alerts = camera(scheduler, 1)
    detector.faces = [Face(10, 10, 20, 20, 0.9)]
    cam.offer(frame(10), 0.0, 123.0)
    wait_until(lambda: alerts, 5, "an alert")
    assert alerts[0].camera_id == cam_id("cam1") and alerts[0].faces[0].box == (10, 10, 20, 20)


def test_static_samples_are_skipped_unless_a_face_is_tracked(
    scheduler: DetectionScheduler, detector: RecordingDetector
) -> None:
    cam, counters, _ = camera(scheduler, 1, gate=MotionGate())
    cam.offer(frame(10), 0.0, None)  # the first sample is always analysed whole
    wait_until(lambda: counters.detections == 1, 5, "first analysis")
    for i in range(5):
        cam.offer(frame(10), 1.0 + i, None)
    assert counters.skipped_static == 5 and counters.detections == 1
    # A face appears in the analysed sample: from then on static samples are analysed
    # (a person standing still stays tracked).
    cam.reset()
    detector.faces = [Face(10, 10, 20, 20, 0.9)]
    cam.offer(frame(10), 10.0, None)
    wait_until(lambda: counters.detections == 2, 5, "analysis after reset")
    assert cam.pipeline.tracking
    cam.offer(frame(10), 11.0, None)
    wait_until(lambda: counters.detections == 3, 5, "static sample analysed while tracking")
    assert counters.skipped_static == 5


def test_disabled_or_closed_cameras_take_no_samples(
    scheduler: DetectionScheduler, detector: RecordingDetector
) -> None:
    cam, counters, _ = camera(scheduler, 1)
    cam.set_enabled(False)
    cam.offer(frame(10), 0.0, None)
    cam.set_enabled(True)
    cam.close()
    cam.offer(frame(11), 1.0, None)
    scheduler.submit(cam, Sample(frame(12), 2.0, None, None))
    assert not cam.queued and cam.pending is None
    assert counters.detections == 0 and detector.seen == []


def test_close_stops_the_threads_and_closes_the_detectors(detector: RecordingDetector) -> None:
    s = DetectionScheduler(lambda: detector, threads=2)
    cam, counters, _ = camera(s, 1)
    cam.offer(frame(10), 0.0, None)
    wait_until(lambda: counters.detections == 1, 5, "one analysis")
    s.close()
    assert detector.closed
    assert not any(t.is_alive() for t in s._threads)
    cam.offer(frame(11), 1.0, None)  # after close: ignored, nothing blocks
    assert counters.detections == 1
