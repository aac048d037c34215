"""The message loop of one signed-in relay socket: parse, check, route.

Every refused message is answered with one ``error`` (the one error shape, with the
``streamId`` it is about) and only that socket is affected; ``max_bad`` refused messages in
a row close it with 1008. A message over the transport bound is closed 1009 by the server;
a JSON message over ``max_message_bytes`` is closed 1009 here.

Video (from the stream's registered producer only): a binary frame (the 28-byte header of
:mod:`beholder.contracts.relay_frame` + JPEG) or ``{"type": "video-frame", "data": base64}``;
either way the JPEG must be at most ``max_frame_bytes`` (``FRAME_TOO_LARGE``) and look like
a JPEG (``INVALID_FRAME``). A frame is framed once per form (binary, JSON) for every
consumer and never awaits one.
"""

from __future__ import annotations

import base64
import binascii
import itertools
from typing import TYPE_CHECKING, Any, Protocol, cast

import structlog
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from pydantic import ValidationError
from starlette.types import Message

from beholder.auth.ownership import owns_stream
from beholder.auth.roles import ApiKeyScope
from beholder.contracts import relay as msgs
from beholder.contracts.relay import RELAY_CLIENT_MESSAGE
from beholder.contracts.relay_frame import FrameError, decode_frame, encode_frame, looks_like_jpeg
from beholder.db.models import VideoStream
from beholder.errors import AppError, ErrorCode
from beholder.realtime.protocol import CLOSE_POLICY, CLOSE_TOO_BIG, ProtocolError, parse_text
from beholder.realtime.relay import metrics
from beholder.realtime.relay.peer import RelayPeer
from beholder.realtime.relay.queue import Packet
from beholder.realtime.relay.router import ALERTS, ML_SERVICE, Router
from beholder.realtime.relay.wire import CLOSE_PRODUCER_REPLACED, error

if TYPE_CHECKING:
    from beholder.config.relay import RelaySettings
    from beholder.contracts.resources import AlertOut, StreamStatus
    from beholder.realtime.relay.link import RelayLink
    from beholder.realtime.relay.status import StatusTracker
    from beholder.realtime.relay.store import RelayStore


class Relay(Protocol):
    """What a session uses of :class:`beholder.realtime.relay.service.Relay`."""

    settings: RelaySettings
    router: Router[RelayPeer]
    store: RelayStore
    status: StatusTracker
    link: RelayLink
    seq: dict[str, int]

    def publish_frame(self, stream_id: str, frame: bytes) -> None: ...

    def set_detection(self, stream_id: str, enabled: bool) -> None: ...

    def detector_due(self, stream_id: str) -> bool: ...

    async def membership_changed(self, stream_id: str) -> None: ...

    async def deliver_alert(self, out: AlertOut) -> int: ...


log = structlog.get_logger(__name__)

MAX_BAD = 50
"""Refused messages in a row after which the socket is closed with 1008."""
_KNOWN = frozenset(
    {"auth", "register", "subscribe", "unsubscribe", "video-frame", "alert", "ping", "pong"}
)
_limiter = MovingWindowRateLimiter(MemoryStorage())
_keys = itertools.count()


class Refused(AppError):
    """A message refused with ``code``; ``stream_id`` when it is about one stream."""

    def __init__(self, code: ErrorCode, message: str, stream_id: str | None = None) -> None:
        super().__init__(message, code=code)
        self.stream_id = stream_id


def decode_message(peer: RelayPeer, message: Message, limit: int) -> dict[str, Any] | None:
    """A received text frame as a JSON object with a ``type`` (``None``: disconnected);
    raises ``ProtocolError``. Used for the auth message (binary is refused there)."""
    if message["type"] == "websocket.disconnect":
        return None
    peer.seen = True
    text = message.get("text")
    if text is None:
        raise ProtocolError('Send {"type": "auth", "token": "<token>"} first.')
    return parse_text(text, limit)


class Session:
    """Serves one signed-in socket until it leaves or is closed."""

    def __init__(self, relay: Relay, peer: RelayPeer) -> None:
        self.relay = relay
        self.peer = peer
        self.settings = relay.settings
        self.alert_rate = parse(f"{self.settings.alerts_per_minute}/minute")
        self.rate_key = f"relay-alerts-{next(_keys)}"

    async def run(self) -> None:
        peer = self.peer
        receive = peer.websocket.receive
        try:
            while not peer.closing:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                peer.seen = True
                try:
                    data = message.get("bytes")
                    if data is not None:
                        self._binary(data)
                    else:
                        await self._text(message.get("text") or "")
                    peer.bad = 0
                except (Refused, ProtocolError) as exc:
                    if isinstance(exc, ProtocolError) and exc.close_code == CLOSE_TOO_BIG:
                        await peer.close(
                            CLOSE_TOO_BIG, "message too big", error(exc.code, exc.message)
                        )
                        return
                    self._refuse(exc)
                del message
        finally:
            _limiter.clear(self.alert_rate, self.rate_key)

    def _refuse(self, exc: Refused | ProtocolError) -> None:
        peer = self.peer
        peer.bad += 1
        metrics.MESSAGES_REFUSED.labels(exc.code.value).inc()
        stream_id = exc.stream_id if isinstance(exc, Refused) else None
        final = error(exc.code, exc.message, stream_id)
        if peer.bad >= MAX_BAD:
            peer.close_soon(CLOSE_POLICY, "too many invalid messages", final)
        else:
            peer.send(final)

    # -- parsing ---------------------------------------------------------------------------

    def _binary(self, data: bytes) -> None:
        try:
            frame = decode_frame(data, max_payload=self.settings.max_frame_bytes)
        except FrameError as exc:
            raise Refused(exc.code, exc.message) from None
        self._check_producer(frame.stream_id)
        self._frame(frame.stream_id, data, None, None)

    async def _text(self, text: str) -> None:
        data = parse_text(text, self.settings.max_message_bytes)
        kind = data["type"]
        if kind not in _KNOWN:
            raise Refused(ErrorCode.INVALID_INPUT, f"Unknown message type {kind[:40]!r}.")
        try:
            msg = RELAY_CLIENT_MESSAGE.validate_python(data)
        except ValidationError as exc:
            raise Refused(ErrorCode.INVALID_INPUT, _firsterror(exc), _stream_of(data)) from None
        match msg:
            case msgs.RelayVideoFrameIn():
                self._json_frame(msg)
            case msgs.RelayClientPing():
                self.peer.send(msgs.pong(msg.ts))
            case msgs.RelayClientPong():
                pass
            case msgs.RelayRegister():
                await self._register(msg)
            case msgs.RelaySubscribe():
                await self._subscribe(msg)
            case msgs.RelayUnsubscribe():
                await self._unsubscribe(msg)
            case msgs.RelayAlertIn():
                await self._alert(msg)
            case msgs.RelayAuth():
                raise Refused(ErrorCode.INVALID_INPUT, "Already authenticated.")

    # -- video -----------------------------------------------------------------------------

    def _check_producer(self, stream_id: str) -> None:
        if not self.relay.router.is_producer(stream_id, self.peer):
            raise Refused(
                ErrorCode.PERMISSION_DENIED,
                "Register as the producer of this stream before sending frames.",
                stream_id,
            )

    def _json_frame(self, msg: msgs.RelayVideoFrameIn) -> None:
        sid = msg.stream_id
        self._check_producer(sid)
        limit = self.settings.max_frame_bytes
        if (len(msg.data) // 4) * 3 - 2 > limit:
            raise Refused(
                ErrorCode.FRAME_TOO_LARGE, f"The frame is larger than {limit} bytes.", sid
            )
        try:
            jpeg = base64.b64decode(msg.data, validate=True)
        except (binascii.Error, ValueError):
            raise Refused(ErrorCode.INVALID_FRAME, '"data" is not base64.', sid) from None
        if len(jpeg) > limit:
            raise Refused(
                ErrorCode.FRAME_TOO_LARGE, f"The frame is larger than {limit} bytes.", sid
            )
        if not looks_like_jpeg(jpeg):
            raise Refused(ErrorCode.INVALID_FRAME, "The frame is not a JPEG image.", sid)
        try:
            binary = encode_frame(sid, msg.timestamp, jpeg)
        except FrameError as exc:
            raise Refused(exc.code, exc.message, sid) from None
        self._frame(sid, binary, msg.data, msg.timestamp)

    def _frame(self, sid: str, binary: bytes, b64: str | None, ts: int | None) -> None:
        peer = self.peer
        relay = self.relay
        metrics.FRAMES_IN.labels("mobile").inc()
        metrics.BYTES_IN.inc(len(binary) - 28)
        if sid not in peer.streaming:
            peer.streaming.add(sid)
            relay.status.change(sid, "streaming")
        route_frame(relay, sid, binary, b64, ts)
        if (relay.link.remote and relay.router.remote_viewers(sid) > 0) or relay.detector_due(sid):
            relay.publish_frame(sid, binary)

    # -- membership ------------------------------------------------------------------------

    async def _owned(self, stream_id: str) -> VideoStream:
        principal = self.peer.principal
        assert principal is not None
        row = await self.relay.store.stream(stream_id)
        if row is None or not owns_stream(principal, row):
            raise Refused(ErrorCode.NOT_FOUND, "Stream not found.", stream_id)
        return row

    async def _register(self, msg: msgs.RelayRegister) -> None:
        peer, relay, sid = self.peer, self.relay, msg.stream_id
        principal = peer.principal
        assert principal is not None
        if principal.kind != "user" and principal.scope != ApiKeyScope.MOBILE:
            raise Refused(
                ErrorCode.PERMISSION_DENIED, "Only a user or a mobile key may produce video.", sid
            )
        row = await self._owned(sid)
        if peer.closing:
            return
        peer.set_client_type("mobile")
        relay.set_detection(sid, row.face_detection_enabled)
        again = relay.router.is_producer(sid, peer)
        old = relay.router.register(sid, peer, frozenset(msg.consumes))
        peer.send(msgs.registered(sid))
        if again:  # the same socket registering again: nothing changes
            return
        if old is not None:
            old.close_soon(
                CLOSE_PRODUCER_REPLACED, "producer replaced", msgs.producer_replaced(sid)
            )
        relay.status.change(sid, "online")
        await relay.link.publish_control(relay.link.control(sid, "producer"))
        await relay.membership_changed(sid)

    async def _subscribe(self, msg: msgs.RelaySubscribe) -> None:
        peer, relay, sid = self.peer, self.relay, msg.stream_id
        principal = peer.principal
        assert principal is not None
        if msg.client_type == ML_SERVICE:
            if principal.kind != "user" and principal.scope != ApiKeyScope.ML_SERVICE:
                raise Refused(
                    ErrorCode.PERMISSION_DENIED, "Only an ml-service key may subscribe as one.", sid
                )
        elif msg.produces:
            raise Refused(ErrorCode.PERMISSION_DENIED, "Only ml-service clients send alerts.", sid)
        row = await self._owned(sid)
        if peer.closing:
            return
        peer.set_client_type(msg.client_type)
        consumes = frozenset(msg.consumes)
        relay.router.subscribe(sid, peer, consumes, msg.binary, msg.client_type)
        if ALERTS in msg.produces:
            peer.alert_streams.add(sid)
        else:
            peer.alert_streams.discard(sid)
        peer.send(msgs.subscribed(sid, sorted(msg.consumes)))
        status = row.status if row.status in ("online", "streaming") else "offline"
        peer.send(msgs.stream_status(sid, cast("StreamStatus", status), row.last_seen_at))
        await relay.membership_changed(sid)

    async def _unsubscribe(self, msg: msgs.RelayUnsubscribe) -> None:
        sid = msg.stream_id
        self.peer.alert_streams.discard(sid)
        if self.relay.router.unsubscribe(sid, self.peer):
            await self.relay.membership_changed(sid)
        self.peer.send(msgs.unsubscribed(sid))

    # -- alerts ----------------------------------------------------------------------------

    async def _alert(self, msg: msgs.RelayAlertIn) -> None:
        peer, sid = self.peer, msg.stream_id
        if sid not in peer.alert_streams or self.relay.router.subscription(sid, peer) is None:
            raise Refused(
                ErrorCode.PERMISSION_DENIED,
                'Subscribe to the stream as "ml-service" with "produces": ["alerts"] first.',
                sid,
            )
        if not _limiter.hit(self.alert_rate, self.rate_key):
            raise Refused(ErrorCode.RATE_LIMIT_EXCEEDED, "Too many alerts; slow down.", sid)
        try:
            out = await self.relay.store.save_alert(sid, peer.principal_key, msg)
        except AppError as exc:
            raise Refused(exc.code, exc.message, sid) from None
        await self.relay.deliver_alert(out)


def route_frame(relay: Relay, sid: str, binary: bytes, b64: str | None, ts: int | None) -> int:
    """Hand one frame of ``sid`` to this instance's video consumers: ``binary`` is the
    binary relay message; the JSON form is built once, only if a consumer wants it."""
    seq = relay.seq[sid] = relay.seq.get(sid, 0) + 1

    def as_json() -> Packet:
        data, stamp = b64, ts
        if data is None or stamp is None:
            frame = decode_frame(binary)
            data, stamp = base64.b64encode(frame.jpeg).decode(), frame.timestamp_ms
        message = msgs.video_frame(sid, data, stamp, seq)
        return Packet.text(msgs.wire_bytes(message), video=True)

    return relay.router.route_frame(sid, Packet(binary, video=True), as_json)


def _firsterror(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())[1:]) or "message"
    return f"Invalid {where}: {err.get('msg', 'invalid value')}"[:300]


def _stream_of(data: dict[str, Any]) -> str | None:
    value = data.get("streamId")
    return value if isinstance(value, str) and len(value) <= 64 else None


__all__ = ["Relay", "Session", "decode_message", "route_frame"]
