"""Dashboard hub ``/ws`` (DESIGN §6/§7): authenticated topic fan-out to browsers.

The api calls :meth:`Hub.broadcast` for every camera status, alert, health and stats event
it has persisted; the hub serializes the message once, frames it once and hands the same
bytes to every subscribed connection without awaiting (see :mod:`.connection` and
:mod:`beholder._compat.uvicorn` for the per-connection send path and its bounds).

What a signed-in dashboard sends, and the answers, is :mod:`.client_messages`.

Mount with ``app.add_api_websocket_route("/ws", hub.endpoint)``; call :meth:`Hub.start` on
start-up and :meth:`Hub.close` on shutdown. Best served by uvicorn with
``ws="websockets-sansio"`` and ``ws_per_message_deflate=False`` (see bench/hub_fanout).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import structlog
from starlette.websockets import WebSocket

from beholder import tracing
from beholder.auth.connections import ConnectionRegistry
from beholder.auth.ownership import StreamOwner
from beholder.config import HubSettings
from beholder.contracts import hub as hub_messages
from beholder.errors import ErrorCode
from beholder.realtime.admission import Admission, ReplayLimiter, client_host, refuse
from beholder.realtime.client_messages import ClientMessages
from beholder.realtime.connection import CLOSE_GRACE, Connection, Counters
from beholder.realtime.frames import Outgoing, alert_id_of
from beholder.realtime.handshake import Authenticate, sign_in
from beholder.realtime.heartbeat import Heartbeat, now_ms
from beholder.realtime.leases import HubLeases
from beholder.realtime.protocol import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL,
    CLOSE_TRY_AGAIN_LATER,
    CLOSE_UNAUTHORIZED,
    error_message,
    subprotocol_token,
)
from beholder.realtime.replay import Replay
from beholder.realtime.topics import TopicIndex

log = structlog.get_logger(__name__)

RECENT_ALERTS = 4096
"""Alert ids broadcast here that the hub remembers (an alert gap fill skips them)."""


@dataclass(frozen=True, slots=True)
class AlertMark:
    """Where an alert gap may start: the last alert id broadcast here (None: none yet)
    and the ``time.monotonic()`` of the mark."""

    last_alert_id: str | None
    at: float


class Hub:
    """WebSocket fan-out hub for dashboards.

    ``authenticate(token) -> Principal`` checks a JWT access token or API key and raises
    :class:`beholder.errors.Unauthorized` when it is bad. ``replay(last_alert_id, limit)``
    returns the hub messages (``{"type": "face-detection-alert", "id", "cameraId", ...}``)
    of alerts newer than ``last_alert_id``, oldest first, at most ``limit``.

    Timing, sizes and bounds come from ``settings`` (``Settings.hub``): ``ws_auth_timeout`` (s),
    ``ws_ping_interval`` (s), ``ws_missed_pongs``, ``ws_send_queue`` (messages) and
    ``ws_backlog_bytes`` (bytes, server → client, per connection; over either → close 1013),
    ``ws_max_message_bytes`` (bytes, client → server), ``alert_replay_limit``,
    ``ws_replay_rate`` (replays per connection), ``ws_unauthenticated_per_client``.

    ``connections``: where authenticated sockets are leased so that revocation closes them
    (4401, see :mod:`.leases`).
    """

    def __init__(
        self,
        settings: HubSettings,
        authenticate: Authenticate,
        replay: Replay,
        connections: ConnectionRegistry | None = None,
    ) -> None:
        self.settings = settings
        self._leases = HubLeases(connections)
        self._authenticate = authenticate
        self._replay = replay
        self._conns: set[Connection] = set()
        self._authed: set[Connection] = set()
        self._topics = TopicIndex()
        self._counters = Counters()
        self._heartbeat = Heartbeat(
            lambda: self._authed,
            settings.ws_ping_interval,
            settings.ws_missed_pongs,
            self._ping,
            self._dead,
        )
        self._ping_out: Outgoing | None = None
        self._ping_at = 0.0
        self._admission = Admission(settings.ws_unauthenticated_per_client)
        self._replay_limit = ReplayLimiter(settings.ws_replay_rate)
        self._closed = False
        self._recent_alerts: deque[str] = deque(maxlen=RECENT_ALERTS)
        self._client = ClientMessages(
            settings, self._topics, self._counters, replay, self._replay_limit
        )

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the heartbeat task (app-level pings, dead-peer cleanup). Idempotent."""
        self._closed = False
        self._heartbeat.start()

    async def close(self) -> None:
        """Close every connection with 1001 (bounded by the close grace) and stop tasks."""
        self._closed = True
        await self._heartbeat.stop()
        for conn in list(self._conns):
            conn.close_soon(CLOSE_GOING_AWAY, "server shutting down")
        tasks = [c.close_task for c in self._conns if c.close_task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=CLOSE_GRACE + 0.5)

    @property
    def connection_count(self) -> int:
        """Open connections (authenticated or not)."""
        return len(self._conns)

    def stats(self) -> dict[str, int]:
        """Counters for health and metrics (camelCase keys; totals since start unless noted).

        ``connections``/``authenticated``/``subscriptions``/``fastPath``/``backlogged``/
        ``unauthenticated`` are current values; ``refused``: upgrades refused over the
        unauthenticated cap; ``replaysRefused``: replays over ``ws_replay_rate``; ``sent``
        counts messages handed to connections, ``dropped`` messages discarded for closing
        or overflowing connections; ``disconnectedSlow``: closed with 1013 over
        ``ws_send_queue`` or ``ws_backlog_bytes``.
        """
        c = self._counters
        return {
            "connections": len(self._conns),
            "authenticated": len(self._authed),
            "subscriptions": self._topics.subscriptions(),
            "fastPath": sum(1 for conn in self._conns if conn.raw is not None),
            "backlogged": sum(1 for conn in self._conns if conn.backlog),
            "broadcasts": c.broadcasts,
            "sent": c.sent,
            "dropped": c.dropped,
            "disconnectedSlow": c.disconnected_slow,
            "disconnectedDead": c.disconnected_dead,
            "authFailures": c.auth_failures,
            "expired": c.expired,
            "invalidMessages": c.invalid_messages,
            "replays": c.replays,
            "replayed": c.replayed,
            "revoked": self._leases.revoked,
            "replaysRefused": c.replays_refused,
            "refused": c.refused,
            "unauthenticated": self._admission.total,
        }

    # -- fan-out ---------------------------------------------------------------------------

    def broadcast(
        self,
        topic: str,
        message: dict[str, Any],
        camera_id: str | None = None,
        *,
        owner: StreamOwner | None = None,
    ) -> int:
        """Send ``message`` to every connection subscribed to ``topic`` or, when
        ``camera_id`` is given, to ``camera:<camera_id>``; each connection gets it once.
        ``message`` is the wire form of a :data:`~beholder.contracts.hub.HubMessage`
        (``wire(builder(...))``), as it arrives over the ``hub.broadcast`` subject.
        ``owner``: the message is about a mobile stream owned by it; only connections whose
        principal owns that stream get it (admins, the owner user, its keys;
        :mod:`beholder.auth.ownership`).

        Serializes once, never awaits or blocks. Returns the number of connections it was
        handed to. A message JSON cannot carry is logged and dropped (returns 0). Inside a
        trace, a ``hub broadcast`` span shows it (topic, message type, recipients).
        """
        if not tracing.enabled():  # the hot path: no span, no attributes built
            return self._broadcast(topic, message, camera_id, owner)
        with tracing.span(
            "hub broadcast",
            attributes={"beholder.hub.topic": topic, "beholder.hub.type": message.get("type", "")},
            only_in_trace=True,
        ) as span:
            n = self._broadcast(topic, message, camera_id, owner)
            if span is not None:
                span.set_attribute("beholder.hub.recipients", n)
            return n

    def alert_mark(self) -> AlertMark:
        """The point an alert gap would start from now (see :meth:`fill_alert_gap`)."""
        last = self._recent_alerts[-1] if self._recent_alerts else None
        return AlertMark(last, time.monotonic())

    async def fill_alert_gap(self, mark: AlertMark, limit: int = 500) -> int:
        """Send the stored camera alerts after ``mark`` that were not broadcast here (lost
        with the bus, :mod:`.gap_fill`) to the connections subscribed to them that were
        open at ``mark``; returns how many alerts were sent. Nothing when no alert had been
        broadcast before the mark (the gap has no start). Raises what the replay query
        raises (the database is down)."""
        if mark.last_alert_id is None:
            return 0
        page = await self._replay(mark.last_alert_id, limit)
        recent = set(self._recent_alerts)
        sent = 0
        for message in page:
            alert_id = alert_id_of(message) if isinstance(message, dict) else None
            camera_id = message.get("cameraId") if alert_id is not None else None
            if alert_id is None or alert_id in recent or not isinstance(camera_id, str):
                continue  # mobile-stream alerts go to their owners only: not replayed here
            self._recent_alerts.append(alert_id)
            recent.add(alert_id)
            targets = self._topics.targets("alerts", camera_id) or ()
            out = Outgoing.of(message, alert_id)
            for conn in targets:
                if conn.opened_at <= mark.at:
                    conn.push(out)
                    self._counters.sent += 1
            sent += 1
        return sent

    def _broadcast(
        self,
        topic: str,
        message: dict[str, Any],
        camera_id: str | None,
        owner: StreamOwner | None,
    ) -> int:
        self._counters.broadcasts += 1
        if topic == "alerts":
            alert_id = alert_id_of(message)
            if alert_id is not None:
                self._recent_alerts.append(alert_id)
        targets: Collection[Connection] | None = self._topics.targets(topic, camera_id)
        if targets is not None and owner is not None:
            targets = [c for c in targets if c.principal is not None and owner.admits(c.principal)]
        if not targets:
            return 0
        try:
            out = Outgoing.of(message, alert_id_of(message) if topic == "alerts" else None)
        except TypeError:
            log.error("hub message not serializable", topic=topic, type=message.get("type"))
            return 0
        for conn in targets:
            conn.push(out)  # a connection over its bounds closes itself (1013)
        n = len(targets)
        self._counters.sent += n
        return n

    def _ping(self, conn: Connection) -> None:
        # one frame per tick for every connection (built when the tick's first ping goes out)
        now = time.monotonic()
        if self._ping_out is None or now - self._ping_at > self.settings.ws_ping_interval / 2:
            self._ping_out = Outgoing.reply(hub_messages.ping(now_ms()))
            self._ping_at = now
        self._counters.sent += 1
        conn.push(self._ping_out, live=False)

    def _dead(self, conn: Connection) -> None:
        self._counters.disconnected_dead += 1

    # -- connection ------------------------------------------------------------------------

    async def endpoint(self, websocket: WebSocket) -> None:
        """The ``/ws`` endpoint: handshake, auth, then the client message loop.

        A client address holding ``ws_unauthenticated_per_client`` connections that have not
        authenticated yet is refused before the upgrade (see :func:`.admission.refuse`).
        """
        token, subprotocol = subprotocol_token(websocket.scope.get("subprotocols") or [])
        if self._closed:
            with contextlib.suppress(Exception):
                await websocket.close(code=CLOSE_TRY_AGAIN_LATER)
            return
        host = client_host(websocket)
        if not self._admission.enter(host):
            self._counters.refused += 1
            await refuse(websocket, host, self._admission.limit)
            return
        in_auth_phase = True
        try:
            try:
                await websocket.accept(subprotocol=subprotocol)
            except Exception:  # the client went away during the handshake
                return
            conn = Connection(
                websocket,
                self.settings.ws_send_queue,
                self._counters,
                byte_limit=self.settings.ws_backlog_bytes,
            )
            self._conns.add(conn)
            try:
                authenticated = await self._handshake_auth(conn, token)
                in_auth_phase = False
                self._admission.leave(host)
                if authenticated:
                    await self._client.serve(conn)
            except Exception:
                log.exception("hub connection failed", client=conn.client)
                conn.close_soon(CLOSE_INTERNAL, "internal error")
            finally:
                self._forget(conn)
                if conn.close_task is not None:
                    with contextlib.suppress(Exception):
                        await conn.close_task
        finally:
            if in_auth_phase:
                self._admission.leave(host)

    def _forget(self, conn: Connection) -> None:
        self._leases.drop(conn)
        conn.closing = True
        self._replay_limit.forget(conn)
        self._conns.discard(conn)
        self._authed.discard(conn)
        for topic in conn.topics:
            self._topics.remove(conn, topic)
        conn.topics.clear()
        if conn.expiry is not None:
            conn.expiry.cancel()
            conn.expiry = None
        if conn.flusher is not None:
            conn.flusher.cancel()

    async def _handshake_auth(self, conn: Connection, token: str | None) -> bool:
        """Sign the connection in (see :func:`.handshake.sign_in`), then lease it, arm its
        token expiry and answer ``auth-ok``. False when refused (already closed)."""
        signed_in = await sign_in(
            conn, token, self._authenticate, self.settings, self._counters, self._client.decode
        )
        if signed_in is None:
            return False
        principal, last_alert_id = signed_in
        conn.principal = principal
        conn.pending_replay = last_alert_id
        self._authed.add(conn)
        self._leases.add(conn, principal)
        expires_at = principal.expires_at
        if expires_at is not None:
            loop = asyncio.get_running_loop()
            conn.expiry = loop.call_at(loop.time() + (expires_at - time.time()), self._expire, conn)
        self._client.reply(
            conn,
            hub_messages.auth_ok(
                principal.name, principal.role.value, expires_at, self.settings.ws_ping_interval
            ),
        )
        return True

    def _expire(self, conn: Connection) -> None:
        conn.expiry = None
        self._counters.expired += 1
        conn.close_soon(
            CLOSE_UNAUTHORIZED,
            "token expired",
            error_message(
                ErrorCode.UNAUTHORIZED, "Your session has expired. Reconnect with a new token."
            ),
        )
