"""The worker role: camera sessions driven by bus commands (DESIGN §1, §4, §5).

Bus contract of :class:`WorkerManager`:

* under ``serve`` (memory bus), consumes ``camera.commands`` in queue group ``workers``
  (:class:`CameraCommand`); in distributed mode (NATS JetStream) it does not: a
  :class:`~beholder.worker.placement.Placement` decides which cameras this worker runs
  from the desired state in KV, under revision-checked leases;
* publishes :class:`StreamStatusEvent` on ``stream.status`` and :class:`FaceDetectionAlert`
  on ``camera.events``; in distributed mode each carries the camera's lease ``epoch`` (and,
  for status, a per-epoch ``seq``) and the ``Nats-Msg-Id`` header (the event id), and an
  event of a camera whose lease this worker does not validly hold is dropped (fencing);
* publishes :class:`WorkerHeartbeat` on ``worker.heartbeat`` every
  ``WorkerSettings.heartbeat_interval`` s and answers ``worker.ping`` requests with one;
* runs the built-in detector on the mobile relay streams it is asked to analyse
  (``stream.detection``, ``relay.frames.<streamId>``: see
  :mod:`beholder.worker.streams.manager`), on the same detection threads as the cameras;
* answers ``camera.snapshot.<cameraId>`` requests while that camera's session runs: the reply
  is the latest sampled frame as **JPEG bytes**, or an **empty reply** (``b""``) when the
  camera has no frame yet or is not streaming (the api then answers 503 STREAM_UNAVAILABLE).
  A camera this worker does not hold has no subscriber, so the request times out / reports
  no responders.

It never opens the database. A malformed payload is logged and dropped; a failing command
affects only its camera (it gets an ``ERROR`` status event).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import structlog
from pydantic import ValidationError

from beholder import tracing
from beholder.bus import Bus, BusMessage, Subscription
from beholder.camera_networks import DEFAULT_NETWORKS
from beholder.config import (
    CameraSettings,
    ClusterSettings,
    RelaySettings,
    WorkerSettings,
)
from beholder.contracts.cluster import CameraAssignment
from beholder.errors import AppError, BusError, ErrorCode
from beholder.messages import (
    CameraCommand,
    CameraSpec,
    CameraStatus,
    CommandType,
    StreamStatusEvent,
    Subjects,
    WorkerHeartbeat,
    new_id,
    utcnow,
)
from beholder.observability import BUS_OUTBOX
from beholder.rtsp_url import mask_text, validate_rtsp_url
from beholder.worker.commands import spec_from_command
from beholder.worker.detect.factory import camera_detection_factory, default_detector_factory
from beholder.worker.detect.scheduler import DetectionScheduler, DetectorFactory
from beholder.worker.events import CameraEvents
from beholder.worker.load import LoadMeter
from beholder.worker.placement import Placement
from beholder.worker.session import CameraSession
from beholder.worker.sessions import CameraSessions, SessionListener
from beholder.worker.streams.manager import StreamDetectionManager

if TYPE_CHECKING:
    from opentelemetry.trace import Span

log = structlog.get_logger(__name__)

COMMAND_QUEUE_GROUP = "workers"
_SAME_CONTEXT = contextlib.nullcontext()


class WorkerManager:
    """Holds this worker's camera sessions and speaks the bus protocol above.

    ``settings`` (``Settings.worker``) are its tunables, kept as ``ws``; ``camera``
    (``Settings.camera``): where cameras may resolve (default: ``private,public``).
    ``detector_factory`` (tests/benches) replaces the detectors built from the settings.
    ``relay`` (``Settings.relay``): ``detect_fps`` of the relay streams it analyses (default:
    ``ws.sample_fps``). ``cluster`` (``Settings.cluster``): lease and placement tunables of
    distributed mode. ``placement``: run cameras by placement and leases instead of
    ``camera.commands`` (default: when the bus is NATS). The sessions themselves are a
    :class:`~beholder.worker.sessions.CameraSessions`; this decides which run.
    """

    def __init__(
        self,
        settings: WorkerSettings,
        bus: Bus,
        worker_id: str | None = None,
        *,
        camera: CameraSettings | None = None,
        detector_factory: DetectorFactory | None = None,
        relay: RelaySettings | None = None,
        cluster: ClusterSettings | None = None,
        placement: bool | None = None,
    ) -> None:
        self.bus = bus
        self.cluster = cluster if cluster is not None else ClusterSettings()
        self._use_placement = bus.name == "nats" if placement is None else placement
        self.placement: Placement | None = None
        """Set while this worker runs in distributed mode (after :meth:`start`)."""
        self.started_at = utcnow()
        self.camera = camera if camera is not None else CameraSettings(networks=DEFAULT_NETWORKS)
        self.policy = self.camera.policy
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{new_id()[:8]}"
        self.events = CameraEvents(bus, self.worker_id)
        self.ws = settings
        threads = self._threads = self.ws.detect_threads or (os.cpu_count() or 2)
        # Shared by every session: one round-robin queue, one detector per thread.
        self.detection = DetectionScheduler(
            detector_factory or default_detector_factory(self.ws), threads
        )
        self._make_detection = camera_detection_factory(self.ws, self.detection)
        self.streams = StreamDetectionManager(
            bus,
            self.worker_id,
            self._make_detection,
            detect_fps=relay.detect_fps if relay is not None else self.ws.sample_fps,
            heartbeat_interval=self.ws.heartbeat_interval,
        )
        # Snapshot JPEG encodes (on request, off the loop).
        self._load = LoadMeter(lambda: self.detection.busy_seconds, threads)
        self.executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="snapshot")
        # Bounds the reachability probes of cameras that are down (see CameraSession).
        self._probe_slots = asyncio.Semaphore(self.ws.probe_concurrency)
        self._sessions = CameraSessions(bus, self.worker_id, self._new_session)
        self._locks: dict[str, asyncio.Lock] = {}
        self._subs: list[Subscription] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._started = False
        self.egress_stats: Callable[[], tuple[int, int]] | None = None
        """Optional hook set by live-view egress: () -> (egress sessions, egress errors)."""

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Subscribe to commands (or start placement, in distributed mode) and pings, start
        heartbeats. The bus must be started. Raises ``BusError`` when JetStream cannot be
        used in distributed mode."""
        if self._started:
            return
        self._started = True
        if not self._use_placement:
            self._subs.append(
                await self.bus.subscribe(
                    Subjects.CAMERA_COMMANDS, self._on_command, queue=COMMAND_QUEUE_GROUP
                )
            )
        self._subs.append(await self.bus.subscribe(Subjects.WORKER_PING, self._on_ping))
        await self.streams.start()
        if self._use_placement:
            jetstream = getattr(self.bus, "jetstream", None)
            if jetstream is None:
                raise BusError(detail=f"placement needs a JetStream bus, not {self.bus.name}")
            placement = Placement(self, jetstream(), self.cluster)
            await placement.start()
            self.placement = self.events.placement = placement
        self._heartbeat_task = asyncio.create_task(self._heartbeat_loop(), name="worker-heartbeat")
        log.info("worker started", worker_id=self.worker_id, detect_threads=self._threads)

    async def stop(self) -> None:
        """Stop every session (in parallel), unsubscribe, shut the pool down. Idempotent; also
        frees the detection threads of a manager that was never started."""
        if not self._started:
            await self.streams.stop()
            self.executor.shutdown(wait=False, cancel_futures=True)
            await asyncio.to_thread(self.detection.close)
            return
        self._started = False
        if self.placement is not None:
            # First: hand every camera over and deregister, so others take them at once.
            await self.placement.stop()
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subs.clear()
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._heartbeat_task
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, self.ws.stop_timeout + 1)
        await self._sessions.stop_all()
        await self.streams.stop()
        self.executor.shutdown(wait=False, cancel_futures=True)
        await asyncio.to_thread(self.detection.close)
        log.info("worker stopped", worker_id=self.worker_id)

    # ------------------------------------------------------------------ public accessors
    def get_session(self, camera_id: str) -> CameraSession | None:
        """The running session of ``camera_id`` on this worker, if any."""
        return self._sessions.get(camera_id)

    @property
    def sessions(self) -> dict[str, CameraSession]:
        return self._sessions.copy()

    def add_session_listener(self, cb: SessionListener) -> None:
        """``cb(camera_id, session)`` on start, ``cb(camera_id, None)`` on stop (loop thread)."""
        self._sessions.add_listener(cb)

    def remove_session_listener(self, cb: SessionListener) -> None:
        self._sessions.remove_listener(cb)

    def heartbeat(self) -> WorkerHeartbeat:
        """This worker's heartbeat now (sessions, egress, load; leases in distributed mode)."""
        egress = self.egress_stats() if self.egress_stats is not None else (0, 0)
        cpu_percent, detector_load = self._load.read()
        return WorkerHeartbeat(
            worker_id=self.worker_id,
            sessions=len(self._sessions),
            camera_ids=sorted(self._sessions),
            egress_sessions=egress[0],
            egress_errors=egress[1],
            leases=self.placement.leases_held if self.placement is not None else None,
            cpu_percent=cpu_percent,
            detector_load=detector_load,
            dropped_samples=self.detection.dropped,
            started_at=self.started_at,
        )

    # ------------------------------------------------------------------ placement host
    async def run_camera(self, assignment: CameraAssignment) -> None:
        """Distributed mode: (re)start the camera's session as ``assignment`` says, its
        start span a child of the assignment's trace context. A spec that cannot run gets
        an ``ERROR`` status event (never raised)."""
        spec = assignment.spec
        cid = spec.camera_id
        async with self._locks.setdefault(cid, asyncio.Lock()):
            try:
                validate_rtsp_url(spec.rtsp_url)
                if cid in self._sessions:
                    await self._sessions.stop(cid)
                parent = tracing.remote_context(assignment.trace_context)
                with tracing.use_context(parent) if parent is not None else _SAME_CONTEXT:
                    await self._sessions.start(spec, assignment.correlation_id)
            except AppError as exc:
                log.warning("camera not started", camera_id=cid, detail=exc.detail or exc.message)
                await self.events.failure(cid, assignment.correlation_id, exc.code, exc.message)
            except Exception:
                log.exception("camera not started", camera_id=cid)
                await self.events.failure(
                    cid,
                    assignment.correlation_id,
                    ErrorCode.INTERNAL_ERROR,
                    "The camera could not be started.",
                )

    async def stop_camera(self, camera_id: str) -> None:
        """Stop the camera's session (no-op without one); its STOPPING/STOPPED events go
        out only while its lease is validly held (a handover fences it first: quiet)."""
        async with self._locks.setdefault(camera_id, asyncio.Lock()):
            await self._sessions.stop(camera_id)

    def toggle_camera(self, camera_id: str, enabled: bool) -> None:
        """Turn face detection of the camera's running session on or off (no restart)."""
        session = self._sessions.get(camera_id)
        if session is not None:
            session.set_face_detection(enabled)

    async def announce_camera(self, camera_id: str, correlation_id: str | None) -> None:
        """Publish the running session's current status again (with its stats), under
        ``correlation_id``: the answer to a desired state re-put without a restart."""
        session = self._sessions.get(camera_id)
        if session is not None:
            await self.events.status(
                StreamStatusEvent(
                    camera_id=camera_id,
                    status=session.status,
                    worker_id=self.worker_id,
                    correlation_id=correlation_id,
                    stats=session.current_stats(),
                )
            )

    async def publish_status(self, event: StreamStatusEvent) -> None:
        """Publish a status event through the stamping path (dropped when fenced)."""
        await self.events.status(event)

    # ------------------------------------------------------------------ commands
    async def _on_command(self, msg: BusMessage) -> None:
        try:
            cmd = CameraCommand.from_bytes(msg.data)
        except (ValidationError, ValueError) as exc:
            log.warning("dropping malformed camera command", error=mask_text(str(exc))[:300])
            return
        # One task per command, serialised per camera by its lock (FIFO), so a slow stop of
        # one camera never delays another camera's commands.
        task = asyncio.create_task(self._apply(cmd), name=f"cmd:{cmd.command_type}:{cmd.camera_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def apply(self, cmd: CameraCommand) -> None:
        """Apply a command directly (same path as the bus; used by ``serve`` and tests)."""
        await self._apply(cmd)

    async def _apply(self, cmd: CameraCommand) -> None:
        lock = self._locks.setdefault(cmd.camera_id, asyncio.Lock())
        async with lock:
            try:
                await self._dispatch(cmd)
            except AppError as exc:
                log.warning(
                    "camera command rejected",
                    camera_id=cmd.camera_id,
                    command=cmd.command_type.value,
                    detail=exc.detail or exc.message,
                )
                await self._publish_error(cmd, exc.code, exc.message)
            except Exception:
                log.exception(
                    "camera command failed", camera_id=cmd.camera_id, command=cmd.command_type.value
                )
                await self._publish_error(
                    cmd, ErrorCode.INTERNAL_ERROR, "The camera could not be started."
                )

    async def _dispatch(self, cmd: CameraCommand) -> None:
        kind = cmd.command_type
        if kind in (CommandType.START_STREAM, CommandType.RESTART_STREAM):
            current_spec = self._sessions.get(cmd.camera_id)
            spec = spec_from_command(cmd, current_spec.spec if current_spec else None)
            current = self._sessions.get(cmd.camera_id)
            if current is not None and kind is CommandType.START_STREAM and current.spec == spec:
                # Already running as asked: say so again (the api may have missed it).
                await self.events.status(
                    StreamStatusEvent(
                        camera_id=cmd.camera_id,
                        status=current.status,
                        worker_id=self.worker_id,
                        correlation_id=cmd.correlation_id,
                        stats=current.current_stats(),
                    )
                )
                return
            if current is not None:
                await self._sessions.stop(cmd.camera_id)
            await self._sessions.start(spec, cmd.correlation_id)
        elif kind is CommandType.STOP_STREAM:
            if cmd.camera_id in self._sessions:
                await self._sessions.stop(cmd.camera_id)
            else:
                await self.events.status(
                    StreamStatusEvent(
                        camera_id=cmd.camera_id,
                        status=CameraStatus.STOPPED,
                        worker_id=self.worker_id,
                        correlation_id=cmd.correlation_id,
                    )
                )
        elif kind is CommandType.TOGGLE_FACE_DETECTION:
            enabled = cmd.payload.get("enabled")
            if not isinstance(enabled, bool):
                raise AppError(
                    "The face-detection toggle needs enabled: true or false.",
                    code=ErrorCode.INVALID_INPUT,
                    detail=f"bad TOGGLE payload keys={sorted(cmd.payload)}",
                )
            session = self._sessions.get(cmd.camera_id)
            if session is None:
                log.info("toggle for a camera this worker does not hold", camera_id=cmd.camera_id)
                return
            session.set_face_detection(enabled)
            log.info("face detection toggled", camera_id=cmd.camera_id, enabled=enabled)

    def _new_session(
        self, spec: CameraSpec, correlation_id: str | None, start_span: Span | None
    ) -> CameraSession:
        return CameraSession(
            spec,
            settings=self.ws,
            policy=self.policy,
            publish_status=self.events.status,
            publish_alert=self.events.alert,
            executor=self.executor,
            detection=self._make_detection,
            probe_slots=self._probe_slots,
            worker_id=self.worker_id,
            correlation_id=correlation_id,
            start_span=start_span,
        )

    # ------------------------------------------------------------------ publishing
    async def _publish_error(self, cmd: CameraCommand, code: ErrorCode, message: str) -> None:
        await self.events.failure(cmd.camera_id, cmd.correlation_id, code, message)

    async def _on_ping(self, msg: BusMessage) -> None:
        await msg.respond(self.heartbeat().to_bytes())

    async def _heartbeat_loop(self) -> None:
        interval = self.ws.heartbeat_interval
        while True:
            # Set on the loop (the metrics endpoint of a standalone worker runs in a thread);
            # it keeps updating while NATS is away, which is when it grows.
            BUS_OUTBOX.set(self.bus.stats().get("outbox", 0))
            try:
                await self.bus.publish(Subjects.WORKER_HEARTBEAT, self.heartbeat().to_bytes())
            except Exception as exc:
                log.warning("heartbeat not published", error=str(exc)[:200])
            await asyncio.sleep(interval)
