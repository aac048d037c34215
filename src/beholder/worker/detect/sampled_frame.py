"""A decoded frame picked for detection and snapshots, safe to convert from several threads.

One sampled ``av.VideoFrame`` is read by three threads: the ingest thread (the motion gate's
small grey copy), a detection thread (the BGR image it analyses) and an executor thread
(the JPEG of ``snapshot.jpg``). PyAV cannot convert one frame from two threads at once:
``VideoFrame.reformat`` and ``to_ndarray`` go through a scaler (``SwsContext``) cached on
the frame, reconfigured for each target size and format with the GIL released, and PyAV 18
rewrites the source frame's colour tags for the duration of each conversion. Concurrent
conversions of one frame crashed a worker with a segmentation fault (seen in CI, reproduced
in tests/unit/test_detect_sampled_frame.py). :class:`SampledFrame` owns the frame and makes its
conversions take turns; different frames still convert in parallel.
"""

from __future__ import annotations

import threading

import av
import numpy as np
import numpy.typing as npt

from beholder.worker.detect.base import Frame


class SampledFrame:
    """One decoded video frame and the lock its conversions share.

    ``frame``: a decoded (or built) ``av.VideoFrame`` of any pixel format; nothing else may
    convert it once it is wrapped. Conversions block for a few milliseconds (a 1080p frame
    to BGR) and may wait for another thread's conversion of the same frame."""

    __slots__ = ("_frame", "_lock", "height", "width")

    def __init__(self, frame: av.VideoFrame) -> None:
        self._frame = frame
        self._lock = threading.Lock()
        self.width: int = frame.width
        """Source pixels."""
        self.height: int = frame.height
        """Source pixels."""

    @classmethod
    def from_bgr(cls, image: Frame) -> SampledFrame:
        """A sample built from an HxWx3 uint8 BGR image (e.g. a phone's decoded JPEG)."""
        return cls(av.VideoFrame.from_ndarray(image, format="bgr24"))

    def bgr(self) -> Frame:
        """The full-size HxWx3 uint8 BGR image (a new array each call)."""
        with self._lock:
            return np.asarray(self._frame.to_ndarray(format="bgr24"), np.uint8)

    def grey(self, width: int, height: int) -> npt.NDArray[np.uint8]:
        """A ``height`` x ``width`` uint8 grey copy, scaled by libswscale (the motion gate's
        input; ``width``/``height`` even, in pixels)."""
        with self._lock:
            small = self._frame.reformat(width=width, height=height, format="gray")
            return np.asarray(small.to_ndarray(), np.uint8)
