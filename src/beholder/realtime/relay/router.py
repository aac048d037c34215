"""Who is connected to which stream on this api instance, and where a message goes.

A stream has at most one producer (the phone) and any number of consumers (dashboards,
ML services). The router only routes: it never awaits, never touches the database nor the
bus; it hands pre-framed :class:`~.queue.Packet` objects to each peer's send queue
(:meth:`~.queue.SendQueue.put`, which never awaits either).

* :meth:`Router.register` makes a peer the producer of a stream and returns the producer
  it replaced (the caller tells it ``producer-replaced`` and closes it with 4409);
* :meth:`Router.subscribe` / :meth:`Router.unsubscribe` (``consumes`` ⊆ {``video``,
  ``alerts``}, ``binary``: video as binary frames rather than JSON ``video-frame``);
* :meth:`Router.route_frame` → every video consumer; :meth:`Router.route_alert` → the
  producer (when it consumes alerts) and every alert consumer; :meth:`Router.to_consumers` /
  :meth:`Router.to_all` for control messages;
* :meth:`Router.counts` / :meth:`Router.consumers`: the figures of
  :class:`~.directory.StreamSockets` (this instance plus what other instances announced,
  see :meth:`Router.set_remote`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from beholder.realtime.relay.directory import ConsumerFigures, StreamCounts
from beholder.realtime.relay.queue import Packet, SendQueue

VIDEO = "video"
ALERTS = "alerts"
ML_SERVICE = "ml-service"


class Peer(Protocol):
    """A relay socket as the router sees it: ``connection_id`` (unique per socket),
    ``client_type`` (``mobile``/``dashboard``/``ml-service``), ``principal_key``
    (``kind:id``) and its send ``queue``."""

    @property
    def connection_id(self) -> str: ...

    @property
    def client_type(self) -> str: ...

    @property
    def principal_key(self) -> str: ...

    @property
    def queue(self) -> SendQueue: ...


P = TypeVar("P", bound=Peer)


@dataclass(slots=True)
class Subscription:
    """One consumer of one stream: what it ``consumes``, whether video goes as binary
    frames, the client type it subscribed as."""

    consumes: frozenset[str]
    binary: bool
    client_type: str


@dataclass(slots=True)
class Route(Generic[P]):
    """The sockets of one stream on this instance."""

    producer: P | None = None
    producer_consumes: frozenset[str] = frozenset({ALERTS})
    consumers: dict[P, Subscription] = field(default_factory=dict)

    def empty(self) -> bool:
        return self.producer is None and not self.consumers


class Router(Generic[P]):
    """Streams → producer and consumers of this api instance (event-loop only).

    ``remote_ttl``: seconds an announcement of another instance's counts stays valid
    (a few heartbeats)."""

    def __init__(self, remote_ttl: float = 90.0) -> None:
        self._routes: dict[str, Route[P]] = {}
        self._by_peer: dict[P, set[str]] = {}
        self._remote: dict[tuple[str, str], tuple[float, StreamCounts]] = {}
        self.remote_ttl = remote_ttl

    # -- membership ------------------------------------------------------------------------

    def _route(self, stream_id: str) -> Route[P]:
        route = self._routes.get(stream_id)
        if route is None:
            route = self._routes[stream_id] = Route[P]()
        return route

    def _prune(self, stream_id: str) -> None:
        route = self._routes.get(stream_id)
        if route is not None and route.empty():
            del self._routes[stream_id]

    def register(
        self, stream_id: str, peer: P, consumes: frozenset[str] = frozenset({ALERTS})
    ) -> P | None:
        """Make ``peer`` the producer of ``stream_id``; returns the previous producer
        (another peer) or ``None``. The caller tells the one returned why and closes it."""
        route = self._route(stream_id)
        old = route.producer
        route.producer = peer
        route.producer_consumes = consumes
        self._by_peer.setdefault(peer, set()).add(stream_id)
        if old is not None and old is not peer:
            self._forget_stream(old, stream_id)
            return old
        return None

    def producer(self, stream_id: str) -> P | None:
        """The producer of ``stream_id`` on this instance."""
        route = self._routes.get(stream_id)
        return route.producer if route is not None else None

    def is_producer(self, stream_id: str, peer: P) -> bool:
        """True when ``peer`` is the registered producer of ``stream_id``."""
        route = self._routes.get(stream_id)
        return route is not None and route.producer is peer

    def subscribe(
        self,
        stream_id: str,
        peer: P,
        consumes: frozenset[str],
        binary: bool = False,
        client_type: str | None = None,
    ) -> bool:
        """Add (or update) ``peer`` as a consumer of ``stream_id``; True when it is new."""
        route = self._route(stream_id)
        new = peer not in route.consumers
        route.consumers[peer] = Subscription(consumes, binary, client_type or peer.client_type)
        self._by_peer.setdefault(peer, set()).add(stream_id)
        return new

    def unsubscribe(self, stream_id: str, peer: P) -> bool:
        """Remove ``peer`` as a consumer of ``stream_id``; True when it was one."""
        route = self._routes.get(stream_id)
        if route is None or route.consumers.pop(peer, None) is None:
            return False
        if route.producer is not peer:
            self._forget_stream(peer, stream_id)
        self._prune(stream_id)
        return True

    def unregister(self, stream_id: str, peer: P) -> bool:
        """``peer`` stops producing ``stream_id`` (only if it is still the producer)."""
        route = self._routes.get(stream_id)
        if route is None or route.producer is not peer:
            return False
        route.producer = None
        if peer not in route.consumers:
            self._forget_stream(peer, stream_id)
        self._prune(stream_id)
        return True

    def _forget_stream(self, peer: P, stream_id: str) -> None:
        streams = self._by_peer.get(peer)
        if streams is not None:
            streams.discard(stream_id)
            if not streams:
                del self._by_peer[peer]

    def drop(self, peer: P) -> list[str]:
        """Remove ``peer`` everywhere (it closed); returns the streams it was producing."""
        produced: list[str] = []
        for stream_id in list(self._by_peer.pop(peer, ())):
            route = self._routes.get(stream_id)
            if route is None:
                continue
            if route.producer is peer:
                route.producer = None
                produced.append(stream_id)
            route.consumers.pop(peer, None)
            self._prune(stream_id)
        return produced

    def streams_of(self, peer: P) -> set[str]:
        """The streams ``peer`` produces or consumes."""
        return set(self._by_peer.get(peer, ()))

    def subscription(self, stream_id: str, peer: P) -> Subscription | None:
        """``peer``'s subscription to ``stream_id`` or ``None``."""
        route = self._routes.get(stream_id)
        return route.consumers.get(peer) if route is not None else None

    def streams(self) -> list[str]:
        """Streams with at least one socket on this instance."""
        return list(self._routes)

    def peers(self, stream_id: str) -> list[P]:
        """Producer (first) and consumers of ``stream_id`` on this instance."""
        route = self._routes.get(stream_id)
        if route is None:
            return []
        out: list[P] = [route.producer] if route.producer is not None else []
        out.extend(p for p in route.consumers if p is not route.producer)
        return out

    # -- routing ---------------------------------------------------------------------------

    def video_consumers(self, stream_id: str) -> int:
        """Consumers of ``stream_id``'s video on this instance."""
        route = self._routes.get(stream_id)
        if route is None:
            return 0
        return sum(1 for s in route.consumers.values() if VIDEO in s.consumes)

    def route_frame(
        self,
        stream_id: str,
        binary: Packet,
        as_json: Callable[[], Packet],
        skip: P | None = None,
    ) -> int:
        """Hand a video frame to every video consumer of ``stream_id`` (binary or JSON as
        each subscribed; ``as_json`` builds the JSON packet once, when first needed).
        Returns the number of consumers it was queued for."""
        route = self._routes.get(stream_id)
        if route is None:
            return 0
        json_packet: Packet | None = None
        n = 0
        for peer, sub in route.consumers.items():
            if VIDEO not in sub.consumes or peer is skip:
                continue
            if sub.binary:
                packet = binary
            else:
                if json_packet is None:
                    json_packet = as_json()
                packet = json_packet
            if peer.queue.put(packet):
                n += 1
        return n

    def route_alert(self, stream_id: str, packet: Packet) -> int:
        """Hand an alert to the producer (when it consumes alerts) and every alert consumer
        of ``stream_id``, each once. Returns the number of sockets."""
        route = self._routes.get(stream_id)
        if route is None:
            return 0
        targets: list[P] = []
        if route.producer is not None and ALERTS in route.producer_consumes:
            targets.append(route.producer)
        targets.extend(
            p for p, s in route.consumers.items() if ALERTS in s.consumes and p not in targets
        )
        return sum(1 for p in targets if p.queue.put(packet))

    def to_consumers(self, stream_id: str, packet: Packet) -> int:
        """Hand a control packet to every consumer of ``stream_id`` (not the producer)."""
        route = self._routes.get(stream_id)
        if route is None:
            return 0
        return sum(1 for p in route.consumers if p is not route.producer and p.queue.put(packet))

    def to_all(self, stream_id: str, packet: Packet) -> list[P]:
        """Hand a control packet to every socket of ``stream_id``; returns them."""
        peers = self.peers(stream_id)
        for peer in peers:
            peer.queue.put(packet)
        return peers

    # -- figures ---------------------------------------------------------------------------

    def local_counts(self) -> dict[str, StreamCounts]:
        """Counts of every stream with a socket here (what this instance announces)."""
        return {sid: self._local(sid) for sid in self._routes}

    def _local(self, stream_id: str) -> StreamCounts:
        route = self._routes.get(stream_id)
        if route is None:
            return StreamCounts()
        subs = route.consumers.values()
        return StreamCounts(
            viewers=sum(1 for s in subs if VIDEO in s.consumes),
            ml_consumers=sum(1 for s in subs if s.client_type == ML_SERVICE),
            producer=route.producer is not None,
        )

    def set_remote(self, instance_id: str, stream_id: str, counts: StreamCounts) -> None:
        """What another api instance announced for ``stream_id`` (replaces its previous
        announcement of that stream; zeros forget it)."""
        key = (instance_id, stream_id)
        if counts == StreamCounts():
            self._remote.pop(key, None)
        else:
            self._remote[key] = (time.monotonic(), counts)

    def forget_remote(self, instance_id: str) -> None:
        """Another instance went away: forget all it announced."""
        for key in [k for k in self._remote if k[0] == instance_id]:
            del self._remote[key]

    def _remote_counts(self, stream_id: str) -> Iterator[StreamCounts]:
        now = time.monotonic()
        for key, (at, counts) in list(self._remote.items()):
            if now - at > self.remote_ttl:
                del self._remote[key]
            elif key[1] == stream_id:
                yield counts

    def remote_viewers(self, stream_id: str) -> int:
        """Video consumers of ``stream_id`` other instances announced."""
        return sum(c.viewers for c in self._remote_counts(stream_id))

    def counts(self, stream_id: str) -> StreamCounts:
        """Live counts of ``stream_id``: this instance plus the other instances' last
        announcements (zeros when nobody is connected)."""
        total = self._local(stream_id)
        for c in self._remote_counts(stream_id):
            total = StreamCounts(
                viewers=total.viewers + c.viewers,
                ml_consumers=total.ml_consumers + c.ml_consumers,
                producer=total.producer or c.producer,
            )
        return total

    def consumers(self, stream_id: str) -> list[ConsumerFigures]:
        """This instance's consumer sockets of ``stream_id`` with their figures."""
        route = self._routes.get(stream_id)
        if route is None:
            return []
        return [
            ConsumerFigures(
                connection_id=peer.connection_id,
                client_type=sub.client_type,
                principal=peer.principal_key,
                consumes=tuple(sorted(sub.consumes)),
                frames_sent=peer.queue.frames_sent,
                frames_dropped=peer.queue.frames_dropped,
                queued_bytes=peer.queue.queued_bytes,
            )
            for peer, sub in route.consumers.items()
        ]


__all__ = ["ALERTS", "ML_SERVICE", "VIDEO", "Peer", "Route", "Router", "Subscription"]
