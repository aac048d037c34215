"""The latest sampled frame of a camera and its JPEG for ``snapshot.jpg``.

The ingest thread :meth:`~LatestFrame.put`s every sample (a plain attribute swap, no lock:
the loop reads a value at most one sample old); the loop encodes a JPEG only when someone
asks, off the loop, and reuses it while no newer frame was sampled or for ``max_age`` s.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Executor

import av
import numpy as np

from beholder.worker.detect.alert_images import SNAPSHOT_QUALITY, encode_jpeg


def frame_jpeg(frame: av.VideoFrame, quality: int = SNAPSHOT_QUALITY) -> bytes:
    """JPEG bytes of a decoded frame (full size). Blocking, a few ms for 720p."""
    return encode_jpeg(np.asarray(frame.to_ndarray(format="bgr24"), np.uint8), quality)


class LatestFrame:
    """Latest sample slot and lazily encoded JPEG of one camera.

    ``executor``: where JPEG encodes run; ``max_age``: seconds a JPEG is reused even when a
    newer frame was sampled."""

    def __init__(self, executor: Executor, max_age: float) -> None:
        self._executor = executor
        self._max_age = max_age
        self._latest: tuple[av.VideoFrame, float] | None = None
        self._jpeg: tuple[av.VideoFrame, bytes] | None = None

    def put(self, frame: av.VideoFrame, sampled_at: float) -> None:
        """A new sample (ingest thread); ``sampled_at`` monotonic seconds."""
        self._latest = (frame, sampled_at)

    def clear(self) -> None:
        """Forget the frame and its JPEG (the session stopped)."""
        self._latest = None
        self._jpeg = None

    async def jpeg(self) -> bytes | None:
        """JPEG of the latest frame, or None when nothing was sampled (loop)."""
        latest = self._latest
        if latest is None:
            return None
        frame, sampled_at = latest
        cached = self._jpeg
        if cached is not None and (
            cached[0] is frame or time.monotonic() - sampled_at < self._max_age
        ):
            return cached[1]
        loop = asyncio.get_running_loop()
        jpeg = await loop.run_in_executor(self._executor, frame_jpeg, frame)
        self._jpeg = (frame, jpeg)
        return jpeg
