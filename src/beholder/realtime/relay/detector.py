"""Which streams' frames the worker's built-in detector wants on the bus, and when.

The api switches face detection per stream (``stream.detection`` commands, and the stream's
``faceDetectionEnabled`` read when its producer registers); the detector samples a stream at
``detect_fps`` anyway, so the relay publishes at most that many frames per second of each
analysed stream (the rest would only load the bus)."""

from __future__ import annotations

import time


class DetectorFeed:
    """Streams analysed by the built-in detector; ``fps``: frames per second it samples."""

    def __init__(self, fps: float) -> None:
        self.interval = 1.0 / fps
        self.streams: set[str] = set()
        self._last: dict[str, float] = {}

    def set(self, stream_id: str, enabled: bool) -> None:
        """Analyse ``stream_id`` or stop."""
        if enabled:
            self.streams.add(stream_id)
        else:
            self.streams.discard(stream_id)
            self._last.pop(stream_id, None)

    def due(self, stream_id: str) -> bool:
        """True when a frame of ``stream_id`` should go on the bus now (and counts it)."""
        if stream_id not in self.streams:
            return False
        now = time.monotonic()
        if now - self._last.get(stream_id, -1e9) < self.interval:
            return False
        self._last[stream_id] = now
        return True


__all__ = ["DetectorFeed"]
