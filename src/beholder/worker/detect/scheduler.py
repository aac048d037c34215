"""Detection scheduling: one shared queue serves every camera of a worker, round-robin.

Two objects:

- :class:`DetectionScheduler` (one per worker) owns ``threads`` detection threads, each with
  its own detector (a child process by default, see
  :class:`~beholder.worker.detect.isolated.SubprocessDetector`), and a ready queue of
  cameras. A thread takes the camera at the head of the queue, analyses that camera's
  latest sample, and puts the camera back at the **tail** if a newer sample arrived
  meanwhile. So every camera with work gets one analysis per round, whatever the others
  send: a busy camera cannot starve a quiet one, and a camera's wait is bounded by the
  number of busy cameras times the detector time divided by the threads.
- :class:`CameraDetection` (one per camera session) owns that camera's motion gate, its
  :class:`~beholder.worker.detect.pipeline.DetectionPipeline` and its **latest-sample
  slot**. :meth:`CameraDetection.offer` (ingest thread) gates the sample and, if it needs
  analysis, puts it in the slot; a sample still waiting there is replaced and counted as
  dropped for this camera. Memory stays bounded: at most one waiting and one running
  sample per camera.

What happens to each sample is counted per camera (:class:`~beholder.worker.stats.
SessionCounters` and Prometheus): ``skipped_static`` (the gate saw no change and no face is
tracked), ``detections`` (analysed), ``dropped_samples`` (replaced before a thread was free).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from beholder.messages import FaceDetectionAlert
from beholder.worker import metrics
from beholder.worker.detect.base import Detector
from beholder.worker.detect.motion import MotionGate, Region, grid_size
from beholder.worker.detect.pipeline import DetectionPipeline
from beholder.worker.detect.sampled_frame import SampledFrame
from beholder.worker.stats import SessionCounters

log = structlog.get_logger(__name__)

DetectorFactory = Callable[[], Detector]
"""Builds one detector for one detection thread (called on that thread)."""


@dataclass(frozen=True, slots=True)
class Sample:
    """A sampled frame waiting for analysis.

    ``ts``: monotonic seconds when sampled (tracker/cooldown clock); ``source_ts``: Unix
    seconds of the frame at its source; ``motion``: where the gate saw change (source
    pixels; ``[]``: nothing moved, look at the tracked faces; ``None``: the whole frame).
    """

    frame: SampledFrame
    ts: float
    source_ts: float | None
    motion: list[Region] | None


class DetectionScheduler:
    """Shared detection threads serving cameras round-robin (see the module docstring).

    ``detector_factory`` is called once on each thread, on its first job (a failure is
    logged and retried on the next job; that job's sample is lost and counted as dropped).
    ``threads``: number of detection threads (>= 1). Call :meth:`close` when done.
    """

    def __init__(self, detector_factory: DetectorFactory, threads: int) -> None:
        if threads < 1:
            raise ValueError("threads must be >= 1")
        self._factory = detector_factory
        self._cond = threading.Condition()
        self._ready: deque[CameraDetection] = deque()
        self._closing = False
        self._detectors: list[Detector] = []
        self.threads = threads
        self.busy_seconds = 0.0
        """Wall time the threads spent on jobs since start (for the worker's load)."""
        self.dropped = 0
        """Samples dropped (replaced while waiting, or failed) since start, every camera."""
        self._threads = [
            threading.Thread(target=self._serve, name=f"detect-{i}", daemon=True)
            for i in range(threads)
        ]
        for t in self._threads:
            t.start()

    @property
    def queued(self) -> int:
        """Cameras waiting for a detection thread now."""
        return len(self._ready)

    @property
    def detectors(self) -> list[Detector]:
        """The detectors created so far (one per thread that has run a job)."""
        return list(self._detectors)

    def submit(self, camera: CameraDetection, sample: Sample) -> None:
        """Put ``sample`` in ``camera``'s slot and queue the camera if it is not already
        waiting or running. A sample already in the slot is replaced and counted as
        dropped. Any thread; O(1), never blocks on detection."""
        with self._cond:
            if self._closing or camera.closed:
                return
            if camera.pending is not None:
                camera.count_dropped()
                self.dropped += 1
            camera.pending = sample
            if not camera.queued and not camera.running:
                camera.queued = True
                self._ready.append(camera)
                metrics.DETECTION_QUEUE.set(len(self._ready))
                self._cond.notify()

    def withdraw(self, camera: CameraDetection) -> None:
        """Forget ``camera``'s waiting sample and take it out of the queue (it stopped)."""
        with self._cond:
            camera.pending = None
            if camera.queued:
                camera.queued = False
                with contextlib.suppress(ValueError):
                    self._ready.remove(camera)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the threads (each finishes its current job) and close the detectors that
        have a ``close`` (child processes). Idempotent; blocking up to ``timeout`` s."""
        with self._cond:
            self._closing = True
            for camera in self._ready:
                camera.queued = False
                camera.pending = None
            self._ready.clear()
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        for det in self._detectors:
            close = getattr(det, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()
        self._detectors.clear()

    # ---------------------------------------------------------------- detection threads
    def _next(self) -> tuple[CameraDetection, Sample] | None:
        with self._cond:
            while not self._ready and not self._closing:
                self._cond.wait()
            if self._closing:
                return None
            camera = self._ready.popleft()
            metrics.DETECTION_QUEUE.set(len(self._ready))
            camera.queued = False
            sample, camera.pending = camera.pending, None
            if sample is None:  # pragma: no cover - a queued camera always has a sample
                return self._next()
            camera.running = True
            return camera, sample

    def _done(self, camera: CameraDetection) -> None:
        with self._cond:
            camera.running = False
            if camera.pending is not None and not camera.closed and not self._closing:
                camera.queued = True
                self._ready.append(camera)  # the tail: one analysis per camera per round
                self._cond.notify()

    def _serve(self) -> None:
        detector: Detector | None = None
        while True:
            job = self._next()
            if job is None:
                return
            camera, sample = job
            started = time.perf_counter()
            try:
                if detector is None:
                    detector = self._factory()
                    with self._cond:
                        self._detectors.append(detector)
                camera.analyse(sample, detector)
            except Exception:
                camera.count_dropped()
                with self._cond:
                    self.dropped += 1
                log.exception("detection thread failed", camera_id=camera.camera_id)
            finally:
                with self._cond:
                    self.busy_seconds += time.perf_counter() - started
                self._done(camera)


class CameraDetection:
    """One camera's side of detection: motion gate, pipeline, latest-sample slot, counters.

    ``offer`` runs on the camera's ingest thread, ``analyse`` on a scheduler thread (one at
    a time per camera), the rest on the event loop. ``on_alert(alert)`` is called on the
    scheduler thread (hand it to the loop with ``call_soon_threadsafe``).
    ``motion_gate``: ``None`` analyses every sample (no gating, no region).
    ``refresh_s``: analyse a whole frame at least this often even when nothing moves
    (0: never), for the person who stood still since before the camera started.
    """

    def __init__(
        self,
        camera_id: str,
        scheduler: DetectionScheduler,
        pipeline: DetectionPipeline,
        counters: SessionCounters,
        on_alert: Callable[[FaceDetectionAlert], None],
        *,
        motion_gate: MotionGate | None,
        refresh_s: float = 30.0,
        enabled: bool = True,
    ) -> None:
        self.camera_id = camera_id
        self.pipeline = pipeline
        self.counters = counters
        self.enabled = enabled
        self.closed = False
        # Slot state, guarded by the scheduler's lock.
        self.pending: Sample | None = None
        self.queued = False
        self.running = False
        self._scheduler = scheduler
        self._on_alert = on_alert
        self._gate = motion_gate
        self._refresh_s = refresh_s
        self._last_full: float | None = None
        # Set on the loop, consumed by the ingest thread (gate) and the scheduler (pipeline).
        self._gate_reset = False
        self._pipeline_reset = False

    # ---------------------------------------------------------------- ingest thread
    def offer(self, frame: SampledFrame, ts: float, source_ts: float | None) -> None:
        """A sampled frame: gate it and queue it for analysis, or count it as skipped.

        ``frame`` may be converted meanwhile by other threads (its snapshot); ``ts``:
        monotonic seconds when sampled; ``source_ts``: Unix seconds at the source.
        """
        if not self.enabled or self.closed:
            return
        motion: list[Region] | None = None
        if self._gate is not None:
            if self._gate_reset:
                self._gate_reset = False
                self._gate.reset()
            gw, gh = grid_size(frame.width, frame.height)
            grey = frame.grey(gw, gh)
            verdict = self._gate.update(grey, (frame.width, frame.height))
            refresh_due = self._refresh_s > 0 and (
                self._last_full is None or ts - self._last_full >= self._refresh_s
            )
            if refresh_due or (verdict.moving and verdict.region is None):
                motion = None  # the whole frame: a refresh, a new scene or a new connection
            else:
                motion = [verdict.region] if verdict.region is not None else []
            # While a sample of this camera waits or runs, ``tracking`` is not yet known for
            # the newest state of the scene: never skip on a stale answer.
            catching_up = self.queued or self.running
            if (
                not verdict.moving
                and not self.pipeline.tracking
                and not refresh_due
                and not catching_up
            ):
                self.counters.skipped_static += 1
                metrics.SKIPPED_STATIC.labels(self.camera_id).inc()
                return
            if motion is None:
                self._last_full = ts
        self._scheduler.submit(self, Sample(frame, ts, source_ts, motion))

    def count_dropped(self) -> None:
        """A sample of this camera was lost before analysis (any thread)."""
        self.counters.dropped_samples += 1
        metrics.DROPPED_SAMPLES.labels(self.camera_id).inc()

    # ---------------------------------------------------------------- scheduler thread
    def analyse(self, sample: Sample, detector: Detector) -> None:
        """Convert, detect, track; hand an alert to ``on_alert``. Errors are logged and
        count for this camera only."""
        if not self.enabled or self.closed:
            return
        if self._pipeline_reset:
            self._pipeline_reset = False
            self.pipeline.reset()
        t0 = time.perf_counter()
        try:
            img = sample.frame.bgr()
            alert = self.pipeline.process(
                img, sample.ts, source_ts=sample.source_ts, motion=sample.motion, detector=detector
            )
        except Exception:
            self.counters.detection_errors += 1
            log.exception("face detection failed", camera_id=self.camera_id)
            return
        elapsed = time.perf_counter() - t0
        c = self.counters
        c.detections += 1
        detector_ms = self.pipeline.last_detector_ms
        c.detector_ms.append(detector_ms if detector_ms is not None else elapsed * 1000.0)
        metrics.ANALYSED.labels(self.camera_id).inc()
        metrics.DETECTOR_LATENCY.observe(elapsed)
        if alert is not None and not self.closed:
            self._on_alert(alert)

    # ---------------------------------------------------------------- event loop
    def reset(self) -> None:
        """Forget tracks and background (reconnect, detection turned back on): faces in
        view alert again, the next sample is analysed whole. The cooldown is kept."""
        self._gate_reset = True
        self._pipeline_reset = True
        self._last_full = None

    def set_enabled(self, enabled: bool) -> None:
        """Turn detection on or off from the next sample; on again starts a new episode."""
        if enabled and not self.enabled:
            self.reset()
        self.enabled = enabled
        if not enabled:
            self._scheduler.withdraw(self)

    def close(self) -> None:
        """The session stopped: drop the waiting sample, never call ``on_alert`` again."""
        self.closed = True
        self._scheduler.withdraw(self)

    def __repr__(self) -> str:
        return f"CameraDetection({self.camera_id!r}, enabled={self.enabled})"
