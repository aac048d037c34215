"""The api side of the mobile relay (:class:`beholder.realtime.relay.store.RelayStore`):
stream rows, status changes and ML alerts persisted, then pushed on the dashboard hub
(:mod:`beholder.api.stream_events`)."""

from __future__ import annotations

from datetime import datetime

from beholder.api.state import AppState
from beholder.api.stream_events import persist_stream_alert, update_stream_status
from beholder.contracts.relay import RelayAlertIn
from beholder.contracts.resources import AlertOut, StreamStatus
from beholder.db.models import VideoStream
from beholder.db.repositories import streams as streams_repo
from beholder.errors import NotFound


class ApiRelayStore:
    """:class:`~beholder.realtime.relay.store.RelayStore` over the api's database and hub.

    ``state`` is set once the :class:`AppState` exists (the relay is built before it)."""

    def __init__(self) -> None:
        self.state: AppState | None = None

    def _state(self) -> AppState:
        if self.state is None:
            raise RuntimeError("relay store used before the api state exists")
        return self.state

    async def stream(self, stream_id: str) -> VideoStream | None:
        """The stream's row (detached) or ``None``."""
        async with self._state().db.session() as s:
            return await streams_repo.find(s, stream_id)

    async def save_status(self, stream_id: str, status: StreamStatus) -> datetime | bool | None:
        """Persist ``status`` (and ``lastSeen`` = now) and push ``stream-status-update``
        to the owner's dashboards; returns ``lastSeen``, ``False`` when the stream is gone."""
        stream = await update_stream_status(self._state(), stream_id, status)
        return False if stream is None else stream.last_seen_at

    async def save_alert(self, stream_id: str, source: str, alert: RelayAlertIn) -> AlertOut:
        """Persist an ML service's alert and push it on the hub ``alerts`` topic to the
        stream's owner (the relay delivers it to the stream's sockets itself). Raises
        ``NotFound`` when the stream is gone."""
        state = self._state()
        stream = await self.stream(stream_id)
        if stream is None:
            raise NotFound("Stream not found.")
        metadata = alert.metadata.model_dump(mode="json", by_alias=True, exclude_none=True)
        return await persist_stream_alert(
            state,
            stream,
            source,
            alert_type=alert.alert_type,
            severity=alert.severity,
            message=alert.message,
            metadata=metadata,
            deliver=False,
        )


__all__ = ["ApiRelayStore"]
