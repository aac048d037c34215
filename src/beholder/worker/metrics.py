"""Prometheus metrics of the worker role, in prometheus-client's default ``REGISTRY``.

Per-camera series carry a ``camera_id`` label and are removed when the session ends, so a
worker that cycles through cameras does not grow its metric set forever.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import Protocol

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

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
    """Set the per-camera gauges from a stats snapshot; the per-camera counters exist (at 0)
    from the first snapshot on, so that a rate over them is 0 rather than absent."""
    for counter in (RECONNECTS, STALLS, DROPPED_SAMPLES, SKIPPED_STATIC, ANALYSED, ALERTS):
        counter.labels(camera_id)
    INPUT_FPS.labels(camera_id).set(stats.input_fps)
    DECODED_FPS.labels(camera_id).set(stats.decoded_fps)
    DETECTION_FPS.labels(camera_id).set(stats.detection_fps)


def remove_camera(camera_id: str) -> None:
    """Drop every series of ``camera_id`` (session ended)."""
    for metric in _PER_CAMERA:
        with contextlib.suppress(KeyError):
            metric.remove(camera_id)


class EgressFigures(Protocol):
    """What :class:`LiveViewCollector` reads from a live-view hub
    (:class:`beholder.worker.egress.hub.EgressHub`)."""

    @property
    def session_count(self) -> int: ...

    @property
    def error_count(self) -> int: ...

    def stats(self) -> dict[str, object]: ...


class LiveViewCollector(Collector):
    """Live-view (WHEP/MJPEG egress) figures of every hub alive in this process, read at
    scrape time from the counters the hubs already keep (no per-frame cost):

    - ``beholder_live_view_sessions``: open WHEP sessions;
    - ``beholder_live_view_sessions_created_total``: WHEP sessions negotiated;
    - ``beholder_live_view_refused_total``: requests refused (capacity, auth, bad offer);
    - ``beholder_live_view_failures_total``: egress failures (a request that failed on the
      server, a viewer or source error, an MJPEG encoder error).

    Hubs are held weakly: a closed hub leaves the sums (a counter may then go down, which
    Prometheus' ``rate`` reads as a reset).
    """

    def __init__(self) -> None:
        self._hubs: weakref.WeakSet[EgressFigures] = weakref.WeakSet()

    def track(self, hub: EgressFigures) -> None:
        """Include ``hub`` in the figures until it is garbage-collected or :meth:`untrack`-ed."""
        self._hubs.add(hub)

    def untrack(self, hub: EgressFigures) -> None:
        """Stop counting ``hub`` (closed)."""
        self._hubs.discard(hub)

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        hubs = list(self._hubs)
        stats = [h.stats() for h in hubs]
        yield GaugeMetricFamily(
            "beholder_live_view_sessions",
            "Open WHEP live-view sessions",
            value=sum(h.session_count for h in hubs),
        )
        yield CounterMetricFamily(
            "beholder_live_view_sessions_created",
            "WHEP live-view sessions negotiated",
            value=sum(_int(s.get("sessionsCreated")) for s in stats),
        )
        yield CounterMetricFamily(
            "beholder_live_view_refused",
            "Live-view requests refused (capacity, authorization, unsupported offer)",
            value=sum(_int(s.get("refused")) for s in stats),
        )
        yield CounterMetricFamily(
            "beholder_live_view_failures",
            "Live-view egress failures (request failed on the server, viewer/source/encoder error)",
            value=sum(h.error_count for h in hubs),
        )


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


LIVE_VIEW = LiveViewCollector()
REGISTRY.register(LIVE_VIEW)

FENCED_EVENTS = Counter(
    "beholder_worker_fenced_events",
    "Camera status events and alerts dropped because this worker did not validly hold the "
    "camera's lease (distributed mode: lost, expired, handed over or being given back)",
    ["kind"],
)
