"""A worker's camera events on the bus: status events (``stream.status``) and face alerts
(``camera.events``), fenced by the camera lease in distributed mode.

Under ``serve`` they are published as they are. In distributed mode (a
:class:`~beholder.worker.placement.Placement` is set) each event of a camera is published
only while this worker validly holds the camera's lease: a status event gets the lease's
``epoch`` and the next per-epoch ``seq``, an alert the ``epoch``, and both the
``Nats-Msg-Id`` header (the event id, for JetStream's de-duplication of a re-publish). An
event of a camera whose lease is lost, expired, handed over or being given back is dropped
here (a debug log line and ``beholder_worker_fenced_events_total``), so a worker that was
paused past its TTL publishes nothing for the camera when it resumes.
"""

from __future__ import annotations

import contextlib

import structlog

from beholder.bus import Bus
from beholder.contracts.cluster import MSG_ID_HEADER
from beholder.errors import ErrorCode
from beholder.messages import CameraStatus, FaceDetectionAlert, StreamStatusEvent, Subjects
from beholder.worker import metrics
from beholder.worker.placement import Placement

log = structlog.get_logger(__name__)

__all__ = ["CameraEvents"]


class CameraEvents:
    """Publishes the camera events of worker ``worker_id`` on ``bus``; set
    :attr:`placement` in distributed mode (see the module doc)."""

    def __init__(self, bus: Bus, worker_id: str) -> None:
        self.bus = bus
        self.worker_id = worker_id
        self.placement: Placement | None = None

    async def status(self, event: StreamStatusEvent) -> None:
        """Publish a status event (stamped, or dropped when fenced). Raises ``BusError``."""
        placement = self.placement
        if placement is None:
            await self.bus.publish(Subjects.STREAM_STATUS, event.to_bytes())
            return
        stamp = placement.stamp(event.camera_id)
        if stamp is None:
            self._fenced("status", event.camera_id, event.status.value)
            return
        event.epoch, event.seq = stamp
        await self.bus.publish(Subjects.STREAM_STATUS, event.to_bytes(), {MSG_ID_HEADER: event.id})

    async def alert(self, alert: FaceDetectionAlert) -> None:
        """Publish a camera's face alert (with the epoch, or dropped when fenced). Raises
        ``BusError``."""
        placement = self.placement
        if placement is None or alert.camera_id is None:
            await self.bus.publish(Subjects.CAMERA_EVENTS, alert.to_bytes())
            return
        epoch = placement.epoch(alert.camera_id)
        if epoch is None:
            self._fenced("alert", alert.camera_id, alert.id)
            return
        alert.epoch = epoch
        await self.bus.publish(Subjects.CAMERA_EVENTS, alert.to_bytes(), {MSG_ID_HEADER: alert.id})
        # One line per alert handed to the bus (alerts are rare: tracker and cooldown): what
        # an operator, or a test, compares with what the api stored.
        log.info("alert published", camera_id=alert.camera_id, alert_id=alert.id, epoch=epoch)

    async def failure(
        self, camera_id: str, correlation_id: str | None, code: ErrorCode, message: str
    ) -> None:
        """An ``ERROR`` status with ``code`` and the user-safe ``message`` (never raises)."""
        with contextlib.suppress(Exception):
            await self.status(
                StreamStatusEvent(
                    camera_id=camera_id,
                    status=CameraStatus.ERROR,
                    error_code=code.value,
                    details=message,
                    worker_id=self.worker_id,
                    correlation_id=correlation_id,
                )
            )

    @staticmethod
    def _fenced(kind: str, camera_id: str, what: str) -> None:
        metrics.FENCED_EVENTS.labels(kind).inc()
        log.debug("event dropped: camera lease not held", kind=kind, camera_id=camera_id, what=what)
