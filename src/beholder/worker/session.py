"""One camera: an isolated session with its own asyncio task and its own ingest thread.

Lifecycle (DESIGN §4): ``STARTING → CONNECTING → PROCESSING``; a failure reports ``ERROR`` with
a code and a user-safe detail, waits an exponential backoff with jitter and reports
``CONNECTING`` with the attempt number again, until stopped (``STOPPING → STOPPED``).
While it waits, a camera that was unreachable is probed with a TCP connect every
``probe_interval`` s (jittered, at most ``probe_concurrency`` probes in flight per worker);
the moment it answers again the session reconnects, so a camera that comes back is
streaming within seconds however long the outage and however long the backoff had grown.

Threads: the PyAV container of a connection is opened, read and decoded on one dedicated
thread (``ingest-<camera>``), one connection at a time; it hands events back with
``loop.call_soon_threadsafe``. Samples go to the camera's
:class:`~beholder.worker.detect.scheduler.CameraDetection` (motion gate, latest-sample slot on
the worker's shared round-robin detection queue), so a slow detector never backs up ingest or
the packet sinks (live view). The ingest-thread code is in :mod:`beholder.worker.sampling`
(:class:`IngestSampler`, a base class of :class:`CameraSession`); this module is the loop
side; its tunables are :class:`beholder.config.WorkerSettings`. :class:`PacketSink`
(from :mod:`beholder.worker.sampling`) is re-exported here.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any

import av
import cv2
import structlog

from beholder.config import WorkerSettings
from beholder.errors import ErrorCode
from beholder.messages import (
    CameraSpec,
    CameraStatus,
    FaceDetectionAlert,
    StreamStats,
    StreamStatusEvent,
)
from beholder.rtsp_url import mask_rtsp_url
from beholder.worker import metrics
from beholder.worker.detect.scheduler import CameraDetection
from beholder.worker.ingest import IngestError, Interrupter, rtsp_endpoint
from beholder.worker.sampling import IngestSampler, PacketSink
from beholder.worker.stats import SessionCounters, StatsTracker

__all__ = [
    "AlertPublisher",
    "CameraSession",
    "DetectionFactory",
    "PacketSink",
    "StatusPublisher",
    "backoff_delay",
    "encode_jpeg",
]

log = structlog.get_logger(__name__)


StatusPublisher = Callable[[StreamStatusEvent], Awaitable[None]]
AlertPublisher = Callable[[FaceDetectionAlert], Awaitable[None]]
DetectionFactory = Callable[
    [str, SessionCounters, Callable[[FaceDetectionAlert], None], bool], CameraDetection
]
"""``(camera_id, counters, on_alert, enabled) -> CameraDetection`` (built by the manager)."""


def backoff_delay(attempt: int, initial: float, maximum: float) -> float:
    """Seconds to wait before attempt ``attempt + 1``: ``initial * 2**(attempt-1)``,
    ±25 % jitter (so cameras behind one flapping switch do not reconnect in lockstep),
    clamped to ``[initial, maximum]``."""
    base = min(maximum, initial * 2 ** max(0, attempt - 1))
    return float(min(maximum, max(initial, base * (0.75 + 0.5 * random.random()))))  # noqa: S311


async def tcp_answers(host: str, port: int, *, timeout: float) -> bool:
    """Whether a TCP connect to ``host:port`` succeeds within ``timeout`` s (DNS included).
    The connection is closed at once; nothing is sent."""
    try:
        async with asyncio.timeout(timeout):
            _reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return True


def encode_jpeg(frame: av.VideoFrame, quality: int = 80) -> bytes:
    """JPEG bytes of a decoded frame (full size). Blocking, a few ms for 720p."""
    img = frame.to_ndarray(format="bgr24")
    ok, buf = cv2.imencode(".jpg", img, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
    if not ok:  # pragma: no cover - cv2 fails only on empty images
        raise ValueError("JPEG encoding failed")
    return bytes(buf)


class CameraSession(IngestSampler):
    """One camera's ingest, sampling, detection and stats. Create, ``await start()``,
    ``await stop()``. Public attributes read by other parts of the worker:

    * ``packet_sinks``: list of :class:`PacketSink` (append/remove from any thread).
    * ``status``, ``video_stream`` (PyAV stream while connected, else None), ``counters``.
    * ``threads_started`` / ``threads_alive`` / ``containers_open``: resource accounting.
    """

    def __init__(
        self,
        spec: CameraSpec,
        *,
        settings: WorkerSettings,
        publish_status: StatusPublisher,
        publish_alert: AlertPublisher,
        executor: Executor,
        detection: DetectionFactory | None,
        probe_slots: asyncio.Semaphore | None = None,
        worker_id: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        self.spec = spec
        self.camera_id = spec.camera_id
        self.settings = settings
        self.worker_id = worker_id
        self.correlation_id = correlation_id
        self.packet_sinks: list[PacketSink] = []
        self.status = CameraStatus.OFFLINE
        self.face_detection_enabled = spec.face_detection_enabled
        self.counters = SessionCounters()
        self.tracker = StatsTracker(self.counters)
        self.video_stream: Any = None
        self.threads_started = 0
        self.threads_alive = 0
        self.containers_open = 0
        self.attempt = 0
        self.decode_mode: str | None = None
        """``keyframes`` or ``all`` while connected (see :class:`DecodePolicy`)."""
        self._publish_status = publish_status
        self._publish_alert = publish_alert
        self._executor = executor
        self._probe_slots = probe_slots or asyncio.Semaphore(1)
        self.detection: CameraDetection | None = (
            detection(
                self.camera_id, self.counters, self._alert_from_thread, self.face_detection_enabled
            )
            if detection is not None
            else None
        )
        self._stopping = threading.Event()
        self._stop_evt = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stats_task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._publish_lock = asyncio.Lock()
        self._pending: set[asyncio.Task[Any]] = set()
        self._latest: tuple[av.VideoFrame, float] | None = None
        self._snapshot: tuple[av.VideoFrame, bytes] | None = None
        self._masked_url = mask_rtsp_url(spec.rtsp_url)

    # ------------------------------------------------------------------ public api (loop)
    async def start(self) -> None:
        """Start the session task (returns at once)."""
        if self._task is not None:
            return
        Interrupter.install()
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name=f"camera:{self.camera_id}")
        self._stats_task = asyncio.create_task(self._stats_loop(), name=f"stats:{self.camera_id}")

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
        await self._set_status(CameraStatus.STOPPING)
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
        self._latest = None
        self._snapshot = None
        if self.detection is not None:
            self.detection.close()
        await self._set_status(CameraStatus.STOPPED)
        for task in list(self._pending):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 1.0)
        metrics.remove_camera(self.camera_id)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._stopping.is_set()

    def set_face_detection(self, enabled: bool) -> None:
        """Turn detection on/off; takes effect from the next sample."""
        if self.detection is not None:
            # Back on: a new episode, faces already in view alert again.
            self.detection.set_enabled(enabled)
        self.face_detection_enabled = enabled
        self.spec = self.spec.model_copy(update={"face_detection_enabled": enabled})

    async def snapshot_jpeg(self) -> bytes | None:
        """JPEG of the latest sampled frame, or None when the camera is not streaming.

        Encoded lazily on request, off the loop; reused while no newer frame was sampled and
        for at least ``settings.snapshot_cache`` seconds.
        """
        latest = self._latest
        if latest is None or self.status is not CameraStatus.PROCESSING:
            return None
        frame, sampled_at = latest
        cached = self._snapshot
        if cached is not None and (
            cached[0] is frame or time.monotonic() - sampled_at < self.settings.snapshot_cache
        ):
            return cached[1]
        loop = asyncio.get_running_loop()
        jpeg = await loop.run_in_executor(self._executor, encode_jpeg, frame)
        self._snapshot = (frame, jpeg)
        return jpeg

    def current_stats(self) -> StreamStats:
        """Stats now (rates over the time since the previous snapshot), with the egress
        mode and viewer count of live-view sinks that report them."""
        stats = self.tracker.build(processing=self.status is CameraStatus.PROCESSING)
        for sink in list(self.packet_sinks):
            sink_stats = getattr(sink, "stats", None)
            if sink_stats is None:
                continue
            try:
                extra = sink_stats()
            except Exception:  # a sink's bug must not break the camera's status events
                log.exception("egress stats failed", camera_id=self.camera_id)
                continue
            stats.egress = extra.get("egress", stats.egress)
            stats.viewers = extra.get("viewers", stats.viewers)
        return stats

    # ------------------------------------------------------------------ session task
    async def _run(self) -> None:
        await self._set_status(CameraStatus.STARTING)
        first = True
        try:
            while not self._stopping.is_set():
                self.attempt += 1
                if not first:
                    self.tracker.note_reconnect()
                    metrics.RECONNECTS.labels(self.camera_id).inc()
                first = False
                await self._set_status(CameraStatus.CONNECTING, attempt=self.attempt)
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
                if error is None:  # pragma: no cover - a connection always ends with a reason
                    error = IngestError(ErrorCode.NETWORK_ERROR, "The camera stream ended.")
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
                    await self._set_status(
                        CameraStatus.CONNECTING, details=error.detail, attempt=self.attempt
                    )
                else:
                    await self._set_status(
                        CameraStatus.ERROR,
                        error_code=error.code.value,
                        details=error.detail,
                        attempt=self.attempt,
                    )
                if processing_for >= max(10.0, self.settings.stall_timeout):
                    self.attempt = 0  # it worked for a while: start the backoff over
                delay = backoff_delay(
                    max(1, self.attempt), self.settings.backoff_initial, self.settings.backoff_max
                )
                await self._wait_before_retry(delay, down=error.unreachable)
        except Exception:  # pragma: no cover - defensive: one camera never takes others down
            log.exception("camera session crashed", camera_id=self.camera_id)
            await self._set_status(
                CameraStatus.ERROR,
                error_code=ErrorCode.DECODER_CRASH.value,
                details="The camera stream could not be processed.",
            )

    async def _wait_before_retry(self, delay: float, *, down: bool) -> None:
        """Wait ``delay`` s of backoff, or until stopped, or until the camera answers again.

        Every ``probe_interval`` s (±25 % jitter) a TCP connect tries the camera's RTSP
        port. Returning early needs evidence that the camera was down and is back: a probe
        that failed (or ``down``: the last attempt found nothing listening) followed by one
        that succeeded. A camera that answers TCP but fails RTSP (wrong path or password)
        therefore keeps its full backoff instead of being hammered.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        host, port = rtsp_endpoint(self.spec.rtsp_url)
        interval = self.settings.probe_interval
        while not self._stopping.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            step = min(remaining, interval * (0.75 + 0.5 * random.random()))  # noqa: S311
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_evt.wait(), step)
                return  # stopped
            if not host or deadline - loop.time() <= 0:
                continue
            async with self._probe_slots:
                up = await tcp_answers(host, port, timeout=min(2.0, interval))
            if not up:
                self.counters.probe_failures += 1
                down = True
            elif down:
                log.info("camera answers again: reconnecting", camera_id=self.camera_id)
                self.counters.early_reconnects += 1
                return

    async def _connect_once(self) -> IngestError | None:
        """Run one connection on a fresh ingest thread; returns why it ended (None: stop)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[IngestError | None] = loop.create_future()
        thread = threading.Thread(
            target=self._ingest_thread,
            args=(loop, done),
            name=f"ingest-{self.camera_id[:12]}",
            daemon=True,
        )
        self._thread = thread
        self.threads_started += 1
        self.threads_alive += 1
        thread.start()
        try:
            return await done
        finally:
            if done.done():
                # The thread resolves ``done`` as its very last action: this join takes
                # microseconds, so it may block the loop.
                thread.join(timeout=1.0)
            if not thread.is_alive():
                self.threads_alive -= 1
            self._thread = None

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.stats_interval)
            if self.status is CameraStatus.PROCESSING and not self._stopping.is_set():
                stats = self.current_stats()
                metrics.update_camera(self.camera_id, stats)
                await self._set_status(CameraStatus.PROCESSING, stats=stats, periodic=True)

    async def _set_status(
        self,
        status: CameraStatus,
        *,
        error_code: str | None = None,
        details: str | None = None,
        attempt: int | None = None,
        stats: StreamStats | None = None,
        periodic: bool = False,
    ) -> None:
        """Publish a status event (serialised, in order). ``periodic``: a stats refresh,
        dropped if the status changed while it waited for the lock."""
        async with self._publish_lock:
            if periodic and self.status is not status:
                return
            if self._stopping.is_set() and status in (
                CameraStatus.CONNECTING,
                CameraStatus.PROCESSING,
                CameraStatus.ERROR,
            ):
                return  # never report "running" after STOPPING went out
            self.status = status
            if stats is None and status in _STATS_STATUSES:
                stats = self.current_stats()
            event = StreamStatusEvent(
                camera_id=self.camera_id,
                status=status,
                error_code=error_code,
                details=details,
                attempt=attempt,
                stats=stats,
                worker_id=self.worker_id,
                correlation_id=self.correlation_id,
            )
            try:
                await self._publish_status(event)
            except Exception:
                log.exception("could not publish camera status", camera_id=self.camera_id)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    # ------------------------------------------------------------------ thread -> loop
    def _on_opened(self, info: Any) -> None:
        if self._stopping.is_set():
            return
        t = self.tracker
        t.width, t.height, t.codec, t.expected_fps = info.width, info.height, info.codec, info.fps
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
        self._spawn(self._set_status(CameraStatus.PROCESSING))

    def _alert_from_thread(self, alert: FaceDetectionAlert) -> None:
        """A detection thread found something to announce: hand it to the loop."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # loop closed: the worker is stopping
                loop.call_soon_threadsafe(self._on_alert, alert)

    def _on_alert(self, alert: FaceDetectionAlert) -> None:
        if self._stopping.is_set():
            return
        self.counters.alerts += 1
        metrics.ALERTS.labels(self.camera_id).inc()
        self._spawn(self._publish_alert_safe(alert))

    async def _publish_alert_safe(self, alert: FaceDetectionAlert) -> None:
        try:
            await self._publish_alert(alert)
        except Exception:
            log.exception("could not publish face alert", camera_id=self.camera_id)


_STATS_STATUSES = frozenset({CameraStatus.CONNECTING, CameraStatus.PROCESSING, CameraStatus.ERROR})
