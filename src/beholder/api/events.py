"""Bus consumers of the api: persist what workers report, then push it to dashboards.

``stream.status`` → camera status/stats in the DB → ``camera-status-update`` on the hub.
``camera.events`` → alert row + snapshot file → ``face-detection-alert`` on the hub; an alert
of a mobile stream (``streamId``, the built-in detector) goes through
:func:`beholder.api.stream_events.persist_stream_alert` (owner's dashboards, then the relay).
A refused message (malformed payload, an id that is not a UUID, an unknown camera) is logged
with the failing fields (never their values), counted in
``beholder_bus_messages_refused_total`` and dropped; it never stops the consumer. Nothing is
written for an alert before its camera is known, and its snapshot is written only inside the
snapshot folder (:func:`beholder.files.safe_child`).

While the database is unreachable, a status update is still pushed to the dashboards (not
stored), and an alert is queued in memory, shown live, and stored when the database returns
(:mod:`beholder.api.pending_alerts`).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import structlog
from pydantic import ValidationError

from beholder import tracing
from beholder.api.fanout import fan_out, local_broadcast
from beholder.api.pending_alerts import PendingAlert, PendingAlerts, camera_alert_row
from beholder.api.schemas import CameraOut
from beholder.api.state import AppState
from beholder.api.stream_events import persist_stream_alert, stream_alert_source
from beholder.api.views import alert_out, public_camera, public_status
from beholder.api.worker_output import (
    bad_fields,
    is_fenced,
    refuse,
    snapshot_bytes,
    store_fenced,
    write_snapshot,
)
from beholder.bus.base import BusMessage, Subscription
from beholder.contracts import hub as hub_messages
from beholder.contracts.bus import (
    CameraStatus,
    FaceDetectionAlert,
    HubBroadcast,
    StreamDetectionCommand,
    StreamDetectionList,
    StreamStatusEvent,
)
from beholder.contracts.subjects import Subjects
from beholder.contracts.wire import iso_z, utcnow
from beholder.db.models import VideoStream
from beholder.db.repositories import alerts as alerts_repo
from beholder.db.repositories import cameras as cameras_repo
from beholder.db.repositories import streams as streams_repo
from beholder.errors import DatabaseError, NotFound
from beholder.files import prune_snapshots
from beholder.observability import BUS_MESSAGES

log = structlog.get_logger(__name__)

_API_GROUP = "api"
_PRUNE_EVERY = 50


async def broadcast_camera(
    state: AppState, cam: CameraOut, correlation_id: str | None = None
) -> None:
    """Push a camera's current state to dashboards (topic ``cameras`` and ``camera:<id>``).

    The hub broadcasts one message to every principal, so it carries the generic status
    detail (:func:`~beholder.api.views.public_status`); operators read the precise one from
    the REST API."""
    cam = public_camera(cam)
    msg = hub_messages.camera_status_update(
        cam.id,
        cam.status,
        error_code=cam.error_code,
        details=cam.status_detail,
        worker_id=cam.worker_id,
        camera=cam,
        correlation_id=correlation_id,
    )
    await fan_out(state, "cameras", msg, camera_id=cam.id)


async def broadcast_camera_deleted(state: AppState, camera_id: str) -> None:
    """Tell dashboards a camera is gone."""
    await fan_out(state, "cameras", hub_messages.camera_deleted(camera_id), camera_id=camera_id)


class EventConsumers:
    """Subscribes the api to worker output. One api instance in a queue group handles each
    message (so N api instances don't insert the same alert N times); every instance's hub
    still gets the update through the ``hub.broadcast`` fan-out subject."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self._subs: list[Subscription] = []
        self._alerts_since_prune = 0
        self.pending = PendingAlerts(state, self._write_queued_stream_alert)
        state.pending_alerts = self.pending

    async def start(self) -> None:
        bus = self.state.bus
        self.pending.writer.start()
        self._subs = [
            await bus.subscribe(Subjects.STREAM_STATUS, self.on_status, queue=_API_GROUP),
            await bus.subscribe(Subjects.CAMERA_EVENTS, self.on_alert, queue=_API_GROUP),
            await bus.subscribe(Subjects.WORKER_HEARTBEAT, self.state.workers.on_heartbeat),
            await bus.subscribe(Subjects.HUB_BROADCAST, self.on_hub_broadcast),
            await bus.subscribe(
                Subjects.STREAM_DETECTION_LIST, self.on_detection_list, queue=_API_GROUP
            ),
        ]

    async def on_detection_list(self, msg: BusMessage) -> None:
        """Answer a worker asking which mobile streams to analyse (``stream.detection.list``)."""
        async with self.state.db.session() as s:
            rows = await streams_repo.detecting(s)
        reply = StreamDetectionList(
            streams=[
                StreamDetectionCommand(stream_id=r.id, enabled=True, device_name=r.device_name)
                for r in rows
            ]
        )
        await msg.respond(reply.to_bytes())

    async def on_hub_broadcast(self, msg: BusMessage) -> None:
        try:
            envelope = HubBroadcast.from_bytes(msg.data)
        except ValidationError as exc:
            refuse(
                msg.subject, "malformed", "malformed hub.broadcast dropped", fields=bad_fields(exc)
            )
            return
        local_broadcast(self.state, envelope)

    async def stop(self) -> None:
        for sub in self._subs:
            await sub.unsubscribe()
        self._subs = []
        await self.pending.writer.stop(self.state.settings.degradation.flush_on_stop)

    async def on_status(self, msg: BusMessage) -> None:
        BUS_MESSAGES.labels(msg.subject).inc()
        try:
            event = StreamStatusEvent.from_bytes(msg.data)
        except ValidationError as exc:
            refuse(
                msg.subject, "malformed", "malformed stream.status dropped", fields=bad_fields(exc)
            )
            return
        try:
            stored = await self._store_status(msg.subject, event)
        except DatabaseError as exc:
            # The dashboards still see the camera's state live; the next event after the
            # database returns stores the state of that moment.
            log.warning(
                "database unreachable; camera status shown but not stored",
                camera_id=event.camera_id,
                status=event.status.value,
                error=exc.detail,
            )
            stored = False
        if stored is None:
            return
        status_changed = stored
        # Everyone on the hub sees this: the generic detail (see broadcast_camera).
        code, details = public_status(event.status.value, event.error_code, event.details)
        status_msg = hub_messages.camera_status_update(
            event.camera_id,
            event.status,
            error_code=code,
            details=details,
            attempt=event.attempt,
            stats=event.stats,
            worker_id=event.worker_id,
            timestamp=event.timestamp,
            correlation_id=event.correlation_id,
        )
        await fan_out(self.state, "cameras", status_msg, camera_id=event.camera_id)
        if status_changed and self.state.nvr is not None:
            self.state.nvr.summary.poke()  # cameras by status
        if event.stats is not None:
            await fan_out(
                self.state,
                "stats",
                hub_messages.camera_stats_update(event.camera_id, event.stats),
                camera_id=event.camera_id,
            )

    async def _store_status(self, subject: str, event: StreamStatusEvent) -> bool | None:
        """Store a camera's status; whether it changed, ``None`` when the event is refused
        (unknown camera, late event of a stopped one, stale: an older lease epoch or an
        older sequence number than the stored state's). Raises ``DatabaseError``."""
        stats = event.stats.to_wire() if event.stats else None
        async with (
            tracing.persist_span(
                "status", event.camera_id, **{"beholder.status": event.status.value}
            ),
            self.state.db.session() as s,
        ):
            cam = await cameras_repo.find(s, event.camera_id)
            if cam is None:
                refuse(
                    subject,
                    "unknown-camera",
                    "status for unknown camera ignored",
                    camera_id=event.camera_id,
                )
                return None
            self.pending.remember_camera(cam.id, cam.name)
            status_changed = cam.status != event.status.value
            if event.epoch is None or event.seq is None:  # serve: one worker, no lease
                if (
                    cam.status == CameraStatus.STOPPED
                    and event.status.is_running
                    and not cam.enabled
                ):
                    # A late event from a session that was already stopped must not revive it.
                    return None
                await cameras_repo.set_status(
                    s,
                    event.camera_id,
                    event.status.value,
                    error_code=event.error_code,
                    detail=event.details,
                    stats=stats,
                    worker_id=event.worker_id,
                )
            elif not await store_fenced(s, subject, cam, event, stats):
                return None
            await s.commit()
        return status_changed

    async def on_alert(self, msg: BusMessage) -> None:
        BUS_MESSAGES.labels(msg.subject).inc()
        try:
            event = FaceDetectionAlert.from_bytes(msg.data)
        except ValidationError as exc:
            refuse(
                msg.subject, "malformed", "malformed camera.events dropped", fields=bad_fields(exc)
            )
            return
        if event.camera_id is None:
            await self._on_stream_alert(msg, event)
            return
        received = utcnow()
        if self.pending.backlog:  # behind the queued ones: stored in the order received
            await self._queue_alert(event, received)
            return
        try:
            alert_msg = await self._store_camera_alert(msg.subject, event, received)
        except DatabaseError:
            await self._queue_alert(event, received)
            return
        if alert_msg is None:
            return
        await fan_out(self.state, "alerts", alert_msg, camera_id=event.camera_id)
        if self.state.nvr is not None:
            self.state.nvr.summary.poke()  # alerts per hour
        self._alerts_since_prune += 1
        if self._alerts_since_prune >= _PRUNE_EVERY:
            self._alerts_since_prune = 0
            settings = self.state.settings
            await asyncio.to_thread(
                prune_snapshots,
                settings.snapshot_dir,
                settings.snapshot_retention_count,
                settings.snapshot_retention_days,
            )

    async def _store_camera_alert(
        self, subject: str, event: FaceDetectionAlert, received: datetime
    ) -> hub_messages.HubMessage | None:
        """Store a camera's alert once (``INSERT … ON CONFLICT DO NOTHING`` on its id) and
        its snapshot with it; the hub message to send, or ``None`` when there is nothing to
        send: refused (unknown camera, an epoch older than the camera's lease: fencing) or a
        redelivery (stored and sent already). Raises ``DatabaseError``."""
        assert event.camera_id is not None
        async with tracing.persist_span("alert", event.camera_id), self.state.db.session() as s:
            # The camera is checked before anything is written for the alert.
            cam = await cameras_repo.find(s, event.camera_id)
            if cam is None:
                refuse(
                    subject,
                    "unknown-camera",
                    "alert for unknown camera ignored",
                    camera_id=event.camera_id,
                    alert_id=event.id,
                )
                return None
            self.pending.remember_camera(cam.id, cam.name)
            if is_fenced(event, cam):
                refuse(
                    subject,
                    "stale-epoch",
                    "alert of an older lease dropped",
                    camera_id=event.camera_id,
                    alert_id=event.id,
                    epoch=event.epoch,
                    stored_epoch=cam.lease_epoch,
                )
                return None
            snapshot = snapshot_bytes(event)
            name = f"{event.id}.jpg" if snapshot is not None else None
            row = camera_alert_row(event, cam.name, name, received)
            if not await alerts_repo.insert_once(s, row):
                return None  # a redelivered (or replayed) alert: stored and shown already
            # Written inside the transaction that inserted the row: a concurrent delivery
            # of the same id on another instance waits for it and then inserts nothing.
            if (
                snapshot is not None
                and await write_snapshot(self.state.settings.snapshot_dir, event.id, snapshot)
                is None
            ):
                row.snapshot_path = None
                await alerts_repo.clear_snapshot(s, event.id)
            await s.commit()
            return hub_messages.alert_message(alert_out(row))

    async def _queue_alert(self, event: FaceDetectionAlert, received: datetime) -> None:
        """The database is unreachable (or alerts already wait for it): write the snapshot
        (a file), queue the alert; a camera's alert is shown live at once."""
        snapshot_path = await self._store_snapshot(event)
        if event.camera_id is not None:
            await self.pending.queue_camera_alert(event, received, snapshot_path)
        else:
            self.pending.queue_stream_alert(event, received, snapshot_path)

    async def _write_queued_stream_alert(self, pending: PendingAlert) -> bool:
        """Write back a queued stream alert: stored and routed, or refused (stream gone)."""
        event = pending.event
        assert event.stream_id is not None
        async with self.state.db.session() as s:
            stream = await streams_repo.find(s, event.stream_id)
        if stream is None:
            return False
        return await self._persist_stream_alert(stream, event, pending.snapshot_path)

    async def _on_stream_alert(self, msg: BusMessage, event: FaceDetectionAlert) -> None:
        """A built-in detector's alert on a mobile stream: stored (type ``face-detection``,
        source ``worker:<id>``) and routed like an ML service's alert (hub to the owner,
        then ``state.relay_alerts`` to the producer and the alert consumers). Queued while
        the database is unreachable (routed once stored)."""
        assert event.stream_id is not None  # FaceDetectionAlert: camera or stream
        if self.pending.backlog:
            await self._queue_alert(event, utcnow())
            return
        try:
            async with self.state.db.session() as s:
                stream = await streams_repo.find(s, event.stream_id)
                is_new = stream is not None and await alerts_repo.find(s, event.id) is None
            if stream is None:
                refuse(
                    msg.subject,
                    "unknown-stream",
                    "alert for unknown stream ignored",
                    stream_id=event.stream_id,
                    alert_id=event.id,
                )
                return
            snapshot_path = await self._store_snapshot(event) if is_new else None
            if not await self._persist_stream_alert(stream, event, snapshot_path):
                refuse(msg.subject, "unknown-stream", "alert for deleted stream ignored")
        except DatabaseError:
            await self._queue_alert(event, utcnow())

    async def _persist_stream_alert(
        self, stream: VideoStream, event: FaceDetectionAlert, snapshot_path: str | None
    ) -> bool:
        """Store and route a stream's alert; ``False`` when the stream was deleted
        meanwhile. Raises ``DatabaseError``."""
        n = len(event.faces)
        try:
            await persist_stream_alert(
                self.state,
                stream,
                stream_alert_source(worker_id=event.worker_id),
                alert_type="face-detection",
                severity="medium",
                message=f"{n} face{'s' if n != 1 else ''} detected on {stream.device_name}",
                metadata={
                    "faces": [f.to_wire() for f in event.faces],
                    "frameWidth": event.frame_width,
                    "frameHeight": event.frame_height,
                    "detectedAt": iso_z(event.detected_at),
                    **({"sourceTs": event.source_ts} if event.source_ts else {}),
                },
                alert_id=event.id,
                thumbnail=event.thumbnail,
                snapshot_path=snapshot_path,
            )
        except NotFound:  # deleted between the check and the insert
            return False
        return True

    async def _store_snapshot(self, event: FaceDetectionAlert) -> str | None:
        """Write the alert's snapshot file; its name, or ``None`` (none, or not written)."""
        data = snapshot_bytes(event)
        return (
            None
            if data is None
            else await write_snapshot(self.state.settings.snapshot_dir, event.id, data)
        )
