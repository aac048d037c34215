"""What happens to a mobile stream's alerts and status changes on the api side (issue 10):
stored once, then shown to the stream owner's dashboards and handed to the relay.

* :func:`persist_stream_alert`: store an alert of a stream (from an ML service through the
  relay, or from the built-in detector through the bus), push it on the hub's ``alerts``
  topic to the owner's connections only, then hand it to ``state.relay_alerts`` (the
  relay delivers it to the stream's producer and alert consumers on every api instance).
* :func:`broadcast_stream_status`: push a stream's persisted status as
  ``stream-status-update`` on the hub's ``streams`` topic, to the owner's connections only.
* :func:`stream_alert_source`: the ``source`` column of an alert raised by a principal or a
  worker.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog

from beholder.api.fanout import fan_out
from beholder.api.state import AppState
from beholder.api.views import alert_out
from beholder.auth.roles import Principal
from beholder.contracts import hub as hub_messages
from beholder.contracts.resources import AlertOut, AlertSeverity, AlertType, StreamStatus
from beholder.db.models import VideoStream
from beholder.db.repositories import alerts as alerts_repo
from beholder.db.repositories import streams as streams_repo
from beholder.errors import NotFound

log = structlog.get_logger(__name__)

SOURCE_MAX = 96
"""Length of the ``alerts.source`` column."""


def stream_alert_source(principal: Principal | None = None, worker_id: str | None = None) -> str:
    """``api_key:<id>`` / ``user:<id>`` for a principal, ``worker:<id>`` for a worker (its
    id, or ``builtin`` when it sent none); at most :data:`SOURCE_MAX` characters."""
    if principal is not None:
        return principal.key[:SOURCE_MAX]
    return f"worker:{worker_id or 'builtin'}"[:SOURCE_MAX]


async def persist_stream_alert(
    state: AppState,
    stream: VideoStream,
    source: str,
    *,
    alert_type: AlertType,
    severity: AlertSeverity,
    message: str,
    metadata: dict[str, Any],
    alert_id: str | None = None,
    thumbnail: str | None = None,
    snapshot_path: str | None = None,
    deliver: bool = True,
) -> AlertOut:
    """Store an alert of ``stream`` and route it; returns it as clients see it.

    ``source``: :func:`stream_alert_source`. ``metadata`` is stored as given plus
    ``deviceName`` (the stream's device name, so that notifications group by device).
    ``alert_id``: the id chosen by the sender (a redelivered id is stored once and the
    stored alert is routed again). After the commit: ``alert``/``face-detection-alert`` on
    the hub's ``alerts`` topic to the owner's connections, then, with ``deliver``,
    ``await state.relay_alerts(alert)`` when set (a failure there is logged, not raised:
    the alert is stored and on the hub already).

    Raises ``NotFound`` when the stream was deleted meanwhile (nothing is stored),
    ``DatabaseError`` when the database fails."""
    meta = {**metadata, "deviceName": stream.device_name}
    async with state.db.session() as session:
        if await streams_repo.find(session, stream.id) is None:
            raise NotFound("Stream not found.", detail=f"stream {stream.id} deleted")
        row = await alerts_repo.create_stream_alert(
            session,
            stream.id,
            type=alert_type,
            severity=severity,
            message=message,
            metadata=meta,
            source=source[:SOURCE_MAX],
            alert_id=alert_id,
            thumbnail=thumbnail,
            snapshot_path=snapshot_path,
        )
        await session.commit()
        out = alert_out(row)
    await fan_out(state, "alerts", hub_messages.alert_message(out), stream=stream)
    if deliver and state.relay_alerts is not None:
        try:
            await state.relay_alerts(out)
        except Exception:  # the relay's failure must not lose the stored alert
            log.exception("relay could not deliver a stream alert", alert_id=out.id)
    return out


async def broadcast_stream_status(state: AppState, stream: VideoStream) -> None:
    """Push ``stream``'s status (as persisted: ``status``, ``last_seen_at``) to its owner's
    dashboards: ``stream-status-update`` on the hub's ``streams`` topic."""
    status: StreamStatus = stream.status  # type: ignore[assignment]  # DB holds StreamStatus
    msg = hub_messages.stream_status_update(
        stream.id, status, stream.last_seen_at, stream.device_name
    )
    await fan_out(state, "streams", msg, stream=stream)


async def update_stream_status(
    state: AppState, stream_id: str, status: StreamStatus, at: datetime | None = None
) -> VideoStream | None:
    """Persist ``status`` and ``lastSeen`` = ``at`` (default now) of ``stream_id``, then
    :func:`broadcast_stream_status`. ``None`` (nothing sent) when the stream is gone."""
    async with state.db.session() as session:
        stream = await streams_repo.set_status(session, stream_id, status, at)
        await session.commit()
    if stream is not None:
        await broadcast_stream_status(state, stream)
    return stream
