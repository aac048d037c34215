"""The status a camera session reports on the bus, in order, never "running" after a stop.

:class:`StatusReporter` owns a session's current :class:`~beholder.messages.CameraStatus`
and publishes each change as a :class:`~beholder.messages.StreamStatusEvent` (serialised by a
lock, so events leave in the order they were decided). Event-loop side only.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

import structlog

from beholder.messages import CameraStatus, StreamStats, StreamStatusEvent

log = structlog.get_logger(__name__)

StatusPublisher = Callable[[StreamStatusEvent], Awaitable[None]]

_STATS_STATUSES = frozenset({CameraStatus.CONNECTING, CameraStatus.PROCESSING, CameraStatus.ERROR})
_RUNNING_STATUSES = _STATS_STATUSES
"""Never reported once STOPPING went out."""


class StatusReporter:
    """Current status of one camera and its publication.

    ``publish``: sends an event (errors are logged, never raised). ``stopping``: set when the
    session stops (from then on running statuses are dropped). ``stats``: builds the stats
    attached to CONNECTING/PROCESSING/ERROR events. ``worker_id``/``correlation_id``: copied
    into every event."""

    def __init__(
        self,
        camera_id: str,
        publish: StatusPublisher,
        *,
        stopping: threading.Event,
        stats: Callable[[], StreamStats],
        worker_id: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.status = CameraStatus.OFFLINE
        self.worker_id = worker_id
        self.correlation_id = correlation_id
        self._publish = publish
        self._stopping = stopping
        self._stats = stats
        self._lock = asyncio.Lock()

    async def report(
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
        async with self._lock:
            if periodic and self.status is not status:
                return
            if self._stopping.is_set() and status in _RUNNING_STATUSES:
                return  # never report "running" after STOPPING went out
            self.status = status
            if stats is None and status in _STATS_STATUSES:
                stats = self._stats()
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
                await self._publish(event)
            except Exception:
                log.exception("could not publish camera status", camera_id=self.camera_id)
