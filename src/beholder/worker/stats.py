"""Per-camera ingest/detection figures and the connection quality derived from them.

:class:`SessionCounters` is written by the session's ingest thread and by detection jobs
(plain int/float attribute updates, which are atomic under the GIL; readers tolerate a value
one update old). :class:`StatsTracker` lives on the event loop and turns counter snapshots into
rates for a :class:`~beholder.messages.StreamStats` every few seconds.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from dataclasses import dataclass, field

from beholder.messages import ConnectionQuality, StreamStats

_HOUR = 3600.0


@dataclass
class SessionCounters:
    """Monotonic counters of one camera session (all connections added up).

    Times in ``*_ms`` deques are milliseconds of recent operations (bounded windows).
    """

    packets: int = 0
    bytes_in: int = 0
    decoded: int = 0
    decode_errors: int = 0
    samples: int = 0
    detections: int = 0
    dropped_samples: int = 0
    """Samples replaced in the detection slot before a detection thread was free."""
    skipped_static: int = 0
    """Samples the motion gate found static (no face tracked): not analysed."""
    detection_errors: int = 0
    probe_failures: int = 0
    """Reachability probes (while waiting to reconnect) that found nothing listening."""
    early_reconnects: int = 0
    """Backoff waits cut short because a probe found the camera answering again."""
    alerts: int = 0
    decode_ms: deque[float] = field(default_factory=lambda: deque(maxlen=256))
    detector_ms: deque[float] = field(default_factory=lambda: deque(maxlen=64))
    sink_errors: int = 0


@dataclass(frozen=True, slots=True)
class _Snap:
    t: float
    packets: int
    decoded: int
    detections: int


class StatsTracker:
    """Turns :class:`SessionCounters` into :class:`StreamStats` (rates over the last window).

    ``note_reconnect`` / ``note_stall`` record events for the "last hour" figures.
    """

    def __init__(self, counters: SessionCounters) -> None:
        self.counters = counters
        self._prev: _Snap | None = None
        self._reconnects: deque[float] = deque()
        self._stalls: deque[float] = deque()
        self.processing_since: float | None = None
        self.width: int | None = None
        self.height: int | None = None
        self.codec: str | None = None
        self.expected_fps: float | None = None
        self.last_rates = (0.0, 0.0, 0.0)

    def note_reconnect(self, now: float | None = None) -> None:
        self._reconnects.append(time.monotonic() if now is None else now)

    def note_stall(self, now: float | None = None) -> None:
        self._stalls.append(time.monotonic() if now is None else now)

    def reset_window(self) -> None:
        """Start a fresh rate window (after a (re)connect: the probe burst is not a rate)."""
        self._prev = None

    @staticmethod
    def _last_hour(events: deque[float], now: float) -> int:
        while events and now - events[0] > _HOUR:
            events.popleft()
        return len(events)

    def _rates(self, now: float) -> tuple[float, float, float]:
        c = self.counters
        snap = _Snap(now, c.packets, c.decoded, c.detections)
        prev, self._prev = self._prev, snap
        if prev is None or now - prev.t < 0.5:
            return self.last_rates
        dt = now - prev.t
        self.last_rates = (
            (snap.packets - prev.packets) / dt,
            (snap.decoded - prev.decoded) / dt,
            (snap.detections - prev.detections) / dt,
        )
        return self.last_rates

    def build(self, *, processing: bool, now: float | None = None) -> StreamStats:
        """A stats snapshot; rates cover the time since the previous call."""
        now = time.monotonic() if now is None else now
        c = self.counters
        input_fps, decoded_fps, detection_fps = self._rates(now) if processing else (0.0,) * 3
        reconnects = self._last_hour(self._reconnects, now)
        stalls = self._last_hour(self._stalls, now)
        uptime = now - self.processing_since if processing and self.processing_since else 0.0
        return StreamStats(
            input_fps=round(input_fps, 2),
            decoded_fps=round(decoded_fps, 2),
            detection_fps=round(detection_fps, 2),
            detector_ms_p50=_p50(c.detector_ms),
            decode_ms_p50=_p50(c.decode_ms),
            reconnects_last_hour=reconnects,
            stalls_last_hour=stalls,
            dropped_samples=c.dropped_samples,
            skipped_static=c.skipped_static,
            analysed_samples=c.detections,
            uptime_s=round(uptime, 1),
            bytes_in=c.bytes_in,
            width=self.width,
            height=self.height,
            codec=self.codec,
            expected_fps=self.expected_fps,
            connection_quality=connection_quality(
                processing=processing,
                input_fps=input_fps,
                expected_fps=self.expected_fps,
                reconnects_last_hour=reconnects,
                stalls_last_hour=stalls,
                measured=self.last_rates != (0.0, 0.0, 0.0) or uptime > 10,
            ),
        )


def _p50(values: deque[float]) -> float | None:
    if not values:
        return None
    return round(statistics.median(list(values)), 2)


def connection_quality(
    *,
    processing: bool,
    input_fps: float,
    expected_fps: float | None,
    reconnects_last_hour: int,
    stalls_last_hour: int,
    measured: bool = True,
) -> ConnectionQuality:
    """Grade a camera link.

    * ``unusable``: not delivering video, < 25 % of the expected frame rate, or >= 10
      reconnects/stalls in the last hour.
    * ``poor``: < 60 % of expected fps, or >= 3 reconnects/stalls in the last hour.
    * ``fair``: < 90 % of expected fps, or any reconnect/stall in the last hour.
    * ``excellent`` otherwise. Without an expected fps only events count.
    """
    if not processing:
        return "unusable"
    events = reconnects_last_hour + stalls_last_hour
    ratio = input_fps / expected_fps if expected_fps and measured else 1.0
    if ratio < 0.25 or events >= 10:
        return "unusable"
    if ratio < 0.6 or events >= 3:
        return "poor"
    if ratio < 0.9 or events >= 1:
        return "fair"
    return "excellent"
