"""The status a camera session reports on the bus, in order, never "running" after a stop.

:class:`StatusReporter` owns a session's current :class:`~beholder.messages.CameraStatus`
and publishes each change as a :class:`~beholder.messages.StreamStatusEvent` (serialised by a
lock, so events leave in the order they were decided). Event-loop side only.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import structlog

from beholder import tracing
from beholder.messages import CameraStatus, StreamStats, StreamStatusEvent

if TYPE_CHECKING:
    from opentelemetry.trace import Span

log = structlog.get_logger(__name__)

StatusPublisher = Callable[[StreamStatusEvent], Awaitable[None]]

_STATS_STATUSES = frozenset({CameraStatus.CONNECTING, CameraStatus.PROCESSING, CameraStatus.ERROR})
_RUNNING_STATUSES = _STATS_STATUSES
"""Never reported once STOPPING went out."""
_STARTED_STATUSES = frozenset(
    {CameraStatus.PROCESSING, CameraStatus.ERROR, CameraStatus.STOPPING, CameraStatus.STOPPED}
)
"""The outcome of a start: the session's start span ends with the first of these."""
_SAME_CONTEXT = contextlib.nullcontext()


class StatusReporter:
    """Current status of one camera and its publication.

    ``publish``: sends an event (errors are logged, never raised). ``stopping``: set when the
    session stops (from then on running statuses are dropped). ``stats``: builds the stats
    attached to CONNECTING/PROCESSING/ERROR events. ``worker_id``/``correlation_id``: copied
    into every event. ``start_span``: the tracing span of the session's start; the events
    up to the start's outcome (PROCESSING, ERROR or a stop) are published in its trace, and
    it ends with that outcome. Later events (stats refreshes, reconnects) are not traced."""

    def __init__(
        self,
        camera_id: str,
        publish: StatusPublisher,
        *,
        stopping: threading.Event,
        stats: Callable[[], StreamStats],
        worker_id: str | None = None,
        correlation_id: str | None = None,
        start_span: Span | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.status = CameraStatus.OFFLINE
        self.worker_id = worker_id
        self.correlation_id = correlation_id
        self._publish = publish
        self._stopping = stopping
        self._stats = stats
        self._lock = asyncio.Lock()
        self._start_span = start_span
        self._start_context = tracing.current_context(start_span) if start_span else None

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
                resume = self._start_context
                with tracing.use_context(resume) if resume is not None else _SAME_CONTEXT:
                    await self._publish(event)
            except Exception:
                log.exception("could not publish camera status", camera_id=self.camera_id)
            if self._start_span is not None and status in _STARTED_STATUSES:
                self._end_start(status, details)

    def _end_start(self, status: CameraStatus, details: str | None) -> None:
        span, self._start_span, self._start_context = self._start_span, None, None
        if span is None:
            return
        span.set_attribute("beholder.status", status.value)
        failed = status is CameraStatus.ERROR
        tracing.end_span(span, (details or "the camera did not start") if failed else None)
