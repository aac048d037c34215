"""A camera with face detection running for over a minute: the detector processes' memory
stays flat (issue 13: 0.39 MB per analysed 480x270 sample leaked in the old yunet wrapper,
about 90 MB a minute at this test's sampling rate).

Memory is sampled every 10 analysed samples (a condition, not a clock), and the slope is
fitted against the number of analyses and against time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import psutil
import pytest

from support.polling import eventually

pytestmark = [pytest.mark.rtsp, pytest.mark.slow]

MIN_SECONDS = 60.0
MIN_ANALYSES = 150


def _detector_rss(manager: Any) -> int:
    total = 0
    for det in manager.detection.detectors:
        pid = getattr(det, "pid", None)
        if pid is not None:
            total += psutil.Process(pid).memory_info().rss
    return total


@pytest.mark.timeout(240)
async def test_detector_memory_is_flat_while_a_camera_runs(
    worker_harness: Callable[..., Any], rtsp_camera: Any
) -> None:
    # Two faces in every frame: every sample is analysed (a face is always tracked).
    h = await worker_harness(sample_fps=4.0, detect_threads=1)
    await h.start_camera("two", rtsp_camera.url("two"))
    await h.wait_for("two", "PROCESSING", timeout=15)
    counters = h.session("two").counters
    # Warm-up: the child process has imported everything and seen a few frames.
    await eventually(lambda: counters.detections >= 20, 30, "20 analyses")
    assert h.manager.detection.detectors, "detection runs in a child process by default"

    t0 = time.monotonic()
    points: list[tuple[float, int, int]] = []  # (seconds, analyses, rss bytes)
    while time.monotonic() - t0 < MIN_SECONDS or len(points) * 10 < MIN_ANALYSES:
        target = counters.detections + 10
        await eventually(lambda t=target: counters.detections >= t, 30, "10 more analyses")
        points.append((time.monotonic() - t0, counters.detections, _detector_rss(h.manager)))

    seconds = np.array([p[0] for p in points])
    analyses = np.array([p[1] for p in points], dtype=float)
    rss_mb = np.array([p[2] for p in points]) / 2**20
    per_analysis = float(np.polyfit(analyses, rss_mb, 1)[0])
    per_minute = float(np.polyfit(seconds, rss_mb, 1)[0]) * 60
    span = f"{len(points)} samples, {analyses[-1] - analyses[0]:.0f} analyses, {seconds[-1]:.0f} s"
    assert per_analysis < 0.02, f"{per_analysis:.3f} MB per analysis ({span})"
    assert per_minute < 8.0, f"{per_minute:.1f} MB per minute ({span})"
    assert counters.detection_errors == 0
