"""Motion gating on real footage, through the worker's own detection path (CameraDetection
on a DetectionScheduler with the real YuNet detector), sample by sample at 1/s:

- a person who walks in after a long static period is alerted within 2 samples of the
  first sample in which the ungated detector sees a face;
- the static period itself costs (almost) no detector calls;
- the clip with no faces raises no alert through the region-of-interest path either.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from beholder.messages import FaceDetectionAlert
from beholder.worker.detect import create_detector
from beholder.worker.detect.motion import MotionGate
from beholder.worker.detect.pipeline import DetectionPipeline
from beholder.worker.detect.sampled_frame import SampledFrame
from beholder.worker.detect.scheduler import CameraDetection, DetectionScheduler
from beholder.worker.stats import SessionCounters
from fixtures.scenes import walk_in_clip
from support.ids import cam_id
from support.polling import wait_until

pytestmark = [pytest.mark.slow]

STATIC_SECONDS = 30


def samples(path: Path, fps: float = 1.0) -> Iterator[tuple[float, av.VideoFrame]]:
    """``(seconds, frame)`` at ``fps`` from a clip, as the worker samples it."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        next_t = 0.0
        for frame in container.decode(stream):
            t = float(frame.pts * stream.time_base) if frame.pts is not None else next_t
            if t + 1e-6 >= next_t:
                next_t += 1.0 / fps
                yield t, frame


@pytest.fixture(scope="module")
def walk_in(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scenes") / "walk-in.mp4"
    return walk_in_clip(out, static_seconds=STATIC_SECONDS, walk_seconds=12)


def run_gated(path: Path) -> tuple[list[int], SessionCounters, list[int]]:
    """Alerted sample indexes, counters, and the sample indexes where an ungated
    full-frame pipeline alone saw a face (the ground truth)."""
    detector = create_detector("yunet")
    scheduler = DetectionScheduler(lambda: detector, threads=1)
    counters = SessionCounters()
    alerts: list[FaceDetectionAlert] = []
    camera = CameraDetection(
        cam_id("walk"),
        scheduler,
        DetectionPipeline(cam_id("walk"), cooldown_s=10.0),
        counters,
        alerts.append,
        motion_gate=MotionGate(),
        refresh_s=0.0,  # only the gate decides here
    )
    ungated = DetectionPipeline(cam_id("truth"), detector, cooldown_s=10.0)
    alerted: list[int] = []
    truth: list[int] = []
    try:
        for i, (t, frame) in enumerate(samples(path)):
            seen = len(alerts)
            camera.offer(SampledFrame(frame), t, None)
            wait_until(lambda: not camera.queued and not camera.running, 30, "analysis", 0.01)
            if len(alerts) > seen:
                alerted.append(i)
            ungated.process(frame.to_ndarray(format="bgr24"), t)
            if ungated.tracking and any(tr.last_seen == t for tr in ungated._tracker.tracks):
                truth.append(i)
    finally:
        scheduler.close()
    return alerted, counters, truth


def test_a_person_walking_in_after_a_long_static_period_is_alerted_at_once(
    walk_in: Path,
) -> None:
    alerted, counters, truth = run_gated(walk_in)
    assert truth, "the clip has a face after the static period"
    first_face = truth[0]
    assert first_face >= STATIC_SECONDS
    assert alerted, f"no alert; faces seen by the ungated detector at samples {truth}"
    # Within 2 samples of entering; the region, looked at in native pixels, may even find
    # the face a sample before the whole downscaled frame does. Never during the static part.
    assert STATIC_SECONDS <= alerted[0] <= first_face + 1, (alerted, truth)
    # The static period: the first sample is analysed whole, then nothing moves.
    assert counters.skipped_static >= STATIC_SECONDS - 3, counters
    assert counters.dropped_samples == 0 and counters.detection_errors == 0


def test_no_alert_on_the_street_through_the_motion_regions(tmp_path: Path) -> None:
    from fixtures.rtsp_server import MEDIA_DIR

    alerted, counters, _truth = run_gated(MEDIA_DIR / "street-cars-no-faces.mp4")
    assert alerted == []
    assert counters.detections > 0  # cars move: it was looked at
