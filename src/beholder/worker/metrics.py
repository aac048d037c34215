"""Prometheus metrics of the worker role, in prometheus-client's default ``REGISTRY``.

Per-camera series carry a ``camera_id`` label and are removed when the session ends, so a
worker that cycles through cameras does not grow its metric set forever.
"""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge, Histogram

from beholder.messages import StreamStats

SESSIONS = Gauge("beholder_worker_sessions", "Camera sessions held by this worker process")
INPUT_FPS = Gauge("beholder_camera_input_fps", "Video packets received per second", ["camera_id"])
DECODED_FPS = Gauge("beholder_camera_decoded_fps", "Frames decoded per second", ["camera_id"])
DETECTION_FPS = Gauge(
    "beholder_camera_detection_fps",
    "Frames run through the face detector per second",
    ["camera_id"],
)
RECONNECTS = Counter(
    "beholder_camera_reconnects", "Reconnects after a failure or stall", ["camera_id"]
)
STALLS = Counter("beholder_camera_stalls", "Streams that stopped sending video", ["camera_id"])
DROPPED_SAMPLES = Counter(
    "beholder_camera_dropped_samples",
    "Detection samples dropped because the detector was still busy",
    ["camera_id"],
)
SKIPPED_STATIC = Counter(
    "beholder_camera_skipped_static_samples",
    "Detection samples skipped because the motion gate saw a static scene",
    ["camera_id"],
)
ANALYSED = Counter(
    "beholder_camera_analysed_samples",
    "Detection samples run through the face detector",
    ["camera_id"],
)
DETECTION_QUEUE = Gauge(
    "beholder_detection_queue", "Cameras waiting for a detection thread (this worker)"
)
DETECTOR_RECYCLES = Counter(
    "beholder_detector_recycles",
    "Detector child processes replaced after their call or memory bound",
)
DETECTOR_LATENCY = Histogram(
    "beholder_detector_latency_seconds",
    "Wall time of one detection job (frame conversion + detector + tracker)",
    buckets=(0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56),
)
DECODE_LATENCY = Histogram(
    "beholder_decode_latency_seconds",
    "Wall time of decoding one packet",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1),
)
ALERTS = Counter("beholder_camera_alerts", "Face-detection alerts published", ["camera_id"])

_PER_CAMERA = (
    INPUT_FPS,
    DECODED_FPS,
    DETECTION_FPS,
    RECONNECTS,
    STALLS,
    DROPPED_SAMPLES,
    SKIPPED_STATIC,
    ANALYSED,
    ALERTS,
)


def update_camera(camera_id: str, stats: StreamStats) -> None:
    """Set the per-camera gauges from a stats snapshot."""
    INPUT_FPS.labels(camera_id).set(stats.input_fps)
    DECODED_FPS.labels(camera_id).set(stats.decoded_fps)
    DETECTION_FPS.labels(camera_id).set(stats.detection_fps)


def remove_camera(camera_id: str) -> None:
    """Drop every series of ``camera_id`` (session ended)."""
    for metric in _PER_CAMERA:
        with contextlib.suppress(KeyError):
            metric.remove(camera_id)
