"""Hub fan-out across api instances: every hub message goes out on ``hub.broadcast`` and
each instance hands it to its own hub (:meth:`beholder.realtime.hub.Hub.broadcast`)."""

from __future__ import annotations

import structlog

from beholder.api.state import AppState
from beholder.auth.ownership import StreamOwner
from beholder.contracts import hub as hub_messages
from beholder.contracts.bus import HubBroadcast
from beholder.contracts.hub import HubMessage
from beholder.contracts.subjects import Subjects
from beholder.db.models import VideoStream
from beholder.errors import BusError

log = structlog.get_logger(__name__)


async def fan_out(
    state: AppState,
    topic: str,
    message: HubMessage,
    camera_id: str | None = None,
    *,
    stream: VideoStream | None = None,
) -> None:
    """Send a hub message (built by :mod:`beholder.contracts.hub`) to the dashboards of
    every api instance, via ``hub.broadcast``; serialized once here. ``stream``: the
    message is about this mobile stream, and only connections whose principal owns it get
    it (the envelope carries its owner; :meth:`Hub.broadcast`'s ``owner``).

    Falls back to this instance's hub alone when the bus refuses or is unreachable
    (dashboards here still see it at once)."""
    envelope = HubBroadcast(
        topic=topic,
        camera_id=camera_id,
        message=hub_messages.wire(message),
        stream_id=stream.id if stream is not None else None,
        owner_id=stream.owner_id if stream is not None else None,
        owner_key_id=stream.owner_key_id if stream is not None else None,
    )
    if state.bus.reconnecting():  # a publish now would only be buffered: show it here now
        local_broadcast(state, envelope)
        return
    try:
        await state.bus.publish(Subjects.HUB_BROADCAST, envelope.to_bytes())
    except BusError:
        log.warning("hub fan-out over the bus failed; local hub only", topic=topic)
        local_broadcast(state, envelope)


def local_broadcast(state: AppState, envelope: HubBroadcast) -> None:
    """Hand a ``hub.broadcast`` envelope to this instance's hub (stream messages to the
    stream owner's connections only)."""
    owner = None
    if envelope.stream_id is not None:  # about a stream: its owner's connections only
        owner = StreamOwner(envelope.owner_id, envelope.owner_key_id)
    state.hub.broadcast(envelope.topic, envelope.message, envelope.camera_id, owner=owner)
