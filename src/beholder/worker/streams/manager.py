"""The built-in detector as an ML service of the mobile relay (issue 10, DESIGN §5, §9).

Bus contract of :class:`StreamDetectionManager`:

* on start, asks the api which streams to analyse (``stream.detection.list``, request/reply:
  :class:`~beholder.contracts.bus.StreamDetectionList`), again with backoff (1 s doubling to
  30 s) until an api answers, so a worker started after the streams were switched on (or
  restarted) picks them up;
* consumes :class:`~beholder.contracts.bus.StreamDetectionCommand` on ``stream.detection``
  (every worker sees every command: no queue group). ``enabled: true`` asks for a stream to
  be analysed, ``false`` to stop; repeating a command changes nothing;
* of the streams asked for, a worker analyses those it **owns**: the live worker (heard on
  ``worker.heartbeat`` within three heartbeat intervals) with the highest rendezvous hash of
  ``(worker id, stream id)``. Every worker computes the same owner from the same heartbeats,
  so a stream is analysed once however many workers run, and moves to another worker when
  its owner stops sending heartbeats (one worker: it owns everything);
* for each owned stream it subscribes to ``relay.frames.<streamId>`` (binary relay frames)
  and runs a :class:`~beholder.worker.streams.detection.StreamDetection` on the worker's
  shared detection scheduler;
* publishes :class:`~beholder.contracts.bus.FaceDetectionAlert` with ``streamId`` (no
  ``cameraId``) and ``workerId`` on ``camera.events``, thumbnail and snapshot included.

A malformed command is logged and dropped. A stream's bad frames, a failing decode or a
failing detection affect only that stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import structlog
from pydantic import ValidationError

from beholder import tracing
from beholder.bus import Bus, BusMessage, Subscription
from beholder.contracts.bus import (
    FaceDetectionAlert,
    StreamDetectionCommand,
    StreamDetectionList,
    WorkerHeartbeat,
)
from beholder.contracts.subjects import Subjects, relay_frames_subject
from beholder.worker.detect.factory import CameraDetectionFactory
from beholder.worker.stats import SessionCounters
from beholder.worker.streams.detection import StreamDetection

log = structlog.get_logger(__name__)

AlertSink = Callable[[FaceDetectionAlert], Awaitable[None]]

SYNC_BACKOFF = (1.0, 30.0)
"""First and longest wait (s) between two ``stream.detection.list`` requests until one is
answered."""

PEER_GRACE_BEATS = 3
"""A worker not heard for this many heartbeat intervals no longer owns streams."""


def owner_of(stream_id: str, workers: set[str]) -> str | None:
    """The worker that analyses ``stream_id`` among ``workers`` (rendezvous hashing: the
    highest ``sha1(worker id | stream id)``); ``None`` when there is no worker."""
    best: tuple[bytes, str] | None = None
    for worker in workers:
        score = hashlib.sha1(f"{worker}|{stream_id}".encode(), usedforsecurity=False).digest()
        if best is None or (score, worker) > best:
            best = (score, worker)
    return best[1] if best is not None else None


@dataclass(slots=True)
class _Running:
    detection: StreamDetection
    subscription: Subscription


class StreamDetectionManager:
    """Relay streams analysed by this worker (see the module docstring).

    ``make_detection``: builds a stream's :class:`CameraDetection` on the worker's shared
    scheduler (:func:`~beholder.worker.detect.factory.camera_detection_factory`);
    ``detect_fps``: samples per second per stream (``BEHOLDER_RELAY_DETECT_FPS``);
    ``heartbeat_interval``: the workers' heartbeat period, s (peer liveness);
    ``decode_threads``: JPEG decode pool size (shared by the streams). Event-loop only.
    """

    def __init__(
        self,
        bus: Bus,
        worker_id: str,
        make_detection: CameraDetectionFactory,
        *,
        detect_fps: float,
        heartbeat_interval: float,
        decode_threads: int = 2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if detect_fps <= 0:
            raise ValueError("detect_fps must be > 0")
        self.bus = bus
        self.worker_id = worker_id
        self._make_detection = make_detection
        self._interval = 1.0 / detect_fps
        self._grace = PEER_GRACE_BEATS * heartbeat_interval
        self._clock = clock
        self._decoder = ThreadPoolExecutor(decode_threads, thread_name_prefix="relay-decode")
        self._wanted: dict[str, bool] = {}
        """stream id -> ``True`` while analysis is asked for (also remembered when another
        worker owns it, so this one takes over if that worker disappears)."""
        self._running: dict[str, _Running] = {}
        self._peers: dict[str, float] = {}
        self._workers: set[str] = {worker_id}
        """The live workers the current assignment was computed from."""
        self._subs: list[Subscription] = []
        self._change = asyncio.Lock()
        self._pending: set[asyncio.Task[None]] = set()
        self._sync_task: asyncio.Task[None] | None = None
        self.synced = False
        """An api answered ``stream.detection.list`` (the list was applied)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Subscribe to commands and heartbeats. The bus must be started. Idempotent."""
        if self._started:
            return
        self._started = True
        self._loop = asyncio.get_running_loop()
        self._subs.append(await self.bus.subscribe(Subjects.STREAM_DETECTION, self._on_command))
        self._subs.append(await self.bus.subscribe(Subjects.WORKER_HEARTBEAT, self._on_heartbeat))
        self._sync_task = asyncio.create_task(self._sync(), name="stream-detection-sync")

    async def stop(self) -> None:
        """Stop every stream's detection, unsubscribe, shut the decode pool. Idempotent."""
        self._started = False
        if self._sync_task is not None:
            self._sync_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sync_task
            self._sync_task = None
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subs.clear()
        for stream_id in list(self._running):
            await self._stop_stream(stream_id)
        for task in list(self._pending):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 2.0)
        self._decoder.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ views
    @property
    def streams(self) -> dict[str, StreamDetection]:
        """The streams this worker analyses now, by id."""
        return {sid: r.detection for sid, r in self._running.items()}

    def counters(self, stream_id: str) -> SessionCounters | None:
        """The counters of a stream this worker analyses (``None`` otherwise)."""
        running = self._running.get(stream_id)
        return running.detection.counters if running is not None else None

    def live_workers(self) -> set[str]:
        """Workers heard within the grace period, this one always included."""
        now = self._clock()
        return {w for w, seen in self._peers.items() if now - seen <= self._grace} | {
            self.worker_id
        }

    # ------------------------------------------------------------------ commands
    async def apply(self, cmd: StreamDetectionCommand) -> None:
        """Apply one command (the bus path; also called directly by tests)."""
        async with self._change:
            if cmd.enabled:
                self._wanted[cmd.stream_id] = True
            else:
                self._wanted.pop(cmd.stream_id, None)
            await self._reconcile(only=cmd.stream_id)

    async def _sync(self) -> None:
        """Ask an api for the streams to analyse until one answers (see the module doc)."""
        delay, longest = SYNC_BACKOFF
        while True:
            try:
                reply = await self.bus.request(Subjects.STREAM_DETECTION_LIST, b"", timeout=5.0)
                listed = StreamDetectionList.from_bytes(reply)
            except (ValidationError, ValueError) as exc:
                log.warning("malformed stream detection list", error=str(exc)[:300])
            except Exception as exc:  # no api yet (no responders, timeout, bus down)
                log.info("stream detection list not answered yet", error=str(exc)[:200])
            else:
                for cmd in listed.streams:
                    await self.apply(cmd)
                self.synced = True
                log.info("stream detection list applied", streams=len(listed.streams))
                return
            await asyncio.sleep(delay)  # backoff until an api answers
            delay = min(longest, delay * 2)

    async def _on_command(self, msg: BusMessage) -> None:
        try:
            cmd = StreamDetectionCommand.from_bytes(msg.data)
        except (ValidationError, ValueError) as exc:
            log.warning("dropping malformed stream detection command", error=str(exc)[:300])
            return
        await self.apply(cmd)

    async def _on_heartbeat(self, msg: BusMessage) -> None:
        try:
            beat = WorkerHeartbeat.from_bytes(msg.data)
        except (ValidationError, ValueError):
            return
        self._peers[beat.worker_id] = self._clock()
        # Our own beat comes here too, once per interval: a peer that stopped beating is
        # noticed within one interval after its grace ran out.
        if self.live_workers() != self._workers:
            await self.rebalance()

    async def rebalance(self) -> None:
        """Start or stop streams after the set of live workers changed."""
        async with self._change:
            await self._reconcile()

    async def _reconcile(self, only: str | None = None) -> None:
        workers = self.live_workers()
        if workers != self._workers:
            self._workers = workers
            only = None  # the owners may all have changed
        ids = [only] if only is not None else sorted(set(self._wanted) | set(self._running))
        for stream_id in ids:
            mine = stream_id in self._wanted and owner_of(stream_id, workers) == self.worker_id
            if mine and stream_id not in self._running:
                await self._start_stream(stream_id)
            elif not mine and stream_id in self._running:
                await self._stop_stream(stream_id)

    async def _start_stream(self, stream_id: str) -> None:
        counters = SessionCounters()
        camera = self._make_detection(stream_id, counters, self._alert_from_thread, True)
        detection = StreamDetection(
            stream_id, camera, self._decoder, interval_s=self._interval, counters=counters
        )

        async def on_frame(msg: BusMessage) -> None:
            detection.on_frame(msg.data)

        try:
            sub = await self.bus.subscribe(relay_frames_subject(stream_id), on_frame)
        except Exception:
            detection.close()
            log.exception("could not subscribe to a stream's frames", stream_id=stream_id)
            return
        self._running[stream_id] = _Running(detection, sub)
        log.info("stream detection started", stream_id=stream_id, worker_id=self.worker_id)

    async def _stop_stream(self, stream_id: str) -> None:
        running = self._running.pop(stream_id, None)
        if running is None:
            return
        with contextlib.suppress(Exception):
            await running.subscription.unsubscribe()
        running.detection.close()
        log.info("stream detection stopped", stream_id=stream_id, worker_id=self.worker_id)

    # ------------------------------------------------------------------ alerts
    def _alert_from_thread(self, alert: FaceDetectionAlert) -> None:
        """A detection thread found a new face on a stream: hand it to the loop."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # loop closed: the worker is stopping
                loop.call_soon_threadsafe(self._on_alert, alert)

    def _on_alert(self, alert: FaceDetectionAlert) -> None:
        # The pipeline names its source ``camera_id``; here that id is the stream's.
        stream_id = alert.camera_id
        running = self._running.get(stream_id) if stream_id is not None else None
        if running is None or running.detection.closed:
            return  # stopped meanwhile: nothing is published after a stop
        running.detection.counters.alerts += 1
        out = alert.model_copy(
            update={"camera_id": None, "stream_id": stream_id, "worker_id": self.worker_id}
        )
        task = asyncio.ensure_future(self._publish(out))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _publish(self, alert: FaceDetectionAlert) -> None:
        try:
            with tracing.detection_span(
                "stream", alert.stream_id or "", alert.id, len(alert.faces), alert.detected_at
            ):
                await self.bus.publish(Subjects.CAMERA_EVENTS, alert.to_bytes())
        except Exception:
            log.exception("could not publish a stream face alert", stream_id=alert.stream_id)
