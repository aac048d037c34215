"""What the relays of the api instances tell each other over the bus (issue 10).

* ``relay.frames.<stream>``: one binary relay frame (:mod:`.relay_frame`), header
  ``origin`` = the publishing instance (it skips its own);
* ``relay.alerts.<stream>``: :class:`RelayAlertEvent`, a stream alert already persisted by
  the instance that received it;
* ``relay.control.<stream>``: :class:`RelayControl`: a producer registered (the others
  replace theirs), the stream was deleted, its status changed, its consumer counts on one
  instance (announced on change and every heartbeat), face detection switched.
"""

from __future__ import annotations

from typing import Any, Literal

from beholder.contracts.resources import StreamStatus
from beholder.contracts.wire import Id, Name, UtcDatetime, WireModel

ORIGIN_HEADER = "origin"
"""Bus header naming the api instance that published a relay message."""


class RelayAlertEvent(WireModel):
    """A persisted stream alert for every instance's relay: ``message`` is the wire form of
    :class:`beholder.contracts.relay.RelayAlert`."""

    origin: Name
    stream_id: Id
    message: dict[str, Any]


class RelayControl(WireModel):
    """A control event of ``streamId`` from api instance ``origin``.

    ``kind``: ``producer`` (a producer registered there: others close theirs with 4409),
    ``deleted`` (close every socket with 4404), ``status`` (``status``, ``lastSeen``),
    ``counts`` (``viewers``, ``mlConsumers``, ``producer`` on ``origin``), ``detection``
    (``enabled``: publish the stream's frames for the built-in detector or stop)."""

    origin: Name
    stream_id: Id
    kind: Literal["producer", "deleted", "status", "counts", "detection"]
    status: StreamStatus | None = None
    last_seen: UtcDatetime | None = None
    viewers: int = 0
    ml_consumers: int = 0
    producer: bool = False
    enabled: bool | None = None


__all__ = ["ORIGIN_HEADER", "RelayAlertEvent", "RelayControl"]
