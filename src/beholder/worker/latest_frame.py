"""The latest sampled frame of a camera and its JPEG for ``snapshot.jpg``.

The ingest thread :meth:`~LatestFrame.put`s every sample (a plain attribute swap, no lock:
the loop reads a value at most one sample old); the loop encodes a JPEG only when someone
asks, off the loop, and reuses it while no newer frame was sampled or until it is ``max_age``
s old: at most one encode per ``max_age`` however often clients ask, and never a picture
older than that while the camera streams.

The sample is a :class:`~beholder.worker.detect.sampled_frame.SampledFrame` because a
detection thread may be converting the same frame at that moment.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Executor

from beholder.worker.detect.alert_images import SNAPSHOT_QUALITY, encode_jpeg
from beholder.worker.detect.sampled_frame import SampledFrame


def frame_jpeg(frame: SampledFrame, quality: int = SNAPSHOT_QUALITY) -> bytes:
    """JPEG bytes of a sampled frame (full size). Blocking, a few ms for 720p."""
    return encode_jpeg(frame.bgr(), quality)


class LatestFrame:
    """Latest sample slot and lazily encoded JPEG of one camera.

    ``executor``: where JPEG encodes run; ``max_age``: seconds a JPEG is reused after a
    newer frame was sampled; ``clock``: monotonic seconds (tests pass their own)."""

    def __init__(
        self, executor: Executor, max_age: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._executor = executor
        self._max_age = max_age
        self._clock = clock
        self._latest: SampledFrame | None = None
        self._jpeg: tuple[SampledFrame, bytes, float] | None = None  # frame, JPEG, encoded at

    def put(self, frame: SampledFrame) -> None:
        """A new sample (ingest thread)."""
        self._latest = frame

    def clear(self) -> None:
        """Forget the frame and its JPEG (the session stopped)."""
        self._latest = None
        self._jpeg = None

    async def jpeg(self) -> bytes | None:
        """JPEG of the latest frame (or of one at most ``max_age`` s older), or None when
        nothing was sampled (loop)."""
        frame = self._latest
        if frame is None:
            return None
        cached = self._jpeg
        if cached is not None and (cached[0] is frame or self._clock() - cached[2] < self._max_age):
            return cached[1]
        loop = asyncio.get_running_loop()
        encoded_at = self._clock()
        jpeg = await loop.run_in_executor(self._executor, frame_jpeg, frame)
        self._jpeg = (frame, jpeg, encoded_at)
        return jpeg
