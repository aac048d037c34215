"""What a signed-in dashboard sends on ``/ws`` and how the hub answers (DESIGN §7):
``ping`` → ``pong``, ``subscribe``/``unsubscribe`` (topics, with an optional
``lastAlertId`` replay), ``replay``, and the errors of anything else. The hub
(:class:`~beholder.realtime.hub.Hub`) owns the connections and the fan-out; a
:class:`ClientMessages` reads one connection's messages after its sign-in.
"""

from __future__ import annotations

from typing import Any

from starlette.types import Message

from beholder.config import HubSettings
from beholder.contracts import hub as hub_messages
from beholder.contracts.hub import HubMessage
from beholder.errors import ErrorCode
from beholder.realtime.admission import ReplayLimiter
from beholder.realtime.connection import Connection, Counters
from beholder.realtime.frames import Outgoing
from beholder.realtime.heartbeat import now_ms
from beholder.realtime.protocol import (
    CLOSE_TOO_BIG,
    MAX_TOPICS,
    ProtocolError,
    carries_alerts,
    error_message,
    last_alert_id_of,
    parse_text,
    split_topics,
)
from beholder.realtime.replay import Replay, replay_missed
from beholder.realtime.topics import TopicIndex

__all__ = ["ClientMessages"]


class ClientMessages:
    """The client side of the hub protocol for every connection of one hub.

    ``topics``: the hub's subscriptions index (changed here on subscribe/unsubscribe);
    ``counters``: the hub's counters (``sent``, ``invalidMessages``, ``replaysRefused``…);
    ``replay``/``replay_limit``: the stored-alerts query and the per-connection replay rate;
    sizes from ``settings`` (``ws_max_message_bytes``, ``alert_replay_limit``)."""

    def __init__(
        self,
        settings: HubSettings,
        topics: TopicIndex,
        counters: Counters,
        replay: Replay,
        replay_limit: ReplayLimiter,
    ) -> None:
        self.settings = settings
        self._topics = topics
        self._counters = counters
        self._replay = replay
        self._replay_limit = replay_limit

    def reply(self, conn: Connection, message: HubMessage) -> None:
        """Queue ``message`` for ``conn`` alone (not a live broadcast: never dropped first)."""
        self._counters.sent += 1
        conn.push(Outgoing.reply(message), live=False)

    def decode(self, conn: Connection, message: Message) -> dict[str, Any] | None:
        """The JSON object of a received frame (``None``: the client left). Raises
        :class:`ProtocolError` for binary frames, oversize or malformed text."""
        # A plain function, so that a connection parked in receive() holds one frame less.
        if message["type"] == "websocket.disconnect":
            return None
        conn.seen = True  # any message proves the peer alive
        text = message.get("text")
        limit = self.settings.ws_max_message_bytes
        if text is None:
            if len(message.get("bytes") or b"") > limit:
                raise ProtocolError("Message too large.", close_code=CLOSE_TOO_BIG)
            raise ProtocolError("Binary messages are not accepted; send JSON text.")
        return parse_text(text, limit)

    async def serve(self, conn: Connection) -> None:
        """Client message loop after auth; returns when the client leaves or is closed. A
        bad message gets an ``error`` reply (the connection stays), a fatal one closes it."""
        while not conn.closing:
            try:
                data = self.decode(conn, await conn.websocket.receive())
                if data is None:
                    return
                await self._dispatch(conn, data)
                # don't keep the last message alive across the (long) wait for the next
                del data
            except ProtocolError as exc:
                self._counters.invalid_messages += 1
                if exc.close_code is not None:
                    await conn.close(
                        exc.close_code, "protocol error", error_message(exc.code, exc.message)
                    )
                    return
                self.reply(conn, error_message(exc.code, exc.message))

    async def _dispatch(self, conn: Connection, data: dict[str, Any]) -> None:
        kind = data["type"]
        if kind == "pong":
            return
        if kind == "ping":
            self.reply(conn, hub_messages.pong(now_ms()))
        elif kind == "subscribe":
            await self._subscribe(conn, data)
        elif kind == "unsubscribe":
            self._unsubscribe(conn, data)
        elif kind == "replay":
            last_id = last_alert_id_of(data, required=True)
            assert last_id is not None  # required=True
            if not carries_alerts(conn.topics):
                raise ProtocolError('Subscribe to "alerts" or a camera topic first.')
            await self._run_replay(conn, last_id)
        elif kind == "auth":
            raise ProtocolError("Already authenticated.")
        else:
            raise ProtocolError("Unknown message type.")

    async def _subscribe(self, conn: Connection, data: dict[str, Any]) -> None:
        valid, invalid = split_topics(data)
        last_id = last_alert_id_of(data)
        if invalid:
            self.reply(
                conn, error_message(ErrorCode.INVALID_INPUT, "Unknown topics.", topics=invalid)
            )
        new = [t for t in valid if t not in conn.topics]
        if len(conn.topics) + len(new) > MAX_TOPICS:
            raise ProtocolError(f"At most {MAX_TOPICS} topics per connection.")
        had_alerts = carries_alerts(conn.topics)
        for topic in new:
            conn.topics.add(topic)
            self._topics.add(conn, topic)
        self.reply(conn, hub_messages.subscribed(valid))
        if last_id is None and not had_alerts:
            last_id = conn.pending_replay  # lastAlertId given on auth
        if last_id is not None and carries_alerts(conn.topics):
            conn.pending_replay = None
            # No await between adding the topics and holding live messages: nothing is missed.
            await self._run_replay(conn, last_id)

    def _unsubscribe(self, conn: Connection, data: dict[str, Any]) -> None:
        valid, invalid = split_topics(data)
        if invalid:
            self.reply(
                conn, error_message(ErrorCode.INVALID_INPUT, "Unknown topics.", topics=invalid)
            )
        for topic in valid:
            if topic in conn.topics:
                conn.topics.discard(topic)
                self._topics.remove(conn, topic)
        self.reply(conn, hub_messages.unsubscribed(valid))

    async def _run_replay(self, conn: Connection, last_id: str) -> None:
        """Replay after ``last_id`` unless the connection asked too often (``ws_replay_rate``,
        every replay counts: ``replay`` messages and ``lastAlertId`` on subscribe): then an
        ``error`` ``RATE_LIMIT_EXCEEDED`` and no replay; the connection stays open."""
        if not self._replay_limit.hit(conn):
            self._counters.replays_refused += 1
            raise ProtocolError(
                "Too many replay requests; wait a moment, then ask again.",
                ErrorCode.RATE_LIMIT_EXCEEDED,
            )
        await replay_missed(
            conn, self._replay, last_id, self.settings.alert_replay_limit, self._counters
        )
