"""One camera: an isolated session with its own asyncio task and, while connected, its own
ingest thread.

Lifecycle (DESIGN §4): ``STARTING → CONNECTING → PROCESSING``; a failure reports ``ERROR`` with
a code and a user-safe detail, waits an exponential backoff with jitter (probing a camera
that was unreachable, see :mod:`beholder.worker.recovery`) and reports ``CONNECTING`` with the
attempt number again, until stopped (``STOPPING → STOPPED``).

:class:`CameraSession` is the event-loop side only: status, backoff, commands, stats. It is
composed of objects that own their state:

* :class:`~beholder.worker.ingest_run.IngestRun`, one per connection attempt (its thread,
  demux, decode, sampling; returns on stop or raises an ``IngestError``);
* :class:`~beholder.worker.fanout.PacketFanout`, the live-view packet sinks;
* :class:`~beholder.worker.detect.scheduler.CameraDetection` (built by the manager): motion
  gate and latest-sample slot on the worker's shared detection queue, so a slow detector
  never backs up ingest or live view;
* :class:`~beholder.worker.latest_frame.LatestFrame` (``snapshot.jpg``),
  :class:`~beholder.worker.status.StatusReporter`, :class:`~beholder.worker.recovery.RetryWait`
  and :class:`~beholder.worker.stats.StatsTracker`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

import structlog

from beholder import tracing
from beholder.camera_networks import NetworkPolicy
from beholder.config import WorkerSettings
from beholder.errors import ErrorCode
from beholder.messages import CameraSpec, CameraStatus, FaceDetectionAlert, StreamStats
from beholder.rtsp_url import mask_rtsp_url
from beholder.worker import metrics
from beholder.worker.detect.factory import CameraDetectionFactory
from beholder.worker.detect.sampled_frame import SampledFrame
from beholder.worker.detect.scheduler import CameraDetection
from beholder.worker.fanout import PacketFanout
from beholder.worker.ingest import IngestError, Interrupter
from beholder.worker.ingest_run import IngestResources, IngestRun
from beholder.worker.latest_frame import LatestFrame
from beholder.worker.recovery import RetryWait, backoff_delay
from beholder.worker.stats import SessionCounters, StatsTracker
from beholder.worker.status import StatusPublisher, StatusReporter
from beholder.worker.stream import PacketSink, StreamInfo

if TYPE_CHECKING:
    from opentelemetry.trace import Span

__all__ = [
    "AlertPublisher",
    "CameraSession",
    "StatusPublisher",
]

log = structlog.get_logger(__name__)

AlertPublisher = Callable[[FaceDetectionAlert], Awaitable[None]]


class CameraSession:
    """One camera's ingest, sampling, detection and stats. Create, ``await start()``,
    ``await stop()``. Read by other parts of the worker: ``spec``, ``status``,
    ``counters``, ``packet_sinks`` (add with :meth:`add_packet_sink`), and the resource
    accounting ``threads_started`` / ``threads_alive`` / ``containers_open``.

    ``settings``: the worker settings (attributes ``backoff_*``, ``probe_interval``,
    ``stall_timeout``, ``stats_interval``, ``stop_timeout``, ``snapshot_cache`` and those
    of :class:`IngestRun`). ``policy``: the networks the camera may resolve into
    (``BEHOLDER_CAMERA_NETWORKS``), checked on every connection and probe. ``probe_slots``:
    the worker's bound on reachability probes. ``start_span``: the tracing span of this start
    (None while tracing is off), ended by the first outcome (see :class:`StatusReporter`).
    """

    def __init__(
        self,
        spec: CameraSpec,
        *,
        settings: WorkerSettings,
        policy: NetworkPolicy,
        publish_status: StatusPublisher,
        publish_alert: AlertPublisher,
        executor: Executor,
        detection: CameraDetectionFactory | None,
        probe_slots: asyncio.Semaphore | None = None,
        worker_id: str | None = None,
        correlation_id: str | None = None,
        start_span: Span | None = None,
    ) -> None:
        self.spec = spec
        self.camera_id = spec.camera_id
        self.settings = settings
        self.policy = policy
        self.face_detection_enabled = spec.face_detection_enabled
        self.counters = SessionCounters()
        self.tracker = StatsTracker(self.counters)
        self.attempt = 0
        self.fanout = PacketFanout(self.camera_id, self.counters)
        self.resources = IngestResources()
        self.latest = LatestFrame(executor, settings.snapshot_cache)
        self._stopping = threading.Event()
        self._stop_evt = asyncio.Event()
        self.reporter = StatusReporter(
            self.camera_id,
            publish_status,
            stopping=self._stopping,
            stats=self.current_stats,
            worker_id=worker_id,
            correlation_id=correlation_id,
            start_span=start_span,
        )
        self._retry = RetryWait(
            self.camera_id,
            spec.rtsp_url,
            policy=policy,
            probe_interval=settings.probe_interval,
            probe_slots=probe_slots or asyncio.Semaphore(1),
            counters=self.counters,
        )
        self.detection: CameraDetection | None = (
            detection(
                self.camera_id, self.counters, self._alert_from_thread, self.face_detection_enabled
            )
            if detection is not None
            else None
        )
        self._publish_alert = publish_alert
        self._run_now: IngestRun | None = None
        self._task: asyncio.Task[None] | None = None
        self._stats_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: set[asyncio.Task[Any]] = set()
        self._masked_url = mask_rtsp_url(spec.rtsp_url)

    # ------------------------------------------------------------------ read-only views
    @property
    def status(self) -> CameraStatus:
        """The last status reported."""
        return self.reporter.status

    @property
    def packet_sinks(self) -> list[PacketSink]:
        """The live-view sinks attached (a copy)."""
        return list(self.fanout.sinks)

    @property
    def decode_mode(self) -> str | None:
        """``keyframes`` or ``all`` of the current connection (None before packets flow)."""
        run = self._run_now
        return run.decode_mode if run is not None else None

    @property
    def threads_started(self) -> int:
        return self.resources.threads_started

    @property
    def threads_alive(self) -> int:
        return self.resources.threads_alive

    @property
    def containers_open(self) -> int:
        return self.resources.containers_open

    @property
    def running(self) -> bool:
        return self._task is not None and not self._stopping.is_set()

    # ------------------------------------------------------------------ commands (loop)
    async def start(self) -> None:
        """Start the session task (returns at once)."""
        if self._task is not None:
            return
        Interrupter.install()
        self._loop = asyncio.get_running_loop()
        # The session outlives the command that started it: its tasks start outside that
        # trace (the reporter resumes it for the start-up statuses only).
        with tracing.use_context(None):
            self._task = asyncio.create_task(self._run(), name=f"camera:{self.camera_id}")
            self._stats_task = asyncio.create_task(
                self._stats_loop(), name=f"stats:{self.camera_id}"
            )

    async def stop(self) -> None:
        """Stop cleanly within ``settings.stop_timeout``: STOPPING, thread joined, container
        closed, STOPPED. Idempotent."""
        if self._task is None or self._stopping.is_set():
            if self._task is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._task)
            return
        self._stopping.set()  # also aborts the ingest thread's blocked FFmpeg call
        self._stop_evt.set()
        await self.reporter.report(CameraStatus.STOPPING)
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self.settings.stop_timeout)
        except TimeoutError:
            log.warning("camera session did not stop in time", camera_id=self.camera_id)
        except Exception:  # pragma: no cover - _run never raises
            log.exception("camera session failed while stopping", camera_id=self.camera_id)
        if self._stats_task is not None:
            self._stats_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._stats_task
        self.latest.clear()
        if self.detection is not None:
            self.detection.close()
        await self.reporter.report(CameraStatus.STOPPED)
        for task in list(self._pending):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 1.0)
        metrics.remove_camera(self.camera_id)

    def set_face_detection(self, enabled: bool) -> None:
        """Turn detection on/off; takes effect from the next sample."""
        if self.detection is not None:
            # Back on: a new episode, faces already in view alert again.
            self.detection.set_enabled(enabled)
        self.face_detection_enabled = enabled
        self.spec = self.spec.model_copy(update={"face_detection_enabled": enabled})

    def add_packet_sink(self, sink: PacketSink) -> None:
        """Attach a live-view sink (idempotent); it is opened before its first packet."""
        self.fanout.add(sink)

    def remove_packet_sink(self, sink: PacketSink) -> None:
        """Detach a live-view sink (idempotent)."""
        self.fanout.remove(sink)

    async def snapshot_jpeg(self) -> bytes | None:
        """JPEG of the latest sampled frame, or None when the camera is not streaming.

        Encoded lazily on request, off the loop; reused while no newer frame was sampled or
        until it is ``settings.snapshot_cache`` seconds old.
        """
        if self.status is not CameraStatus.PROCESSING:
            return None
        return await self.latest.jpeg()

    def current_stats(self) -> StreamStats:
        """Stats now (rates over the time since the previous snapshot), with the egress
        mode and viewer count of live-view sinks that report them."""
        stats = self.tracker.build(processing=self.status is CameraStatus.PROCESSING)
        for extra in self.fanout.sink_stats():
            stats.egress = extra.get("egress", stats.egress)
            stats.viewers = extra.get("viewers", stats.viewers)
        return stats

    # ------------------------------------------------------------------ session task
    async def _run(self) -> None:
        report = self.reporter.report
        await report(CameraStatus.STARTING)
        first = True
        try:
            while not self._stopping.is_set():
                self.attempt += 1
                if not first:
                    self.tracker.note_reconnect()
                    metrics.RECONNECTS.labels(self.camera_id).inc()
                first = False
                await report(CameraStatus.CONNECTING, attempt=self.attempt)
                started = time.monotonic()
                error = await self._connect_once()
                if self._stopping.is_set():
                    break
                processing_for = (
                    time.monotonic() - self.tracker.processing_since
                    if self.tracker.processing_since and self.tracker.processing_since >= started
                    else 0.0
                )
                self.tracker.processing_since = None
                log.warning(
                    "camera ingest failed",
                    camera_id=self.camera_id,
                    url=self._masked_url,
                    code=error.code.value,
                    detail=error.log_detail,
                    attempt=self.attempt,
                    stall=error.stall,
                )
                if error.stall:
                    self.tracker.note_stall()
                    metrics.STALLS.labels(self.camera_id).inc()
                    await report(
                        CameraStatus.CONNECTING, details=error.message, attempt=self.attempt
                    )
                else:
                    await report(
                        CameraStatus.ERROR,
                        error_code=error.code.value,
                        details=error.message,
                        attempt=self.attempt,
                    )
                if processing_for >= max(10.0, self.settings.stall_timeout):
                    self.attempt = 0  # it worked for a while: start the backoff over
                delay = backoff_delay(
                    max(1, self.attempt), self.settings.backoff_initial, self.settings.backoff_max
                )
                await self._retry.wait(delay, down=error.unreachable, stopped=self._stop_evt)
        except Exception:  # pragma: no cover - defensive: one camera never takes others down
            log.exception("camera session crashed", camera_id=self.camera_id)
            await report(
                CameraStatus.ERROR,
                error_code=ErrorCode.DECODER_CRASH.value,
                details="The camera stream could not be processed.",
            )

    async def _connect_once(self) -> IngestError:
        """Run one connection; returns why it ended (anything, once stopped)."""
        run = IngestRun(
            self.camera_id,
            self.spec.rtsp_url,
            self.settings,
            policy=self.policy,
            stop=self._stopping,
            counters=self.counters,
            fanout=self.fanout,
            resources=self.resources,
            on_open=self._on_opened,
            on_sample=self._on_sample,
        )
        self._run_now = run
        try:
            await run.run()
        except IngestError as exc:
            return exc
        # A live camera never ends without a reason: only a stop gets here.
        return IngestError(ErrorCode.NETWORK_ERROR, "The camera stream ended.")

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.stats_interval)
            if self.status is CameraStatus.PROCESSING and not self._stopping.is_set():
                stats = self.current_stats()
                metrics.update_camera(self.camera_id, stats)
                await self.reporter.report(CameraStatus.PROCESSING, stats=stats, periodic=True)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    # ------------------------------------------------------------------ ingest thread
    def _on_sample(self, frame: Any, sampled_at: float, source_ts: float | None) -> None:
        """A frame picked for detection and snapshot (ingest thread)."""
        sample = SampledFrame(frame)  # the snapshot and detection threads both convert it
        self.latest.put(sample)
        detection = self.detection
        if detection is not None and self.face_detection_enabled:
            detection.offer(sample, sampled_at, source_ts)

    def _alert_from_thread(self, alert: FaceDetectionAlert) -> None:
        """A detection thread found something to announce: hand it to the loop."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # loop closed: the worker is stopping
                loop.call_soon_threadsafe(self._on_alert, alert)

    # ------------------------------------------------------------------ loop callbacks
    def _on_opened(self, info: StreamInfo) -> None:
        if self._stopping.is_set():
            return
        t = self.tracker
        t.width, t.height, t.codec = info.width or None, info.height or None, info.codec
        t.expected_fps = info.fps
        t.processing_since = time.monotonic()
        t.reset_window()
        if self.counters.samples and self.detection is not None:
            # A reconnect: we cannot know a face is the same person (the pipeline keeps its
            # cooldown, so a flapping camera cannot turn into an alert storm).
            self.detection.reset()
        log.info(
            "camera streaming",
            camera_id=self.camera_id,
            url=self._masked_url,
            codec=info.codec,
            size=f"{info.width}x{info.height}",
            fps=info.fps,
        )
        self._spawn(self.reporter.report(CameraStatus.PROCESSING))

    def _on_alert(self, alert: FaceDetectionAlert) -> None:
        if self._stopping.is_set():
            return
        self.counters.alerts += 1
        metrics.ALERTS.labels(self.camera_id).inc()
        self._spawn(self._publish_alert_safe(alert))

    async def _publish_alert_safe(self, alert: FaceDetectionAlert) -> None:
        try:
            # Each alert starts its own trace: detection → bus → persistence → broadcast.
            with tracing.detection_span(
                "camera", self.camera_id, alert.id, len(alert.faces), alert.detected_at
            ):
                await self._publish_alert(alert)
        except Exception:
            log.exception("could not publish face alert", camera_id=self.camera_id)
