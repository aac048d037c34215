"""One relay stream analysed by the worker's detector: :class:`StreamDetection`.

A phone's frames arrive on the bus (``relay.frames.<streamId>``, the binary frame of
:mod:`beholder.contracts.relay_frame`) at whatever rate it sends, often 15-30 fps. Per
stream, in this order:

1. **sample** (event loop, O(1)): a frame is taken when the stream's next sampling time has
   come (``interval_s`` apart, ``1 / detect_fps``, 10 % early allowed); the others are
   counted in ``counters.packets`` only. A frame with a bad header, or of another stream, is counted
   in ``counters.decode_errors`` and dropped;
2. **decode** (a thread of the manager's decode pool, never the loop): the JPEG goes into a
   one-frame slot; a frame still waiting there is replaced (latest wins) and counted as a
   dropped sample. One decode at a time per stream, so a stream sending frames faster than
   they decode holds at most one waiting and one decoding frame;
3. **detect**: the decoded frame is offered to the stream's
   :class:`~beholder.worker.detect.scheduler.CameraDetection` - the very composition a
   camera uses (motion gate, :class:`~beholder.worker.detect.pipeline.DetectionPipeline`
   with its tracker and cooldown, the worker's shared round-robin
   :class:`~beholder.worker.detect.scheduler.DetectionScheduler`), so one person in view is
   one alert and a stream gets no more than its turn of the detection threads.

A corrupt or oversized JPEG costs this stream one counted decode error and nothing else.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor

import structlog

from beholder.contracts.relay_frame import FrameError, decode_frame
from beholder.worker import metrics
from beholder.worker.detect.sampled_frame import SampledFrame
from beholder.worker.detect.scheduler import CameraDetection
from beholder.worker.stats import SessionCounters
from beholder.worker.streams.jpeg import MAX_SIDE, BadJpeg, decode_jpeg

log = structlog.get_logger(__name__)

_EARLY = 0.1
"""A frame up to this fraction of an interval early is taken: the api already thins a
stream's frames on the bus to about ``detect_fps``, and delivery jitter must not make every
other one miss its slot (which would halve the rate)."""

_LOG_EVERY = 100
"""Bad frames of one stream are logged on the 1st, then every 100th (a broken phone
sending 30 bad frames/s must not flood the log)."""


class StreamDetection:
    """Detection of one relay stream (see the module docstring).

    ``detection``: the stream's :class:`CameraDetection` (its id is the stream id);
    ``decoder``: the pool that decodes JPEGs (shared by the streams of a worker);
    ``interval_s``: seconds between two samples (> 0); ``clock``: monotonic seconds
    (tests). :meth:`on_frame` runs on the event loop; everything else it starts runs on
    ``decoder`` and the detection scheduler's threads. Counters: ``counters`` (the fields
    of :class:`SessionCounters`: ``packets`` received, ``samples`` taken, ``decoded``,
    ``decode_errors``, ``dropped_samples``, ``detections``, ``alerts``).
    """

    def __init__(
        self,
        stream_id: str,
        detection: CameraDetection,
        decoder: Executor,
        *,
        interval_s: float,
        counters: SessionCounters,
        max_side: int = MAX_SIDE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be > 0")
        self.stream_id = stream_id
        self.detection = detection
        self.counters = counters
        self.interval_s = interval_s
        self.closed = False
        self._decoder = decoder
        self._max_side = max_side
        self._clock = clock
        self._next_at: float | None = None
        self._lock = threading.Lock()
        self._pending: tuple[memoryview, float, float | None] | None = None
        self._busy = False

    # ---------------------------------------------------------------- event loop
    def on_frame(self, data: bytes) -> bool:
        """A binary relay frame of this stream (header + JPEG) from the bus.

        Returns ``True`` when it was taken as a sample (queued for decoding), ``False``
        when it was not due, malformed or the stream is closed. Never raises, never blocks.
        """
        if self.closed:
            return False
        self.counters.packets += 1
        self.counters.bytes_in += len(data)
        now = self._clock()
        if self._next_at is not None and now < self._next_at - _EARLY * self.interval_s:
            return False
        try:
            frame = decode_frame(data)
        except FrameError as exc:
            self._bad_frame(exc.message)
            return False
        if frame.stream_id != self.stream_id:
            self._bad_frame("frame header names another stream")
            return False
        # The next sample is due one interval after this one was due (not after it came),
        # so a stream sampled a little early or late still averages ``1 / interval_s``.
        due = now if self._next_at is None else max(self._next_at, now - self.interval_s)
        self._next_at = due + self.interval_s
        self.counters.samples += 1
        source_ts = frame.timestamp_ms / 1000.0 if frame.timestamp_ms else None
        self._queue(frame.jpeg, now, source_ts)
        return True

    def reset(self) -> None:
        """Detection switched back on: faces in view alert again (cooldown kept)."""
        self.detection.reset()

    def close(self) -> None:
        """Stop: the waiting frame is dropped, no alert is published after this."""
        self.closed = True
        with self._lock:
            self._pending = None
        self.detection.close()
        metrics.remove_camera(self.stream_id)

    # ---------------------------------------------------------------- decoding
    def _queue(self, jpeg: memoryview, ts: float, source_ts: float | None) -> None:
        with self._lock:
            if self._pending is not None:
                self.detection.count_dropped()  # replaced before it was decoded
            self._pending = (jpeg, ts, source_ts)
            if self._busy:
                return
            self._busy = True
        try:
            self._decoder.submit(self._drain)
        except RuntimeError:  # the pool is shut down: the worker is stopping
            with self._lock:
                self._busy = False
                self._pending = None

    def _drain(self) -> None:
        """Decode thread: decode and offer the waiting frame until the slot is empty."""
        while True:
            with self._lock:
                job, self._pending = self._pending, None
                if job is None or self.closed:
                    self._busy = False
                    return
            jpeg, ts, source_ts = job
            try:
                img = decode_jpeg(jpeg, self._max_side)
            except BadJpeg as exc:
                self._bad_frame(str(exc))
                continue
            except Exception:  # pragma: no cover - OpenCV raising instead of returning None
                self._bad_frame("the JPEG data could not be decoded")
                continue
            self.counters.decoded += 1
            try:
                self.detection.offer(SampledFrame.from_bgr(img), ts, source_ts)
            except Exception:
                self.counters.detection_errors += 1
                log.exception("stream detection failed", stream_id=self.stream_id)

    def _bad_frame(self, why: str) -> None:
        self.counters.decode_errors += 1
        n = self.counters.decode_errors
        if n == 1 or n % _LOG_EVERY == 0:
            log.warning("bad relay frame", stream_id=self.stream_id, reason=why, count=n)

    def __repr__(self) -> str:
        return f"StreamDetection({self.stream_id!r}, samples={self.counters.samples})"
