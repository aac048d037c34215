"""The mobile relay ``/api/streams/ws`` (issue 10, DESIGN §7): phones produce video,
dashboards and ML services consume it, ML services answer with alerts.

Protocol and message models: :mod:`beholder.contracts.relay` (JSON) and
:mod:`beholder.contracts.relay_frame` (binary video). This module owns the socket life:
sign-in (shared with the hub, :func:`beholder.realtime.handshake.check_in`; refused →
``error`` then close **1008** "Unauthorized"), the per-principal socket bound, revocation
leases (close **4401**), the heartbeat (close **4408**), the message loop (:mod:`.session`),
and the cleanup when a socket ends (the streams it produced go ``offline``).

Mount with ``app.add_websocket_route("/api/streams/ws", relay.endpoint)``; :meth:`Relay.start`
on start-up, :meth:`Relay.close` on shutdown. Implements
:class:`~beholder.realtime.relay.directory.StreamSockets` for the REST API.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import datetime

import orjson
import structlog
from starlette.websockets import WebSocket

from beholder.auth.connections import ConnectionRegistry
from beholder.auth.roles import Principal
from beholder.bus.base import Bus
from beholder.config.relay import RelaySettings
from beholder.contracts import relay as msgs
from beholder.contracts.relay_bus import RelayAlertEvent, RelayControl
from beholder.contracts.relay_frame import FrameError, decode_frame
from beholder.contracts.resources import AlertOut, StreamStatus
from beholder.errors import ErrorCode
from beholder.realtime.admission import Admission, client_host, refuse
from beholder.realtime.handshake import Authenticate
from beholder.realtime.heartbeat import Heartbeat, now_ms
from beholder.realtime.protocol import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL,
    CLOSE_POLICY,
    CLOSE_TRY_AGAIN_LATER,
    subprotocol_token,
)
from beholder.realtime.relay import metrics
from beholder.realtime.relay.detector import DetectorFeed
from beholder.realtime.relay.directory import ConsumerFigures, StreamCounts
from beholder.realtime.relay.link import RelayLink, new_instance_id
from beholder.realtime.relay.peer import RelayPeer
from beholder.realtime.relay.queue import Packet
from beholder.realtime.relay.router import Router
from beholder.realtime.relay.session import Session, route_frame
from beholder.realtime.relay.signin import lease, release_lease, sign_in
from beholder.realtime.relay.status import StatusTracker
from beholder.realtime.relay.store import RelayStore
from beholder.realtime.relay.wire import (
    CLOSE_PRODUCER_REPLACED,
    CLOSE_STREAM_DELETED,
    error,
    packet,
)

log = structlog.get_logger(__name__)

RELAY_SUBPROTOCOLS = ("bearer", "beholder")
"""``Sec-WebSocket-Protocol: bearer, <token>`` (or ``beholder, <token>`` as for the hub)."""

_MAX_PUBLISHING = 256
"""Frames being published on the bus at once (a slow bus drops frames, never queues them)."""


class Relay:
    """The relay of one api instance (see the module doc).

    ``authenticate(token) -> Principal`` (raises ``Unauthorized``); ``store``: the api's
    database and hub side; ``connections``: revocation leases; ``bus``: other instances and
    the worker's detector. ``unauthenticated_per_client``: sockets one address may hold
    before they authenticate (one more is refused with HTTP 429 before the upgrade, as on
    the hub)."""

    def __init__(
        self,
        settings: RelaySettings,
        authenticate: Authenticate,
        store: RelayStore,
        bus: Bus,
        connections: ConnectionRegistry | None = None,
        instance_id: str | None = None,
        unauthenticated_per_client: int = 64,
    ) -> None:
        self.settings = settings
        self._authenticate = authenticate
        self.store = store
        self.connections = connections
        self.router: Router[RelayPeer] = Router(remote_ttl=max(3 * settings.ping_interval, 10.0))
        self.link = RelayLink(
            bus,
            instance_id or new_instance_id(),
            self._remote_frame,
            self._remote_alert,
            self._control,
            self.set_detection,
        )
        self.status = StatusTracker(store.save_status, self._status_published)
        self.peers: set[RelayPeer] = set()
        self._authed: set[RelayPeer] = set()
        self._per_principal: Counter[str] = Counter()
        self.detector = DetectorFeed(settings.detect_fps)
        self.seq: dict[str, int] = {}
        self._heartbeat: Heartbeat[RelayPeer] = Heartbeat(
            lambda: self._authed,
            settings.ping_interval,
            settings.missed_pongs,
            self._ping,
            lambda _peer: None,
            name="relay",
        )
        self._admission = Admission(unauthenticated_per_client)
        self._closed = False
        self.auth_failures = 0
        self.bus_dropped = 0
        self._publishing: set[asyncio.Task[None]] = set()
        self._announcer: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on the bus, start the heartbeat and the status task."""
        self._closed = False
        await self.link.start()
        self.status.start()
        self._heartbeat.start()
        if self.link.remote and self._announcer is None:
            self._announcer = asyncio.get_running_loop().create_task(
                self._announce_loop(), name="relay-announce"
            )

    async def close(self) -> None:
        """Close every socket with 1001 (the streams produced here go ``offline``), apply
        pending status changes, stop the tasks."""
        self._closed = True
        await self._heartbeat.stop()
        if self._announcer is not None:
            self._announcer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._announcer
            self._announcer = None
        # the streams produced here go offline now (before their sockets' cleanup, which
        # may come after the status task stopped)
        for stream_id in self.router.streams():
            producer = self.router.producer(stream_id)
            if producer is not None:
                self.router.unregister(stream_id, producer)
                self.status.change(stream_id, "offline")
        for peer in list(self.peers):
            peer.close_soon(CLOSE_GOING_AWAY, "server shutting down")
        await asyncio.gather(*(p.wait_closed() for p in list(self.peers)))
        await self.status.stop()
        if self._publishing:
            await asyncio.wait(list(self._publishing), timeout=2)
        await self.link.stop()

    @property
    def instance_id(self) -> str:
        """This instance's id on the bus."""
        return self.link.instance_id

    def stats(self) -> dict[str, int]:
        """Counters for health (camelCase keys)."""
        return {
            "connections": len(self.peers),
            "authenticated": len(self._authed),
            "streams": len(self.router.streams()),
            "authFailures": self.auth_failures,
            "busPublished": self.link.published,
            "busDropped": self.bus_dropped,
            "busFailures": self.link.publish_failures,
        }

    # -- StreamSockets ---------------------------------------------------------------------

    def counts(self, stream_id: str) -> StreamCounts:
        """Live counts of ``stream_id`` (this instance plus the others' announcements)."""
        return self.router.counts(stream_id)

    def consumers(self, stream_id: str) -> list[ConsumerFigures]:
        """This instance's consumer sockets of ``stream_id``."""
        return self.router.consumers(stream_id)

    async def close_stream(self, stream_id: str) -> None:
        """``stream_id`` was deleted: tell its sockets here and on every instance, close
        them with 4404."""
        self.close_local_stream(stream_id)
        await self.link.publish_control(self.link.control(stream_id, "deleted"))

    def close_local_stream(self, stream_id: str) -> None:
        """Close this instance's sockets of ``stream_id`` (deleted)."""
        self.detector.set(stream_id, False)
        final = msgs.stream_deleted(stream_id)
        for peer in self.router.peers(stream_id):
            self.router.unregister(stream_id, peer)  # no "offline" for a deleted stream
            peer.close_soon(CLOSE_STREAM_DELETED, "stream deleted", final)

    # -- endpoint --------------------------------------------------------------------------

    async def endpoint(self, websocket: WebSocket) -> None:
        """The ``/api/streams/ws`` endpoint: accept, sign in, serve, clean up."""
        token, subprotocol = subprotocol_token(
            websocket.scope.get("subprotocols") or [], RELAY_SUBPROTOCOLS
        )
        if self._closed:
            with contextlib.suppress(Exception):
                await websocket.close(code=CLOSE_TRY_AGAIN_LATER)
            return
        host = client_host(websocket)
        if not self._admission.enter(host):
            await refuse(websocket, host, self._admission.limit)
            return
        try:
            await websocket.accept(subprotocol=subprotocol)
        except Exception:  # the client went away during the handshake
            self._admission.leave(host)
            return
        peer = RelayPeer(websocket, self.settings.consumer_queue_bytes)
        peer.queue.on_sent = lambda sent: self._sent(peer, sent)
        peer.queue.on_dropped = lambda n: metrics.FRAMES_DROPPED.labels(peer.client_type).inc(n)
        peer.start()
        self.peers.add(peer)
        counted: str | None = None
        try:
            try:
                principal = await sign_in(peer, token, self._authenticate, self.settings)
            finally:
                self._admission.leave(host)
            if not isinstance(principal, Principal):
                self.auth_failures += principal is not None
                return
            if self._per_principal[principal.key] >= self.settings.max_connections_per_principal:
                await peer.close(
                    CLOSE_POLICY,
                    "too many connections",
                    error(ErrorCode.RATE_LIMIT_EXCEEDED, "Too many relay connections open."),
                )
                return
            counted = principal.key
            self._per_principal[counted] += 1
            self._admit(peer, principal)
            await Session(self, peer).run()
        except Exception:
            log.exception("relay connection failed", client=peer.client)
            peer.close_soon(CLOSE_INTERNAL, "internal error")
        finally:
            if counted is not None:
                self._per_principal[counted] -= 1
                if self._per_principal[counted] <= 0:
                    del self._per_principal[counted]
            await self._forget(peer)

    def _admit(self, peer: RelayPeer, principal: Principal) -> None:
        peer.principal = principal
        self._authed.add(peer)
        lease(peer, principal, self.connections)
        peer.send(msgs.auth_ok(principal.name, principal.role.value, self.settings.ping_interval))

    async def _forget(self, peer: RelayPeer) -> None:
        peer.closing = True
        self.peers.discard(peer)
        self._authed.discard(peer)
        release_lease(peer, self.connections)
        streams = self.router.streams_of(peer)
        for stream_id in self.router.drop(peer):
            self.status.change(stream_id, "offline")
        for stream_id in streams:
            await self.membership_changed(stream_id)
        await peer.release()

    # -- sending ---------------------------------------------------------------------------

    def _sent(self, peer: RelayPeer, sent: Packet) -> None:
        metrics.BYTES_OUT.inc(sent.size)
        if sent.video:
            metrics.frame_out(peer.client_type)

    def publish_frame(self, stream_id: str, frame: bytes) -> None:
        """Publish a frame on the bus without awaiting (other instances, the detector); at
        most ``_MAX_PUBLISHING`` in flight, more are dropped (counted)."""
        if len(self._publishing) >= _MAX_PUBLISHING:
            self.bus_dropped += 1
            return
        task = asyncio.get_running_loop().create_task(self.link.publish_frame(stream_id, frame))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    def _ping(self, peer: RelayPeer) -> None:
        peer.send(msgs.ping(now_ms()))

    # -- membership and status -------------------------------------------------------------

    async def membership_changed(self, stream_id: str) -> None:
        """Sockets of ``stream_id`` came or went here: (un)subscribe its remote frames and
        announce this instance's counts to the others."""
        local = self.router.local_counts().get(stream_id, StreamCounts())
        await self.link.want_frames(stream_id, local.viewers > 0)
        await self.link.publish_control(
            self.link.control(
                stream_id,
                "counts",
                viewers=local.viewers,
                mlConsumers=local.ml_consumers,
                producer=local.producer,
            )
        )
        if not local.producer:
            self.seq.pop(stream_id, None)

    async def _status_published(
        self, stream_id: str, status: StreamStatus, last_seen: datetime | None
    ) -> None:
        self.router.to_consumers(
            stream_id, packet(msgs.stream_status(stream_id, status, last_seen))
        )
        await self.link.publish_control(
            self.link.control(stream_id, "status", status=status, lastSeen=last_seen)
        )

    def set_detection(self, stream_id: str, enabled: bool) -> None:
        """The built-in detector analyses ``stream_id`` (its frames go on the bus) or not."""
        self.detector.set(stream_id, enabled)

    def detector_due(self, stream_id: str) -> bool:
        """True when a frame of ``stream_id`` goes on the bus for the detector now."""
        return self.detector.due(stream_id)

    # -- alerts ----------------------------------------------------------------------------

    async def deliver_alert(self, out: AlertOut) -> int:
        """A persisted stream alert (an ML service's here, or the built-in detector's from
        the api's events consumer): to the stream's producer and alert consumers here and on
        every other instance. Returns the local sockets it was queued for."""
        message = msgs.alert(out)
        n = self.router.route_alert(message.stream_id, packet(message))
        metrics.ALERTS.labels((out.source or "unknown").split(":", 1)[0]).inc()
        await self.link.publish_alert(message.stream_id, msgs.wire(message))
        return n

    async def _remote_alert(self, event: RelayAlertEvent) -> None:
        self.router.route_alert(event.stream_id, Packet.text(orjson.dumps(event.message)))

    # -- other instances -------------------------------------------------------------------

    async def _remote_frame(self, stream_id: str, frame: bytes) -> None:
        try:
            if decode_frame(frame).stream_id != stream_id:
                raise FrameError("stream id does not match the subject")
        except FrameError:
            log.warning("malformed relay frame from the bus dropped", stream_id=stream_id)
            return
        route_frame(self, stream_id, frame, None, None)

    async def _control(self, control: RelayControl) -> None:
        sid = control.stream_id
        if control.kind == "producer":
            old = self.router.producer(sid)
            if old is not None:
                self.router.unregister(sid, old)
                old.close_soon(
                    CLOSE_PRODUCER_REPLACED, "producer replaced", msgs.producer_replaced(sid)
                )
                await self.membership_changed(sid)
        elif control.kind == "deleted":
            self.close_local_stream(sid)
        elif control.kind == "status" and control.status is not None:
            message = msgs.stream_status(sid, control.status, control.last_seen)
            self.router.to_consumers(sid, packet(message))
        elif control.kind == "counts":
            self.router.set_remote(
                control.origin,
                sid,
                StreamCounts(control.viewers, control.ml_consumers, control.producer),
            )
        elif control.kind == "detection" and control.enabled is not None:
            self.set_detection(sid, control.enabled)

    async def _announce_loop(self) -> None:
        """Re-announce this instance's counts of every stream each ``ping_interval`` (they
        expire elsewhere after three)."""
        while True:
            await asyncio.sleep(self.settings.ping_interval)
            try:
                for stream_id in self.router.streams():
                    await self.membership_changed(stream_id)
            except Exception:
                log.exception("relay announce failed")


__all__ = ["Relay"]
