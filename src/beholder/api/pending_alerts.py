"""Worker alerts while the database is unreachable (issue 14 item 8).

The api persists what the workers report (:mod:`beholder.api.events`). When the database
fails, a camera alert is not lost: its snapshot is still written (it is a file), the alert
is pushed live to the dashboards at once (the hub needs no database) and it waits in a
bounded in-memory :class:`~beholder.api.alert_queue.AlertQueue` until
:class:`~beholder.api.alert_queue.AlertWriter` can store it, in order. The write-back does
not broadcast again (the dashboards have it), and it is idempotent on the alert id (the
worker's id, which the hub replay also uses once it is stored), so an alert is stored once
and shown once.

An alert of a mobile stream (``streamId``) is queued too, but it can only be shown once it
is stored: who may see it depends on the stream's owner, which is in the database. It is
routed (hub to the owner, then the relay) when it is written back.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from beholder.api.alert_queue import AlertQueue, AlertWriter, QueuedAlert
from beholder.api.fanout import fan_out
from beholder.api.state import AppState
from beholder.api.views import alert_out
from beholder.api.worker_output import is_fenced, refuse
from beholder.contracts import hub as hub_messages
from beholder.contracts.bus import FaceDetectionAlert
from beholder.contracts.subjects import Subjects
from beholder.contracts.wire import iso_z
from beholder.db.models import Alert
from beholder.db.repositories import alerts as alerts_repo
from beholder.db.repositories import cameras as cameras_repo

log = structlog.get_logger(__name__)

_NAMES_MAX = 10_000
_OVERHEAD = 512  # bytes per queued alert besides its variable fields (ids, times, objects)


def camera_alert_row(
    event: FaceDetectionAlert, camera_name: str, snapshot_path: str | None, received: datetime
) -> Alert:
    """The ``alerts`` row of a camera's face alert (type ``face-detection``, severity
    ``medium``), stamped ``received`` (receipt time orders history and replay in delivery
    order; the wire's millisecond ``detectedAt`` would tie for alerts raised together)."""
    faces = [f.to_wire() for f in event.faces]
    n = len(faces)
    return Alert(
        id=event.id,
        camera_id=event.camera_id,
        type="face-detection",
        severity="medium",
        message=f"{n} face{'s' if n != 1 else ''} detected on {camera_name}",
        alert_metadata={
            "faces": faces,
            "cameraName": camera_name,
            "frameWidth": event.frame_width,
            "frameHeight": event.frame_height,
            "detectedAt": iso_z(event.detected_at),
            **({"sourceTs": event.source_ts} if event.source_ts else {}),
        },
        thumbnail=event.thumbnail,
        snapshot_path=snapshot_path,
        created_at=received,
    )


@dataclass(slots=True, frozen=True)
class PendingAlert:
    """A worker alert waiting for the database: the event (without its full-frame snapshot,
    already on disk as ``snapshot_path``) and when the api received it (UTC)."""

    event: FaceDetectionAlert
    received: datetime
    snapshot_path: str | None


StreamWrite = Callable[[PendingAlert], Awaitable[bool]]
"""Stores (and routes) a queued stream alert: ``True`` stored, ``False`` refused for good;
raises ``DatabaseError`` while the database is down."""


class PendingAlerts:
    """The queue, its writer and the camera names seen, for one api instance.

    ``write_stream``: how a queued mobile-stream alert is stored and routed (the consumers'
    own path, :meth:`beholder.api.events.EventConsumers.store_stream_alert`)."""

    def __init__(self, state: AppState, write_stream: StreamWrite) -> None:
        self.state = state
        cfg = state.settings.degradation
        self.queue: AlertQueue[PendingAlert] = AlertQueue(
            cfg.alert_queue_max, cfg.alert_queue_max_bytes
        )
        self.writer = AlertWriter(
            self.queue, self._write, retry_initial=cfg.retry_initial, retry_max=cfg.retry_max
        )
        self._write_stream = write_stream
        self._names: dict[str, str] = {}

    @property
    def backlog(self) -> bool:
        """Alerts are waiting: a new one goes behind them (order is kept)."""
        return len(self.queue) > 0

    def remember_camera(self, camera_id: str, name: str) -> None:
        """Note a camera's name (read while the database answered) for alerts shown while
        it does not."""
        if len(self._names) >= _NAMES_MAX and camera_id not in self._names:
            self._names.clear()
        self._names[camera_id] = name

    async def queue_camera_alert(
        self, event: FaceDetectionAlert, received: datetime, snapshot_path: str | None
    ) -> None:
        """Queue a camera alert and push it to the dashboards now (``face-detection-alert``
        on the hub's ``alerts`` topic, as if stored)."""
        assert event.camera_id is not None  # the camera path only
        if event.id in self.queue:  # a redelivery: queued and shown already
            return
        pending = self._put(event, received, snapshot_path)
        name = self._names.get(event.camera_id, "a camera")
        row = camera_alert_row(pending.event, name, snapshot_path, received)
        await fan_out(
            self.state,
            "alerts",
            hub_messages.alert_message(alert_out(row)),
            camera_id=event.camera_id,
        )

    def queue_stream_alert(
        self, event: FaceDetectionAlert, received: datetime, snapshot_path: str | None
    ) -> None:
        """Queue a mobile stream's alert (shown when stored: see the module doc)."""
        self._put(event, received, snapshot_path)

    def _put(
        self, event: FaceDetectionAlert, received: datetime, snapshot_path: str | None
    ) -> PendingAlert:
        pending = PendingAlert(event.model_copy(update={"snapshot": None}), received, snapshot_path)
        size = (
            _OVERHEAD
            + len(event.thumbnail or "")
            + len(json.dumps([f.to_wire() for f in event.faces]))
        )
        self.queue.put(QueuedAlert(event.id, pending, size))
        log.warning(
            "database unreachable; alert queued in memory",
            alert_id=event.id,
            camera_id=event.camera_id,
            stream_id=event.stream_id,
            queued=len(self.queue),
        )
        return pending

    async def _write(self, pending: PendingAlert) -> bool:
        event = pending.event
        if event.camera_id is None:
            return await self._write_stream(pending)
        async with self.state.db.session() as s:
            cam = await cameras_repo.find(s, event.camera_id)
            if cam is None:
                log.warning(
                    "queued alert of a camera deleted meanwhile dropped",
                    alert_id=event.id,
                    camera_id=event.camera_id,
                )
                return False
            if is_fenced(event, cam):  # its worker lost the camera meanwhile
                refuse(
                    Subjects.CAMERA_EVENTS,
                    "stale-epoch",
                    "queued alert of an older lease dropped",
                    alert_id=event.id,
                    camera_id=event.camera_id,
                )
                return False
            await alerts_repo.insert(
                s, camera_alert_row(event, cam.name, pending.snapshot_path, pending.received)
            )
            await s.commit()
        if self.state.nvr is not None:
            self.state.nvr.summary.poke()  # alerts per hour
        return True

    def retry_now(self) -> None:
        """Skip the writer's back-off wait (the health check saw the database answer)."""
        self.writer.poke()

    def stats(self) -> dict[str, Any]:
        """The queue's figures (:meth:`AlertQueue.stats`) and the last drain."""
        return {**self.queue.stats(), "lastDrain": self.writer.last_drain}
