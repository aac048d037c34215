"""What the relay needs from the api (database, hub), passed in by the api's lifecycle so
that the relay never imports the api (DESIGN §2 layers)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from beholder.contracts.relay import RelayAlertIn
from beholder.contracts.resources import AlertOut, StreamStatus
from beholder.db.models import VideoStream


class RelayStore(Protocol):
    """The api side of the relay."""

    async def stream(self, stream_id: str) -> VideoStream | None:
        """The stream's row (detached, read-only) or ``None``."""
        ...

    async def save_status(self, stream_id: str, status: StreamStatus) -> datetime | bool | None:
        """Persist a status change and push ``stream-status-update`` on the hub; returns the
        stream's ``lastSeen`` (or ``None``), ``False`` when the stream no longer exists."""
        ...

    async def save_alert(self, stream_id: str, source: str, alert: RelayAlertIn) -> AlertOut:
        """Persist an ML service's alert (``source``: the principal key) and broadcast it on
        the hub ``alerts`` topic to the stream's owner; returns the stored alert. Raises
        :class:`beholder.errors.NotFound` when the stream is gone."""
        ...


__all__ = ["RelayStore"]
