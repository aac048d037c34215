"""What the REST API may ask of the mobile relay ``/api/streams/ws`` (issue 10).

The relay (:mod:`beholder.realtime.relay`) implements :class:`StreamSockets`; the streams
router reads counts and consumer figures through it and closes a deleted stream's sockets.
Counts are for this api instance's sockets plus what the other instances announced over
the bus (eventually consistent, within a heartbeat).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ConsumerFigures:
    """One consumer socket of a stream: ``client_type`` ``dashboard``/``ml-service``,
    ``principal`` the ``kind:id`` key, ``consumes`` (``video``/``alerts``), frames sent and
    dropped (oldest-first under backpressure) since it subscribed, bytes waiting now."""

    connection_id: str
    client_type: str
    principal: str
    consumes: tuple[str, ...]
    frames_sent: int
    frames_dropped: int
    queued_bytes: int


@dataclass(frozen=True, slots=True)
class StreamCounts:
    """Live consumers of a stream: ``viewers`` consume video, ``ml_consumers`` are
    ``ml-service`` clients; ``producer`` is True while a producer is connected."""

    viewers: int = 0
    ml_consumers: int = 0
    producer: bool = False


class StreamSockets(Protocol):
    """The relay as the REST API sees it."""

    def counts(self, stream_id: str) -> StreamCounts:
        """Live counts of ``stream_id`` (zeros for a stream nobody is connected to)."""
        ...

    def consumers(self, stream_id: str) -> list[ConsumerFigures]:
        """This instance's consumer sockets of ``stream_id`` with their figures."""
        ...

    async def close_stream(self, stream_id: str) -> None:
        """Tell every socket of ``stream_id`` (producer and consumers, on every api
        instance) that the stream was deleted and close them with 4404."""
        ...


class _NoSockets:
    """The relay of an app that runs none: every stream has no socket."""

    def counts(self, stream_id: str) -> StreamCounts:
        return StreamCounts()

    def consumers(self, stream_id: str) -> list[ConsumerFigures]:
        return []

    async def close_stream(self, stream_id: str) -> None:
        return None


NO_SOCKETS: StreamSockets = _NoSockets()
"""Default ``AppState.relay`` until the lifecycle wires the real relay: zero counts, no
consumers, closes nothing."""
